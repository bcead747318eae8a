"""Proving the running sums: replay a drive's entries and compare.

The sums are a cache of the entries: :func:`recompute` replays the entries in order and must
give the same figures, day and month rows and fingerprint that :func:`verify` reads back.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, fields
from datetime import date

from sqlmodel import Session, col, select

from relief.db import is_postgres
from relief.ledger import fingerprint, links, rekey
from relief.ledger.figures import RAISED_KINDS, Figures, gift_count_delta
from relief.ledger.months import first_of_month, local_day, zone_name
from relief.ledger.owner import owner
from relief.ledger.totals import totals
from relief.models import (
    DailyTotal,
    Drive,
    Entry,
    EntryKind,
    LinkTotal,
    MonthTotal,
    ReceivedTotal,
    present,
)


@dataclass(frozen=True)
class Recomputed:
    figures: Figures
    #: Per chapter the entry names (a whole-drive entry is in ``figures`` only), as the
    #: chapters' totals rows keep them.
    by_chapter_id: dict[int, Figures]
    daily: dict[date, tuple[int, int]]
    #: (chapter id, month, kind) → (cents, gifts), as MonthTotal keeps them: by the chapter
    #: whose books hold the entry (``ledger.owner``).
    months: dict[tuple[int, date, EntryKind], tuple[int, int]]
    entry_count: int
    fingerprint: str
    #: Entries per currency other than the drive's ({"EUR": 1}); empty when all match.
    foreign_currencies: dict[str, int] = field(default_factory=dict)
    #: The first entry whose link, recorded when it was written, differs from the replay's:
    #: it, or the entry before it, changed since.
    first_broken_link: int | None = None


def recompute(session: Session, drive: Drive, batch_size: int = 5000) -> Recomputed:
    """Replay every entry of the drive in order: the figures the running totals must equal."""
    figures = Figures()
    by_chapter: dict[int, Figures] = defaultdict(Figures)
    daily: dict[date, tuple[int, int]] = defaultdict(lambda: (0, 0))
    months: dict[tuple[int, date, EntryKind], tuple[int, int]] = defaultdict(lambda: (0, 0))
    foreign: dict[str, int] = defaultdict(int)
    chain = ""
    count = 0
    last_id = 0
    broken: int | None = None
    while True:
        batch = session.exec(
            select(Entry)
            .where(Entry.drive_id == drive.id, col(Entry.id) > last_id)
            .order_by(col(Entry.id))
            .limit(batch_size)
        ).all()
        if not batch:
            break
        for entry in batch:
            if entry.currency != drive.currency:
                foreign[entry.currency] += 1
            figures = figures.plus(entry.kind, entry.amount_cents)
            if entry.chapter_id is not None:
                by_chapter[entry.chapter_id] = by_chapter[entry.chapter_id].plus(
                    entry.kind, entry.amount_cents
                )
            books = owner(entry.chapter_id, drive.host_chapter_id)
            key = (books, first_of_month(entry.effective_at), entry.kind)
            cents, gifts = months[key]
            months[key] = (
                cents + entry.amount_cents,
                gifts + gift_count_delta(entry.kind, entry.amount_cents),
            )
            if entry.kind in RAISED_KINDS:
                day = local_day(entry.effective_at)
                raised, gifts = daily[day]
                daily[day] = (
                    raised + entry.amount_cents,
                    gifts + gift_count_delta(entry.kind, entry.amount_cents),
                )
            chain = fingerprint.chain(chain, entry)
            if broken is None and entry.chain_hash != chain:
                broken = entry.id
            count += 1
        last_id = present(batch[-1].id)
        session.expunge_all()
    return Recomputed(
        figures=figures,
        by_chapter_id=dict(by_chapter),
        daily=dict(daily),
        months=dict(months),
        entry_count=count,
        fingerprint=chain or fingerprint.EMPTY,
        foreign_currencies=dict(foreign),
        first_broken_link=broken,
    )


def verify(session: Session, drive: Drive) -> list[str]:
    """Differences between the running totals and a replay of the entries; [] when exact.

    Safe while gifts arrive: it reads one snapshot. On PostgreSQL that is a REPEATABLE READ
    transaction of its own (under READ COMMITTED, entries committed during the replay would
    differ from the totals read before it), so there it sees committed entries only; on
    SQLite the session's read transaction is already a snapshot.
    """
    if is_postgres(session):
        with Session(session.get_bind(), expire_on_commit=False) as snapshot:
            snapshot.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            return _verify(snapshot, drive)
    return _verify(session, drive)


def _verify(session: Session, drive: Drive) -> list[str]:
    kept = totals(session, drive)
    replay = recompute(session, drive)
    problems = []
    keyed = rekey.keyed_zone(session)
    if keyed is not None and keyed != zone_name():
        problems.append(
            f"day and month totals are keyed in {keyed}, not RELIEF_TIMEZONE {zone_name()}"
        )
    for currency, entries in sorted(replay.foreign_currencies.items()):
        problems.append(
            f"{entries} entr{'y' if entries == 1 else 'ies'} in {currency} in a drive counted "
            f"in {drive.currency}"
        )
    # A sum that is no longer an int (SQLite turns an overflowing INTEGER into REAL) can
    # still compare equal to the replay's int: only its type tells.
    problems.extend(_not_whole("drive totals", kept.figures))
    for chapter_id, figures in sorted(kept.by_chapter_id.items()):
        problems.extend(_not_whole(f"chapter {chapter_id} totals", figures))
    if kept.figures != replay.figures:
        problems.append(f"drive totals {kept.figures} != ledger {replay.figures}")
    for chapter_id in set(kept.by_chapter_id) | set(replay.by_chapter_id):
        ours = kept.by_chapter_id.get(chapter_id, Figures())
        theirs = replay.by_chapter_id.get(chapter_id, Figures())
        if ours != theirs:
            problems.append(f"chapter {chapter_id} totals {ours} != ledger {theirs}")
    days = _kept_rows(session, DailyTotal, drive, lambda r: r.day, "raised_cents")
    if days != _without_zeros(replay.daily):
        problems.append("daily totals differ from the ledger")
    months = _kept_rows(
        session, MonthTotal, drive, lambda r: (r.chapter_id, r.month, r.kind), "amount_cents"
    )
    if months != _without_zeros(replay.months):
        problems.append("chapters' month totals differ from the ledger")
    received = {
        (row.day, row.online, row.chapter_id): _whole_or_repr(row.net_cents)
        for row in session.exec(
            select(ReceivedTotal)
            .where(ReceivedTotal.drive_id == drive.id)
            .execution_options(populate_existing=True)
        )
        if row.net_cents != 0
    }
    replayed = {
        key: cents
        for (_, key), cents in rekey.received_sums(session, drive_id=drive.id).items()
        if cents != 0
    }
    if received != replayed:
        problems.append("the gifts' sums by day received differ from the ledger")
    by_link = {
        (row.chapter_id, row.ref, row.utm_source): (
            row.gift_count,
            _whole_or_repr(row.gifts_cents),
            _whole_or_repr(row.raised_cents),
        )
        for row in session.exec(
            select(LinkTotal)
            .where(LinkTotal.drive_id == drive.id)
            .execution_options(populate_existing=True)
        )
        if (row.gift_count, row.gifts_cents, row.raised_cents) != (0, 0, 0)
    }
    if by_link != links.replayed(session, present(drive.id)):
        problems.append("the gifts' sums by link differ from the ledger")
    if kept.entry_count != replay.entry_count or kept.fingerprint != replay.fingerprint:
        problems.append("fingerprint differs from the ledger's")
    if replay.first_broken_link is not None:
        problems.append(
            f"entry {replay.first_broken_link} no longer hashes to the link recorded when it "
            "was written: it, or the entry before it, changed since"
        )
    return problems


def _not_whole(what: str, figures: Figures) -> list[str]:
    return [
        f"{what}: {name} is not a whole number of cents"
        for name in (item.name for item in fields(figures))
        if type(getattr(figures, name)) is not int
    ]


def _kept_rows(session: Session, model, drive: Drive, key, cents: str) -> dict:
    """A drive's rows of a kept-sums table as {key: (cents, gift count)}, zero rows left out
    (a gift and its reversal leave one behind). A sum that is not an int is kept as its
    repr, so it differs from the replay's."""
    rows = session.exec(
        select(model).where(model.drive_id == drive.id).execution_options(populate_existing=True)
    )
    return _without_zeros(
        {key(row): (_whole_or_repr(getattr(row, cents)), row.gift_count) for row in rows}
    )


def _whole_or_repr(value):
    return value if type(value) is int else repr(value)


def _without_zeros(sums: dict) -> dict:
    return {key: value for key, value in sums.items() if value != (0, 0)}
