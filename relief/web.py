"""What every page shares: CSRF, rate limits, the |money filter, error pages, security headers,
and the app's payment gateway."""

from __future__ import annotations

import math
import time
import unicodedata
from collections.abc import Callable, Iterable
from functools import partial
from urllib.parse import unquote, urlsplit

import flask
from flask import Flask, after_this_request, current_app, jsonify, render_template, request
from flask.globals import _cv_request
from flask.sessions import SecureCookieSessionInterface
from flask_babel import gettext
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect
from limits import parse_many
from sqlalchemy.exc import DataError, OperationalError
from werkzeug.routing import IntegerConverter, Map

from relief import money, projection
from relief.errors import DomainError, InvalidInput, NotFound
from relief.i18n import N_
from relief.ledger import months
from relief.payments.choice import for_app
from relief.payments.gateway import Gateway

#: The routes that take a larger body than ``MAX_CONTENT_LENGTH`` (1 MiB): an organizer's
#: photo (relief.drive_images refuses a file over 10 MB with a sentence; beyond this, a 413).
LARGER_BODIES = {"organizer.drive_image": 12 * 1024 * 1024}


class Request(flask.Request):
    """Flask's request, whose body limit is its route's (:data:`LARGER_BODIES`), looked up
    only when a body is read: a hook before every request would cost every GET."""

    @property
    def max_content_length(self) -> int | None:
        if self._max_content_length is None and self.url_rule is not None:
            larger = LARGER_BODIES.get(self.url_rule.endpoint)
            if larger is not None:
                return larger
        return super().max_content_length

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        self._max_content_length = value


class App(Flask):
    """Flask, with each hook's sync check done once: Flask asks ``inspect`` whether every
    before-, after- and teardown hook (nine per request here) is a coroutine on every request;
    Relief has no async hooks or views, and a function's answer never changes."""

    request_class = Request

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._sync: dict = {}

    def ensure_sync(self, func):
        try:
            return self._sync[func]
        except KeyError:
            found = self._sync[func] = super().ensure_sync(func)
            return found
        except TypeError:  # an unhashable callable: asked each time, as Flask does
            return super().ensure_sync(func)


class RouteLimiter(Limiter):
    """Flask-Limiter, paid for only by the routes that carry a limit.

    Flask-Limiter's own hooks run before and after every request, /healthz and every cached
    page included, to look for default, application and blueprint limits, of which Relief has
    none. Each ``@limiter.limit`` view checks its own limits when it is called (the decorator
    does so whenever no hook has), so the hooks are removed: a route without a limit costs
    nothing, and the rate-limit headers are added only to answers of routes that counted (by
    a hook for this request alone, registered when a limit is first checked)."""

    def init_app(self, app: Flask) -> None:
        # One limiter serves every app of the process (tests make many): each app's own
        # RATELIMIT_ENABLED, not the last one's, which Flask-Limiter would keep as the default.
        self.enabled = app.config.setdefault("RATELIMIT_ENABLED", True)
        super().init_app(app)
        if not self.enabled:
            return
        add_headers = next(
            hook
            for hook in app.after_request_funcs[None]
            if isinstance(hook, partial) and hook.args == (self,)
        )
        app.before_request_funcs[None].remove(self._check_request_limit)
        app.after_request_funcs[None].remove(add_headers)
        self._add_headers = add_headers
        # Its per-request state lives on the request context, which ends with the request.
        teardown = app.teardown_request_funcs[None]
        teardown[:] = [hook for hook in teardown if getattr(hook, "__self__", None) is not self]

    #: Flask-Limiter's after-request hook, taken from the first app that enables limits;
    #: None while none has (a process whose apps all run without them: some tests).
    _add_headers: Callable | None = None

    def _check_request_limit(self, *args, **kwargs) -> None:
        if self._add_headers is not None and not hasattr(
            _cv_request.get(), "_limiter_request_context"
        ):
            after_this_request(self._add_headers)  # once, at the request's first check
        super()._check_request_limit(*args, **kwargs)


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the signer built once per secret key (Flask builds
    it anew on every request) and not at all for a request that brings no session cookie, as
    most public page views, /healthz and the API do."""

    def open_session(self, app, request):
        if app.secret_key and "HTTP_COOKIE" not in request.environ:
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app, session, response):
        if not session and not session.modified:
            # Nothing to write or delete: Flask would look up six settings to do nothing more.
            if session.accessed:
                response.vary.add("Cookie")
            return
        super().save_session(app, session, response)

    def get_signing_serializer(self, app):
        keys = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        kept = app.extensions.get("relief.session_signer")
        if kept is None or kept[0] != keys:
            kept = app.extensions["relief.session_signer"] = (
                keys,
                super().get_signing_serializer(app),
            )
        return kept[1]


class MethodFirstCSRF(CSRFProtect):
    """Flask-WTF's CSRF protection, asking the request's method first: a GET (most requests)
    costs one set lookup, where Flask-WTF looks up the view's exemption before the method."""

    def init_app(self, app: Flask) -> None:
        super().init_app(app)
        hooks = app.before_request_funcs[None]
        check = hooks.pop()  # the before-request hook Flask-WTF has just added

        methods = frozenset(app.config["WTF_CSRF_METHODS"])

        def csrf_protect():
            if _cv_request.get().request.method in methods:
                return check()
            return None

        hooks.append(csrf_protect)


