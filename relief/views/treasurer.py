"""The treasurer's screens. Every route but the chapter list is guarded by
``chapter_treasurer_required`` (g.chapter, 404 unless it is the user's), and every object below
a chapter is loaded through the chapter's scope, so an id of another chapter's is a 404.

Each POST: parse the form, call one service, write the audit line, commit — or show the
service's sentence beside the form, with what was typed kept.
"""

from __future__ import annotations

from datetime import date

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlmodel import Session
from wtforms import SelectChoice

from relief import auth, db, money
from relief.errors import DomainError, InvalidInput, NotFound
from relief.models import GiftMethod, Remittance, utcnow
from relief.payments.choice import for_app
from relief.payments.gateway import GatewayError
from relief.reports import monthly, render
from relief.treasury import (
    audit,
    bank,
    batches,
    dashboard,
    exports,
    gifts,
    months,
    partner_reports,
    payouts,
    remittances,
    scope,
)
from relief.treasury.forms import (
    ActionForm,
    AssignForm,
    BankImportForm,
    CorrectionForm,
    CustodyForm,
    DirectGiftForm,
    ExportForm,
    ImportForm,
    LineForm,
    MonthCloseForm,
    NewBatchForm,
    PartnerReportForm,
    RemittanceForm,
    ReverseForm,
)
from relief.treasury.payout_sync import sync as sync_payouts
from relief.views.reports import PDF_RATE
from relief.web import limiter

bp = Blueprint("treasurer", __name__, url_prefix="/treasurer")


@bp.after_request
def no_store(response):
    # Donor names, emails and amounts: no browser or proxy cache keeps these pages.
    response.headers["Cache-Control"] = "no-store"
    return response


def _audit(session, action: str, detail: str) -> None:
    audit.record(
        session, audit.Actor.of(current_user, request.remote_addr), action, detail, g.chapter
    )


def _drive_choices(session) -> list[SelectChoice]:
    return [
        SelectChoice(str(drive.id), drive.title) for drive in scope.drives_of(session, g.chapter)
    ]


def _failed(error: DomainError) -> int:
    """The status to answer a refused POST with; a 404 is not shown inline but raised."""
    if isinstance(error, NotFound):
        raise error
    return error.status_code


@bp.get("/")
@auth.login_required
def index():
    chapters = auth.chapters_of(db.session(), current_user)
    return render_template("treasurer/index.html", chapters=chapters)


@bp.get("/<chapter>/")
@auth.chapter_treasurer_required
def chapter_dashboard(chapter):
    return _render_dashboard(db.session(), month=_month_arg(request.args.get("month")))


def _month_arg(text: str | None) -> date | None:
    """A month asked for in the URL (YYYY-MM or YYYY-MM-DD); None when absent or malformed."""
    try:
        return date.fromisoformat(text if len(text) > 7 else f"{text}-01") if text else None
    except ValueError:
        return None


def _render_dashboard(session, close_form=None, error=None, status=200, month=None):
    view = dashboard.dashboard(session, g.chapter, month)
    if close_form is None:
        close_form = MonthCloseForm(formdata=None)
        if view.checklist is not None:
            close_form.month.data = view.checklist.month.isoformat()
    close_form.month.choices = _month_choices(view.closable_months)
    return render_template(
        "treasurer/dashboard.html",
        view=view,
        sync_form=ActionForm(formdata=None),
        close_form=close_form,
        error=error,
    ), status


def _month_choices(closable) -> list[SelectChoice]:
    return [SelectChoice(m.isoformat(), months.month_label(m)) for m in closable]


