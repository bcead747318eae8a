"""Which link brought the money in: a chapter's books for one drive, per ``?ref=`` and per
``utm_source`` of the link each donor came through (stored on the gift by the donate form).

Money is what the ledger says the gifts raised now — gifts, less refunds and disputed amounts,
plus corrections — so a refunded gift stops counting for its flyer. It is read from the
ledger's running sums by link (``LinkTotal``), so a page costs the same at any number of
gifts. Organizers and treasurers see it; it is never public.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlmodel import Session, col, select

from relief import money
from relief.ledger import WHOLE_DRIVE
from relief.models import Chapter, Drive, LinkTotal

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


def _rows(session: Session, chapter: Chapter, drive: Drive) -> list[LinkTotal]:
    """The drive's sums by link in the chapter's books (``ledger.owner``): those naming the
    chapter, and the whole drive's when it hosts the drive. A few rows per link, read from
    ``LinkTotal``, whatever the number of gifts."""
    books = [chapter.id]
    if drive.host_chapter_id == chapter.id:
        books.append(WHOLE_DRIVE)
    return list(
        session.exec(
            select(LinkTotal)
            .where(LinkTotal.drive_id == drive.id, col(LinkTotal.chapter_id).in_(books))
            .execution_options(populate_existing=True)
        )
    )


def _by(rows: list[LinkTotal], label_of) -> tuple[Source, ...]:
    summed: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in rows:
        sums = summed[label_of(row) or NONE]
        sums[0] += row.gift_count
        sums[1] += row.gifts_cents
        sums[2] += row.raised_cents
    found = [
        Source(label, count, gifts, raised)
        for label, (count, gifts, raised) in summed.items()
        if (count, gifts, raised) != (0, 0, 0)  # a gift and its reversal (a purged test gift)
    ]
    found.sort(key=lambda row: (-row.raised_cents, row.label))
    top = max((row.raised_cents for row in found), default=0)
    return tuple(
        Source(
            row.label,
            row.gift_count,
            row.gifts_cents,
            row.raised_cents,
            money.bar_percent(max(row.raised_cents, 0), top) if top > 0 else 0,
        )
        for row in found
    )


def attribution(session: Session, chapter: Chapter, drive: Drive) -> Attribution:
    """The chapter's books for ``drive`` (one of its drives: check with ``scope.drive_of`` or
    the organizer's workspace first), per ref and per UTM source, the most raised first."""
    rows = _rows(session, chapter, drive)
    return Attribution(
        drive=drive,
        by_ref=_by(rows, lambda row: row.ref),
        by_source=_by(rows, lambda row: row.utm_source),
    )
