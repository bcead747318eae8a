"""Drive pages and API answers kept per worker, served again only while the drive's state
is unchanged.

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
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Hashable

from flask import Flask, current_app, g, request
from flask import session as visitor_session
from flask_wtf.csrf import generate_csrf
from markupsafe import escape

from relief import db
from relief.pagecache import counter, state, store
from relief.payments.donations import ATTRIBUTION_KEYS


def init_app(app: Flask) -> None:
    """Turn the change counter on when ``CHANGE_COUNTER`` names its file (after db.init_app)."""
    counter.init_app(app, db.engine_of(app))


def _state_seen_by_build(drive_slug: str) -> tuple | None:
    # Stored answers are keyed by the state read in the transaction that builds them, before
    # it builds: the answer is never older than its key, whatever snapshot that session has.
    return state.drive_state(db.session(), drive_slug)


#: Unguessable per process, so text a donor types (a name on the wall) can never be a slot.
_SLOT_NONCE = secrets.token_hex(12)
#: What differs between visitors of one shared page: the donate form's CSRF token and the
#: attribution of the link they came through. Filled in on every request.
PER_VISIT_FIELDS = ("csrf_token", *ATTRIBUTION_KEYS)


def slot(name: str) -> str:
    """The placeholder a shared page carries where a per-visit value goes."""
    return f"relief-slot-{_SLOT_NONCE}-{name}"


def building_shared_page() -> bool:
    """True while a page is rendered to be shared: forms put slots, not values."""
    return g.get("relief_shared_build", False)


def _shareable() -> bool:
    # Anything in the session besides a CSRF token (a signed-in user, a flashed message) may
    # show on the page; a donor back from checkout (?resume=) gets their filled form.
    return set(visitor_session.keys()) <= {"csrf_token"} and "resume" not in request.args


_SLOTS = re.compile(f"relief-slot-{_SLOT_NONCE}-([a-z_]+)")


def _cut(html: str) -> list[str]:
    """The page cut at its slots, once when stored: [text, slot name, text, …, text]."""
    return _SLOTS.split(html)


def _fill(pieces: list[str]) -> str:
    values = {"csrf_token": generate_csrf()}
    values.update({key: str(escape(request.args.get(key, "")[:200])) for key in ATTRIBUTION_KEYS})
    filled = pieces.copy()
    filled[1::2] = [values[name] for name in pieces[1::2]]  # one join, not a search per slot
    return "".join(filled)


def page(key: Hashable, drive_slug: str, build: Callable[[], str]) -> str:
    """The HTML ``build()`` returns, served from the cache while the drive's state holds.

    The stored page is built once with slots where per-visit values go (the donate form's
    CSRF token, ?ref= and utm_*), filled in for each visitor. Visitors whose session holds
    more than a CSRF token (signed in, a flashed message) get a page built for them alone.
    """
    # Flask types the current_app proxy as the app itself, so its unwrapping is unknown.
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    drive_state = state.committed(app, drive_slug)
    if drive_state is None:
        return build()  # raises the domain error (404) the page would
    if not _shareable():
        return build()
    cache = store.of(app)
    pieces = cache.get(key, drive_state)
    if pieces is None:
        drive_state = _state_seen_by_build(drive_slug)
        g.relief_shared_build = True
        try:
            pieces = _cut(build())
        finally:
            g.relief_shared_build = False
        cache.put(key, drive_state, pieces)
    return _fill(pieces)


def json(key: Hashable, drive_slug: str, build: Callable[[], dict]):
    """A JSON response of ``build()``, its bytes served from the cache while the state holds."""
    # Flask types the current_app proxy as the app itself, so its unwrapping is unknown.
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    drive_state = state.committed(app, drive_slug)
    if drive_state is None:
        return app.json.response(build())
    cache = store.of(app)
    body = cache.get(key, drive_state)
    if body is None:
        drive_state = _state_seen_by_build(drive_slug)
        body = app.json.response(build()).get_data()
        cache.put(key, drive_state, body)
    return app.response_class(body, mimetype=app.json.mimetype)