@bp.post("/<chapter>/months/close")
@auth.chapter_treasurer_required
def month_close(chapter):
    session = db.session()  # a POST: the guard took the write lock
    form = MonthCloseForm()
    form.month.choices = _month_choices(months.closable_months(session, g.chapter))
    asked = _month_arg(form.month.data)
    if not form.validate():
        return _render_dashboard(session, form, status=400, month=asked)
    try:
        closed = months.close_month(
            session,
            g.chapter,
            date.fromisoformat(form.month.data),
            current_user,
            override_reason=form.override_reason.data,
        )
        if closed.override_reason:
            _audit(
                session,
                "month.close.override",
                f"{closed.label} closed although not reconciled. Reason: "
                f"{closed.override_reason} — Outstanding: "
                + "; ".join(item.sentence for item in closed.checklist.outstanding),
            )
        else:
            _audit(session, "month.close", f"{closed.label} reconciled and closed")
        db.commit()
    except DomainError as failure:
        session.rollback()
        return _render_dashboard(db.session(), form, failure.message, _failed(failure), month=asked)
    flash(
        f"{closed.label} is closed. Later corrections dated in it land in the next open month.",
        "success",
    )
    return redirect(url_for(".chapter_dashboard", chapter=g.chapter.slug))


# --- Stripe payouts and the bank statement ------------------------------------------------------


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
    session = db.session()  # a POST: the guard took the write lock
    back = redirect(url_for(".payout_list", chapter=g.chapter.slug))
    if not ActionForm().validate():
        flash("The form expired; try again.", "error")
        return back

    def checkpoint():
        # Each page is kept: a sync cut off halfway resumes where it stopped.
        session.commit()
        db.begin_write(session)

    try:
        result = sync_payouts(
            session,
            for_app(current_app),
            actor=audit.Actor.of(current_user, request.remote_addr),
            chapter=g.chapter,
            checkpoint=checkpoint,
        )
    except GatewayError as error:
        session.rollback()
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
            result = bank.import_statement(
                session, g.chapter, form.file.data.read(), imported_by=current_user
            )
        except DomainError as failure:
            session.rollback()
            error, status = failure.message, _failed(failure)
            result = None
        if result is not None and result.errors:
            session.rollback()
            error, errors, status = (
                "Nothing was imported: fix these rows and import the file again.",
                result.errors,
                400,
            )
        elif result is not None:
            _audit(
                session,
                "bank.import",
                f"{result.added} deposits imported ({result.already} already there), "
                f"{result.matched} matched",
            )
            db.commit()
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
        view=bank.bank_view(db.session(), g.chapter),
    ), status


# --- Deposit batches ---------------------------------------------------------------------------


@bp.route("/<chapter>/batches", methods=["GET", "POST"])
@auth.chapter_treasurer_required
def batch_list(chapter):
    session = db.session()
    form = NewBatchForm()
    form.drive.choices = _drive_choices(session)
    error, status = None, 200
    if form.validate_on_submit():
        try:
            batch = batches.open_batch(
                session,
                g.chapter,
                drive_id=form.drive.data,
                label=form.label.data,
                expected_count=form.expected_count.data,
                expected_total_cents=form.expected_total.cents,
                held_by=form.held_by.data or "",
                created_by=current_user,
            )
            _audit(
                session,
                "batch.open",
                f"batch #{batch.id} “{batch.label}”: {batch.expected_count} gifts, "
                f"{money.format(batch.expected_total_cents)}",
            )
            db.commit()
            return redirect(url_for(".batch_page", chapter=g.chapter.slug, batch_id=batch.id))
        except DomainError as failure:
            error, status = failure.message, _failed(failure)
    elif request.method == "POST":
        status = 400
    return render_template(
        "treasurer/batches.html",
        form=form,
        error=error,
        rows=batches.batches_of(session, g.chapter),
    ), status


def _render_batch(session, batch_id, status=200, **forms):
    view = batches.batch_view(session, g.chapter, batch_id)
    line_form = forms.pop("line_form", None) or LineForm(formdata=None)
    if line_form.received.data is None:
        line_form.received.data = date.today()
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
        error=forms.pop("error", None),
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
    session = db.session()  # a POST: the guard took the write lock
    form = LineForm()
    if not form.validate():
        return _render_batch(session, batch_id, 400, line_form=form)
    try:
        line = batches.add_line(
            session,
            g.chapter,
            batch_id,
            batches.LineInput(
                amount=form.amount.data,
                name=form.name.data or "",
                anonymous=form.anonymous.data,
                method=form.method.data,
                check_number=form.check_number.data or "",
                received=form.received.data,
            ),
        )
        _audit(session, "batch.line.add", f"batch #{batch_id}: {money.format(line.amount_cents)}")
        db.commit()
    except DomainError as failure:
        return _render_batch(
            session, batch_id, _failed(failure), line_form=form, error=failure.message
        )
    flash(f"Added {money.format(line.amount_cents)}.", "success")
    return _back_to_batch(batch_id)


