"""Which link brought the money in: a chapter's books for one drive, per ``?ref=`` and per
``utm_source`` of the link each donor came through (stored on the gift by the donate form).

Money is what the ledger says the gifts raised now — gifts, less refunds and disputed amounts,
plus corrections — so a refunded gift stops counting for its flyer. Organizers and treasurers
see it; it is never public.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func
from sqlmodel import Session, col, select

from relief import money
from relief.ledger import RAISED_KINDS, owner
from relief.models import Chapter, Drive, Entry, EntryKind, Gift

#: The row of gifts whose link carried no such parameter.
NONE = "(none)"


@dataclass(frozen=True)
class Source:
    """One ref or UTM source's gifts in the chapter's books for the drive."""

    label: str
    gift_count: int
    gifts_cents: int
    #: What the gifts raised now: gifts − refunds − disputes ± corrections.
    raised_cents: int
    #: The row's bar in the chart, 0–100: raised against the largest row's.
    bar_percent: int = 0

    @property
    def taken_back_cents(self) -> int:
        """Refunds, disputes and corrections, as money taken back (negative: added)."""
        return self.gifts_cents - self.raised_cents


@dataclass(frozen=True)
class Attribution:
    drive: Drive
    by_ref: tuple[Source, ...]
    by_source: tuple[Source, ...]


def _by(session: Session, chapter: Chapter, drive: Drive, column) -> tuple[Source, ...]:
    gift_entry = col(Entry.kind) == EntryKind.GIFT
    statement = (
        select(
            column,
            func.sum(case((gift_entry & (col(Entry.amount_cents) > 0), 1), else_=0)),
            func.sum(case((gift_entry, Entry.amount_cents), else_=0)),
            func.sum(Entry.amount_cents),
        )
        .join(Gift, col(Gift.id) == Entry.gift_id)
        .where(owner.owned_by(Entry, chapter.id))
        .where(Entry.drive_id == drive.id, col(Entry.kind).in_(RAISED_KINDS))
        .group_by(column)
    )
    rows = [
        Source(label or NONE, int(count or 0), int(gifts or 0), int(raised or 0))
        for label, count, gifts, raised in session.exec(statement)
    ]
    rows.sort(key=lambda row: (-row.raised_cents, row.label))
    top = max((row.raised_cents for row in rows), default=0)
    return tuple(
        Source(
            row.label,
            row.gift_count,
            row.gifts_cents,
            row.raised_cents,
            money.bar_percent(max(row.raised_cents, 0), top) if top > 0 else 0,
        )
        for row in rows
    )


def attribution(session: Session, chapter: Chapter, drive: Drive) -> Attribution:
    """The chapter's books for ``drive`` (one of its drives: check with ``scope.drive_of`` or
    the organizer's workspace first), per ref and per UTM source, the most raised first."""
    return Attribution(
        drive=drive,
        by_ref=_by(session, chapter, drive, col(Gift.ref)),
        by_source=_by(session, chapter, drive, col(Gift.utm_source)),
    )
