"""Drive pages and API answers kept per worker, served again only while the drive's state
is unchanged, and served like static files: no cookie, a strong ETag, 304, compressed bytes.

A drive page or API answer depends on the drive, its chapters, its ledger and the date, all
captured by the drive's state (:mod:`relief.pagecache.state`) in one indexed query. Each
answer is stored (:mod:`relief.pagecache.store`) with the state it was built from and served
again only for that exact state: a new ledger entry changes the state in the transaction that
writes it, so a new gift shows at once — no time-based staleness, no invalidation messages.
The store is a plain dict per worker process (gunicorn workers share nothing); a worker that
has not seen a state builds it. On one machine the change counter
(:mod:`relief.pagecache.counter`) spares the state's read while nothing was committed.

The state is read before the answer is built: a gift committed in between makes the
stored answer newer than its key, never older, and the next request sees the new state.

HTTP: the ETag is a hash of the answer's key (a page's includes its language), the state,
the release (code, templates, translations and the settings a page shows) and the visitor's
``ref``/``utm_*`` values, so it is known before anything is built and every worker on every
machine gives the same one for the same bytes. A matching ``If-None-Match`` is answered 304
from the state read alone. Answers are stored uncompressed and, on first demand, gzip- or
brotli-compressed, and served by ``Accept-Encoding``; ``Cache-Control: public, max-age=N,
stale-while-revalidate=30`` lets browsers and CDNs hold them (``RELIEF_PUBLIC_MAX_AGE``, 5
seconds unless set); ``Vary`` names ``Accept-Encoding``, ``Cookie`` and ``Accept-Language``.
A visitor with a session (signed in, a flashed message) or back from checkout gets a page
built for them alone, ``private, no-store``.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import secrets
from collections.abc import Callable, Hashable
from pathlib import Path

import brotli
from flask import Flask, Response, current_app, g, request
from flask import session as visitor_session
from flask.globals import _cv_request
from markupsafe import escape

from relief import db, i18n
from relief.config import TEMPLATES
from relief.pagecache import counter, fastpath, state, store
from relief.payments.donations import ATTRIBUTION_KEYS

#: What browsers and CDNs may do with a public answer: keep it this many seconds, then serve
#: it while asking again in the background for up to 30 more.
CACHE_CONTROL = "public, max-age={max_age}, stale-while-revalidate=30"
#: A page built for one visitor (signed in, back from checkout with their form filled in).
PERSONAL = "private, no-store"
#: The encodings answers are stored in, by preference, and their ETag suffixes.
ENCODINGS = fastpath.ENCODINGS

_RELIEF = Path(__file__).resolve().parent.parent
_code_digest: bytes | None = None


def _code() -> bytes:
    """A digest of the code, templates and translations that render the pages (once per
    process): a release that changes only a Spanish sentence changes every ETag too."""
    global _code_digest
    if _code_digest is None:
        digest = hashlib.blake2b(digest_size=16)
        sources = (
            (_RELIEF, "**/*.py"),
            (TEMPLATES, "**/*.html"),
            (_RELIEF, "translations/**/*.po"),
        )
        for folder, pattern in sources:
            for path in sorted(folder.glob(pattern)):
                digest.update(str(path.relative_to(folder)).encode() + b"\0")
                digest.update(path.read_bytes())
        _code_digest = digest.digest()
    return _code_digest


#: Where Flask-Limiter keeps a request's counted limits (on the request context).
LIMITED = "_limiter_request_context"


def init_app(app: Flask) -> None:
    """Turn the change counter on when ``CHANGE_COUNTER`` names its file (after db.init_app);
    work out once what every public answer's headers and ETags share; put the fast path
    around Flask (before ProxyFix and the security headers wrap it)."""
    counter.init_app(app, db.engine_of(app), db.writer_engine_of(app))
    fastpath.init_app(app)
    # A release (new code, templates, or a setting a page shows: the test-mode banner, the
    # donate form's limits and token key) changes every ETag.
    shown = {name: app.config.get(name) for name in sorted(app.config) if name in _SHOWN}
    release = hashlib.blake2b(_code() + repr(shown).encode(), digest_size=16).digest()
    app.extensions["relief.release"] = release
    app.extensions["relief.cache_control"] = CACHE_CONTROL.format(
        max_age=app.config.get("PUBLIC_MAX_AGE", 5)
    )


#: The settings that change what a public page shows (the donate form's token is signed with
#: SECRET_KEY; only a digest of it enters the ETag).
_SHOWN = {
    "SECRET_KEY",
    "STRIPE_SECRET_KEY",
    "RELIEF_ORG_NAME",
    "RELIEF_PUBLIC_URL",
    "DONATION_MIN_CENTS",
    "DONATION_MAX_CENTS",
    "FEE_PERCENT_BPS",
    "FEE_FIXED_CENTS",
}


def _state_seen_by_build(drive_slug: str) -> tuple | None:
    # Stored answers are keyed by the state read in the transaction that builds them, before
    # it builds: the answer is never older than its key, whatever snapshot that session has.
    return state.drive_state(db.session(), drive_slug)


#: Unguessable per process, so text a donor types (a name on the wall) can never be a slot.
_SLOT_NONCE = secrets.token_hex(12)
#: What differs between visitors of one shared page: the attribution of the link they came
#: through (the donate form's token is the drive's, the same for everyone).
PER_VISIT_FIELDS = ATTRIBUTION_KEYS


def slot(name: str) -> str:
    """The placeholder a shared page carries where a per-visit value goes."""
    return f"relief-slot-{_SLOT_NONCE}-{name}"


def building_shared_page() -> bool:
    """True while a page is rendered to be shared: forms put slots, not values."""
    return g.get("relief_shared_build", False)


def shareable() -> bool:
    # Anything in the session besides a CSRF token (a signed-in user, a flashed message) may
    # show on the page; a donor back from checkout (?resume=) gets their filled form.
    if request.environ.get("QUERY_STRING") and "resume" in request.args:
        return False
    return set(visitor_session.keys()) <= {"csrf_token"}


_SLOTS = re.compile(f"relief-slot-{_SLOT_NONCE}-([a-z_]+)")


class Stored:
    """An answer's bytes, and each compressed form of them once a visitor has asked for it."""

    __slots__ = ("body", "encoded", "pieces", "tagged")

    def __init__(self, body: bytes, pieces: list[str] | None = None, tagged: bool = True):
        self.body = body
        self.pieces = pieces  # a page cut at its slots: [text, slot name, text, …, text]
        self.encoded: dict[str, bytes] = {}
        #: False for an answer built from a newer state than the request's ETag names.
        self.tagged = tagged

    def encoded_as(self, encoding: str) -> bytes:
        found = self.encoded.get(encoding)
        if found is None:
            found = self.encoded[encoding] = _compress(self.body, encoding)
        return found


