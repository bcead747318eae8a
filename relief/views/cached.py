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

import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from flask import current_app, g, request
from flask import session as visitor_session
from flask_wtf.csrf import generate_csrf
from markupsafe import escape

from relief import changes, db, drives
from relief.payments.donations import ATTRIBUTION_KEYS

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
    of a cached answer. With the change counter on, a state read since the last commit on
    this machine (and within a second) is used again without asking the database."""
    counter = changes.of(current_app)
    if counter is None:
        return drives.state_of(db.read_row(drives.DRIVE_STATE, {"slug": drive_slug}))
    count = counter.read()  # before the read: a commit after it moves the count on
    rows = current_app.extensions.setdefault("relief.state_rows", {})
    kept = rows.get(drive_slug)
    now = time.monotonic()
    if kept is not None and kept[0] == count and now - kept[1] < changes.TRUST_SECONDS:
        row = kept[2]
    else:
        row = db.read_row(drives.DRIVE_STATE, {"slug": drive_slug})
        if row is not None:  # only drives that exist: unknown slugs must not fill memory
            rows[drive_slug] = (count, now, row)
    return drives.state_of(row)  # the date is today's, whatever the row's age


def _state_seen_by_build(drive_slug: str) -> tuple | None:
    # Stored answers are keyed by the state read in the transaction that builds them, before
    # it builds: the answer is never older than its key, whatever snapshot that session has.
    return drives.drive_state(db.session(), drive_slug)


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
    state = drive_state(drive_slug)
    if state is None:
        return build()  # raises the domain error (404) the page would
    if not _shareable():
        return build()
    cache = _cache()
    pieces = cache.get(key, state)
    if pieces is None:
        state = _state_seen_by_build(drive_slug)
        g.relief_shared_build = True
        try:
            pieces = _cut(build())
        finally:
            g.relief_shared_build = False
        cache.put(key, state, pieces)
    return _fill(pieces)


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
