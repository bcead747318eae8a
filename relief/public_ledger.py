"""A drive's public ledger: every entry as anyone may read it, and exactly what its fingerprint
is recomputed from (docs/verify.md; relief/verify.py does it).

Each entry is published with its id, date, kind, amount, currency, chapter, gift number and
the link of the fingerprint chain recorded when it was written — never who gave. The gift
number is the gift's internal row id: it ties a gift's fee and refunds to it and is in the
chain, but opens nothing (the donor's own pages use the gift's unguessable public id, which is
never published). A donor who chose to show their name, and whose name the drive page shows,
appears by it on their gift's entry; erasure clears the choice, and the name is in no hash, so
the fingerprint stays the same.

Pages are read by entry id (``after``), a bounded number at a time; the CSV streams in batches:
memory stays constant at any size of ledger.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass

from sqlalchemy import select
from sqlmodel import Session, col

from relief import ledger
from relief.drives import get_drive
from relief.ledger import fingerprint
from relief.models import Chapter, Drive, Entry, EntryKind, Gift, GiftStatus, present
from relief.treasury.exports import csv_text, neutralise

#: Entries on a page unless ``limit`` says otherwise, and the most a page holds.
PAGE_SIZE = 100
MOST_PER_PAGE = 1000
#: The published fields, in order: the JSON keys and the CSV's columns.
COLUMNS = (
    "id",
    "at",
    "kind",
    "amount_cents",
    "currency",
    "chapter",
    "chapter_id",
    "gift",
    "donor",
    "link",
)


@dataclass(frozen=True, slots=True)
class PublicEntry:
    id: int
    #: The UTC instant to the second, as hashed (``fingerprint.moment``).
    at: str
    kind: str
    amount_cents: int
    currency: str
    chapter: str | None
    chapter_id: int | None
    gift: int | None
    #: The name the donor chose to show, on their gift's entry only; else None.
    donor: str | None
    #: The fingerprint chain through this entry, as recorded when it was written.
    link: str | None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class LedgerPage:
    drive: Drive
    totals: ledger.DriveTotals
    entries: tuple[PublicEntry, ...]
    #: The ``after`` of the next page; None on the last.
    next_after: int | None


def _statement(drive_id: int, after: int, limit: int):
    return (
        select(
            col(Entry.id),
            col(Entry.effective_at),
            col(Entry.kind),
            col(Entry.amount_cents),
            col(Entry.currency),
            col(Entry.chapter_id),
            col(Entry.gift_id),
            col(Entry.chain_hash),
            col(Chapter.slug),
            col(Gift.show_name),
            col(Gift.donor_name),
            col(Gift.status),
        )
        .outerjoin(Chapter, col(Chapter.id) == Entry.chapter_id)
        .outerjoin(Gift, col(Gift.id) == Entry.gift_id)
        .where(col(Entry.drive_id) == drive_id, col(Entry.id) > after)
        .order_by(col(Entry.id))
        .limit(limit)
    )


def _public(row) -> PublicEntry:
    (entry_id, at, kind, cents, currency, chapter_id, gift_id, link, slug, shown, name, status) = (
        row
    )
    # The name only where the drive page shows it: a paid gift whose donor chose to.
    named = kind is EntryKind.GIFT and shown and name and status is GiftStatus.PAID
    return PublicEntry(
        id=entry_id,
        at=fingerprint.moment(at),
        kind=kind.value,
        amount_cents=cents,
        currency=currency,
        chapter=slug,
        chapter_id=chapter_id,
        gift=gift_id,
        donor=name if named else None,
        link=link,
    )


def _read(session: Session, drive_id: int, after: int, limit: int) -> list[PublicEntry]:
    return [_public(row) for row in session.execute(_statement(drive_id, after, limit))]


def page(
    session: Session, drive_slug: str, after: int | None = None, limit: int | None = None
) -> LedgerPage:
    """The drive's entries after entry id ``after`` (from the first when None), at most
    ``limit`` (``PAGE_SIZE`` when None; the caller bounds it to ``MOST_PER_PAGE``), with the
    totals they add up to. Raises UnknownDrive."""
    drive = get_drive(session, drive_slug)
    drive_id = present(drive.id)
    size = min(limit or PAGE_SIZE, MOST_PER_PAGE)
    totals = ledger.totals(session, drive)
    # One more than asked says whether a next page exists.
    entries = _read(session, drive_id, after or 0, size + 1)
    more = len(entries) > size
    entries = entries[:size]
    return LedgerPage(
        drive=drive,
        totals=totals,
        entries=tuple(entries),
        next_after=entries[-1].id if more else None,
    )


def every_entry(
    session: Session, drive_id: int, batch: int = MOST_PER_PAGE
) -> Iterator[PublicEntry]:
    """All the drive's public entries in id order, read ``batch`` at a time."""
    after = 0
    while True:
        entries = _read(session, drive_id, after, batch)
        yield from entries
        if len(entries) < batch:
            return
        after = entries[-1].id
        session.expunge_all()


def csv_chunks(session: Session, drive_id: int) -> Iterator[str]:
    """The public ledger as CSV text (``COLUMNS``; empty cells for None), in chunks
    (``exports.csv_text``). A donor's chosen name that starts like a spreadsheet formula gets a
    leading apostrophe."""
    return csv_text(COLUMNS, (_csv_row(entry) for entry in every_entry(session, drive_id)))


def _csv_row(entry: PublicEntry) -> tuple:
    row = entry.as_dict()
    row["donor"] = neutralise(row["donor"])
    return tuple("" if row[name] is None else row[name] for name in COLUMNS)