def _compress(body: bytes, encoding: str) -> bytes:
    if encoding == "br":
        return brotli.compress(body, quality=6)
    return gzip.compress(body, compresslevel=6, mtime=0)  # mtime 0: the same bytes each time


def _fill(pieces: list[str], attribution: dict[str, str]) -> str:
    filled = pieces.copy()
    filled[1::2] = [attribution.get(name, "") for name in pieces[1::2]]  # one join
    return "".join(filled)


def _attribution() -> dict[str, str]:
    """The link's ``ref`` and ``utm_*`` values, escaped for the page's hidden fields."""
    if not request.environ.get("QUERY_STRING"):
        return {}
    return {
        key: str(escape(value[:200]))
        for key in ATTRIBUTION_KEYS
        if (value := request.args.get(key, ""))
    }


def _encoding() -> str | None:
    """The encoding this visitor's ``Accept-Encoding`` prefers among ours, or None."""
    if "HTTP_ACCEPT_ENCODING" not in request.environ:
        return None
    accepted = request.accept_encodings
    best = max(ENCODINGS, key=accepted.quality)
    return best if accepted.quality(best) > 0 else None


def _answer(
    app: Flask,
    drive_slug: str,
    key: Hashable,
    drive_state: tuple,
    attribution: dict[str, str],
    stored: Callable[[], Stored],
    mimetype: str,
    vary: str | None,
) -> Response:
    """200 with the stored bytes (compressed as the visitor prefers, unless ``vary`` is None:
    bytes already compressed, such as a PNG), or 304 when the visitor's ``If-None-Match``
    already names them: then nothing is built or read. The fast path
    (:mod:`relief.pagecache.fastpath`) answers the next such request before Flask."""
    encoding = _encoding() if vary is not None else None
    answered = fastpath.Answered(drive_slug, key, attribution, encoding)
    environ = request.environ
    if "HTTP_COOKIE" not in environ and not hasattr(_cv_request.get(), LIMITED):
        environ[fastpath.ANSWERED] = answered  # (a route with a rate limit must see each visit)
    etag = answered.etag(app, drive_state)
    encoding = answered.encoding
    headers = {
        "ETag": etag,
        "Cache-Control": app.extensions["relief.cache_control"],
    }
    if vary is not None:
        headers["Vary"] = vary
    asked = environ.get("HTTP_IF_NONE_MATCH")
    if asked and fastpath.matches(etag, asked):
        return app.response_class(status=304, headers=headers)
    found = stored()
    if not found.tagged:  # a write landed meanwhile: these bytes are not the tag's
        del headers["ETag"]
    if encoding:
        headers["Content-Encoding"] = encoding
        return app.response_class(found.encoded_as(encoding), headers=headers, mimetype=mimetype)
    return app.response_class(found.body, headers=headers, mimetype=mimetype)


