"""Many entries posted at once, with the same entries and sums as
:func:`~relief.ledger.append` one by one, in a few statements: paid gifts (demo and
benchmark data) and entries that each carry an external id (fees read a hundred at a
time)."""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import date, datetime
from typing import NamedTuple

from sqlalchemy import insert, select, text
from sqlmodel import Session

from relief.db import is_postgres
from relief.ledger import fingerprint, sums
from relief.ledger.append import _out_of_closed_months, check_amount, gift_keys, keys_of
from relief.ledger.figures import RAISED_KINDS, WHOLE_DRIVE, Figures, Posted, gift_count_delta
from relief.ledger.months import first_of_month, local_day
from relief.ledger.owner import owner
from relief.models import Drive, Entry, EntryKind, Gift, GiftMethod, table_of, utcnow

_ENTRY = table_of(Entry)
_POSTED = tuple(field.name for field in fields(Posted))


@dataclass(frozen=True)
class NewEntry:
    """An entry to post with :func:`append_many`: once per ``external_id``."""

    kind: EntryKind
    amount_cents: int
    currency: str
    drive_id: int
    chapter_id: int | None
    gift_id: int | None
    effective_at: datetime
    external_id: str
    memo: str = ""


def append_many(
    session: Session,
    entries: list[NewEntry],
    *,
    gifts: Mapping[int, GiftFacts] | None = None,
) -> dict[str, Posted]:
    """Post these entries, each once per external id, with the same entries, chains and
    running sums as :func:`~relief.ledger.append` called for each in turn (closed months
    respected), in a handful of statements whatever their number; does not commit. Entries
    of several drives take their ids in the order given, as one by one they would. Returns
    what was posted by external id (one posted before is left out).

    ``gifts``: what the sums need of gifts the session has not loaded (inserted by the
    caller's own statement), by id; any other gift is read from the session.

    Each drive's totals row is held first (in the order of their ids, so two posters never
    wait for each other), as :func:`append` does: appends of these drives wait for this
    transaction, so the external ids looked up here cannot be posted meanwhile, and the ids
    reserved here follow the chains."""
    if not entries:
        return {}
    for entry in entries:
        check_amount(entry.amount_cents, entry.currency)
    session.flush()  # the gifts these entries name go in first
    connection = session.connection()
    statements = sums.writes(connection.dialect.name)
    chains = {
        drive_id: sums.hold_drive_total(connection, statements, drive_id)
        for drive_id in sorted({entry.drive_id for entry in entries})
    }
    asked = {entry.external_id for entry in entries}
    posted_before = set(
        connection.execute(
            select(_ENTRY.c.external_id).where(_ENTRY.c.external_id.in_(asked))
        ).scalars()
    )
    fresh: dict[str, NewEntry] = {}
    for entry in entries:
        if entry.external_id not in posted_before:
            fresh.setdefault(entry.external_id, entry)  # the first of a repeated id
    if not fresh:
        return {}
    hosts = {}
    for drive_id in chains:
        drive = session.get(Drive, drive_id)
        if drive is None:
            raise ValueError(f"no drive {drive_id}")
        hosts[drive_id] = drive.host_chapter_id
    now = utcnow()
    posted: dict[str, Posted] = {}
    rows = []
    ids = reserve_ids(session, Entry, len(fresh))
    for entry_id, entry in zip(ids, fresh.values(), strict=True):
        drive_id = entry.drive_id
        effective_at, dated_at, memo = _out_of_closed_months(
            connection,
            statements,
            owner(entry.chapter_id, hosts[drive_id]),
            entry.effective_at,
            entry.memo[:500],
            now,
        )
        one = Posted(
            id=entry_id,
            kind=entry.kind,
            amount_cents=entry.amount_cents,
            currency=entry.currency,
            drive_id=drive_id,
            chapter_id=entry.chapter_id,
            gift_id=entry.gift_id,
            effective_at=effective_at,
            recorded_at=now,
            external_id=entry.external_id,
            reverses_id=None,
            memo=memo,
            dated_at=dated_at,
        )
        chains[drive_id] = fingerprint.chain(chains[drive_id], one)
        rows.append(
            {**{name: getattr(one, name) for name in _POSTED}, "chain_hash": chains[drive_id]}
        )
        posted[entry.external_id] = one
    session.execute(insert(_ENTRY), rows)
    for drive_id, chain in chains.items():
        of_drive = [one for one in posted.values() if one.drive_id == drive_id]
        if not of_drive:
            continue
        _add_to_sums(
            connection,
            statements,
            drive_id,
            hosts[drive_id],
            (
                _Summed(
                    one.id,
                    one.kind,
                    one.amount_cents,
                    one.chapter_id,
                    one.effective_at,
                    *_gift_keys(session, gifts, one),
                )
                for one in of_drive
            ),
            chain=chain,
            now=now,
        )
    return posted


