"""The running sums' write statements: what :func:`~relief.ledger.append` and the bulk loader
add to a drive's totals row, its chapters' rows, its day, its chapters' months, its gifts'
days received and their links.

Each sum is one upsert: the database adds under its row lock, so concurrent appends to the
same sums never lose an update. An append's upserts run together (:func:`add`): on
PostgreSQL in one statement, where each round trip costs the web worker's CPU (issue 18);
on SQLite, which has no INSERT in WITH, one by one. Internal to the ledger package.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any

from sqlalchemy import BindParameter, Insert, bindparam, func, literal_column
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.expression import Executable
from sqlmodel import col, select

from relief.ledger.figures import FIGURE_FIELDS, WHOLE_DRIVE, Figures, gift_count_delta
from relief.ledger.months import local_day
from relief.models import (
    ONLINE_METHODS,
    DailyTotal,
    Drive,
    Entry,
    EntryKind,
    GiftMethod,
    LinkTotal,
    MonthClose,
    MonthTotal,
    ReceivedTotal,
    Total,
    table_of,
    utcnow,
)

_ENTRY = table_of(Entry)
_TOTAL = table_of(Total)
_DAILY = table_of(DailyTotal)
_MONTH = table_of(MonthTotal)
_RECEIVED = table_of(ReceivedTotal)
_LINK = table_of(LinkTotal)
_DRIVE = table_of(Drive)
_SUMMED = (*FIGURE_FIELDS, "entry_count")
#: The columns a totals row's upsert writes (:func:`_total_row`).
_TOTAL_ROW = (
    "drive_id",
    "chapter_id",
    *FIGURE_FIELDS,
    "chain_hash",
    "entry_count",
    "last_entry_id",
    "updated_at",
)

#: A gift's place in ``ReceivedTotal``: (day received, given online, chapter credited or 0).
ReceivedKey = tuple[date, bool, int]
#: A gift's place in ``LinkTotal``: (chapter the entry names or 0, ref or "", UTM source or "").
LinkKey = tuple[int, str, str]
#: What ``LinkTotal`` adds up, in this order: (gift count, gift cents, raised cents).
_LINK_SUMS = ("gift_count", "gifts_cents", "raised_cents")
LinkSums = tuple[int, int, int]


@dataclass(frozen=True)
class Writes:
    """The ledger's write statements for one SQL dialect, built once: building a statement
    costs more than running it. Each runs with a dict of column values."""

    entry: Executable  # INSERT entry RETURNING id
    entry_once: Executable  # … ON CONFLICT (external_id) DO NOTHING RETURNING id
    hold_drive_total: Executable  # upsert that changes nothing RETURNING chain_hash
    hold_for_entry: Executable  # … and the id the next entry takes (reserved)
    add_to_total: Executable  # upsert adding the sums; keeps the chain
    add_to_drive_total: Executable  # … and moves the chain on
    add_to_day: Executable
    add_to_received: Executable  # a gift's day received, kind (online or not) and chapter
    add_to_link: Executable  # a gift's chapter, ref and UTM source
    add_to_month: Executable  # a chapter's month (by default the host's), per drive and kind
    closed_from: Executable  # a chapter's closed months from :month on, oldest first
    #: PostgreSQL: several of the upserts above run as one statement (:func:`add`).
    together: bool = False


@functools.cache
def writes(dialect: str) -> Writes:
    upsert = pg_insert if dialect == "postgresql" else sqlite_insert
    total = upsert(_TOTAL)
    hold = total.on_conflict_do_update(
        index_elements=["drive_id", "chapter_id"], set_={"drive_id": total.excluded.drive_id}
    )
    return Writes(
        entry=upsert(_ENTRY).returning(_ENTRY.c.id),
        entry_once=upsert(_ENTRY)
        .on_conflict_do_nothing(index_elements=["external_id"])
        .returning(_ENTRY.c.id),
        # A write that changes nothing: PostgreSQL locks the row, and RETURNING reads it.
        hold_drive_total=hold.returning(_TOTAL.c.chain_hash),
        # The entry's id is taken while the drive's row is held, as the insert's own default
        # would take it: ids and the chain keep one order. PostgreSQL: the sequence (a gap
        # if the entry turns out posted before); SQLite: the write lock keeps max(id) ours.
        hold_for_entry=hold.returning(_TOTAL.c.chain_hash, _next_entry_id(dialect)),
        closed_from=select(col(MonthClose.month))
        .where(MonthClose.chapter_id == bindparam("chapter_id"))
        .where(MonthClose.month >= bindparam("month"))
        .order_by(col(MonthClose.month)),
        **_upserts(upsert, _bound),
        together=dialect == "postgresql",
    )


def _bound(name: str, column) -> BindParameter:
    return bindparam(name, type_=column.type)


def _upserts(upsert, bind: Callable[[str, Any], BindParameter]) -> dict[str, Insert]:
    """The running sums' upserts, each value in the parameter ``bind(name, column)`` gives."""

    def values(table, names) -> dict:
        return {name: bind(name, table.c[name]) for name in names}

    total = upsert(_TOTAL).values(values(_TOTAL, _TOTAL_ROW))
    added = {name: _TOTAL.c[name] + total.excluded[name] for name in _SUMMED}
    moved = {name: total.excluded[name] for name in ("last_entry_id", "updated_at")}
    # The books' chapter: the one given, else the drive's host (ledger.owner), read by the
    # insert itself rather than by a query of its own.
    books = func.coalesce(
        bind("books", _MONTH.c.chapter_id),
        select(_DRIVE.c.host_chapter_id)
        .where(_DRIVE.c.id == bind("drive_id", _DRIVE.c.id))
        .scalar_subquery(),
    )
    month = upsert(_MONTH).values(
        chapter_id=books,
        **values(_MONTH, ("drive_id", "month", "kind", "amount_cents", "gift_count")),
    )
    day = upsert(_DAILY).values(values(_DAILY, ("drive_id", "day", "raised_cents", "gift_count")))
    received = upsert(_RECEIVED).values(
        values(_RECEIVED, ("drive_id", "day", "online", "chapter_id", "net_cents"))
    )
    link = upsert(_LINK).values(
        values(_LINK, ("drive_id", "chapter_id", "ref", "utm_source", *_LINK_SUMS))
    )
    return {
        "add_to_total": total.on_conflict_do_update(
            index_elements=["drive_id", "chapter_id"], set_={**added, **moved}
        ),
        "add_to_drive_total": total.on_conflict_do_update(
            index_elements=["drive_id", "chapter_id"],
            set_={**added, **moved, "chain_hash": total.excluded.chain_hash},
        ),
        "add_to_month": month.on_conflict_do_update(
            index_elements=["chapter_id", "drive_id", "month", "kind"],
            set_={
                name: _MONTH.c[name] + month.excluded[name]
                for name in ("amount_cents", "gift_count")
            },
        ),
        "add_to_day": day.on_conflict_do_update(
            index_elements=["drive_id", "day"],
            set_={
                name: _DAILY.c[name] + day.excluded[name] for name in ("raised_cents", "gift_count")
            },
        ),
        "add_to_received": received.on_conflict_do_update(
            index_elements=["drive_id", "day", "online", "chapter_id"],
            set_={"net_cents": _RECEIVED.c.net_cents + received.excluded.net_cents},
        ),
        "add_to_link": link.on_conflict_do_update(
            index_elements=["drive_id", "chapter_id", "ref", "utm_source"],
            set_={name: _LINK.c[name] + link.excluded[name] for name in _LINK_SUMS},
        ),
    }


