"""Gifts a correction moved to the day they were really received.

A treasurer who typed the wrong date received corrects it (``treasury.gifts.correct``): one
correction takes the gift off its old day, and a second, whose external id is
``gift-date:<gift>:<reversal>``, puts it on the new one. The gift row keeps the date first
typed; these entries say when the gift counts now. Whatever asks when a gift was received
(its receipt, the year-end statement, a match pledge's window) asks here, so a gift moved
into a match's window is matched and one moved out of it is not.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, func, union_all
from sqlmodel import Session, col, select

from relief.ledger import owner
from relief.ledger.months import as_utc
from relief.models import Chapter, DriveChapter, Entry, EntryKind, Gift

#: The external id of the entry that puts a gift on its corrected date (one per move).
MOVED_ID = "gift-date:{gift_id}:{reversal_id}"


def _moved_at():
    """The day a move put its gift on: the date given, also when the entry landed in a later
    month because that one was closed (``dated_at``)."""
    return func.coalesce(Entry.dated_at, Entry.effective_at)


def counts_at(session: Session, gift: Gift) -> datetime | None:
    """When the gift counts now: the date its last move put it on, else its date received."""
    moved = session.exec(
        select(_moved_at())
        .where(
            Entry.gift_id == gift.id,
            col(Entry.external_id).startswith(f"gift-date:{gift.id}:"),
        )
        .order_by(col(Entry.id).desc())
    ).first()
    return moved or gift.received_at


def _moved(session: Session, *where) -> dict[int, datetime]:
    """The gifts whose corrections (each ``where`` a part of them, read apart) moved them,
    each with when it counts now (its last move), aware UTC."""
    # Each part reads corrections (few: a treasurer types each one) by ix_entry_chapter_kind:
    # one chapter's, or those of gifts to a whole drive (no chapter).
    parts = [
        select(Entry.id, Entry.gift_id, _moved_at()).where(
            part,
            Entry.kind == EntryKind.CORRECTION,
            col(Entry.external_id).startswith("gift-date:"),
        )
        for part in where
    ]
    rows = session.exec(union_all(*parts)).all()  # type: ignore[call-overload]
    return {gift_id: as_utc(at) for _, gift_id, at in sorted(rows) if gift_id is not None}


def moved_on_drive(session: Session, drive_id: int) -> dict[int, datetime]:
    """The drive's gifts a correction moved, each with when it counts now."""
    # The drive is compared as an expression no index serves ("+ 0"): by ix_entry_drive_id,
    # SQLite would read every entry of the drive.
    on_drive = col(Entry.drive_id) + 0 == drive_id
    chapters = select(DriveChapter.chapter_id).where(DriveChapter.drive_id == drive_id)
    return _moved(
        session,
        and_(col(Entry.chapter_id).in_(chapters), on_drive),
        and_(col(Entry.chapter_id).is_(None), on_drive),
    )


def moved_in_books(session: Session, chapter_id: int) -> dict[int, datetime]:
    """The gifts in the chapter's books (``ledger.owner``) a correction moved, each with when
    it counts now."""
    return _moved(session, *owner.parts(Entry, chapter_id))


def moved_anywhere(session: Session) -> dict[int, datetime]:
    """Every gift a correction moved, in any chapter's books, with when it counts now."""
    return _moved(
        session,
        col(Entry.chapter_id).in_(select(Chapter.id)),
        col(Entry.chapter_id).is_(None),
    )
