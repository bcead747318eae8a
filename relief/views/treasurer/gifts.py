"""Gifts: the list, one gift and its corrections, a gift sent directly to the partner, and the
chapter's gifts that name no drive yet (unassigned)."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask_login import current_user

from relief import auth, boundary, db, ledger, money
from relief.errors import DomainError
from relief.forms import required
from relief.models import GiftMethod
from relief.treasury import gifts
from relief.treasury.forms import AssignForm, CorrectionForm, DirectGiftForm
from relief.views.treasurer.blueprint import bp, drive_choices, first_record
from relief.web import refusal_status, whole_number_arg


@bp.get("/<chapter>/gifts")
@auth.chapter_treasurer_required
def gift_list(chapter):
    before = whole_number_arg("before")
    rows = gifts.recent_gifts(db.session(), g.chapter, limit=100, before_id=before)
    return render_template("treasurer/gifts.html", rows=rows, page_size=100)


def _render_gift(session, gift_id, form=None, failure=None, status=200):
    detail = gifts.gift_detail(session, g.chapter, gift_id)
    return render_template(
        "treasurer/gift.html",
        detail=detail,
        form=form or CorrectionForm(formdata=None, received=detail.dated_on),
        error=failure.message if failure else None,
        first=first_record(failure),
    ), status


@bp.get("/<chapter>/gifts/<int:gift_id>")
@auth.chapter_treasurer_required
def gift_page(chapter, gift_id):
    return _render_gift(db.session(), gift_id)


@bp.post("/<chapter>/gifts/<int:gift_id>/correct")
@auth.chapter_treasurer_required
def gift_correct(chapter, gift_id):
    session = db.session()
    form = CorrectionForm()
    if not form.validate():
        return _render_gift(session, gift_id, form, status=400)
    try:
        entry = boundary.retry_on_conflict(
            lambda: gifts.correct_gift(
                session,
                g.chapter,
                gift_id,
                correct_amount_cents=gifts.parse_amount_or_zero(required(form.correct_amount.data)),
                reason=required(form.reason.data),
                form_token=form.form_token.data,
                recorded_by=current_user,
                correct_received_on=form.received.data,
            )
        )
    except DomainError as failure:
        return _render_gift(session, gift_id, form, failure, refusal_status(failure))
    boundary.audit(
        "gift.correct",
        f"gift #{gift_id}: correction {money.format(entry.amount_cents)} — {form.reason.data}",
    )
    flash("The correction is in the ledger.", "success")
    return redirect(url_for(".gift_page", chapter=g.chapter.slug, gift_id=gift_id))


@bp.route("/<chapter>/direct", methods=["GET", "POST"])
@auth.chapter_treasurer_required
def direct_gift(chapter):
    session = db.session()
    form = DirectGiftForm()
    form.drive.choices = drive_choices(session)
    error, first, status = None, None, 200
    if request.method == "GET":
        form.received.data = ledger.today()
    if form.validate_on_submit():
        try:
            gift = boundary.retry_on_conflict(
                lambda: gifts.record_direct_gift(
                    session,
                    g.chapter,
                    drive_id=form.drive.data,
                    amount_cents=required(form.amount.cents),
                    method=GiftMethod(form.method.data),
                    donor_name=form.name.data or "",
                    show_name=not form.anonymous.data,
                    check_number=form.check_number.data,
                    received_on=required(form.received.data),
                    partner_reference=form.partner_reference.data or "",
                    form_token=form.form_token.data,
                    recorded_by=current_user,
                )
            )
        except DomainError as failure:
            error, first, status = failure.message, first_record(failure), refusal_status(failure)
        else:
            boundary.audit(
                "gift.direct",
                f"gift #{gift.id}: {money.format(gift.amount_cents)} sent directly to the partner",
            )
            flash(
                f"Recorded {money.format(gift.amount_cents)} sent directly to the partner.",
                "success",
            )
            return redirect(url_for(".gift_page", chapter=g.chapter.slug, gift_id=gift.id))
    elif request.method == "POST":
        status = 400
    return render_template("treasurer/direct.html", form=form, error=error, first=first), status


@bp.get("/<chapter>/unassigned")
@auth.chapter_treasurer_required
def unassigned(chapter):
    return _render_unassigned(db.session())


def _render_unassigned(session, error=None, status=200):
    form = AssignForm(formdata=None)
    form.drive.choices = drive_choices(session)
    return render_template(
        "treasurer/unassigned.html",
        gifts=gifts.unassigned(session, g.chapter),
        form=form,
        error=error,
    ), status


@bp.post("/<chapter>/unassigned/<int:gift_id>")
@auth.chapter_treasurer_required
def assign(chapter, gift_id):
    session = db.session()
    gifts.unassigned_gift(session, g.chapter, gift_id)  # 404 unless it is this chapter's
    form = AssignForm()
    form.drive.choices = drive_choices(session)
    if not form.validate():
        return _render_unassigned(session, "Choose a drive.", 400)
    try:
        with boundary.attempt():
            gift = gifts.assign_gift(session, g.chapter, gift_id, form.drive.data)
    except DomainError as failure:
        return _render_unassigned(session, failure.message, refusal_status(failure))
    boundary.audit("gift.assign", f"gift #{gift.id} assigned to drive #{gift.drive_id}")
    flash(f"Gift #{gift.id} is now counted in its drive.", "success")
    return redirect(url_for(".unassigned", chapter=g.chapter.slug))
