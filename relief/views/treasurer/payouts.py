"""Stripe payouts (the list, one payout, the Sync button) and the bank statement import."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask_login import current_user

from relief import auth, boundary, db
from relief.errors import DomainError
from relief.payments.gateway import GatewayError
from relief.treasury import audit, bank, payouts
from relief.treasury.forms import ActionForm, BankImportForm
from relief.treasury.payout_sync import sync as sync_payouts
from relief.views.treasurer.blueprint import bp
from relief.web import gateway, refusal_status


@bp.get("/<chapter>/payouts")
@auth.chapter_treasurer_required
def payout_list(chapter):
    return render_template(
        "treasurer/payouts.html",
        rows=payouts.payouts_of(db.session(), g.chapter),
        sync_form=ActionForm(formdata=None),
    )


@bp.get("/<chapter>/payouts/<int:payout_id>")
@auth.chapter_treasurer_required
def payout_page(chapter, payout_id):
    view = payouts.payout_view(db.session(), g.chapter, payout_id)
    return render_template("treasurer/payout.html", view=view)


@bp.post("/<chapter>/payouts/sync")
@auth.chapter_treasurer_required
def payout_sync(chapter):
    # The payouts are the coalition's: any chapter's treasurer (or an admin) may sync them.
    back = redirect(url_for(".payout_list", chapter=g.chapter.slug))
    if not ActionForm().validate():
        flash("The form expired; try again.", "error")
        return back
    try:
        # Each page is kept as it is fetched: a sync cut off halfway resumes where it stopped.
        result = sync_payouts(
            db.session(),
            gateway(),
            actor=audit.Actor.of(current_user, request.remote_addr),
            chapter=g.chapter,
            checkpoint=boundary.checkpoint,
        )
    except GatewayError as error:
        # The redirect commits the unit: what was fetched is kept.
        flash(f"Stripe could not be reached; what was fetched is kept. {error}", "error")
        return back
    flash(result.sentence(), "info" if result.test_mode else "success")
    return back


@bp.route("/<chapter>/bank", methods=["GET", "POST"])
@auth.chapter_treasurer_required
def bank_import(chapter):
    session = db.session()
    form = BankImportForm()
    error, errors, status = None, None, 200
    if form.validate_on_submit():
        try:
            with boundary.attempt():
                result = bank.import_statement(
                    session, g.chapter, form.file.data.read(), imported_by=current_user
                )
        except DomainError as failure:
            error, status = failure.message, refusal_status(failure)
            result = None
        if result is not None and result.errors:
            # Nothing was stored (the service stores all rows or none); the 400 keeps nothing.
            error, errors, status = (
                "Nothing was imported: fix these rows and import the file again.",
                result.errors,
                400,
            )
        elif result is not None:
            boundary.audit(
                "bank.import",
                f"{result.added} deposits imported ({result.already} already there), "
                f"{result.matched} matched",
            )
            flash(
                f"Imported {result.added} deposit{'s' if result.added != 1 else ''}"
                f"{f' ({result.already} were already imported)' if result.already else ''}; "
                f"{result.matched} matched to a payout or a deposit batch.",
                "success",
            )
            return redirect(url_for(".bank_import", chapter=g.chapter.slug))
    elif request.method == "POST":
        status = 400
    return render_template(
        "treasurer/bank.html",
        form=form,
        error=error,
        import_errors=errors,
        view=bank.bank_view(session, g.chapter),
    ), status
