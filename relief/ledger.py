"""The ledger: append entries; read a drive's totals; prove those totals.

Every figure anywhere (page, API, CSV, PDF, dashboard) comes from :func:`totals`, which reads
the running sums that :func:`append` maintains in the same transaction as each entry. The
sums are a cache of the entries and :func:`recompute` proves it: it replays the entries and
must give the same figures and the same fingerprint.

A chapter's closed month never changes: an entry dated in one lands at the first moment of
the chapter's next open month, its memo saying from where (:func:`append`, whoever posts).

The fingerprint is a hash chained over a drive's entries in order (each link hashes the one
before and the entry), so any change to the history changes it, and it is kept in O(1) per
entry. The chain is extended while holding the drive's totals row, which serializes a drive's
appends, so entry ids and chain order agree.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime

from sqlalchemy import bindparam, insert, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, select

from relief import money
from relief.db import is_postgres
from relief.errors import InvalidInput
from relief.models import (
    Chapter,
    DailyTotal,
    Drive,
    DriveChapter,
    Entry,
    EntryKind,
    Gift,
    MonthClose,
    MonthTotal,
    Total,
    utcnow,
)

#: Kinds that change what a drive has raised (the others: fees and remittances).
RAISED_KINDS = frozenset(
    {
        EntryKind.GIFT,
        EntryKind.REFUND,
        EntryKind.DISPUTE_WITHDRAWN,
        EntryKind.DISPUTE_REINSTATED,
        EntryKind.CORRECTION,
    }
)
WHOLE_DRIVE = 0


def gift_count_delta(kind: EntryKind, amount_cents: int) -> int:
    """A gift entry counts one gift; a negative gift entry (reversing a gift that never was
    real, e.g. a purged test-mode gift) takes it back out of the count."""
    if kind is not EntryKind.GIFT:
        return 0
    return 1 if amount_cents > 0 else -1


@dataclass(frozen=True)
class Figures:
    """Sums of a drive's (or one chapter's) entries. Refunds and disputes are positive
    amounts taken out; ``disputes_cents`` is what open or lost disputes withhold now."""

    gifts_cents: int = 0
    refunds_cents: int = 0
    disputes_cents: int = 0
    corrections_cents: int = 0
    fees_cents: int = 0
    remitted_cents: int = 0
    gift_count: int = 0

    @property
    def raised_cents(self) -> int:
        """Gifts received − refunds − disputed amounts withheld ± corrections."""
        return self.gifts_cents - self.refunds_cents - self.disputes_cents + self.corrections_cents

    @property
    def net_cents(self) -> int:
        """Raised − processor fees."""
        return self.raised_cents - self.fees_cents

    def plus(self, kind: EntryKind, amount_cents: int) -> Figures:
        match kind:
            case EntryKind.GIFT:
                return replace(
                    self,
                    gifts_cents=self.gifts_cents + amount_cents,
                    gift_count=self.gift_count + gift_count_delta(kind, amount_cents),
                )
            case EntryKind.REFUND:
                return replace(self, refunds_cents=self.refunds_cents - amount_cents)
            case EntryKind.DISPUTE_WITHDRAWN | EntryKind.DISPUTE_REINSTATED:
                return replace(self, disputes_cents=self.disputes_cents - amount_cents)
            case EntryKind.CORRECTION:
                return replace(self, corrections_cents=self.corrections_cents + amount_cents)
            case EntryKind.FEE:
                return replace(self, fees_cents=self.fees_cents + amount_cents)
            case EntryKind.REMITTANCE:
                return replace(self, remitted_cents=self.remitted_cents + amount_cents)
        raise ValueError(f"unknown entry kind {kind!r}")


_FIGURE_FIELDS = tuple(Figures.__dataclass_fields__)


@dataclass(frozen=True)
class ChapterPart:
    slug: str
    name: str
    region: str | None
    goal_cents: int | None
    figures: Figures

    @property
    def percent_of_goal(self) -> int:
        """Whole percent of the chapter's sub-goal raised (0 to 100; 0 without one)."""
        return money.percent_of(self.figures.raised_cents, self.goal_cents)


