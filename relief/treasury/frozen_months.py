"""What a closed month keeps, and what came after it: the fingerprint of a chapter's books at
closing, and the entries the ledger booked in a later month because the month they were dated
in was closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from relief.ledger import WHOLE_DRIVE, fingerprint, first_of_month, local_day, month_start, owner
from relief.models import Chapter, DriveChapter, Entry, Gift, MonthClose, Total


def closed_month(session: Session, chapter: Chapter, month: date) -> MonthClose | None:
    """The chapter's closing of ``month`` (its snapshot and fingerprint), if it is closed."""
    return session.get(MonthClose, (chapter.id, first_of_month(month)))


@dataclass(frozen=True)
class Books:
    """The fingerprint of a chapter's books: the ledger's chained hash over the entries in
    them (``ledger.owner``: its own in every drive, gifts not yet assigned to one, and those
    to the whole drive in drives it hosts) in id order. Months closed before drives had a
    host (migration 0018) keep the hash of the entries naming the chapter only."""

    fingerprint: str
    entry_count: int
    #: The newest entry hashed (0 without entries): recompute up to it to check a closing.
    last_entry_id: int


def books(session: Session, chapter: Chapter, *, up_to: int | None = None) -> Books:
    """The chapter's books as they are now, or as they were when entry ``up_to`` was the
    newest (entries are append-only, so that is the same set forever). Reads every entry of
    the chapter, as plain rows: once per closing, or to check one."""
    # Plain rows on the session's connection: no ORM object per entry (a chapter may have
    # hundreds of thousands).
    statement = core_select(
        col(Entry.id),
        col(Entry.kind),
        col(Entry.amount_cents),
        col(Entry.currency),
        col(Entry.chapter_id),
        col(Entry.gift_id),
        col(Entry.effective_at),
    ).where(owner.owned_by(Entry, chapter.id))
    if up_to is not None:
        statement = statement.where(col(Entry.id) <= up_to)
    else:
        # Hold the chapter's drives' totals rows, as ledger.append does before each entry: an
        # entry being appended now is either in these books or waits until they are read, so
        # no entry with a lower id turns up later (PostgreSQL; SQLite has one writer anyway).
        session.exec(
            select(col(Total.drive_id))
            .where(
                col(Total.drive_id).in_(
                    select(DriveChapter.drive_id).where(DriveChapter.chapter_id == chapter.id)
                ),
                Total.chapter_id == WHOLE_DRIVE,
            )
            .with_for_update()
        ).all()
    chain, count, last = "", 0, 0
    rows = session.connection().execute(statement.order_by(col(Entry.id)))
    for entry_id, kind, cents, currency, chapter_id, gift_id, effective_at in rows:
        assert entry_id is not None  # a stored entry
        chain = fingerprint.link(
            chain, entry_id, kind, cents, currency, chapter_id, gift_id, effective_at
        )
        count, last = count + 1, entry_id
    return Books(chain or fingerprint.EMPTY, count, last)


@dataclass(frozen=True)
class LateEntry:
    """An entry dated in a month the chapter had closed, booked in the next open month."""

    entry: Entry
    gift: Gift | None
    #: The day it was dated (when the money moved), in the closed month.
    dated: date

    @property
    def closed_month(self) -> date:
        return first_of_month(self.dated)


def late_entries(session: Session, chapter: Chapter, month: date) -> list[LateEntry]:
    """The entries in the chapter's books (``ledger.owner``) booked in ``month`` because the
    month they were dated in was closed, oldest first: the ledger puts them at the month's
    first moment and keeps the date they had in ``dated_at``. Entries of no drive count
    nowhere and are left out."""
    start = month_start(month)
    rows = session.exec(
        select(Entry, Gift)
        .outerjoin(Gift, col(Gift.id) == col(Entry.gift_id))
        .where(
            owner.owned_by(Entry, chapter.id),
            col(Entry.drive_id).is_not(None),
            # Exactly the first moment: the index on (chapter, effective_at) finds them.
            col(Entry.effective_at) >= start,
            col(Entry.effective_at) < start + timedelta(seconds=1),
            col(Entry.dated_at).is_not(None),
        )
        .order_by(col(Entry.id))
    ).all()
    return [
        LateEntry(entry, gift, local_day(entry.dated_at))
        for entry, gift in rows
        if entry.dated_at is not None
    ]
