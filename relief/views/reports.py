"""PDF reports: the public press impact report and a donor's receipt."""

from flask import Blueprint, Response, current_app, request, url_for

from relief import db, organization
from relief.models import utcnow
from relief.reports import press, receipt, render
from relief.web import PDF_RATE, limiter

bp = Blueprint("reports", __name__)


def _pdf_response(data: bytes, filename: str) -> Response:
    response = Response(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


def _public_url(endpoint: str, **values) -> str:
    base = current_app.config.get("RELIEF_PUBLIC_URL")
    if base:
        return base.rstrip("/") + url_for(endpoint, **values)
    return url_for(endpoint, **values, _external=True)


@bp.get("/drives/<slug>/report.pdf")
@limiter.limit(PDF_RATE)
def press_report(slug):
    paper = request.args.get("paper", "letter")
    render.paper_size(paper)  # a bad ?paper= is a 400 before any work
    snapshot = press.build(
        db.session(),
        slug,
        utcnow(),
        drive_url=_public_url("public.drive_page", slug=slug),
        org_name=current_app.config["RELIEF_ORG_NAME"],
        press_contact=current_app.config["RELIEF_PRESS_CONTACT"],
    )
    filename = f"{snapshot.slug}-impact-report-{snapshot.as_of:%Y-%m-%d}.pdf"
    response = _pdf_response(render.pdf(snapshot, paper), filename)
    response.cache_control.public = True
    response.cache_control.max_age = 60
    return response


@bp.get("/gifts/<public_id>/receipt.pdf")
@limiter.limit(PDF_RATE)
def gift_receipt(public_id):
    paper = request.args.get("paper", "letter")
    render.paper_size(paper)
    donor_receipt = receipt.build(
        db.session(),
        public_id,
        issuer=organization.issuer(db.session(), current_app.config),
        now=utcnow(),
        reissue=True,
    )
    filename = f"receipt-{donor_receipt.number}.pdf"
    response = _pdf_response(render.receipt_pdf(donor_receipt, paper), filename)
    # The donor's own document: keep it out of shared caches.
    response.cache_control.private = True
    response.cache_control.no_store = True
    return response