csrf = MethodFirstCSRF()
limiter = RouteLimiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)

#: Rendering a PDF costs a few hundred milliseconds of CPU: enough for readers, not for floods.
PDF_RATE = "20 per minute"


def _budget(limits: str, scope: str):
    client = get_remote_address()
    return [(item, (client, scope)) for item in parse_many(limits)]


def budget_wait(limits: str, scope: str) -> int | None:
    """Seconds until this client may do one more ``scope`` thing under ``limits`` ("10 per
    minute; 40 per hour"), or None while it may. Only reads the counters: counting is
    :func:`spend_budget`, once the thing is really done (a checkout started, not a typo)."""
    if not limiter.enabled:
        return None
    strategy = limiter.limiter
    waits = [
        strategy.get_window_stats(item, *keys).reset_time - time.time()
        for item, keys in _budget(limits, scope)
        if not strategy.test(item, *keys)
    ]
    return max(1, math.ceil(max(waits))) if waits else None


def spend_budget(limits: str, scope: str) -> int | None:
    """Count one ``scope`` thing for this client; None if it was within ``limits``, else the
    seconds to wait (a race with another request of the same client lost). Writes the
    counters in their own transaction: on SQLite, call it while the request holds no write
    lock (after ``boundary.checkpoint()``)."""
    if not limiter.enabled:
        return None
    strategy = limiter.limiter
    if all([strategy.hit(item, *keys) for item, keys in _budget(limits, scope)]):
        return None
    return budget_wait(limits, scope) or 1


CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self' https://checkout.stripe.com https://billing.stripe.com; "
    "frame-ancestors 'none'; base-uri 'self'"
)


def framed_by(sources: str) -> str:
    """The pages' policy, but frameable by ``sources`` (a drive's embed: the origins its
    organizers listed, checked by relief.share.parse_origins, or ``'none'``). An answer
    carrying its own policy gets no ``X-Frame-Options`` (:class:`Answers`)."""
    return CONTENT_SECURITY_POLICY.replace("frame-ancestors 'none'", f"frame-ancestors {sources}")


HSTS = "max-age=31536000; includeSubDomains"

#: The largest id a database column holds (a BIGINT): a larger number in a URL names nothing,
#: and SQLite cannot even be asked about it (OverflowError).
MAX_ID = 2**63 - 1
#: The last page any paged list offers; (page - 1) × page size stays far within a BIGINT.
MAX_PAGE = 1_000_000