def _personal(body: str | Response) -> Response:
    response = current_app.make_response(body)
    response.headers["Cache-Control"] = PERSONAL
    return response


def built_page(html: str) -> Response:
    """A public page built on each request (the list of drives): shareable by HTTP caches
    with an ETag of its bytes (a matching ``If-None-Match`` gets 304 and no body), unless
    this visitor's session may show on it."""
    response = current_app.make_response(html)
    if not shareable():
        response.headers["Cache-Control"] = PERSONAL
        return response
    response.headers["Cache-Control"] = current_app.extensions["relief.cache_control"]
    response.vary.add("Cookie")
    response.vary.add("Accept-Language")
    response.add_etag()
    response.make_conditional(request)
    # The server dates every answer (gunicorn, Werkzeug's): make_conditional's own Date would
    # be a second header under Werkzeug's.
    del response.headers["Date"]
    return response


def page(key: Hashable, drive_slug: str, build: Callable[[], str]) -> Response:
    """The HTML ``build()`` returns, served from the cache while the drive's state holds.

    The stored page is built once with slots where the link's ``?ref=`` and ``utm_*`` go,
    filled in for each visitor who brings them. Visitors whose session holds more than a CSRF
    token (signed in, a flashed message) get a page built for them alone.
    """
    # Flask types the current_app proxy as the app itself, so its unwrapping is unknown.
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    # The page is written in the visitor's language: one stored page and ETag per language.
    key = (key, i18n.current())
    drive_state = state.committed(app, drive_slug)
    if drive_state is None:
        return _personal(build())  # raises the domain error (404) the page would
    if not shareable():
        return _personal(build())
    attribution = _attribution()

    def stored() -> Stored:
        cache = store.of(app)
        kept = cache.get(key, drive_state)
        if kept is None:
            built_state = _state_seen_by_build(drive_slug)
            g.relief_shared_build = True
            try:
                pieces = _SLOTS.split(build())
            finally:
                g.relief_shared_build = False
            kept = Stored(_fill(pieces, {}).encode(), pieces)
            cache.put(key, built_state, kept)
            if built_state != drive_state:
                return Stored(_fill(pieces, attribution).encode(), tagged=False)
        if not attribution:
            return kept
        assert kept.pieces is not None, "a page is stored with its pieces"
        return Stored(_fill(kept.pieces, attribution).encode())

    # The page differs for a visitor with a session cookie (built for them, private) and by
    # language (Accept-Language, or the switcher's cookie).
    return _answer(
        app,
        drive_slug,
        key,
        drive_state,
        attribution,
        stored,
        "text/html",
        "Accept-Encoding, Cookie, Accept-Language",
    )


def json(key: Hashable, drive_slug: str, build: Callable[[], dict]) -> Response:
    """A JSON response of ``build()``, its bytes served from the cache while the state holds."""
    # Flask types the current_app proxy as the app itself, so its unwrapping is unknown.
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    drive_state = state.committed(app, drive_slug)
    if drive_state is None:
        return app.json.response(build())

    def stored() -> Stored:
        cache = store.of(app)
        kept = cache.get(key, drive_state)
        if kept is None:
            built_state = _state_seen_by_build(drive_slug)
            kept = Stored(app.json.response(build()).get_data())
            cache.put(key, built_state, kept)
            if built_state != drive_state:
                return Stored(kept.body, tagged=False)
        return kept

    return _answer(
        app, drive_slug, key, drive_state, {}, stored, app.json.mimetype, "Accept-Encoding"
    )


def png(key: Hashable, drive_slug: str, build: Callable[[], bytes]) -> Response:
    """The PNG ``build()`` draws (a share card), kept while the drive's state holds and
    served like a page: strong ETag, 304, the pages' ``Cache-Control``, no cookie. PNG is
    compressed already: it is served as drawn."""
    # Flask types the current_app proxy as the app itself, so its unwrapping is unknown.
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    drive_state = state.committed(app, drive_slug)
    if drive_state is None:
        return app.response_class(build(), mimetype="image/png")  # raises the page's 404

    def stored() -> Stored:
        cache = store.of(app)
        kept = cache.get(key, drive_state)
        if kept is None:
            built_state = _state_seen_by_build(drive_slug)
            kept = Stored(build())
            cache.put(key, built_state, kept)
            if built_state != drive_state:
                return Stored(kept.body, tagged=False)
        return kept

    return _answer(app, drive_slug, key, drive_state, {}, stored, "image/png", None)
