"""Stored public answers served before Flask: the WSGI middleware around Flask
(``web.Answers``) asks the fast path first, which answers a repeat of a request it has seen
Flask answer from the cache — the same path, query, host, scheme, ``Accept-Encoding`` and
``Accept-Language``, no cookie — with no request or app context, no routing and no hooks,
whenever the drive's state still names a stored answer: 304 when the visitor's
``If-None-Match`` matches, else the stored bytes. Anything else (a miss, a new state, a
cookie, a form, a ``?ref=`` page not yet built) goes to Flask as before.

What it answers is what Flask answered: :func:`relief.pagecache._answer` leaves in the WSGI
environ what it served (the drive, the answer's key, the link's attribution, the encoding),
and the fast path keeps, per request shape, the status line and headers that answer went out
with (after every hook, security headers included), with only the ``ETag`` and
``Content-Length`` made anew from the current state and bytes. So a blueprint's after-request
header, a new key field (the page's language) or a new setting reaches these answers the day
it is added, as long as what it depends on is in :func:`request_shape`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable
from typing import NamedTuple

from flask import Flask

from relief.pagecache import state, store

#: The WSGI environ key under which pagecache leaves what it served (an :class:`Answered`).
ANSWERED = "relief.pagecache.answered"
#: Request shapes remembered per process; past it they are forgotten (random query strings
#: must not fill memory) and learnt again from Flask's next answers.
MAX_SHAPES = 4096
#: What an answer is made anew from: everything else in Flask's headers is kept as sent.
_MADE_ANEW = frozenset({"etag", "content-length"})


#: The encodings answers are stored in, by preference, and their ETag suffixes.
ENCODINGS = {"br": "-br", "gzip": "-gz"}


class Answered(NamedTuple):
    """What a cached public answer was served from (left by pagecache for this middleware)."""

    slug: str
    key: Hashable
    attribution: dict[str, str]
    encoding: str | None

    def etag(self, app: Flask, drive_state: tuple) -> str:
        """The answer's quoted ETag for ``drive_state``: a hash of its key, the state, the
        release (a key of the hash) and the link's attribution, and its encoding's suffix. Known
        before anything is built, and the same from every worker on every machine."""
        data = repr((self.key, drive_state, self.attribution or None)).encode()
        release = app.extensions["relief.release"]
        tag = hashlib.blake2b(data, key=release, digest_size=16).hexdigest()
        return f'"{tag}{ENCODINGS[self.encoding]}"' if self.encoding else f'"{tag}"'


def request_shape(environ: dict) -> tuple:
    """Everything of a request that chooses a cached answer, its encoding and its language."""
    get = environ.get
    return (
        get("PATH_INFO"),
        get("QUERY_STRING"),
        get("SCRIPT_NAME"),
        get("HTTP_HOST"),
        get("SERVER_NAME"),
        get("SERVER_PORT"),
        get("wsgi.url_scheme"),
        get("HTTP_ACCEPT_ENCODING"),
        get("HTTP_ACCEPT_LANGUAGE"),
    )


def matches(etag: str, asked: str) -> bool:
    """Whether ``If-None-Match: asked`` names ``etag`` (or any answer, ``*``)."""
    return etag in asked or asked.strip() == "*"


class _Known:
    """One request shape: what Flask served it from, and its 200 and 304 heads as sent."""

    __slots__ = ("answered", "heads")

    def __init__(self, answered: Answered):
        self.answered = answered
        self.heads: dict[str, tuple[str, list[tuple[str, str]]]] = {}

    def answer(self, app: Flask, environ: dict) -> tuple[str, list, bytes] | None:
        answered = self.answered
        drive_state = state.committed(app, answered.slug)
        if drive_state is None:
            return None
        etag = answered.etag(app, drive_state)
        asked = environ.get("HTTP_IF_NONE_MATCH")
        if asked and matches(etag, asked):
            head = self.heads.get("304")
            if head is None:
                return None
            return head[0], [*head[1], ("ETag", etag)], b""
        head = self.heads.get("200")
        if head is None or answered.attribution:  # a ?ref= page is filled in by Flask
            return None
        kept = store.of(app).get(answered.key, drive_state)
        if kept is None:
            return None
        body = kept.encoded_as(answered.encoding) if answered.encoding else kept.body
        return head[0], [*head[1], ("ETag", etag), ("Content-Length", str(len(body)))], body


class FastPath:
    """The answers learnt per request shape. ``web.Answers``, the WSGI middleware around
    Flask (inside ProxyFix, which sets the host and scheme it keys on), asks :meth:`answer`
    before Flask and tells :meth:`learn` what Flask answered, security headers included."""

    def __init__(self, app: Flask):
        self.app = app
        self.known: dict[tuple, _Known] = {}
        #: The paths of the shapes in :attr:`known`.
        self.paths: set[str] = set()

    def answer(self, environ: dict) -> tuple[str, list, bytes] | None:
        """Status, headers and body for a repeat of a request Flask answered from the cache,
        or None for Flask to answer."""
        if environ.get("REQUEST_METHOD") != "GET" or "HTTP_COOKIE" in environ:
            return None  # a session may change the answer
        # A path never answered from the cache (/healthz, a static file) is not looked up.
        if environ.get("PATH_INFO") not in self.paths:
            return None
        known = self.known.get(request_shape(environ))
        if known is None:
            return None
        try:
            return known.answer(self.app, environ)
        except Exception:  # noqa: BLE001 — Flask asks again, and its error pages answer
            return None

    def learn(self, environ: dict, status: str, headers: list[tuple[str, str]]) -> None:
        """Keep the head of an answer Flask served from the cache (pagecache left what it
        served in the environ), for the next request of the same shape."""
        answered = environ.get(ANSWERED)
        if answered is None:
            return
        code = status[:3]
        names = {name.lower() for name, _ in headers}
        if code not in ("200", "304") or "etag" not in names or "set-cookie" in names:
            return  # an answer built from a newer state than its tag, or one for a visitor
        shape = request_shape(environ)
        known = self.known.get(shape)
        if known is None or known.answered != answered:
            if len(self.known) >= MAX_SHAPES:
                self.known.clear()
                self.paths.clear()
            known = self.known[shape] = _Known(answered)
            self.paths.add(shape[0])
        kept = [(name, value) for name, value in headers if name.lower() not in _MADE_ANEW]
        known.heads[code] = (status, kept)


def of(app: Flask) -> FastPath | None:
    """The app's fast path, or None when it is off (``FAST_PATH=False`` in the app's config:
    the tests compare answers with and without it)."""
    return app.extensions.get("relief.fast_path")


def init_app(app: Flask) -> None:
    if not app.config.get("FAST_PATH", True):
        return
    app.extensions["relief.fast_path"] = FastPath(app)