def _prefixed(prefix: str) -> Callable[[str, Any], BindParameter]:
    return lambda name, column: _bound(prefix + name, column)


@functools.lru_cache(maxsize=32)
def _together(names: tuple[str, ...]) -> Executable:
    """PostgreSQL: the upserts ``names`` in one statement, each but the last in its WITH (an
    INSERT there runs exactly once, whether or not anything reads it), the i-th one's values
    in parameters named ``s<i>_<column>``. They touch different rows (an append's totals
    rows, month, day, day received and link), which one statement may."""
    built = [_upserts(pg_insert, _prefixed(f"s{i}_"))[name] for i, name in enumerate(names)]
    *first, last = built
    return last.add_cte(*(statement.cte(f"s{i}") for i, statement in enumerate(first)))


#: A running sum's upsert (a name of :class:`Writes`) and the values it adds.
Part = tuple[str, dict]


def add(connection, statements: Writes, parts: list[Part]) -> None:
    """Run these upserts: on PostgreSQL in one statement, else one by one."""
    if not statements.together or len(parts) < 2:
        for name, row in parts:
            connection.execute(getattr(statements, name), row)
        return
    connection.execute(
        _together(tuple(name for name, _ in parts)),
        {f"s{i}_{key}": value for i, (_, row) in enumerate(parts) for key, value in row.items()},
    )


def _next_entry_id(dialect: str):
    if dialect == "postgresql":
        return func.nextval(literal_column("pg_get_serial_sequence('entry', 'id')"))
    return select(func.coalesce(func.max(_ENTRY.c.id), 0) + 1).scalar_subquery()


