"""What leaves the site as a file: the export page, the ledger and donor CSVs, and the monthly
PDF report. Each file is a GET that writes an audit line (donor names leave with it), so it is
marked ``@boundary.writes``: its unit takes the write lock from the start and commits the line
when the view returns, before the file streams."""

from __future__ import annotations

from datetime import date, timedelta

from flask import Response, current_app, g, render_template, request
from sqlmodel import Session
from wtforms import SelectChoice  # type: ignore[attr-defined]  # not in types-WTForms

from relief import auth, boundary, db, ledger
from relief.errors import InvalidInput
from relief.models import utcnow
from relief.reports import monthly, render
from relief.treasury import attribution, exports, journal, scope
from relief.treasury.forms import ExportForm
from relief.views.treasurer.blueprint import bp, drive_choices
from relief.web import PDF_RATE, limiter


@bp.get("/<chapter>/exports")
@auth.chapter_treasurer_required
def export_page(chapter):
    form = ExportForm(request.args)
    form.drive.choices = [SelectChoice("", "All drives"), *drive_choices(db.session())]
    return render_template("treasurer/exports.html", form=form, zone=ledger.zone_name())


def _export_filters():
    form = ExportForm(request.args)
    form.drive.choices = [SelectChoice("", "All drives"), *drive_choices(db.session())]
    if not form.validate():
        raise InvalidInput(
            "The dates must be YYYY-MM-DD, the month YYYY-MM and the drive one of the chapter's."
        )
    if form.month.data:
        if form.since.data or form.until.data:
            raise InvalidInput("Choose a month or a date range, not both.")
        start = date.fromisoformat(f"{form.month.data}-01")
        form.since.data, form.until.data = start, ledger.next_month(start) - timedelta(days=1)
    if form.since.data and form.until.data and form.since.data > form.until.data:
        raise InvalidInput("The “from” date is after the “to” date.")
    drive_id = None
    if form.drive.data:
        drive_id = scope.drive_of(db.session(), g.chapter, form.drive.data).id
    return drive_id, form.since.data, form.until.data


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


def _filters_text() -> str:
    """The audit line's detail: the filters asked for, as the query string says them."""
    return request.query_string.decode()[:200] or "everything"


@bp.get("/<chapter>/ledger.csv")
@boundary.writes
@auth.chapter_treasurer_required
def ledger_csv(chapter):
    drive_id, since, until = _export_filters()
    boundary.audit("export.ledger", _filters_text())
    chunks = _streamed(exports.ledger_csv, g.chapter, drive_id, since, until)
    return _csv(f"{g.chapter.slug}-ledger.csv", chunks)


@bp.get("/<chapter>/donors.csv")
@boundary.writes
@auth.chapter_treasurer_required
def donors_csv(chapter):
    drive_id, since, until = _export_filters()
    boundary.audit("export.donors", _filters_text())
    chunks = _streamed(exports.donor_csv, g.chapter, drive_id, since, until)
    return _csv(f"{g.chapter.slug}-donors.csv", chunks)


# --- Files for accounting software (treasury.journal) -------------------------------------------


@bp.get("/<chapter>/journal.csv")
@boundary.writes
@auth.chapter_treasurer_required
def journal_csv(chapter):
    drive_id, since, until = _export_filters()
    boundary.audit("export.journal", _filters_text())
    chunks = _streamed(journal.journal_csv, g.chapter, drive_id, since, until)
    return _csv(f"{g.chapter.slug}-journal.csv", chunks)


@bp.get("/<chapter>/quickbooks.csv")
@boundary.writes
@auth.chapter_treasurer_required
def quickbooks_csv(chapter):
    drive_id, since, until = _export_filters()
    boundary.audit("export.quickbooks", _filters_text())
    chunks = _streamed(journal.quickbooks_csv, g.chapter, drive_id, since, until)
    return _csv(f"{g.chapter.slug}-quickbooks.csv", chunks)


@bp.get("/<chapter>/xero.csv")
@boundary.writes
@auth.chapter_treasurer_required
def xero_csv(chapter):
    drive_id, since, until = _export_filters()
    journal.check_xero_size(db.session(), g.chapter, drive_id, since, until)
    boundary.audit("export.xero", _filters_text())
    chunks = _streamed(journal.xero_csv, g.chapter, drive_id, since, until)
    return _csv(f"{g.chapter.slug}-xero.csv", chunks)


# --- Attribution: money per ref and UTM source (treasury.attribution) ---------------------------


@bp.get("/<chapter>/attribution")
@auth.chapter_treasurer_required
def attribution_page(chapter):
    session = db.session()
    choices = drive_choices(session)
    chosen = request.args.get("drive") or (choices[0].value if choices else None)
    result = None
    if chosen is not None:
        drive = scope.drive_of(session, g.chapter, chosen)  # 404 for another chapter's drive
        result = attribution.attribution(session, g.chapter, drive)
    return render_template(
        "treasurer/attribution.html", choices=choices, chosen=chosen, result=result
    )


# --- The monthly report ------------------------------------------------------------------------


@bp.get("/<chapter>/reports/<month>.pdf")
@boundary.writes
@limiter.limit(PDF_RATE)
@auth.chapter_treasurer_required
def monthly_report(chapter, month):
    paper = request.args.get("paper", "letter")
    render.paper_size(paper)  # a bad ?paper= or month is a 400 before any work
    first = monthly.parse_month(month, ledger.today())
    snapshot = monthly.build(
        db.session(),
        g.chapter,
        first,
        now=utcnow(),
        org_name=current_app.config["RELIEF_ORG_NAME"],
    )
    # Donor names leave the site in this file: the audit log says who took it.
    boundary.audit("report.month", f"{snapshot.month_key} ({paper})")
    boundary.checkpoint()  # kept now: no lock is held while the PDF renders
    response = Response(render.monthly_pdf(snapshot, paper), mimetype="application/pdf")
    filename = f"{snapshot.chapter_slug}-treasurer-report-{snapshot.month_key}.pdf"
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    return response
