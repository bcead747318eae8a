"""A donor's own page ("Find my gifts"): ask for a one-time link by email, open it, see every
gift, receipt and year-end statement, and cancel a monthly gift. Its session is a signed
cookie of its own (``relief_donor``), never a treasurer's session. Thin: parse, call
relief/donor_access.py, render."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext
from itsdangerous import BadSignature, URLSafeTimedSerializer

from relief import boundary, db, donor_access, organization
from relief.errors import InvalidInput
from relief.i18n import N_
from relief.models import email_key, utcnow
from relief.payments import donations
from relief.payments.gateway import GatewayError
from relief.reports import render, year_end
from relief.web import PDF_RATE, gateway, limiter

bp = Blueprint("donor", __name__)

COOKIE = "relief_donor"
#: Like the checkout, a target for anyone probing addresses: a donor needs a few tries.
FIND_PER_CLIENT = "5 per minute; 20 per hour"
FIND_PER_ADDRESS = "3 per hour"
SENT = N_(
    "If this address has given, a link to your gifts is on its way. It works once, for 30 minutes."
)


def _signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="relief donor page")


def _address_key() -> str:
    return "find-my-gifts:" + email_key(request.form.get("email", "")[:320])


def _signed_in() -> str | None:
    """The normalised address of the donor signed in on this browser, if any."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        link_id = _signer().loads(raw, max_age=donor_access.SESSION_SECONDS)
    except BadSignature:
        return None
    return donor_access.donor_key(db.session(), int(link_id))


def _donor() -> str:
    key = _signed_in()
    if key is None:
        abort(404)
    return key


@bp.get("/my-gifts")
def find():
    key = _signed_in()
    if key is None:
        return render_template("donate/find.html", message=None)
    return render_template("donate/mine.html", page=donor_access.page(db.session(), key))


@bp.post("/my-gifts")
@limiter.limit(FIND_PER_CLIENT)
@limiter.limit(FIND_PER_ADDRESS, key_func=_address_key)
def ask_for_link():
    email = request.form.get("email", "").strip()[:320]
    if "@" not in email:
        message = gettext("Please enter the email address you gave with.")
        return render_template("donate/find.html", message=message, error=True), 400
    donor_access.request_link(db.session(), email, str(current_app.config["SECRET_KEY"]), utcnow())
    return render_template("donate/find.html", message=gettext(SENT))


@bp.get("/my-gifts/link/<token>")
def open_link(token):
    # A button, not the GET, uses the link: mail scanners that fetch links do not spend it.
    return render_template("donate/open_link.html", token=token[:200])


@bp.post("/my-gifts/link/<token>")
@limiter.limit(FIND_PER_CLIENT)
def use_link(token):
    try:
        link_id = donor_access.redeem(db.session(), token, utcnow())
    except InvalidInput as refused:
        message = gettext(refused.message)
        return render_template("donate/find.html", message=message, error=True), 400
    response = redirect(url_for("donor.find"), code=303)
    response.set_cookie(
        COOKIE,
        _signer().dumps(link_id),
        max_age=donor_access.SESSION_SECONDS,
        httponly=True,
        samesite="Lax",
        secure=current_app.config.get("SESSION_COOKIE_SECURE", False),
    )
    return response


@bp.post("/my-gifts/sign-out")
def sign_out():
    response = redirect(url_for("donor.find"), code=303)
    response.delete_cookie(COOKIE)
    return response


@bp.get("/my-gifts/year-end/<int:year>.pdf")
@limiter.limit(PDF_RATE)
def year_end_pdf(year):
    key = _donor()
    statement = year_end.build(
        db.session(),
        key,
        year,
        issuer=organization.issuer(db.session(), current_app.config),
        now=utcnow(),
    )
    if not statement.lines:
        abort(404)
    response = Response(render.year_end_pdf(statement), mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="giving-statement-{year}.pdf"'
    response.cache_control.private = True
    response.cache_control.no_store = True
    return response


@bp.post("/my-gifts/monthly/<int:gift_id>/cancel")
def cancel_monthly(gift_id):
    donor_access.cancel_test_monthly(db.session(), _donor(), gift_id, utcnow())
    return redirect(url_for("donor.find"), code=303)


@bp.post("/my-gifts/monthly/<int:gift_id>/manage")
@limiter.limit(FIND_PER_CLIENT)
def manage_monthly(gift_id):
    """To Stripe's customer portal for this donor's own monthly gift."""
    gift = donor_access.own_gift(db.session(), _donor(), gift_id)
    try:
        url = donations.manage_url(
            db.session(),
            gateway(),
            gift.public_id,
            url_for("donor.find", _external=True),
            checkpoint=boundary.checkpoint,
        )
    except GatewayError:
        current_app.logger.exception("customer portal for gift %s failed", gift.public_id)
        abort(503)
    return redirect(url, code=303)