@bp.post("/<chapter>/batches/<int:batch_id>/lines/<int:line_id>/remove")
@auth.chapter_treasurer_required
def batch_remove_line(chapter, batch_id, line_id):
    session = db.session()  # a POST: the guard took the write lock
    if not ActionForm().validate():
        return _render_batch(session, batch_id, 400, error="The form expired; try again.")
    try:
        batches.remove_line(session, g.chapter, batch_id, line_id)
        _audit(session, "batch.line.remove", f"batch #{batch_id}: line #{line_id}")
        db.commit()
    except DomainError as failure:
        return _render_batch(session, batch_id, _failed(failure), error=failure.message)
    flash("Removed the gift from the batch.", "success")
    return _back_to_batch(batch_id)


@bp.post("/<chapter>/batches/<int:batch_id>/import")
@auth.chapter_treasurer_required
def batch_import(chapter, batch_id):
    session = db.session()  # a POST: the guard took the write lock
    form = ImportForm()
    if not form.validate():
        return _render_batch(session, batch_id, 400, import_form=form)
    try:
        result = batches.import_csv(session, g.chapter, batch_id, form.file.data.read())
    except DomainError as failure:
        return _render_batch(
            session, batch_id, _failed(failure), import_form=form, error=failure.message
        )
    if result.errors:
        session.rollback()
        return _render_batch(
            db.session(),
            batch_id,
            400,
            import_form=form,
            error="Nothing was imported: fix these rows and import the file again.",
            import_errors=result.errors,
        )
    _audit(session, "batch.import", f"batch #{batch_id}: {result.added} gifts from a CSV")
    db.commit()
    flash(f"Imported {result.added} gifts.", "success")
    return _back_to_batch(batch_id)


@bp.post("/<chapter>/batches/<int:batch_id>/custody")
@auth.chapter_treasurer_required
def batch_custody(chapter, batch_id):
    session = db.session()  # a POST: the guard took the write lock
    form = CustodyForm()
    if not form.validate():
        return _render_batch(session, batch_id, 400, custody_form=form)
    try:
        batch = batches.set_custody(
            session,
            g.chapter,
            batch_id,
            held_by=form.held_by.data or "",
            deposited_on=form.deposited_on.data,
        )
        _audit(
            session,
            "batch.custody",
            f"batch #{batch_id}: held by “{batch.held_by}”, deposited "
            f"{batch.deposited_on.isoformat() if batch.deposited_on else 'not yet'}",
        )
        db.commit()
    except DomainError as failure:
        return _render_batch(
            session, batch_id, _failed(failure), custody_form=form, error=failure.message
        )
    flash("Saved who holds the money and the deposit date.", "success")
    return _back_to_batch(batch_id)


@bp.post("/<chapter>/batches/<int:batch_id>/post")
@auth.chapter_treasurer_required
def batch_post(chapter, batch_id):
    session = db.session()  # a POST: the guard took the write lock
    if not ActionForm().validate():
        return _render_batch(session, batch_id, 400, error="The form expired; try again.")
    try:
        view = batches.post_batch(session, g.chapter, batch_id)
        _audit(
            session,
            "batch.post",
            f"batch #{batch_id}: {view.entered_count} gifts, "
            f"{money.format(view.entered_total_cents)} posted to the ledger",
        )
        db.commit()
    except DomainError as failure:
        session.rollback()
        return _render_batch(db.session(), batch_id, _failed(failure), error=failure.message)
    flash(
        f"Posted {view.entered_count} gifts, {money.format(view.entered_total_cents)}, "
        "to the ledger.",
        "success",
    )
    return _back_to_batch(batch_id)


