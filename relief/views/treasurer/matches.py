"""Match pledges, from the treasurer's side: the pledges whose sponsor pays into this
chapter's books, what each has matched, and the form that records the sponsor's gift."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, url_for
from flask_login import current_user

from relief import auth, boundary, db, ledger, money
from relief.errors import DomainError
from relief.forms import required
from relief.models import GiftMethod
from relief.treasury import sponsor_gifts
from relief.treasury.forms import SponsorGiftForm
from relief.views.treasurer.blueprint import bp, first_record
from relief.web import refusal_status


def _render(session, form=None, pledge_id=None, failure=None, status=200):
    pledges = sponsor_gifts.receivable(session, g.chapter)
    # A form of its own for each pledge: each rendering carries its own one-time token.
    forms = {
        standing.id: SponsorGiftForm(formdata=None, received=ledger.today())
        for _, standing in pledges
    }
    if form is not None:
        forms[pledge_id] = form
    return render_template(
        "treasurer/matches.html",
        pledges=pledges,
        forms=forms,
        failed_pledge=pledge_id,
        error=failure.message if failure else None,
        first=first_record(failure) if failure else None,
    ), status


@bp.get("/<chapter>/matches")
@auth.chapter_treasurer_required
def match_list(chapter):
    return _render(db.session())


@bp.post("/<chapter>/matches/<int:pledge_id>/payments")
@auth.chapter_treasurer_required
def match_payment(chapter, pledge_id):
    session = db.session()
    sponsor_gifts.pledge_for(session, g.chapter, pledge_id)  # 404 unless it pays into ours
    form = SponsorGiftForm()
    if not form.validate():
        return _render(session, form, pledge_id, status=400)
    try:
        gift = boundary.retry_on_conflict(
            lambda: sponsor_gifts.record_payment(
                session,
                g.chapter,
                pledge_id,
                amount_cents=required(form.amount.cents),
                method=GiftMethod(form.method.data),
                received_on=required(form.received.data),
                check_number=form.check_number.data,
                form_token=form.form_token.data,
                recorded_by=current_user,
            )
        )
    except DomainError as failure:
        return _render(session, form, pledge_id, failure, refusal_status(failure))
    boundary.audit(
        "match.payment",
        f"gift #{gift.id}: {money.format(gift.amount_cents)} from {gift.donor_name} "
        f"against match pledge #{pledge_id}",
    )
    flash(
        f"Recorded {money.format(gift.amount_cents)} from {gift.donor_name} against the pledge.",
        "success",
    )
    return redirect(url_for(".match_list", chapter=g.chapter.slug))
