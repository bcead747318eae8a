"""Responses kept per worker and served again only while the drive's state is unchanged.

A drive page or API answer depends on the drive, its chapters, its ledger and the date, all
captured by :func:`relief.drives.drive_state` in one indexed query. Each answer is stored
with the state it was built from and served again only for that exact state: a new ledger
entry changes the state in the transaction that writes it, so a new gift shows at once —
no time-based staleness, no invalidation messages. The cache is a plain dict per worker
process (gunicorn workers share nothing); a worker that has not seen a state builds it.

The state is read before the answer is built: a gift committed in between makes the
stored answer newer than its key, never older, and the next request sees the new state.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from flask import current_app
from flask import session as visitor_session

from relief import db, drives

#: Drives × chapter pages × host names: a few hundred answers, a few MB at most.
MAX_ENTRIES = 512


class VersionedCache:
    """Key → (version, value), least recently used dropped past ``size``."""

    def __init__(self, size: int = MAX_ENTRIES):
        self.size = size
        self._items: OrderedDict[Hashable, tuple[Hashable, Any]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, version: Hashable) -> Any | None:
        found = self._items.get(key)
        if found is None or found[0] != version:
            self.misses += 1
            return None
        self._items.move_to_end(key)
        self.hits += 1
        return found[1]

    def put(self, key: Hashable, version: Hashable, value: Any) -> None:
        self._items[key] = (version, value)
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)


def _cache() -> VersionedCache:
    # One per app (and so per worker): tests run apps on different databases side by side.
    return current_app.extensions.setdefault("relief.responses", VersionedCache())


def drive_state(drive_slug: str) -> tuple | None:
    """The drive's state, read raw on a pooled connection of its own: it is the whole cost
    of a cached answer."""
    return drives.state_of(db.read_row(drives.DRIVE_STATE, {"slug": drive_slug}))


def _state_seen_by_build(drive_slug: str) -> tuple | None:
    # Stored answers are keyed by the state read in the transaction that builds them, before
    # it builds: the answer is never older than its key, whatever snapshot that session has.
    return drives.drive_state(db.session(), drive_slug)


def page(key: Hashable, drive_slug: str, build: Callable[[], str]) -> str:
    """The HTML ``build()`` returns, served from the cache while the drive's state holds.

    A page is shared only between visitors without a session: a page that put anything in
    the session while rendering (a CSRF token in a form, a flashed message) or that is asked
    for by a visitor with a session (signed in, a token already issued) is built for them
    alone and never stored.
    """
    state = drive_state(drive_slug)
    if state is None:
        return build()  # raises the domain error (404) the page would
    if visitor_session:
        return build()
    cache = _cache()
    html = cache.get(key, state)
    if html is None:
        state = _state_seen_by_build(drive_slug)
        html = build()
        if not visitor_session and not visitor_session.modified:
            cache.put(key, state, html)
    return html


def json(key: Hashable, drive_slug: str, build: Callable[[], dict]):
    """A JSON response of ``build()``, its bytes served from the cache while the state holds."""
    state = drive_state(drive_slug)
    if state is None:
        return current_app.json.response(build())
    cache = _cache()
    body = cache.get(key, state)
    if body is None:
        state = _state_seen_by_build(drive_slug)
        body = current_app.json.response(build()).get_data()
        cache.put(key, state, body)
    return current_app.response_class(body, mimetype=current_app.json.mimetype)
