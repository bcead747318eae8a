"""The database: one engine per app, one session per request, migrations.

Units of work: services only ``flush``; the boundary (a view, the webhook, a CLI command)
calls :func:`commit` or lets teardown roll back. A unit of work that will write starts with
:func:`begin_write`, which on SQLite takes the write lock up front (``BEGIN IMMEDIATE``):
a deferred transaction that reads and then writes fails with "database is locked" under
concurrency, and SQLite's busy timeout cannot save it.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from flask import Flask, current_app, g
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from relief.errors import DatabaseUnavailable

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"timeout": 30, "check_same_thread": False},
            hide_parameters=True,
        )
        _sqlite_transactions(engine)
        return engine
    # No pre-ping: it costs a round trip on every checkout, which halved the cached drive
    # page's throughput (docs/performance.md). After a database restart the first request on
    # a dropped connection fails (503, "try again"); SQLAlchemy then replaces the whole pool.
    return create_engine(url, pool_size=10, max_overflow=10, hide_parameters=True)


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
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection):
        write = connection.get_execution_options().get("relief_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def begin_write(session: Session) -> None:
    """Start the session's transaction as a writer (call before the first query)."""
    session.connection(execution_options={"relief_write": True})


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def init_app(app: Flask) -> None:
    app.extensions["relief.engine"] = make_engine(app.config["DATABASE_URL"])
    # Also at the end of each request: an app context can outlive one (tests, CLI calling
    # views), and a request must never inherit another's transaction.
    app.teardown_request(_close_session)
    app.teardown_appcontext(_close_session)


def engine() -> Engine:
    return current_app.extensions["relief.engine"]


def engine_of(app: Flask) -> Engine:
    return app.extensions["relief.engine"]


def session() -> Session:
    """The session of this request or CLI command (rolled back at teardown unless committed)."""
    if "db_session" not in g:
        g.db_session = Session(engine(), expire_on_commit=False)
    return g.db_session


def commit() -> None:
    session().commit()


def _close_session(_exc):
    db_session = g.pop("db_session", None)
    if db_session is not None:
        db_session.rollback()
        db_session.close()


@contextmanager
def unit_of_work(write: bool = True):
    """A session for work outside a request (CLI, scripts): commit on success, else roll back."""
    with Session(engine(), expire_on_commit=False) as db_session:
        if write:
            begin_write(db_session)
        try:
            yield db_session
            db_session.commit()
        except OperationalError as error:
            db_session.rollback()
            raise DatabaseUnavailable(_explain(error)) from error
        except BaseException:
            db_session.rollback()
            raise


def _explain(error: OperationalError) -> str:
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


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema up to date; safe to run again."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)
