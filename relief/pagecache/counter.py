"""A change counter shared by the app's processes on one machine: cached pages learn that
nothing was committed since they last looked without asking the database.

A cached drive page or API answer costs one read of the drive's state, and on PostgreSQL that
read is a round trip (~70 µs on loopback, most of the answer's cost). With the counter on
(``RELIEF_CHANGE_COUNTER=/dev/shm/relief.changes``), every process of the app bumps it after
committing a write, and a worker that finds it unchanged since it read a drive's state serves
that state again, for at most :data:`TRUST_SECONDS`.

It sees only what this app commits on this machine. With app servers on more than one machine
leave it unset (every request then reads the state); anything else that writes to the database
(psql, a restore) shows within :data:`TRUST_SECONDS`.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
import weakref

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from relief.config import ConfigError

#: The longest a state is served again on the counter's word alone.
TRUST_SECONDS = 1.0

_WRITES = ("INSERT", "UPDATE", "DELETE")
_WROTE = "relief.wrote"  # in a DBAPI connection's info: written since its last commit
_SEEN = "relief.change_counters"  # in a session's info: what its transaction wrote through
_COUNTERS: weakref.WeakKeyDictionary[Engine, ChangeCounter] = weakref.WeakKeyDictionary()


class ChangeCounter:
    """Eight bytes in a file every process maps; bumped under a file lock."""

    def __init__(self, path: str):
        self.path = path
        try:
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            if os.fstat(self._fd).st_size < 8:
                os.ftruncate(self._fd, 8)
            self._map = mmap.mmap(self._fd, 8)
        except OSError as error:
            raise ConfigError(
                f"RELIEF_CHANGE_COUNTER={path} cannot be used: {error.strerror}. Point it at a "
                "file the app's user may create and write (e.g. /dev/shm/relief.changes), or "
                "unset it."
            ) from None

    def read(self) -> int:
        return struct.unpack_from("<Q", self._map)[0]

    def bump(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            struct.pack_into("<Q", self._map, 0, self.read() + 1)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)


def init_app(app: Flask, engine: Engine) -> None:
    path = app.config.get("CHANGE_COUNTER")
    if not path:
        return
    counter = ChangeCounter(path)
    app.extensions["relief.change_counter"] = counter
    _COUNTERS[engine] = counter  # found from any session on this engine

    @event.listens_for(engine, "before_cursor_execute")
    def note_write(connection, _cursor, statement, _parameters, _context, _executemany):
        if statement.lstrip()[:6].upper() in _WRITES:
            connection.info[_WROTE] = True


def of(app: Flask) -> ChangeCounter | None:
    """The app's counter, or None when it is off."""
    return app.extensions.get("relief.change_counter")


# Session events are global (every Session class); they act only for engines with a counter.


@event.listens_for(Session, "after_begin")
def _watch(session, _transaction, connection) -> None:
    counter = _COUNTERS.get(connection.engine)
    if counter is not None:
        # The DBAPI connection's info outlives the Connection, which is closed by commit time.
        session.info.setdefault(_SEEN, []).append((connection.info, counter))


@event.listens_for(Session, "after_commit")
def _bump_if_written(session) -> None:
    # After the commit: a worker that sees the new count then reads the new state.
    for info, counter in session.info.pop(_SEEN, ()):
        if info.pop(_WROTE, False):
            counter.bump()


@event.listens_for(Session, "after_rollback")
def _forget(session) -> None:
    for info, _counter in session.info.pop(_SEEN, ()):
        info.pop(_WROTE, None)