# --- Gifts: list, corrections, sent directly to the partner, unassigned -------------------------


@bp.get("/<chapter>/gifts")
@auth.chapter_treasurer_required
def gift_list(chapter):
    before = request.args.get("before", type=int)
    rows = gifts.recent_gifts(db.session(), g.chapter, limit=100, before_id=before)
    return render_template("treasurer/gifts.html", rows=rows, page_size=100)


def _render_gift(session, gift_id, form=None, error=None, status=200):
    detail = gifts.gift_detail(session, g.chapter, gift_id)
    return render_template(
        "treasurer/gift.html",
        detail=detail,
        form=form or CorrectionForm(formdata=None),
        error=error,
    ), status


@bp.get("/<chapter>/gifts/<int:gift_id>")
@auth.chapter_treasurer_required
def gift_page(chapter, gift_id):
    return _render_gift(db.session(), gift_id)


@bp.post("/<chapter>/gifts/<int:gift_id>/correct")
@auth.chapter_treasurer_required
def gift_correct(chapter, gift_id):
    session = db.session()  # a POST: the guard took the write lock
    form = CorrectionForm()
    if not form.validate():
        return _render_gift(session, gift_id, form, status=400)
    try:
        entry = gifts.correct_gift(
            session,
            g.chapter,
            gift_id,
            correct_amount_cents=gifts.parse_amount_or_zero(form.correct_amount.data),
            reason=form.reason.data,
        )
        _audit(
            session,
            "gift.correct",
            f"gift #{gift_id}: correction {money.format(entry.amount_cents)} — {form.reason.data}",
        )
        db.commit()
    except DomainError as failure:
        return _render_gift(session, gift_id, form, failure.message, _failed(failure))
    flash("The correction is in the ledger.", "success")
    return redirect(url_for(".gift_page", chapter=g.chapter.slug, gift_id=gift_id))


@bp.route("/<chapter>/direct", methods=["GET", "POST"])
@auth.chapter_treasurer_required
def direct_gift(chapter):
    session = db.session()
    form = DirectGiftForm()
    form.drive.choices = _drive_choices(session)
    error, status = None, 200
    if request.method == "GET":
        form.received.data = date.today()
    if form.validate_on_submit():
        try:
            gift = gifts.record_direct_gift(
                session,
                g.chapter,
                drive_id=form.drive.data,
                amount_cents=form.amount.cents,
                method=GiftMethod(form.method.data),
                donor_name=form.name.data or "",
                show_name=not form.anonymous.data,
                check_number=form.check_number.data,
                received_on=form.received.data,
                partner_reference=form.partner_reference.data or "",
            )
            _audit(
                session,
                "gift.direct",
                f"gift #{gift.id}: {money.format(gift.amount_cents)} sent directly to the partner",
            )
            db.commit()
            flash(
                f"Recorded {money.format(gift.amount_cents)} sent directly to the partner.",
                "success",
            )
            return redirect(url_for(".gift_page", chapter=g.chapter.slug, gift_id=gift.id))
        except DomainError as failure:
            error, status = failure.message, _failed(failure)
    elif request.method == "POST":
        status = 400
    return render_template("treasurer/direct.html", form=form, error=error), status


@bp.get("/<chapter>/unassigned")
@auth.chapter_treasurer_required
def unassigned(chapter):
    return _render_unassigned(db.session())


def _render_unassigned(session, error=None, status=200):
    form = AssignForm(formdata=None)
    form.drive.choices = _drive_choices(session)
    return render_template(
        "treasurer/unassigned.html",
        gifts=gifts.unassigned(session, g.chapter),
        form=form,
        error=error,
    ), status


