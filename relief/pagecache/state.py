"""A drive's state: the small value a cached page or API answer is keyed on, and its one
query, read raw on a connection each thread keeps.

The key is derived from what the pages read, not from a list kept beside them: every column
of every row the pages read whole (:data:`WHOLE_ROWS`: the drive, its chapters and sub-goals,
the partner's reports), the whole-drive total's entry count and last entry id (advanced by
every ``ledger.append`` in the same transaction as the entry: :data:`THROUGH_THE_LEDGER`) and
today's date (pace, days left). ``tests/integration/test_cache_key.py`` proves the pages read
no other table and that a change to any of those columns shows on the next request.
"""

from __future__ import annotations

import functools
import operator
import threading
import time
from datetime import date

from flask import Flask, current_app
from sqlalchemy import String, and_, bindparam, cast, func, literal_column, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import PoolProxiedConnection
from sqlmodel import Session, col

from relief import db, ledger
from relief.models import (
    Chapter,
    DailyTotal,
    Drive,
    DriveChapter,
    Entry,
    Gift,
    MatchPayment,
    MatchPledge,
    MemberPage,
    PartnerReport,
    PartnerReportRemittance,
    ReceivedTotal,
    Remittance,
    Total,
    table_of,
    utcnow,
)
from relief.pagecache import counter

#: The tables a drive page, its chapter pages and its API answer read whole rows of. The key
#: holds every column of the drive's rows in each, taken from the table itself: a column added
#: to one of them — a new field on the page — is in the key the day it is added.
WHOLE_ROWS = (
    Drive,
    Chapter,
    DriveChapter,
    PartnerReport,
    PartnerReportRemittance,
    MatchPledge,
    MemberPage,
)

#: The tables the pages read whose changes reach the key through the ledger: every entry
#: advances the whole-drive total's entry count and last entry id in the transaction that
#: writes it, and a gift's public fields (its name, whether it is shown) change only with an
#: entry or with :func:`relief.drive_pages.public_pages_changed`, which advances the drive's
#: ``public_revision``. A remittance row is written with its entry and never changed (its
#: reversal is an entry).
THROUGH_THE_LEDGER = (Total, DailyTotal, ReceivedTotal, Entry, Gift, Remittance, MatchPayment)


def _as_text(column):
    """The column's value as its length, a colon and the value; NULL as "-". Rows so encoded
    read back one way only: two different sets of rows never give the same key."""
    value = cast(column, String)
    encoded = cast(func.length(value), String) + literal_column("':'", String) + value
    return func.coalesce(encoded, literal_column("'-'", String))


def _rows_of(*tables, joined_on=None, belonging=None):
    """Every column of the drive's rows of ``tables`` (joined on ``joined_on``), one string."""
    columns = [column for table in tables for column in table.__table__.columns]
    row = functools.reduce(operator.add, map(_as_text, columns))
    # A literal separator, not a bound one (see DRIVE_STATE); SQLAlchemy's annotation says
    # str, but the function takes any SQL expression.
    separator = literal_column("'|'", String)
    rows = select(func.aggregate_strings(row, separator))  # type: ignore[arg-type]
    if joined_on is not None:
        rows = rows.select_from(tables[0]).join(tables[1], joined_on)
    return rows.where(belonging).scalar_subquery()


#: The drive's state. No bound values but the slug (the separators are literals): the
#: statement then runs as compiled (:func:`read_row`).
DRIVE_STATE = (
    select(
        # As text from the database, so the state reads the same raw and through a session.
        *(cast(column, String) for column in table_of(Drive).columns),
        col(Total.entry_count),
        col(Total.last_entry_id),
        _rows_of(
            DriveChapter,
            Chapter,
            joined_on=col(Chapter.id) == DriveChapter.chapter_id,
            belonging=DriveChapter.drive_id == Drive.id,
        ),
        _rows_of(PartnerReport, belonging=PartnerReport.drive_id == Drive.id),
        _rows_of(
            PartnerReportRemittance,
            belonging=col(PartnerReportRemittance.report_id).in_(
                select(col(PartnerReport.id)).where(col(PartnerReport.drive_id) == Drive.id)
            ),
        ),
        _rows_of(MatchPledge, belonging=MatchPledge.drive_id == Drive.id),
        # Members' pages: the leaderboard and each member's page (approved, hidden, story).
        _rows_of(MemberPage, belonging=MemberPage.drive_id == Drive.id),
    )
    .outerjoin(
        Total, and_(col(Total.drive_id) == Drive.id, col(Total.chapter_id) == ledger.WHOLE_DRIVE)
    )
    .where(col(Drive.slug) == bindparam("slug"))
)


def drive_state(session: Session | Connection, drive_slug: str) -> tuple | None:
    """The drive's state read in ``session``'s transaction, in one indexed query; None if no
    such drive."""
    return state_of(session.execute(DRIVE_STATE, {"slug": drive_slug}).first())


def state_of(row, today: date | None = None) -> tuple | None:
    """:func:`drive_state` from a row of :data:`DRIVE_STATE`, typed by SQLAlchemy or raw
    from the driver alike (each value as text)."""
    if row is None:
        return None
    return (
        *(None if value is None else str(value) for value in row),
        str(today or utcnow().date()),
    )


