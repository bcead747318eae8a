"""What leaves the site as a file: the export page, the ledger and donor CSVs, and the monthly
PDF report. Each writes an audit line first: donor names leave with it."""

from __future__ import annotations

from flask import Response, current_app, g, render_template, request
from sqlmodel import Session
from wtforms import SelectChoice

from relief import auth, db
from relief.errors import InvalidInput
from relief.models import utcnow
from relief.reports import monthly, render
from relief.treasury import exports, scope
from relief.treasury.forms import ExportForm
from relief.views.treasurer.blueprint import bp, drive_choices, record_audit
from relief.web import PDF_RATE, limiter


@bp.get("/<chapter>/exports")
@auth.chapter_treasurer_required
def export_page(chapter):
    form = ExportForm(request.args)
    form.drive.choices = [SelectChoice("", "All drives"), *drive_choices(db.session())]
    return render_template("treasurer/exports.html", form=form)


def _export_filters():
    form = ExportForm(request.args)
    form.drive.choices = [SelectChoice("", "All drives"), *drive_choices(db.session())]
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
    record_audit(session, action, detail or request.query_string.decode()[:200] or "everything")
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
