"""The database: one engine per app, one session per unit of work, migrations.

When a unit commits is ``boundary``'s business. A writer unit's session is bound to the writer
engine, whose transactions start ``BEGIN IMMEDIATE`` on SQLite: a deferred transaction that
reads and then writes fails with "database is locked" under concurrency, and SQLite's busy
timeout cannot save it. Writers wait for each other on a lock file beside the database
(``flock``), which wakes the next one the moment the last commits, where SQLite's busy handler
sleeps 1, 2, 5, 10… ms between tries and left a core idle under a stream of webhooks. A
request's unit is a writer when the request changes state (POST,
PUT, PATCH, DELETE) or its view is marked ``boundary.writes``; that is decided when the
request first touches the database, so a request that never does (/healthz) pays nothing.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from pathlib import Path

from flask import Flask, current_app, g
from flask.globals import _cv_app, _cv_request
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

#: The methods that change state: their requests are writer units.
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: The attribute ``boundary.writes`` sets on a view whose GET writes.
WRITES_MARK = "relief_writes"


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={
                "timeout": 30,
                "check_same_thread": False,
                "factory": _SQLiteConnection,
            },
            hide_parameters=True,
        )
        _sqlite_transactions(engine)
        return engine
    # No pre-ping: it costs a round trip on every checkout, which halved the cached drive
    # page's throughput (docs/performance.md). After a database restart the first request on
    # a dropped connection fails (503, "try again"); SQLAlchemy then replaces the whole pool.
    # The exports stream their rows through server-side cursors (``yield_per``), which
    # PostgreSQL plans for their first tenth by default: for a day's file at 1,000,000 gifts
    # it walked every entry in id order rather than read the day by its index and sort
    # (150 ms where it takes a few). Every cursor here is read to its end: plan for all rows.
    return create_engine(
        url,
        pool_size=10,
        max_overflow=10,
        hide_parameters=True,
        connect_args={"options": "-c cursor_tuple_fraction=1"},
    )


def _sqlite_transactions(engine: Engine) -> None:
    # pysqlite's own transaction handling cannot say BEGIN IMMEDIATE; take it over.
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # A statement that may need undoing inside a transaction keeps its journal in a
        # temporary file; in memory it costs no file to create, open and unlink (strace of a
        # webhook worker: ~0.4 such files per event).
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection):
        if not connection.get_execution_options().get("relief_write", False):
            connection.exec_driver_sql("BEGIN")
            return
        driver = connection.connection.driver_connection
        driver.take_writer_lock()
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            driver.give_back_writer_lock()
            raise


#: Whether this thread holds a writer lock (of any database, through any connection): a
#: second writer in the same thread then skips the file lock and relies on the busy timeout.
_writing = threading.local()


class _SQLiteConnection(sqlite3.Connection):
    """A pysqlite connection whose writer transactions queue on ``<database>-writer.lock``
    (``flock``) before ``BEGIN IMMEDIATE`` and give it back when they commit or roll back.
    The kernel wakes the next writer at once; SQLite's own busy timeout stays the guard for
    a second writer in a thread that already writes (it fails after 30 s, as before, where
    the lock would wait forever)."""

    def __init__(self, database, *args, **kwargs):
        super().__init__(database, *args, **kwargs)
        name = os.fsdecode(database)
        # An in-memory database (one connection) or a URI: no file to lock beside.
        beside = name not in ("", ":memory:") and not name.startswith("file:")
        self._lock_fd = (
            os.open(f"{name}-writer.lock", os.O_RDWR | os.O_CREAT, 0o600) if beside else None
        )
        self._holds_lock = False

    def take_writer_lock(self) -> None:
        if self._lock_fd is None or getattr(_writing, "held", False):
            return
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        self._holds_lock = _writing.held = True

    def give_back_writer_lock(self) -> None:
        if self._holds_lock and self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            self._holds_lock = _writing.held = False

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.give_back_writer_lock()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.give_back_writer_lock()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.give_back_writer_lock()
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None


def writer_engine_of(app: Flask) -> Engine:
    """The engine a writer unit's session is bound to: the same pool, but each transaction
    it begins takes the write lock at once (SQLite; PostgreSQL ignores the option)."""
    return app.extensions["relief.writer_engine"]


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def init_app(app: Flask) -> None:
    app.extensions["relief.engine"] = make_engine(app.config["DATABASE_URL"])
    app.extensions["relief.writer_engine"] = app.extensions["relief.engine"].execution_options(
        relief_write=True
    )
    # Also at the end of each request: an app context can outlive one (tests, CLI calling
    # views), and a request must never inherit another's transaction.
    app.teardown_request(_close_session)
    app.teardown_appcontext(_close_session)


def engine() -> Engine:
    return current_app.extensions["relief.engine"]


def engine_of(app: Flask) -> Engine:
    return app.extensions["relief.engine"]


def session() -> Session:
    """The session of this unit of work: the request's, or the CLI command's (see
    ``boundary``). Rolled back at teardown unless the boundary committed it."""
    if "db_session" not in g:
        g.db_session = new_session(_request_writes())
    return g.db_session


def _request_writes() -> bool:
    """Whether the request being answered (if any) is a writer unit; known from its first
    statement on, before-request hooks' reads included."""
    ctx = _cv_request.get(None)
    if ctx is None:
        return False
    request = ctx.request
    return request.method in WRITE_METHODS or getattr(
        ctx.app.view_functions.get(request.endpoint or ""), WRITES_MARK, False
    )


def new_session(write: bool) -> Session:
    """A session whose transactions are writers (``BEGIN IMMEDIATE`` on SQLite) or readers."""
    bind = writer_engine_of(current_app) if write else engine()
    return Session(bind, expire_on_commit=False)


def has_session() -> bool:
    return "db_session" in g


_UNIT = ("relief_after_commit", "db_session")


def unit_started() -> bool:
    """Whether this app context holds any of a unit's state (a session, after-commit work):
    one look at ``g``'s own dict, where ``name in g`` costs a context lookup per name — on
    every request (/healthz, a cached page) that read nothing."""
    ctx = _cv_app.get(None)
    return ctx is not None and not ctx.g.__dict__.keys().isdisjoint(_UNIT)


def _close_session(_exc):
    if not unit_started():
        return  # a request that read nothing: nothing to close
    # g can outlive a request (an app context pushed around several): forget the unit.
    g.pop("relief_after_commit", None)
    db_session = g.pop("db_session", None)
    if db_session is not None:
        db_session.rollback()
        db_session.close()


def explain(error: DBAPIError) -> str:
    text = str(error.orig)
    if "no such table" in text or "does not exist" in text:
        return "The database has no schema yet: run  flask --app app db upgrade"
    return f"The database cannot be used: {text.splitlines()[0][:300]}"


def alembic_config(url: str):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head", timezone: str | None = None) -> None:
    """Bring the schema up to date; safe to run again. ``timezone`` is the coalition's
    (RELIEF_TIMEZONE), which revision 0019 keys the day and month sums in."""
    from alembic import command

    config = alembic_config(url)
    if timezone:
        config.attributes["timezone"] = timezone
    command.upgrade(config, revision)
