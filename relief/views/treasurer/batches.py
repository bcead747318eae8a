"""Deposit batches: the list and a new batch, one batch's lines, its CSV import, who holds the
money, and posting it to the ledger."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask_login import current_user

from relief import auth, boundary, db, ledger, money
from relief.errors import DomainError
from relief.forms import required
from relief.treasury import batches
from relief.treasury.forms import (
    ActionForm,
    CustodyForm,
    ImportForm,
    LineForm,
    NewBatchForm,
    PostBatchForm,
)
from relief.views.treasurer.blueprint import bp, drive_choices, first_record
from relief.web import refusal_status


@bp.route("/<chapter>/batches", methods=["GET", "POST"])
@auth.chapter_treasurer_required
def batch_list(chapter):
    session = db.session()
    form = NewBatchForm()
    form.drive.choices = drive_choices(session)
    error, first, status = None, None, 200
    if form.validate_on_submit():
        try:
            batch = boundary.retry_on_conflict(
                lambda: batches.open_batch(
                    session,
                    g.chapter,
                    drive_id=form.drive.data,
                    label=required(form.label.data),
                    expected_count=required(form.expected_count.data),
                    expected_total_cents=required(form.expected_total.cents),
                    held_by=form.held_by.data or "",
                    created_by=current_user,
                    slip_number=form.slip_number.data or "",
                    form_token=form.form_token.data,
                    # Blank is today, as the form shows it before the treasurer changes it.
                    received_on=form.received.data or ledger.today(),
                )
            )
        except DomainError as failure:
            error, first, status = failure.message, first_record(failure), refusal_status(failure)
        else:
            boundary.audit(
                "batch.open",
                f"batch #{batch.id} “{batch.label}”: {batch.expected_count} gifts, "
                f"{money.format(batch.expected_total_cents)}",
            )
            return redirect(url_for(".batch_page", chapter=g.chapter.slug, batch_id=batch.id))
    elif request.method == "POST":
        status = 400
    if form.received.data is None and request.method == "GET":
        form.received.data = ledger.today()
    return render_template(
        "treasurer/batches.html",
        form=form,
        error=error,
        first=first,
        rows=batches.batches_of(session, g.chapter),
    ), status


def _render_batch(session, batch_id, status=200, **forms):
    view = batches.batch_view(session, g.chapter, batch_id)
    line_form = forms.pop("line_form", None) or LineForm(formdata=None)
    if line_form.received.data is None:
        # The slip's date: a Sunday event's checks typed on Tuesday are Sunday's.
        line_form.received.data = view.batch.received_on or ledger.today()
    custody_form = forms.pop("custody_form", None) or CustodyForm(
        formdata=None, held_by=view.batch.held_by, deposited_on=view.batch.deposited_on
    )
    return render_template(
        "treasurer/batch.html",
        view=view,
        line_form=line_form,
        import_form=forms.pop("import_form", None) or ImportForm(formdata=None),
        custody_form=custody_form,
        action_form=ActionForm(),
        post_form=forms.pop("post_form", None) or PostBatchForm(formdata=None),
        error=forms.pop("error", None),
        first=forms.pop("first", None),
        import_errors=forms.pop("import_errors", None),
    ), status


@bp.get("/<chapter>/batches/<int:batch_id>")
@auth.chapter_treasurer_required
def batch_page(chapter, batch_id):
    return _render_batch(db.session(), batch_id)


def _back_to_batch(batch_id):
    return redirect(url_for(".batch_page", chapter=g.chapter.slug, batch_id=batch_id))


@bp.post("/<chapter>/batches/<int:batch_id>/lines")
@auth.chapter_treasurer_required
def batch_add_line(chapter, batch_id):
    session = db.session()
    form = LineForm()
    if not form.validate():
        return _render_batch(session, batch_id, 400, line_form=form)
    try:
        with boundary.attempt():
            line = batches.add_line(
                session,
                g.chapter,
                batch_id,
                batches.LineInput(
                    amount=required(form.amount.data),
                    name=form.name.data or "",
                    anonymous=form.anonymous.data,
                    method=form.method.data,
                    check_number=form.check_number.data or "",
                    received=form.received.data,
                ),
            )
    except DomainError as failure:
        return _render_batch(
            session, batch_id, refusal_status(failure), line_form=form, error=failure.message
        )
    boundary.audit("batch.line.add", f"batch #{batch_id}: {money.format(line.amount_cents)}")
    flash(f"Added {money.format(line.amount_cents)}.", "success")
    return _back_to_batch(batch_id)


@bp.post("/<chapter>/batches/<int:batch_id>/lines/<int:line_id>/remove")
@auth.chapter_treasurer_required
def batch_remove_line(chapter, batch_id, line_id):
    session = db.session()
    if not ActionForm().validate():
        return _render_batch(session, batch_id, 400, error="The form expired; try again.")
    try:
        with boundary.attempt():
            batches.remove_line(session, g.chapter, batch_id, line_id)
    except DomainError as failure:
        return _render_batch(session, batch_id, refusal_status(failure), error=failure.message)
    boundary.audit("batch.line.remove", f"batch #{batch_id}: line #{line_id}")
    flash("Removed the gift from the batch.", "success")
    return _back_to_batch(batch_id)


@bp.post("/<chapter>/batches/<int:batch_id>/import")
@auth.chapter_treasurer_required
def batch_import(chapter, batch_id):
    session = db.session()
    form = ImportForm()
    if not form.validate():
        return _render_batch(session, batch_id, 400, import_form=form)
    try:
        with boundary.attempt():
            result = batches.import_csv(session, g.chapter, batch_id, form.file.data.read())
    except DomainError as failure:
        return _render_batch(
            session, batch_id, refusal_status(failure), import_form=form, error=failure.message
        )
    if result.errors:
        # Nothing was added (the service adds every row or none); the 400 keeps nothing.
        return _render_batch(
            session,
            batch_id,
            400,
            import_form=form,
            error="Nothing was imported: fix these rows and import the file again.",
            import_errors=result.errors,
        )
    boundary.audit("batch.import", f"batch #{batch_id}: {result.added} gifts from a CSV")
    flash(f"Imported {result.added} gifts.", "success")
    return _back_to_batch(batch_id)


@bp.post("/<chapter>/batches/<int:batch_id>/custody")
@auth.chapter_treasurer_required
def batch_custody(chapter, batch_id):
    session = db.session()
    form = CustodyForm()
    if not form.validate():
        return _render_batch(session, batch_id, 400, custody_form=form)
    try:
        with boundary.attempt():
            batch = batches.set_custody(
                session,
                g.chapter,
                batch_id,
                held_by=form.held_by.data or "",
                deposited_on=form.deposited_on.data,
            )
    except DomainError as failure:
        return _render_batch(
            session, batch_id, refusal_status(failure), custody_form=form, error=failure.message
        )
    boundary.audit(
        "batch.custody",
        f"batch #{batch_id}: held by “{batch.held_by}”, deposited "
        f"{batch.deposited_on.isoformat() if batch.deposited_on else 'not yet'}",
    )
    flash("Saved who holds the money and the deposit date.", "success")
    return _back_to_batch(batch_id)


@bp.post("/<chapter>/batches/<int:batch_id>/post")
@auth.chapter_treasurer_required
def batch_post(chapter, batch_id):
    session = db.session()
    form = PostBatchForm()
    if not form.validate():
        return _render_batch(
            session, batch_id, 400, error="This form is out of date; reload the page and try again."
        )
    try:
        view = boundary.retry_on_conflict(
            lambda: batches.post_batch(
                session, g.chapter, batch_id, form.form_token.data, current_user
            )
        )
    except DomainError as failure:
        return _render_batch(
            session,
            batch_id,
            refusal_status(failure),
            post_form=form,
            error=failure.message,
            first=first_record(failure),
        )
    boundary.audit(
        "batch.post",
        f"batch #{batch_id}: {view.entered_count} gifts, "
        f"{money.format(view.entered_total_cents)} posted to the ledger",
    )
    flash(
        f"Posted {view.entered_count} gifts, {money.format(view.entered_total_cents)}, "
        "to the ledger.",
        "success",
    )
    return _back_to_batch(batch_id)