FAILED = N_(
    "Something went wrong on our side and this request was not completed. Try again in a "
    "moment; if it keeps happening, tell the coalition's admin."
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


def whole_number_arg(name: str, *, most: int = MAX_ID) -> int | None:
    """A query parameter that pages a list (``?before=`` an id, ``?page=``): None when absent;
    a 400 with a sentence when it is not a whole number from 1 to ``most``."""
    text = request.args.get(name, "")
    if not text:
        return None
    digits = text.lstrip("0") if text.isascii() and text.isdigit() else ""
    # (Counted before int(): Python refuses to convert more than 4,300 digits.)
    if not digits or len(digits) > len(str(most)) or int(digits) > most:
        raise InvalidInput(f"“?{name}=” in the address must be a whole number from 1 to {most:,}.")
    return int(digits)


def local_path(target: str | None) -> str | None:
    """``target`` when it is a path on this site, else None: never an open redirect, never a
    header a newline could split. Browsers drop tabs and newlines from a URL and read a
    backslash as a slash, so ``/<TAB>/evil.example`` and ``/\\evil.example`` lead to
    ``//evil.example``: any control character, space or backslash refuses the path, also
    percent-encoded."""
    if not target:
        return None
    for form in (target, unquote(target)):
        if not form.startswith("/") or form.startswith("//"):
            return None
        if any(c == "\\" or c.isspace() or unicodedata.category(c) in ("Cc", "Cf") for c in form):
            return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def from_another_site() -> bool:
    """True when the browser says this request was sent by a page of another site: its
    ``Sec-Fetch-Site`` (every current browser) is not ``same-origin``, or, from a browser that
    sends only ``Origin``, that origin is not this site's. A client that sends neither (an old
    browser, a script) is judged by the form's token alone."""
    fetched_from = request.environ.get("HTTP_SEC_FETCH_SITE")
    if fetched_from is not None:
        return fetched_from != "same-origin"
    origin = request.environ.get("HTTP_ORIGIN")
    if origin is not None:
        return origin != request.host_url.rstrip("/")
    return False


class DatabaseInteger(IntegerConverter):
    """``<int:…>`` in a route, up to what a BIGINT holds: a larger number is a 404 like any id
    that names nothing (the database cannot be asked about it)."""

    def __init__(self, map: Map, fixed_digits: int = 0, min=None, max=MAX_ID, signed=False):
        super().__init__(map, fixed_digits, min, max, signed)


class Answers:
    """The WSGI middleware around Flask, one layer for what every answer needs:

    - a repeat of a public request Flask answered from the cache is answered by the fast path
      (:mod:`relief.pagecache.fastpath`) without Flask, and Flask's answers teach it;
    - every answer carries the security headers, also those Flask's handlers never finish
      (an error while closing the unit of work, in teardown or in an error page), which it
      answers itself with a plain 500 page rather than the server's bare one. The app's
      status and headers are held until it returns, so that page can still replace them.

    (One layer, not two: each layer around Flask costs every request a call and a closure.)"""

    PAGE = (
        "<!doctype html><html lang=en><meta charset=utf-8><title>Something went wrong</title>"
        f"<h1>Something went wrong</h1><p>{FAILED}</p></html>"
    ).encode()

    def __init__(self, app: Flask, wsgi_app, headers: list[tuple[str, str]], fast_path=None):
        self.app, self.wsgi_app, self.headers = app, wsgi_app, headers
        self.names = frozenset(name.lower() for name, _ in headers)
        self.fast_path = fast_path

    def __call__(self, environ, start_response) -> Iterable[bytes]:
        fast_path = self.fast_path
        if fast_path is not None:
            answer = fast_path.answer(environ)
            if answer is not None:
                status, headers, body = answer  # as Flask answered, security headers and all
                start_response(status, headers)
                return [body]
        started: list = []

        def start(status, headers, exc_info=None):
            started[:] = [status, headers, exc_info]
            return self._no_write

        try:
            body = self.wsgi_app(environ, start)
        except Exception:
            if self.app.testing or self.app.config.get("PROPAGATE_EXCEPTIONS"):
                raise  # a test sees the exception itself
            self.app.logger.exception("request failed outside the error pages")
            start_response(
                "500 INTERNAL SERVER ERROR",
                [("Content-Type", "text/html; charset=utf-8"), *self.headers],
            )
            return [self.PAGE]
        status, headers, exc_info = started
        own = self.names.intersection(name.lower() for name, _ in headers)
        if not own:
            headers.extend(self.headers)  # most answers: none of these set by the app
        else:
            if "content-security-policy" in own:
                # An answer with its own policy (the embed) says in frame-ancestors who may
                # frame it; X-Frame-Options: DENY would refuse them all.
                own = own | {"x-frame-options"}
            headers.extend((k, v) for k, v in self.headers if k.lower() not in own)
        if fast_path is not None and exc_info is None:
            fast_path.learn(environ, status, headers)
        start_response(status, headers, exc_info)
        return body

    @staticmethod
    def _no_write(_data: bytes) -> None:
        raise RuntimeError("Relief's answers are bodies, never write() calls.")


def _security_headers(app: Flask) -> list[tuple[str, str]]:
    headers = [
        ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ]
    if app.config["RELIEF_ENV"] == "production":
        headers.append(("Strict-Transport-Security", HSTS))
    return headers


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path.startswith("/stripe/")


def _answer_error(message: str, status: int):
    """The sentence as JSON for the API and Stripe, else as the error page."""
    if _wants_json():
        return jsonify(error=message), status
    return render_template("errors/error.html", message=message, status=status), status


def init_app(app: Flask) -> None:
    """Before the blueprints: their routes' ``<int:…>`` take the converter set here."""
    app.url_map.converters["int"] = DatabaseInteger

    from relief.pagecache import fastpath

    app.wsgi_app = Answers(  # type: ignore[method-assign]
        app, app.wsgi_app, _security_headers(app), fastpath.of(app)
    )
    app.session_interface = CookieSessions()
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
    # Dates as the coalition reads them (RELIEF_TIMEZONE); the PDFs use the same filters.
    app.jinja_env.filters.update(months.DATE_FILTERS)
    app.jinja_env.globals["coalition_zone"] = months.zone_name
    app.jinja_env.globals["test_mode"] = lambda: not app.config.get("STRIPE_SECRET_KEY")
    app.jinja_env.globals["org_name"] = app.config["RELIEF_ORG_NAME"]

    @app.errorhandler(DomainError)
    def domain_error(error: DomainError):
        # A sentence marked for the catalog (N_) is shown in the visitor's language.
        return _answer_error(gettext(error.message), error.status_code)

    @app.errorhandler(404)
    def not_found(_error):
        if _wants_json():
            return jsonify(error="Not found."), 404
        return _answer_error(gettext("This page does not exist."), 404)

    @app.errorhandler(413)
    def too_large(_error):
        limit = request.max_content_length or app.config["MAX_CONTENT_LENGTH"]
        return _answer_error(
            f"What you sent is larger than this form takes (at most {limit // 1024 // 1024} "
            "MB), so nothing was saved. Send a smaller file, or less text.",
            413,
        )

    @app.errorhandler(DataError)
    def data_refused(_error):
        # A value the database cannot store (a NUL byte on PostgreSQL, a number out of range)
        # that no form check caught: the request's transaction is rolled back at teardown.
        app.logger.exception("the database refused a value")
        return _answer_error(
            gettext(
                "Something you sent cannot be stored, such as an invisible control character. "
                "Nothing was saved."
            ),
            400,
        )

    @app.errorhandler(OperationalError)
    def database_down(_error):
        app.logger.exception("database unavailable")
        return _answer_error(
            gettext("We cannot reach our database right now. Nothing was lost; try again shortly."),
            503,
        )

    @app.errorhandler(500)
    def server_error(_error):
        # The unit is rolled back at teardown; the exception is already logged by Flask.
        return _answer_error(gettext(FAILED), 500)


def _money_filter(cents: int, currency: str = "USD") -> str:
    # In the page's language: en_US, or es_US for Spanish (relief/i18n.py).
    return money.format(cents, currency)


def _money_whole_filter(cents: int, currency: str = "USD") -> str:
    return money.format_whole(cents, currency)