@dataclass(frozen=True)
class DriveTotals:
    """A drive's figures as of one ledger state; what every screen renders."""

    drive_id: int
    currency: str
    goal_cents: int
    ratio_hundredths: int
    figures: Figures
    chapters: tuple[ChapterPart, ...]
    #: Raised by gifts credited to no chapter.
    unattributed: Figures
    entry_count: int
    fingerprint: str
    updated_at: datetime | None
    by_chapter_id: dict[int, Figures] = field(default_factory=dict, compare=False, repr=False)

    @property
    def raised_cents(self) -> int:
        return self.figures.raised_cents

    @property
    def net_cents(self) -> int:
        return self.figures.net_cents

    @property
    def projected_relief_cents(self) -> int:
        """Net × the drive's ratio, rounded to the cent. An estimate until the partner reports."""
        return money.apply_ratio(self.figures.net_cents, self.ratio_hundredths)

    @property
    def percent_of_goal(self) -> int:
        """Whole percent of the goal raised, for progress bars (capped at 100)."""
        return money.percent_of(self.figures.raised_cents, self.goal_cents)


@dataclass(frozen=True, slots=True)
class Posted:
    """An entry just appended, as written. Entries never change, so :func:`append` hands
    back this plain record rather than an ORM object (which costs more to build than the
    entry's four statements cost to run); read an ``Entry`` to follow its relations."""

    id: int
    kind: EntryKind
    amount_cents: int
    currency: str
    drive_id: int | None
    chapter_id: int | None
    gift_id: int | None
    effective_at: datetime
    recorded_at: datetime
    external_id: str | None
    reverses_id: int | None
    memo: str


def _chain(previous: str, entry: Entry | Posted) -> str:
    return _link(
        previous,
        entry.id,
        entry.kind,
        entry.amount_cents,
        entry.currency,
        entry.chapter_id,
        entry.gift_id,
        entry.effective_at,
    )


def _link(
    previous: str,
    entry_id: int,
    kind: EntryKind,
    amount_cents: int,
    currency: str,
    chapter_id: int | None,
    gift_id: int | None,
    effective_at: datetime,
) -> str:
    """One link of the fingerprint chain: the hash of the previous link and this entry."""
    link = "|".join(
        str(part)
        for part in (
            previous,
            entry_id,
            kind.value,
            amount_cents,
            currency,
            chapter_id or 0,
            gift_id or 0,
            effective_at.isoformat(timespec="seconds"),
        )
    )
    return hashlib.sha256(link.encode()).hexdigest()


_ENTRY = Entry.__table__
_TOTAL = Total.__table__
_DAILY = DailyTotal.__table__
_MONTH = MonthTotal.__table__
_SUMMED = (*_FIGURE_FIELDS, "entry_count")


@dataclass(frozen=True)
class _Writes:
    """The ledger's write statements for one SQL dialect, built once: building a statement
    costs more than running it. Each runs with a dict of column values."""

    entry: object  # INSERT entry RETURNING id
    entry_once: object  # … ON CONFLICT (external_id) DO NOTHING RETURNING id
    hold_drive_total: object  # upsert that changes nothing RETURNING chain_hash
    add_to_total: object  # upsert adding the sums; keeps the chain
    add_to_drive_total: object  # … and moves the chain on
    add_to_day: object
    add_to_month: object  # a chapter's month, per drive and kind
    closed_from: object  # a chapter's closed months from :month on, oldest first