def committed(app: Flask, drive_slug: str) -> tuple | None:
    """The drive's state as committed now, read raw on this thread's reading connection: it
    is the whole cost of a cached answer. With the change counter on, a state read since the
    last commit on this machine (and within a second) is used again without asking the
    database."""
    change_counter = counter.of(app)
    if change_counter is None:
        return state_of(read_row(DRIVE_STATE, {"slug": drive_slug}, app))
    count = change_counter.read()  # before the read: a commit after it moves the count on
    rows = app.extensions.setdefault("relief.state_rows", {})
    kept = rows.get(drive_slug)
    now = time.monotonic()
    if kept is not None and kept[0] == count and now - kept[1] < counter.TRUST_SECONDS:
        row = kept[2]
    else:
        row = read_row(DRIVE_STATE, {"slug": drive_slug}, app)
        if row is not None:  # only drives that exist: unknown slugs must not fill memory
            rows[drive_slug] = (count, now, row)
    return state_of(row)  # the date is today's, whatever the row's age


class _Reader(threading.local):
    """Per thread: one raw connection kept for :func:`read_row`, and the engine it is from."""

    engine: Engine | None = None
    connection: PoolProxiedConnection | None = None  # the pool's, checked out for good


_reader = _Reader()


def _reading_connection(current: Engine):
    """This thread's connection for lone reads: checked out of the pool once and kept (a
    checkout and its reset cost more than the read), in autocommit, so each read sees
    what is committed now."""
    if _reader.engine is current and _reader.connection is not None:
        return _reader.connection
    _drop_reading_connection()
    pooled = current.raw_connection()
    if current.dialect.name == "postgresql":
        assert pooled.driver_connection is not None, "a checked-out connection has its driver's"
        pooled.driver_connection.autocommit = True  # a lone SELECT: no BEGIN, no ROLLBACK
    _reader.engine, _reader.connection = current, pooled
    return pooled


def _drop_reading_connection(error: Exception | None = None) -> None:
    pooled, _reader.connection = _reader.connection, None
    if pooled is None:
        return
    if error is not None:
        pooled.invalidate(error)
    else:
        driver = pooled.driver_connection
        assert _reader.engine is not None, "the connection is kept with its engine"
        if _reader.engine.dialect.name == "postgresql" and driver and not driver.closed:
            driver.autocommit = False  # as the pool hands it out
        pooled.close()


def read_row(statement, params: dict, app: Flask | None = None) -> tuple | None:
    """The first row of a read-only Core ``statement``, raw from the driver (no type
    processing), on this thread's reading connection, in autocommit; ``app``'s database, or
    the current app's (the fast path reads outside any app context).

    No ORM session, no pool checkout and no transaction bookkeeping: the one query a cached
    page costs (:data:`DRIVE_STATE`) in tens of microseconds. Everything else uses
    ``db.session()``. The statement must compile without post-compile parameters.
    """
    if app is None:
        app = current_app._get_current_object()  # type: ignore[attr-defined]
    current = db.engine_of(app)
    compiled_statements = app.extensions.setdefault("relief.compiled_reads", {})
    compiled = compiled_statements.get(statement)
    if compiled is None:
        compiled = compiled_statements[statement] = statement.compile(current)
    values = compiled.construct_params(params)
    if compiled.positiontup is not None:
        values = tuple(values[name] for name in compiled.positiontup)
    dbapi_error = current.dialect.loaded_dbapi.Error
    try:
        pooled = _reading_connection(current)
    except dbapi_error as error:
        # The pool hands out the driver's own error when it cannot connect: raise it as
        # SQLAlchemy's, which the error pages turn into a 503.
        raise DBAPIError.instance(
            compiled.string, values, error, dbapi_error, dialect=current.dialect
        ) from error
    try:
        cursor = pooled.driver_connection.cursor()
        cursor.execute(compiled.string, values)
        row = cursor.fetchone()
        cursor.close()
    except dbapi_error as error:
        if isinstance(error, current.dialect.loaded_dbapi.DataError):
            # A value the database refuses (a NUL in a URL): the connection is fine, and in
            # autocommit no transaction is left aborted. Keep it; the caller answers 400.
            raise DBAPIError.instance(
                compiled.string, values, error, dbapi_error, dialect=current.dialect
            ) from error
        # A raw connection gets none of SQLAlchemy's disconnect handling: drop it (and the
        # whole pool when the database went away) and raise as SQLAlchemy would (a 503 page).
        _drop_reading_connection(error)
        if current.dialect.is_disconnect(error, None, None) or isinstance(
            error, current.dialect.loaded_dbapi.OperationalError
        ):
            # The server went away or was restarted: the pool's idle connections are as dead
            # as this one, so the next request starts from fresh ones.
            current.dispose(close=False)
        raise DBAPIError.instance(
            compiled.string, values, error, dbapi_error, dialect=current.dialect
        ) from error
    return None if row is None else tuple(row)