@bp.post("/<chapter>/unassigned/<int:gift_id>")
@auth.chapter_treasurer_required
def assign(chapter, gift_id):
    session = db.session()  # a POST: the guard took the write lock
    gifts.unassigned_gift(session, g.chapter, gift_id)  # 404 unless it is this chapter's
    form = AssignForm()
    form.drive.choices = _drive_choices(session)
    if not form.validate():
        return _render_unassigned(session, "Choose a drive.", 400)
    try:
        gift = gifts.assign_gift(session, g.chapter, gift_id, form.drive.data)
        _audit(session, "gift.assign", f"gift #{gift.id} assigned to drive #{gift.drive_id}")
        db.commit()
    except DomainError as failure:
        return _render_unassigned(session, failure.message, _failed(failure))
    flash(f"Gift #{gift.id} is now counted in its drive.", "success")
    return redirect(url_for(".unassigned", chapter=g.chapter.slug))


# --- Remittances and the partner's reports ------------------------------------------------------


@bp.route("/<chapter>/remittances", methods=["GET", "POST"])
@auth.chapter_treasurer_required
def remittance_list(chapter):
    session = db.session()
    form = RemittanceForm()
    form.drive.choices = _drive_choices(session)
    error, status = None, 200
    if request.method == "GET":
        form.sent_on.data = date.today()
    if form.validate_on_submit():
        try:
            remittance = remittances.record_remittance(
                session,
                g.chapter,
                drive_id=form.drive.data,
                amount_cents=form.amount.cents,
                sent_on=form.sent_on.data,
                reference=form.reference.data,
                recorded_by=current_user,
            )
            _audit(
                session,
                "remittance.record",
                f"remittance #{remittance.id}: {money.format(remittance.amount_cents)} "
                f"sent {remittance.sent_on.isoformat()}, ref {remittance.reference}",
            )
            db.commit()
            flash(f"Recorded the remittance of {money.format(remittance.amount_cents)}.", "success")
            return redirect(url_for(".remittance_list", chapter=g.chapter.slug))
        except DomainError as failure:
            error, status = failure.message, _failed(failure)
    elif request.method == "POST":
        status = 400
    return _render_remittances(session, form, error, status)


def _render_remittances(session, form, error=None, status=200):
    return render_template(
        "treasurer/remittances.html",
        form=form,
        reverse_form=ReverseForm(formdata=None),
        error=error,
        rows=remittances.remittances_of(session, g.chapter),
        drive_rows=dashboard.by_drive(session, g.chapter),
    ), status


@bp.post("/<chapter>/remittances/<int:remittance_id>/reverse")
@auth.chapter_treasurer_required
def remittance_reverse(chapter, remittance_id):
    session = db.session()  # a POST: the guard took the write lock
    scope.get_owned(session, Remittance, remittance_id, g.chapter, "remittance")
    form = ReverseForm()
    new_form = RemittanceForm(formdata=None)
    new_form.drive.choices = _drive_choices(session)
    if not form.validate():
        return _render_remittances(session, new_form, "Give the reason for reversing it.", 400)
    try:
        entry = remittances.reverse_remittance(session, g.chapter, remittance_id, form.reason.data)
        _audit(
            session,
            "remittance.reverse",
            f"remittance #{remittance_id}: {money.format(entry.amount_cents)} — {form.reason.data}",
        )
        db.commit()
    except DomainError as failure:
        return _render_remittances(session, new_form, failure.message, _failed(failure))
    flash("The remittance is reversed; the money counts as held again.", "success")
    return redirect(url_for(".remittance_list", chapter=g.chapter.slug))


@bp.route("/<chapter>/partner-reports", methods=["GET", "POST"])
@auth.chapter_treasurer_required
def partner_report_list(chapter):
    session = db.session()
    form = PartnerReportForm()
    form.drive.choices = _drive_choices(session)
    error, status = None, 200
    if request.method == "GET":
        form.reported_on.data = date.today()
    if form.validate_on_submit():
        try:
            report = partner_reports.record_report(
                session,
                g.chapter,
                drive_id=form.drive.data,
                debt_abolished_cents=form.debt_abolished.cents,
                people_helped=form.people_helped.data,
                counts_households=form.unit.data == "households",
                region=form.region.data or "",
                reported_on=form.reported_on.data,
                recorded_by=current_user,
            )
            _audit(
                session,
                "partner_report.record",
                f"report #{report.id} for drive #{report.drive_id}: "
                f"{money.format(report.debt_abolished_cents)} abolished, "
                f"{report.people_helped} {form.unit.data}",
            )
            db.commit()
            flash("Recorded the partner's report.", "success")
            return redirect(url_for(".partner_report_list", chapter=g.chapter.slug))
        except DomainError as failure:
            error, status = failure.message, _failed(failure)
    elif request.method == "POST":
        status = 400
    return render_template(
        "treasurer/partner_reports.html",
        form=form,
        error=error,
        reports=partner_reports.reports_for(session, g.chapter),
        drive_rows=dashboard.by_drive(session, g.chapter),
    ), status