@functools.cache
def _writes(dialect: str) -> _Writes:
    upsert = pg_insert if dialect == "postgresql" else sqlite_insert
    key = ["drive_id", "chapter_id"]
    total = upsert(_TOTAL)
    added = {name: _TOTAL.c[name] + total.excluded[name] for name in _SUMMED}
    moved = {name: total.excluded[name] for name in ("last_entry_id", "updated_at")}
    day = upsert(_DAILY)
    month = upsert(_MONTH)
    return _Writes(
        entry=upsert(_ENTRY).returning(_ENTRY.c.id),
        entry_once=upsert(_ENTRY)
        .on_conflict_do_nothing(index_elements=["external_id"])
        .returning(_ENTRY.c.id),
        # A write that changes nothing: PostgreSQL locks the row, and RETURNING reads it.
        hold_drive_total=total.on_conflict_do_update(
            index_elements=key, set_={"drive_id": total.excluded.drive_id}
        ).returning(_TOTAL.c.chain_hash),
        add_to_total=total.on_conflict_do_update(index_elements=key, set_={**added, **moved}),
        add_to_drive_total=total.on_conflict_do_update(
            index_elements=key,
            set_={**added, **moved, "chain_hash": total.excluded.chain_hash},
        ),
        closed_from=select(MonthClose.month)
        .where(MonthClose.chapter_id == bindparam("chapter_id"))
        .where(MonthClose.month >= bindparam("month"))
        .order_by(MonthClose.month),
        add_to_month=month.on_conflict_do_update(
            index_elements=["chapter_id", "drive_id", "month", "kind"],
            set_={
                name: _MONTH.c[name] + month.excluded[name]
                for name in ("amount_cents", "gift_count")
            },
        ),
        add_to_day=day.on_conflict_do_update(
            index_elements=["drive_id", "day"],
            set_={
                name: _DAILY.c[name] + day.excluded[name] for name in ("raised_cents", "gift_count")
            },
        ),
    )


def _total_row(drive_id: int, chapter_id: int, delta: Figures, **rest) -> dict:
    return {
        "drive_id": drive_id,
        "chapter_id": chapter_id,
        **{name: getattr(delta, name) for name in _FIGURE_FIELDS},
        "chain_hash": "",
        **rest,
    }


def _hold_drive_total(connection, writes: _Writes, drive_id: int) -> str:
    """Hold the drive's whole-drive totals row for this transaction (created if missing) and
    return the fingerprint chain so far. Holding it serializes the drive's appends, so entry
    ids and chain order agree. On SQLite the whole database is already write-locked."""
    row = _total_row(
        drive_id, WHOLE_DRIVE, Figures(), entry_count=0, last_entry_id=0, updated_at=utcnow()
    )
    return connection.execute(writes.hold_drive_total, row).scalar_one()


def _add_to_total(
    connection,
    writes: _Writes,
    drive_id: int,
    chapter_id: int,
    delta: Figures,
    *,
    entries: int,
    last_entry_id: int,
    at: datetime,
    chain_hash: str | None = None,
) -> None:
    """Add ``delta`` (one entry's, or a bulk batch's) to a running-totals row, creating it
    when missing: one statement, the sums added by the database under its row lock. The
    whole-drive row also takes the chain's new link."""
    row = _total_row(
        drive_id, chapter_id, delta, entry_count=entries, last_entry_id=last_entry_id, updated_at=at
    )
    if chain_hash is None:
        connection.execute(writes.add_to_total, row)
    else:
        connection.execute(writes.add_to_drive_total, {**row, "chain_hash": chain_hash})


def _add_to_day(connection, writes: _Writes, drive_id: int, day: date, raised: int, gifts: int):
    connection.execute(
        writes.add_to_day,
        {"drive_id": drive_id, "day": day, "raised_cents": raised, "gift_count": gifts},
    )


def _add_to_month(
    connection, writes: _Writes, chapter_id: int, drive_id: int, month: date, kind, cents, gifts
) -> None:
    connection.execute(
        writes.add_to_month,
        {
            "chapter_id": chapter_id,
            "drive_id": drive_id,
            "month": month,
            "kind": kind,
            "amount_cents": cents,
            "gift_count": gifts,
        },
    )


