"""Closing a chapter's month, and the one place treasurer actions post to the ledger.

A treasurer reconciles a month (payouts and deposits against the ledger) and closes it. After
that, nothing new is dated in it: :func:`post` — which every ledger entry a treasurer's action
makes goes through — moves an entry that would fall in a closed month to the first moment of
the next open month, and says so in its memo. Entries Stripe's webhooks post keep Stripe's own
times (they are what the processor did, when it did it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlmodel import Session, select

from relief import ledger
from relief.errors import Conflict, InvalidInput
from relief.models import Chapter, Entry, MonthClose, User, utcnow


def first_of_month(moment: date | datetime) -> date:
    return date(moment.year, moment.month, 1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def month_label(month: date) -> str:
    return month.strftime("%B %Y")


def closed_months(session: Session, chapter: Chapter | int) -> list[date]:
    """The chapter's closed months, newest first."""
    chapter_id = chapter if isinstance(chapter, int) else chapter.id
    return list(
        session.exec(
            select(MonthClose.month)
            .where(MonthClose.chapter_id == chapter_id)
            .order_by(MonthClose.month.desc())
        )
    )


def closable_months(session: Session, chapter: Chapter, today: date | None = None) -> list[date]:
    """Ended months not closed yet, newest first: the last twelve."""
    today = today or utcnow().date()
    closed = set(closed_months(session, chapter))
    month, found = first_of_month(today), []
    for _ in range(12):
        month = date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)
        if month not in closed:
            found.append(month)
    return found


def close_month(
    session: Session, chapter: Chapter, month: date, closed_by: User | None = None
) -> MonthClose:
    """Close one of the chapter's ended months (once); flushes."""
    month = first_of_month(month)
    if month >= first_of_month(utcnow()):
        raise InvalidInput(f"{month_label(month)} has not ended; only ended months close.")
    if session.get(MonthClose, (chapter.id, month)) is not None:
        raise Conflict(f"{month_label(month)} is already closed.")
    closed = MonthClose(
        chapter_id=chapter.id, month=month, closed_by_id=closed_by.id if closed_by else None
    )
    session.add(closed)
    session.flush()
    return closed


@dataclass(frozen=True)
class Landing:
    effective_at: datetime
    #: Set when the entry was moved out of a closed month: what its memo adds.
    moved_from: date | None = None


def landing(session: Session, chapter_id: int | None, effective_at: datetime | None) -> Landing:
    """Where an entry dated ``effective_at`` lands for this chapter: itself, or — in a closed
    month — the first moment (UTC) of the next open month."""
    when = effective_at or utcnow()
    if chapter_id is None:
        return Landing(when)
    closed = set(closed_months(session, chapter_id))
    month = first_of_month(when)
    if month not in closed:
        return Landing(when)
    target = month
    while target in closed:
        target = next_month(target)
    return Landing(datetime(target.year, target.month, 1, tzinfo=UTC), moved_from=month)


def post(session: Session, **entry) -> Entry | None:
    """``ledger.append`` for a treasurer's action: the same arguments, and the same result,
    but an entry that would fall in a month the chapter closed lands in the next open month,
    its memo saying from which month it was moved."""
    where = landing(session, entry.get("chapter_id"), entry.get("effective_at"))
    if where.moved_from is not None:
        note = (
            f" (dated {entry['effective_at'].date().isoformat()}, in closed "
            f"{month_label(where.moved_from)}: moved to "
            f"{month_label(first_of_month(where.effective_at))})"
        )
        # The note goes last but must survive the memo's 500 characters.
        entry["memo"] = entry.get("memo", "")[: 500 - len(note)] + note
        entry["effective_at"] = where.effective_at
    return ledger.append(session, **entry)