class GiftFacts(NamedTuple):
    """What the running sums need of a gift: where its raised entries are summed."""

    received_at: datetime | None
    method: GiftMethod
    chapter_id: int | None
    ref: str | None
    utm_source: str | None


def _gift_keys(
    session: Session, gifts: Mapping[int, GiftFacts] | None, one: Posted
) -> tuple[sums.ReceivedKey | None, sums.LinkKey | None]:
    if one.kind not in RAISED_KINDS:
        return None, None
    facts = gifts.get(one.gift_id) if gifts is not None and one.gift_id is not None else None
    if facts is None:
        return gift_keys(session, one.gift_id, one.chapter_id)
    return keys_of(facts, one.chapter_id)


def append_gifts_in_bulk(session: Session, drive: Drive, gifts: list[dict]) -> int:
    """Post many paid gifts at once (demo and benchmark data): the same entries and totals as
    :func:`append` one by one, in a few statements. Each dict holds Gift columns.

    For synthetic and demo data: dates are taken as given (closed months are not checked).
    Ids are reserved up front (a sequence on PostgreSQL; on SQLite the write lock of the
    transaction) so rows go in with plain executemany: an ORM insert with RETURNING in
    parameter order falls back to one statement per row on SQLite.
    """
    if not gifts:
        return 0
    session.flush()
    assert drive.id is not None, "the drive is a stored row"
    connection = session.connection()
    statements = sums.writes(connection.dialect.name)
    chain = sums.hold_drive_total(connection, statements, drive.id)
    now = utcnow()
    gift_ids = reserve_ids(session, Gift, len(gifts))
    entry_ids = reserve_ids(session, Entry, len(gifts))
    gift_rows = []
    entry_rows = []
    kind = EntryKind.GIFT
    for gift, gift_id, entry_id in zip(gifts, gift_ids, entry_ids, strict=True):
        amount_cents = gift["amount_cents"]
        chapter_id = gift.get("chapter_id")
        received_at = gift["received_at"]
        chain = fingerprint.link(
            chain, entry_id, kind, amount_cents, drive.currency, chapter_id, gift_id, received_at
        )
        gift_rows.append(
            {
                "public_id": secrets.token_urlsafe(16),
                "created_at": now,
                **gift,
                "id": gift_id,
            }
        )
        entry_rows.append(
            {
                "id": entry_id,
                "kind": kind,
                "amount_cents": amount_cents,
                "currency": drive.currency,
                "drive_id": drive.id,
                "chapter_id": chapter_id,
                "gift_id": gift_id,
                "effective_at": received_at,
                "recorded_at": now,
                "memo": f"{gift['method'].value} gift",
                "external_id": None,
                "reverses_id": None,
                "chain_hash": chain,
            }
        )
    session.execute(insert(table_of(Gift)), gift_rows)
    if is_postgres(session):
        _analyze_if_grown(connection, "gift", len(gift_rows))
    session.execute(insert(table_of(Entry)), entry_rows)
    _add_to_sums(
        connection,
        statements,
        drive.id,
        drive.host_chapter_id,
        (
            _Summed(
                entry_id,
                kind,
                gift["amount_cents"],
                gift.get("chapter_id"),
                gift["received_at"],
                sums.received_key(gift["received_at"], gift["method"], gift.get("chapter_id")),
                sums.link_key(gift.get("chapter_id"), gift.get("ref"), gift.get("utm_source")),
            )
            for gift, entry_id in zip(gifts, entry_ids, strict=True)
        ),
        chain=chain,
        now=now,
    )
    return len(entry_ids)


def _analyze_if_grown(connection, table: str, added: int) -> None:
    """Refresh PostgreSQL's statistics of ``table`` when the rows just added outnumber those
    its statistics counted. Each entry's foreign key is checked with a plan made from them:
    told a table is tiny, the planner finds ``id = $1`` as cheap in any index that holds
    ``id`` (ix_gift_drive_status_received, a scan of the whole index) as in its primary key,
    and a load into a young database grew with the square of its rows (100,000 demo gifts:
    60 s). Autovacuum would analyze a minute later; a load cannot wait for it."""
    counted = connection.execute(
        text("SELECT reltuples FROM pg_class WHERE oid = CAST(:table AS regclass)"),
        {"table": table},
    ).scalar_one()
    if added > counted:  # never analyzed: -1
        connection.exec_driver_sql(f"ANALYZE {table}")