def first_of_month(moment: date | datetime) -> date:
    """The first day of the calendar month (UTC) a day or moment falls in; naive moments are
    UTC."""
    if isinstance(moment, datetime) and moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return date(moment.year, moment.month, 1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def month_label(month: date) -> str:
    return month.strftime("%B %Y")


def _out_of_closed_months(
    connection, writes: _Writes, chapter_id: int, effective_at: datetime, memo: str, now: datetime
) -> tuple[datetime, str]:
    """Where an entry of this chapter dated ``effective_at`` lands: there, or — in a month
    the chapter has closed — at the first moment (UTC) of its next open month, the memo
    saying so. A closed month's figures never change, whoever posts (a treasurer, a late
    Stripe event)."""
    month = first_of_month(effective_at)
    if month >= first_of_month(now):
        return effective_at, memo  # only ended months close: no query on the usual path
    closed = set(
        connection.execute(writes.closed_from, {"chapter_id": chapter_id, "month": month}).scalars()
    )
    if month not in closed:
        return effective_at, memo
    target = month
    while target in closed:
        target = next_month(target)
    note = (
        f" (dated {effective_at.date().isoformat()}, in closed {month_label(month)}: "
        f"moved to {month_label(target)})"
    )
    # The note goes last but must survive the memo's 500 characters.
    return datetime(target.year, target.month, 1, tzinfo=UTC), memo[: 500 - len(note)] + note


def append(
    session: Session,
    *,
    kind: EntryKind,
    amount_cents: int,
    drive_id: int | None,
    chapter_id: int | None = None,
    gift_id: int | None = None,
    currency: str = "USD",
    effective_at: datetime | None = None,
    external_id: str | None = None,
    reverses_id: int | None = None,
    memo: str = "",
) -> Posted | None:
    """Append one entry and update the drive's running totals, in a handful of statements;
    does not commit.

    Idempotent per ``external_id``: an entry whose external id is already in the ledger is
    not posted again, and None is returned.
    """
    if not isinstance(amount_cents, int) or isinstance(amount_cents, bool) or amount_cents == 0:
        raise InvalidInput("A ledger entry needs a non-zero amount in whole cents.")
    session.flush()  # the gift this entry names, if new, goes in first
    connection = session.connection()
    writes = _writes(connection.dialect.name)
    now = utcnow()
    effective_at = effective_at or now
    if chapter_id is not None:
        effective_at, memo = _out_of_closed_months(
            connection, writes, chapter_id, effective_at, memo, now
        )
    chain = None
    if drive_id is not None:
        # Hold the drive's row first: it orders this drive's entries and their chain.
        chain = _hold_drive_total(connection, writes, drive_id)
    values = {
        "kind": kind,
        "amount_cents": amount_cents,
        "currency": currency,
        "drive_id": drive_id,
        "chapter_id": chapter_id,
        "gift_id": gift_id,
        "effective_at": effective_at,
        "recorded_at": now,
        "external_id": external_id,
        "reverses_id": reverses_id,
        "memo": memo,
    }
    entry_id = connection.execute(
        writes.entry if external_id is None else writes.entry_once, values
    ).scalar()
    if entry_id is None:
        return None  # posted before
    entry = Posted(id=entry_id, **values)
    if drive_id is None:
        return entry

    delta = Figures().plus(kind, amount_cents)
    _add_to_total(
        connection,
        writes,
        drive_id,
        WHOLE_DRIVE,
        delta,
        entries=1,
        last_entry_id=entry_id,
        at=now,
        chain_hash=_chain(chain, entry),
    )
    if chapter_id is not None:
        _add_to_total(
            connection,
            writes,
            drive_id,
            chapter_id,
            delta,
            entries=1,
            last_entry_id=entry_id,
            at=now,
        )
        _add_to_month(
            connection,
            writes,
            chapter_id,
            drive_id,
            first_of_month(values["effective_at"]),
            kind,
            amount_cents,
            gift_count_delta(kind, amount_cents),
        )
    if kind in RAISED_KINDS:
        _add_to_day(
            connection,
            writes,
            drive_id,
            values["effective_at"].date(),
            amount_cents,
            gift_count_delta(kind, amount_cents),
        )
    return entry


def _figures_of(row: Total | None) -> Figures:
    if row is None:
        return Figures()
    return Figures(**{name: getattr(row, name) for name in _FIGURE_FIELDS})


def totals(session: Session, drive: Drive) -> DriveTotals:
    """The drive's figures from its running totals: two indexed queries, whatever its size."""
    # populate_existing: the sums change under the session's feet (Core upserts).
    rows = {
        row.chapter_id: row
        for row in session.exec(
            select(Total)
            .where(Total.drive_id == drive.id)
            .execution_options(populate_existing=True)
        )
    }
    participants = session.exec(
        select(Chapter, DriveChapter.goal_cents)
        .join(DriveChapter, DriveChapter.chapter_id == Chapter.id)
        .where(DriveChapter.drive_id == drive.id)
        .order_by(Chapter.name)
    ).all()
    return _assemble(drive, rows, participants)


def _assemble(drive: Drive, rows: dict[int, Total], participants) -> DriveTotals:
    whole = rows.get(WHOLE_DRIVE)
    by_chapter = {chapter_id: _figures_of(row) for chapter_id, row in rows.items() if chapter_id}
    chapters = tuple(
        ChapterPart(
            slug=chapter.slug,
            name=chapter.name,
            region=chapter.region,
            goal_cents=goal_cents,
            figures=by_chapter.get(chapter.id, Figures()),
        )
        for chapter, goal_cents in participants
    )
    figures = _figures_of(whole)
    credited = Figures(
        **{
            name: sum(getattr(part, name) for part in by_chapter.values())
            for name in _FIGURE_FIELDS
        }
    )
    unattributed = Figures(
        **{name: getattr(figures, name) - getattr(credited, name) for name in _FIGURE_FIELDS}
    )
    return DriveTotals(
        drive_id=drive.id,
        currency=drive.currency,
        goal_cents=drive.goal_cents,
        ratio_hundredths=drive.ratio_hundredths,
        figures=figures,
        chapters=chapters,
        unattributed=unattributed,
        entry_count=whole.entry_count if whole else 0,
        fingerprint=(whole.chain_hash if whole and whole.chain_hash else "0" * 64),
        updated_at=whole.updated_at if whole else None,
        by_chapter_id=by_chapter,
    )


@dataclass(frozen=True)
class Recomputed:
    figures: Figures
    by_chapter_id: dict[int, Figures]
    daily: dict[date, tuple[int, int]]
    #: (chapter id, month, kind) → (cents, gifts), as MonthTotal keeps them.
    months: dict[tuple[int, date, EntryKind], tuple[int, int]]
    entry_count: int
    fingerprint: str


def recompute(session: Session, drive: Drive, batch_size: int = 5000) -> Recomputed:
    """Replay every entry of the drive in order: the figures the running totals must equal."""
    figures = Figures()
    by_chapter: dict[int, Figures] = defaultdict(Figures)
    daily: dict[date, tuple[int, int]] = defaultdict(lambda: (0, 0))
    months: dict[tuple[int, date, EntryKind], tuple[int, int]] = defaultdict(lambda: (0, 0))
    chain = ""
    count = 0
    last_id = 0
    while True:
        batch = session.exec(
            select(Entry)
            .where(Entry.drive_id == drive.id, Entry.id > last_id)
            .order_by(Entry.id)
            .limit(batch_size)
        ).all()
        if not batch:
            break
        for entry in batch:
            figures = figures.plus(entry.kind, entry.amount_cents)
            if entry.chapter_id is not None:
                by_chapter[entry.chapter_id] = by_chapter[entry.chapter_id].plus(
                    entry.kind, entry.amount_cents
                )
                key = (entry.chapter_id, first_of_month(entry.effective_at), entry.kind)
                cents, gifts = months[key]
                months[key] = (
                    cents + entry.amount_cents,
                    gifts + gift_count_delta(entry.kind, entry.amount_cents),
                )
            if entry.kind in RAISED_KINDS:
                raised, gifts = daily[entry.effective_at.date()]
                daily[entry.effective_at.date()] = (
                    raised + entry.amount_cents,
                    gifts + gift_count_delta(entry.kind, entry.amount_cents),
                )
            chain = _chain(chain, entry)
            count += 1
        last_id = batch[-1].id
        session.expunge_all()
    return Recomputed(
        figures=figures,
        by_chapter_id=dict(by_chapter),
        daily=dict(daily),
        months=dict(months),
        entry_count=count,
        fingerprint=chain or "0" * 64,
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
    if kept.entry_count != replay.entry_count or kept.fingerprint != replay.fingerprint:
        problems.append("fingerprint differs from the ledger's")
    return problems


def _kept_rows(session: Session, model, drive: Drive, key, cents: str) -> dict:
    """A drive's rows of a kept-sums table as {key: (cents, gift count)}, zero rows left out
    (a gift and its reversal leave one behind)."""
    rows = session.exec(
        select(model).where(model.drive_id == drive.id).execution_options(populate_existing=True)
    )
    return _without_zeros({key(row): (getattr(row, cents), row.gift_count) for row in rows})


def _without_zeros(sums: dict) -> dict:
    return {key: value for key, value in sums.items() if value != (0, 0)}


def daily_raised(session: Session, drive_id: int, since: date | None = None) -> list[DailyTotal]:
    """Money raised per day, oldest first (one row per day with activity)."""
    statement = (
        select(DailyTotal)
        .where(DailyTotal.drive_id == drive_id)
        .execution_options(populate_existing=True)
    )
    if since is not None:
        statement = statement.where(DailyTotal.day >= since)
    return list(session.exec(statement.order_by(DailyTotal.day)))


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
    connection = session.connection()
    writes = _writes(connection.dialect.name)
    chain = _hold_drive_total(connection, writes, drive.id)
    now = utcnow()
    gift_ids = _reserve_ids(session, Gift, len(gifts))
    entry_ids = _reserve_ids(session, Entry, len(gifts))
    gift_rows = []
    entry_rows = []
    chapter_sums: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    daily_sums: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    month_sums: dict[tuple[int, date], list[int]] = defaultdict(lambda: [0, 0])
    whole_cents = 0
    kind = EntryKind.GIFT
    for gift, gift_id, entry_id in zip(gifts, gift_ids, entry_ids, strict=True):
        amount_cents = gift["amount_cents"]
        chapter_id = gift.get("chapter_id")
        received_at = gift["received_at"]
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
            }
        )
        whole_cents += amount_cents
        if chapter_id is not None:
            sums = chapter_sums[chapter_id]
            sums[0] += amount_cents
            sums[1] += 1
            month = month_sums[(chapter_id, first_of_month(received_at))]
            month[0] += amount_cents
            month[1] += 1
        day = daily_sums[received_at.date()]
        day[0] += amount_cents
        day[1] += 1
        chain = _link(
            chain, entry_id, kind, amount_cents, drive.currency, chapter_id, gift_id, received_at
        )
    session.execute(insert(Gift.__table__), gift_rows)
    session.execute(insert(Entry.__table__), entry_rows)

    last = entry_ids[-1]
    _add_to_total(
        connection,
        writes,
        drive.id,
        WHOLE_DRIVE,
        Figures(gifts_cents=whole_cents, gift_count=len(gifts)),
        entries=len(entry_ids),
        last_entry_id=last,
        at=now,
        chain_hash=chain,
    )
    for chapter_id, (cents, count) in chapter_sums.items():
        _add_to_total(
            connection,
            writes,
            drive.id,
            chapter_id,
            Figures(gifts_cents=cents, gift_count=count),
            entries=count,
            last_entry_id=last,
            at=now,
        )
    for day, (raised, count) in daily_sums.items():
        _add_to_day(connection, writes, drive.id, day, raised, count)
    for (chapter_id, month), (cents, count) in month_sums.items():
        _add_to_month(connection, writes, chapter_id, drive.id, month, kind, cents, count)
    return len(entry_ids)


def _reserve_ids(session: Session, model, count: int) -> list[int]:
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