def _total_row(drive_id: int, chapter_id: int, delta: Figures, **rest) -> dict:
    return {
        "drive_id": drive_id,
        "chapter_id": chapter_id,
        **{name: getattr(delta, name) for name in FIGURE_FIELDS},
        "chain_hash": "",
        **rest,
    }


def hold_drive_total(connection, statements: Writes, drive_id: int) -> str:
    """Hold the drive's whole-drive totals row for this transaction (created if missing) and
    return the fingerprint chain so far. Holding it serializes the drive's appends, so entry
    ids and chain order agree. On SQLite the whole database is already write-locked."""
    row = _total_row(
        drive_id, WHOLE_DRIVE, Figures(), entry_count=0, last_entry_id=0, updated_at=utcnow()
    )
    return connection.execute(statements.hold_drive_total, row).scalar_one()


def hold_for_entry(connection, statements: Writes, drive_id: int) -> tuple[str, int]:
    """:func:`hold_drive_total`, and the id the drive's next entry takes: its link of the
    chain is then known before it is inserted, and goes in with it."""
    row = _total_row(
        drive_id, WHOLE_DRIVE, Figures(), entry_count=0, last_entry_id=0, updated_at=utcnow()
    )
    chain, entry_id = connection.execute(statements.hold_for_entry, row).one()
    return chain, int(entry_id)


def to_total(
    drive_id: int,
    chapter_id: int,
    delta: Figures,
    *,
    entries: int,
    last_entry_id: int,
    at: datetime,
    chain_hash: str | None = None,
) -> Part:
    """Add ``delta`` (one entry's, or a bulk batch's) to a running-totals row, creating it
    when missing: the sums added by the database under its row lock. The whole-drive row
    also takes the chain's new link."""
    row = _total_row(
        drive_id, chapter_id, delta, entry_count=entries, last_entry_id=last_entry_id, updated_at=at
    )
    if chain_hash is None:
        return "add_to_total", row
    return "add_to_drive_total", {**row, "chain_hash": chain_hash}


def to_day(drive_id: int, day: date, raised_cents: int, gifts: int) -> Part:
    return "add_to_day", {
        "drive_id": drive_id,
        "day": day,
        "raised_cents": raised_cents,
        "gift_count": gifts,
    }


def to_received(drive_id: int, received: ReceivedKey, cents: int) -> Part:
    """Add a gift's raised entry to its day received, kind and chapter (``ReceivedTotal``)."""
    day, online, chapter_id = received
    return "add_to_received", {
        "drive_id": drive_id,
        "day": day,
        "online": online,
        "chapter_id": chapter_id,
        "net_cents": cents,
    }


def received_key(
    received_at: datetime,
    method: GiftMethod,
    chapter_id: int | None,
    zone: tzinfo | None = None,
) -> ReceivedKey:
    """Where a gift's raised entries are summed in ``ReceivedTotal``: the day it was received
    (the coalition's, or ``zone``'s), whether it was given online, and the chapter credited
    (0: none)."""
    return local_day(received_at, zone), method in ONLINE_METHODS, chapter_id or WHOLE_DRIVE


def to_link(drive_id: int, link: LinkKey, delta: LinkSums) -> Part:
    """Add to a gift's chapter, ref and UTM source (``LinkTotal``)."""
    chapter_id, ref, utm_source = link
    return "add_to_link", {
        "drive_id": drive_id,
        "chapter_id": chapter_id,
        "ref": ref,
        "utm_source": utm_source,
        **dict(zip(_LINK_SUMS, delta, strict=True)),
    }


def link_sums(kind: EntryKind, amount_cents: int) -> LinkSums:
    """One raised entry's part of ``LinkTotal``: (gift count, gift cents, raised cents)."""
    gift = kind is EntryKind.GIFT
    return gift_count_delta(kind, amount_cents), amount_cents if gift else 0, amount_cents


def link_key(chapter_id: int | None, ref: str | None, utm_source: str | None) -> LinkKey:
    """Where a gift's raised entries are summed in ``LinkTotal``: the chapter the entry names
    (0: none), the link's ``ref`` and ``utm_source`` ("": none)."""
    return chapter_id or WHOLE_DRIVE, ref or "", utm_source or ""


def to_month(
    chapter_id: int | None,
    drive_id: int,
    month: date,
    kind: EntryKind,
    amount_cents: int,
    gifts: int,
) -> Part:
    """Add to the month of ``chapter_id``'s books; None: the drive's host chapter's."""
    return "add_to_month", {
        "books": chapter_id,
        "drive_id": drive_id,
        "month": month,
        "kind": kind,
        "amount_cents": amount_cents,
        "gift_count": gifts,
    }