class _Summed(NamedTuple):
    """What the running sums need of an entry just inserted."""

    entry_id: int
    kind: EntryKind
    amount_cents: int
    chapter_id: int | None
    effective_at: datetime
    #: Its gift's place in ``ReceivedTotal`` and ``LinkTotal`` (None: not summed there).
    received: sums.ReceivedKey | None
    by_link: sums.LinkKey | None


def _add_to_sums(
    connection,
    statements: sums.Writes,
    drive_id: int,
    host_chapter_id: int,
    entries: Iterable[_Summed],
    *,
    chain: str,
    now: datetime,
) -> None:
    """The running sums of entries of one drive just inserted, as
    :func:`~relief.ledger.append` keeps them one by one: one upsert per totals row, month,
    day, day received and link they touch, whatever their number."""
    cents: dict[tuple[int, EntryKind], int] = defaultdict(int)  # (totals row, kind)
    counts: dict[tuple[int, EntryKind], int] = defaultdict(int)
    entry_counts: dict[int, int] = defaultdict(int)
    last_entry_ids: dict[int, int] = defaultdict(int)
    months: dict[tuple[int, date, EntryKind], list[int]] = defaultdict(lambda: [0, 0])
    days: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    received: dict[sums.ReceivedKey, int] = defaultdict(int)
    links: dict[sums.LinkKey, list[int]] = defaultdict(lambda: [0, 0, 0])
    for entry_id, kind, amount_cents, chapter_id, effective_at, received_key, by_link in entries:
        count = gift_count_delta(kind, amount_cents)
        for row in (WHOLE_DRIVE,) if chapter_id is None else (WHOLE_DRIVE, chapter_id):
            cents[row, kind] += amount_cents
            counts[row, kind] += count
            entry_counts[row] += 1
            last_entry_ids[row] = max(last_entry_ids[row], entry_id)
        month = months[(owner(chapter_id, host_chapter_id), first_of_month(effective_at), kind)]
        month[0] += amount_cents
        month[1] += count
        if kind in RAISED_KINDS:
            day = days[local_day(effective_at)]
            day[0] += amount_cents
            day[1] += count
            if received_key is not None:
                received[received_key] += amount_cents
            if by_link is not None:
                link = links[by_link]
                for i, part in enumerate(sums.link_sums(kind, amount_cents)):
                    link[i] += part
    figures: dict[int, Figures] = defaultdict(Figures)
    for (row, kind), amount_cents in cents.items():
        # (plus() of a sum of one kind counts one gift: the count is the entries'.)
        of_kind = replace(Figures().plus(kind, amount_cents), gift_count=counts[row, kind])
        figures[row] = figures[row] + of_kind
    parts = [
        sums.to_total(
            drive_id,
            row,
            delta,
            entries=entry_counts[row],
            last_entry_id=last_entry_ids[row],
            at=now,
            chain_hash=chain if row == WHOLE_DRIVE else None,
        )
        for row, delta in figures.items()
    ]
    parts += [
        sums.to_month(books, drive_id, month_of, kind, amount_cents, count)
        for (books, month_of, kind), (amount_cents, count) in months.items()
    ]
    parts += [
        sums.to_day(drive_id, day_of, raised, count) for day_of, (raised, count) in days.items()
    ]
    parts += [sums.to_received(drive_id, key, net) for key, net in received.items()]
    parts += [
        sums.to_link(drive_id, key, (count, gifts, raised))
        for key, (count, gifts, raised) in links.items()
    ]
    # One by one: a batch touches as many days and months as it likes, and each set of them
    # would be a statement of its own to build (sums.add builds one per set of parts).
    for name, values in parts:
        connection.execute(getattr(statements, name), values)


def reserve_ids(session: Session, model, count: int) -> list[int]:
    """``count`` fresh primary keys for ``model``, ascending, that no other writer will take."""
    table = model.__tablename__
    if is_postgres(session):
        return list(
            session.execute(
                text(
                    "SELECT nextval(pg_get_serial_sequence(:table, 'id'))"
                    " FROM generate_series(1, :n)"
                ),
                {"table": table, "n": count},
            ).scalars()
        )
    # SQLite: this transaction holds the database's write lock (BEGIN IMMEDIATE, or a
    # snapshot that fails to upgrade if another writer got in first), so max(id) stays ours.
    highest = session.execute(text(f"SELECT coalesce(max(id), 0) FROM {table}")).scalar_one()
    return list(range(highest + 1, highest + 1 + count))
