"""What every page shares: CSRF, rate limits, the |money filter, error pages, security headers,
and the app's payment gateway."""

from __future__ import annotations

from flask import Flask, current_app, jsonify, render_template, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.exc import DataError, OperationalError

from relief import money, projection
from relief.errors import DomainError, NotFound
from relief.payments.choice import for_app
from relief.payments.gateway import Gateway

csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)

#: Rendering a PDF costs a few hundred milliseconds of CPU: enough for readers, not for floods.
PDF_RATE = "20 per minute"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self' https://checkout.stripe.com https://billing.stripe.com; "
    "frame-ancestors 'none'; base-uri 'self'"
)


def gateway() -> Gateway:
    """This app's payment gateway (Stripe, or test mode when no key is set)."""
    return for_app(current_app)


def refusal_status(error: DomainError) -> int:
    """The status a view answers a refused form with, the service's sentence shown beside it
    (the answer, 400 or more, rolls the unit back). A 404 is not shown beside a form but raised:
    the error page, the same as for anything that does not exist."""
    if isinstance(error, NotFound):
        raise error
    return error.status_code


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path.startswith("/stripe/")


def _answer_error(message: str, status: int):
    """The sentence as JSON for the API and Stripe, else as the error page."""
    if _wants_json():
        return jsonify(error=message), status
    return render_template("errors/error.html", message=message, status=status), status


def init_app(app: Flask) -> None:
    csrf.init_app(app)
    if not app.config.get("RATELIMIT_STORAGE_URI"):
        # Limits must be shared by all workers; the database is what they all share.
        from relief import db, ratelimit

        app.config["RATELIMIT_STORAGE_URI"] = f"{ratelimit.SCHEME}://"
        app.config["RATELIMIT_STORAGE_OPTIONS"] = {"engine": db.engine_of(app)}
    app.config.setdefault("RATELIMIT_STRATEGY", "fixed-window")
    limiter.init_app(app)

    app.jinja_env.filters["money"] = _money_filter
    app.jinja_env.filters["money_whole"] = _money_whole_filter
    app.jinja_env.filters["ratio"] = projection.format_ratio
    app.jinja_env.globals["test_mode"] = lambda: not app.config.get("STRIPE_SECRET_KEY")
    app.jinja_env.globals["org_name"] = app.config["RELIEF_ORG_NAME"]

    @app.errorhandler(DomainError)
    def domain_error(error: DomainError):
        return _answer_error(error.message, error.status_code)

    @app.errorhandler(404)
    def not_found(_error):
        if _wants_json():
            return jsonify(error="Not found."), 404
        return _answer_error("This page does not exist.", 404)

    @app.errorhandler(DataError)
    def data_refused(_error):
        # A value the database cannot store (a NUL byte on PostgreSQL, a number out of range)
        # that no form check caught: the request's transaction is rolled back at teardown.
        app.logger.exception("the database refused a value")
        return _answer_error(
            "Something you sent cannot be stored, such as an invisible control character. "
            "Nothing was saved.",
            400,
        )

    @app.errorhandler(OperationalError)
    def database_down(_error):
        app.logger.exception("database unavailable")
        return _answer_error(
            "We cannot reach our database right now. Nothing was lost; try again shortly.", 503
        )

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        if app.config["RELIEF_ENV"] == "production":
            response.headers.setdefault(
                "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
            )
        return response


def _money_filter(cents: int, currency: str = "USD") -> str:
    return money.format(cents, currency)


def _money_whole_filter(cents: int, currency: str = "USD") -> str:
    return money.format_whole(cents, currency)