# --- Exports -----------------------------------------------------------------------------------


@bp.get("/<chapter>/exports")
@auth.chapter_treasurer_required
def export_page(chapter):
    form = ExportForm(request.args)
    form.drive.choices = [SelectChoice("", "All drives"), *_drive_choices(db.session())]
    return render_template("treasurer/exports.html", form=form)


def _export_filters():
    form = ExportForm(request.args)
    form.drive.choices = [SelectChoice("", "All drives"), *_drive_choices(db.session())]
    if not form.validate():
        raise InvalidInput("The dates must be YYYY-MM-DD and the drive one of the chapter's.")
    if form.since.data and form.until.data and form.since.data > form.until.data:
        raise InvalidInput("The “from” date is after the “to” date.")
    drive_id = None
    if form.drive.data:
        drive_id = scope.drive_of(db.session(), g.chapter, form.drive.data).id
    return drive_id, form.since.data, form.until.data


def _audit_export(action: str, detail: str | None = None) -> None:
    # The audit line is written and committed before the file streams (a GET took no write
    # lock: end its read, then write in a short transaction of its own).
    session = db.session()
    session.commit()
    db.begin_write(session)
    _audit(session, action, detail or request.query_string.decode()[:200] or "everything")
    db.commit()


def _streamed(export, *args):
    """Run ``export`` in a session of its own, open while the response streams (the request's
    session is closed when the view returns, before the body is sent)."""
    engine = db.engine()

    def chunks():
        with Session(engine, expire_on_commit=False) as session:
            yield from export(session, *args)

    return chunks()


def _csv(name: str, chunks) -> Response:
    response = Response(chunks, mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@bp.get("/<chapter>/ledger.csv")
@auth.chapter_treasurer_required
def ledger_csv(chapter):
    drive_id, since, until = _export_filters()
    _audit_export("export.ledger")
    chunks = _streamed(exports.ledger_csv, g.chapter, drive_id, since, until)
    return _csv(f"{g.chapter.slug}-ledger.csv", chunks)


@bp.get("/<chapter>/donors.csv")
@auth.chapter_treasurer_required
def donors_csv(chapter):
    drive_id, since, until = _export_filters()
    _audit_export("export.donors")
    chunks = _streamed(exports.donor_csv, g.chapter, drive_id, since, until)
    return _csv(f"{g.chapter.slug}-donors.csv", chunks)


# --- The monthly report ------------------------------------------------------------------------


@bp.get("/<chapter>/reports/<month>.pdf")
@limiter.limit(PDF_RATE)
@auth.chapter_treasurer_required
def monthly_report(chapter, month):
    paper = request.args.get("paper", "letter")
    render.paper_size(paper)  # a bad ?paper= or month is a 400 before any work
    first = monthly.parse_month(month, utcnow().date())
    snapshot = monthly.build(
        db.session(),
        g.chapter,
        first,
        now=utcnow(),
        org_name=current_app.config["RELIEF_ORG_NAME"],
    )
    # Donor names leave the site in this file: the audit log says who took it.
    _audit_export("report.month", f"{snapshot.month_key} ({paper})")
    response = Response(render.monthly_pdf(snapshot, paper), mimetype="application/pdf")
    filename = f"{snapshot.chapter_slug}-treasurer-report-{snapshot.month_key}.pdf"
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    return response
