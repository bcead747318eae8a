"""A change counter shared by the app's processes: cached pages learn that nothing was
committed since they last looked without asking the database.

A cached drive page or API answer costs one read of the drive's state, and on PostgreSQL that
read is a round trip (~70 µs on loopback, most of the answer's cost). With the counter on
(``RELIEF_CHANGE_COUNTER``), every process of the app bumps it after committing a write, and a
worker that finds it unchanged since it read a drive's state serves that state again, for at
most :data:`TRUST_SECONDS`.

On SQLite (one machine by nature) it is :class:`ChangeCounter`, eight bytes in the file the
setting names (``/dev/shm/relief.changes``), which every process maps. On PostgreSQL it is
:class:`NotifyCounter`, ``LISTEN``/``NOTIFY`` on the database itself: app processes on any
number of machines hear each other's commits, and the setting's value (any, e.g. ``on``)
names no file. Anything else that writes to the database (psql, a restore) shows within
:data:`TRUST_SECONDS`.
"""

from __future__ import annotations

import contextlib
import fcntl
import mmap
import os
import struct
import threading
import weakref
from typing import Any

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
_COUNTERS: weakref.WeakKeyDictionary[Engine, ChangeCounter | NotifyCounter] = (
    weakref.WeakKeyDictionary()
)


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


#: The PostgreSQL channel a write is announced on.
CHANNEL = "relief_changes"


class NotifyCounter:
    """The change counter on PostgreSQL, for app processes on any number of machines: a
    process that commits a write sends ``NOTIFY relief_changes`` (one round trip, after the
    commit) and counts it at once; every process LISTENs on a connection of its own and,
    each time it is read, takes what has arrived on that socket without waiting (libpq's
    ``PQconsumeInput``: one non-blocking ``recv``, no round trip, ~1 µs). A state is then
    served again only while no notification came since it was read, and for at most
    :data:`TRUST_SECONDS`, which also bounds how late a write around the app (psql, a
    restore) or a lost listening connection shows.

    The notification reaches other processes a little after the commit (PostgreSQL hands it
    to each listening backend, which sends it when idle: microseconds on one network): a
    visitor of another machine sees a gift on their next page view unless that view started
    within that gap."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.count = 0
        self._lock = threading.Lock()
        self._pid = 0
        self._listener: Any = None  # a psycopg connection, once opened in this process

    def _listening(self):
        if self._listener is not None and self._pid == os.getpid():
            return self._listener
        import psycopg

        url = self.engine.url.set(drivername="postgresql")
        listener = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)
        listener.execute(f"LISTEN {CHANNEL}")
        # psycopg hands notifications that arrive during a statement (our own NOTIFY) to
        # its handlers, not to libpq's queue read below: counted there too. (Through a weak
        # reference: the connection must not keep the counter alive, whose end closes it.)
        counter = weakref.ref(self)

        def heard(notify) -> None:
            found = counter()
            if found is not None:
                found._heard(notify)

        listener.add_notify_handler(heard)
        self._listener, self._pid = listener, os.getpid()
        return listener

    def _heard(self, notify) -> None:
        if self._listener is not None and notify.pid != self._listener.pgconn.backend_pid:
            self.count += 1  # another process wrote (our own writes are counted in bump)

    def _drop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(Exception):  # a dead connection: nothing to close
                listener.close()
        self.count += 1  # what it missed is unknown: read the state again

    def __del__(self) -> None:
        self.close()

    def close(self) -> None:
        """Close the listening connection (the engine is disposed of)."""
        with self._lock:
            listener, self._listener = self._listener, None
            if listener is not None and self._pid == os.getpid():
                with contextlib.suppress(Exception):
                    listener.close()

    def read(self) -> int:
        with self._lock:
            try:
                pgconn = self._listening().pgconn
                pgconn.consume_input()  # raises when the connection is gone
                while (notify := pgconn.notifies()) is not None:
                    if notify.be_pid != pgconn.backend_pid:
                        self.count += 1
            except Exception:  # noqa: BLE001 — the database went away: trust nothing kept
                self._drop()
            return self.count

    def bump(self) -> None:
        with self._lock:
            self.count += 1  # this process sees its own write at once
            try:
                self._listening().execute(f"NOTIFY {CHANNEL}")
            except Exception:  # noqa: BLE001 — others then see it within TRUST_SECONDS
                self._drop()


def init_app(app: Flask, engine: Engine, writer: Engine) -> None:
    """Count the commits that write through ``engine`` or ``writer`` (the same pool, whose
    transactions take the write lock: every request that changes state commits there)."""
    path = app.config.get("CHANGE_COUNTER")
    if not path:
        return
    counter: ChangeCounter | NotifyCounter
    if engine.dialect.name == "postgresql":
        listening = NotifyCounter(engine)  # any machine; the file named is not needed
        event.listen(engine, "engine_disposed", lambda _engine: listening.close())
        counter = listening
    else:
        counter = ChangeCounter(path)
    app.extensions["relief.change_counter"] = counter
    # Found from any session on either engine: a session's connection names the engine it
    # was bound to, the writer for a unit that changes state (a POST, a webhook).
    _COUNTERS[engine] = _COUNTERS[writer] = counter

    @event.listens_for(engine, "before_cursor_execute")
    def note_write(connection, _cursor, statement, _parameters, _context, _executemany):
        if statement.lstrip()[:6].upper() in _WRITES:
            connection.info[_WROTE] = True


def of(app: Flask) -> ChangeCounter | NotifyCounter | None:
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
