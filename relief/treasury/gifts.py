"""A chapter's gifts as its treasurer handles them: gifts sent straight to the partner,
corrections (new entries, never edits), and gifts waiting to be assigned to a drive."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from sqlalchemy import func
from sqlmodel import Session, select

from relief import drives, ledger, money
from relief.errors import Conflict, InvalidInput, NotFound
from relief.models import (
    Chapter,
    DirectGift,
    Drive,
    DriveChapter,
    Entry,
    EntryKind,
    Gift,
    GiftMethod,
    GiftStatus,
    utcnow,
)
from relief.treasury import scope
from relief.validation import check_text

#: Kinds of entry that change how much of a gift counts (a gift's "current amount").
AMOUNT_KINDS = (EntryKind.GIFT, EntryKind.CORRECTION)


def parse_amount_or_zero(text: str) -> int:
    """Like ``money.parse`` but also accepts zero ("0", "$0.00"), as a correction that voids."""
    raw = (text or "").strip()
    if raw.lstrip("$").strip().replace(".", "").strip("0") == "" and any(c == "0" for c in raw):
        return 0
    return money.parse(raw)


def _noon(day: date) -> datetime:
    return datetime.combine(day, time(12), UTC)


def record_direct_gift(
    session: Session,
    chapter: Chapter,
    *,
    drive_id: int | str,
    amount_cents: int,
    method: GiftMethod,
    donor_name: str,
    show_name: bool,
    check_number: str | None,
    received_on: date,
    partner_reference: str = "",
) -> Gift:
    """A gift the donor sent straight to the relief partner (e.g. a check mailed to them with
    the drive's name on it); flushes.

    It is posted as two entries: the *gift* (it counts toward the drive's raised total and its
    projected relief, like any gift) and a *remittance* of the same amount on the same day
    (the money is already with the partner). So the chapter's held figure, net − remitted,
    never includes it, and the drive's remitted total equals what the partner received.
    """
    drive = scope.drive_of(session, chapter, drive_id)
    if received_on > utcnow().date():
        raise InvalidInput("The date received cannot be in the future.")
    gift = drives.record_offline_gift(
        session,
        drive,
        amount_cents,
        method=method,
        chapter=chapter,
        donor_name=donor_name,
        show_name=show_name,
        check_number=check_text(check_number or "", "check number", 64, required=False) or None,
        received_at=_noon(received_on),
    )
    session.add(
        DirectGift(
            gift_id=gift.id,
            partner_reference=check_text(partner_reference, "partner's reference", 200, False),
        )
    )
    ledger.append(
        session,
        kind=EntryKind.REMITTANCE,
        amount_cents=amount_cents,
        currency=drive.currency,
        drive_id=drive.id,
        chapter_id=chapter.id,
        gift_id=gift.id,
        effective_at=gift.received_at,
        external_id=f"direct:{gift.id}",
        memo=f"sent by the donor directly to {drive.partner_name}"[:500],
    )
    session.flush()
    return gift


@dataclass(frozen=True)
class GiftDetail:
    gift: Gift
    drive: Drive | None
    entries: tuple[Entry, ...]
    #: Gift entries plus corrections: what the gift counts for now.
    current_cents: int
    direct: DirectGift | None


def gift_detail(session: Session, chapter: Chapter, gift_id: int) -> GiftDetail:
    gift = scope.get_owned(session, Gift, gift_id, chapter, "gift")
    entries = tuple(
        session.exec(
            select(Entry)
            .where(Entry.gift_id == gift.id, Entry.drive_id.is_not(None))
            .order_by(Entry.id)
        )
    )
    return GiftDetail(
        gift=gift,
        drive=session.get(Drive, gift.drive_id) if gift.drive_id else None,
        entries=entries,
        current_cents=sum(e.amount_cents for e in entries if e.kind in AMOUNT_KINDS),
        direct=session.get(DirectGift, gift.id),
    )


def correct_gift(
    session: Session,
    chapter: Chapter,
    gift_id: int,
    *,
    correct_amount_cents: int,
    reason: str,
) -> ledger.Posted:
    """Make a gift count for ``correct_amount_cents`` (0 voids it) with a correction entry of
    the difference, pointing at the gift's entry and carrying the reason; flushes.

    Nothing is edited: the gift row keeps what was first recorded and the history shows both.
    A gift sent directly to the partner gets the same correction on its remittance entry,
    so the chapter's held figure stays out of it.
    """
    detail = gift_detail(session, chapter, gift_id)
    gift = detail.gift
    if detail.drive is None:
        raise InvalidInput("Assign this gift to a drive before correcting it.")
    if gift.method not in (GiftMethod.CASH, GiftMethod.CHECK):
        raise InvalidInput(
            "Card gifts are corrected by refunding them in Stripe; the refund reaches the "
            "ledger by itself."
        )
    reason = check_text(reason, "reason for the correction", 400)
    if not isinstance(correct_amount_cents, int) or not 0 <= correct_amount_cents:
        raise InvalidInput("The correct amount must be zero (to void the gift) or more.")
    if correct_amount_cents > money.MAX_CENTS:
        raise InvalidInput("The correct amount must be at most $10,000,000.")
    delta = correct_amount_cents - detail.current_cents
    if delta == 0:
        raise Conflict(
            f"The gift already counts for {money.format(correct_amount_cents, gift.currency)}."
        )
    original = next(e for e in detail.entries if e.kind is EntryKind.GIFT)
    now = utcnow()
    entry = ledger.append(
        session,
        kind=EntryKind.CORRECTION,
        amount_cents=delta,
        currency=gift.currency,
        drive_id=gift.drive_id,
        chapter_id=gift.chapter_id,
        gift_id=gift.id,
        reverses_id=original.id,
        effective_at=now,
        memo=f"correction: {reason}"[:500],
    )
    if detail.direct is not None:
        ledger.append(
            session,
            kind=EntryKind.REMITTANCE,
            amount_cents=delta,
            currency=gift.currency,
            drive_id=gift.drive_id,
            chapter_id=gift.chapter_id,
            gift_id=gift.id,
            reverses_id=original.id,
            effective_at=now,
            memo=f"correction of a gift sent directly to the partner: {reason}"[:500],
        )
    return entry


def recent_gifts(
    session: Session, chapter: Chapter, limit: int = 100, before_id: int | None = None
) -> list[tuple[Gift, Drive | None]]:
    """The chapter's gifts, newest first, ``limit`` at a time."""
    statement = scope.rows_of(Gift, chapter, Drive).outerjoin(Drive, Drive.id == Gift.drive_id)
    if before_id is not None:
        statement = statement.where(Gift.id < before_id)
    return list(session.exec(statement.order_by(Gift.id.desc()).limit(limit)).all())


def unassigned(session: Session, chapter: Chapter) -> list[Gift]:
    """Paid gifts credited to the chapter that name no drive yet (e.g. a Payment Link whose
    drive we did not recognise), oldest first."""
    return list(
        session.exec(
            scope.rows_of(Gift, chapter)
            .where(Gift.drive_id.is_(None), Gift.status == GiftStatus.PAID)
            .order_by(Gift.id)
        )
    )


def _count(session: Session, statement) -> int:
    return session.exec(select(func.count()).select_from(statement.subquery())).one()


def count_unassigned(session: Session, chapter: Chapter) -> int:
    return _count(
        session,
        scope.rows_of(Gift, chapter).where(Gift.drive_id.is_(None), Gift.status == GiftStatus.PAID),
    )


def count_fee_pending(session: Session, chapter: Chapter) -> int:
    """Card gifts whose processor fee is not known yet (net is provisional until it is)."""
    return _count(session, scope.rows_of(Gift, chapter).where(Gift.fee_pending.is_(True)))


def unassigned_gift(session: Session, chapter: Chapter, gift_id: int) -> Gift:
    """One of the chapter's gifts waiting for a drive; NotFound otherwise."""
    gift = scope.get_owned(session, Gift, gift_id, chapter, "gift")
    if gift.drive_id is not None:
        raise NotFound(f"Gift #{gift_id} is not waiting for a drive.")
    return gift


def assign_gift(session: Session, chapter: Chapter, gift_id: int, drive_id: int | str) -> Gift:
    """Assign an unassigned gift of the chapter to one of its drives; flushes.

    Posts the gift's entry to the drive, and for every entry already kept for the gift outside
    any drive (a fee Stripe reported, say) the same entry on the drive, each once
    (external ids ``assign:…``). Then the gift names its drive.
    """
    gift = scope.get_owned(session, Gift, gift_id, chapter, "gift")
    if gift.drive_id is not None:
        raise Conflict("This gift is already assigned to a drive.")
    if gift.status != GiftStatus.PAID:
        raise InvalidInput(f"Only paid gifts can be assigned; this one is {gift.status.value}.")
    drive = scope.drive_of(session, chapter, drive_id)
    if gift.currency != drive.currency:
        raise InvalidInput(
            f"The gift is in {gift.currency}; “{drive.title}” is in {drive.currency}."
        )
    kept = list(
        session.exec(
            select(Entry)
            .where(Entry.gift_id == gift.id, Entry.drive_id.is_(None))
            .order_by(Entry.id)
        )
    )
    if not any(entry.kind is EntryKind.GIFT for entry in kept):
        ledger.append(
            session,
            kind=EntryKind.GIFT,
            amount_cents=gift.amount_cents,
            currency=gift.currency,
            drive_id=drive.id,
            chapter_id=chapter.id,
            gift_id=gift.id,
            effective_at=gift.received_at or gift.created_at,
            external_id=f"assign:gift:{gift.id}",
            memo=f"{gift.method.value} gift, assigned to the drive",
        )
    for entry in kept:
        ledger.append(
            session,
            kind=entry.kind,
            amount_cents=entry.amount_cents,
            currency=entry.currency,
            drive_id=drive.id,
            chapter_id=chapter.id,
            gift_id=gift.id,
            effective_at=entry.effective_at,
            external_id=f"assign:entry:{entry.id}",
            memo=f"{entry.memo} (assigned to the drive)"[:500],
        )
    gift.drive_id = drive.id
    session.flush()
    return gift


# --- Gifts credited to no chapter: only a coalition admin sees and assigns them. ---------------


def unclaimed(session: Session) -> list[Gift]:
    """Paid gifts that name neither a drive nor a chapter, oldest first (admins only)."""
    return list(
        session.exec(
            select(Gift)
            .where(
                Gift.drive_id.is_(None),
                Gift.chapter_id.is_(None),
                Gift.status == GiftStatus.PAID,
            )
            .order_by(Gift.id)
        )
    )


def drive_chapter_pairs(session: Session) -> list[tuple[Drive, Chapter]]:
    """Every (drive, chapter taking part) an unclaimed gift can go to."""
    return list(
        session.exec(
            select(Drive, Chapter)
            .join(DriveChapter, DriveChapter.drive_id == Drive.id)
            .join(Chapter, Chapter.id == DriveChapter.chapter_id)
            .order_by(Drive.starts_on.desc(), Drive.title, Chapter.name)
        ).all()
    )


def unclaimed_gift(session: Session, gift_id: int) -> Gift:
    gift = session.get(Gift, gift_id)
    if gift is None or gift.drive_id is not None or gift.chapter_id is not None:
        raise NotFound(f"Gift #{gift_id} is not waiting for a drive and chapter.")
    return gift


def assign_unclaimed(
    session: Session, gift_id: int, drive_id: int, chapter_id: int
) -> tuple[Gift, Chapter]:
    """Credit a gift of no chapter to a chapter taking part in a drive, then assign it to that
    drive exactly as its treasurer would (:func:`assign_gift`); flushes."""
    gift = unclaimed_gift(session, gift_id)
    chapter = session.get(Chapter, chapter_id)
    if chapter is None or session.get(DriveChapter, (drive_id, chapter_id)) is None:
        raise InvalidInput("Choose a drive and one of the chapters taking part in it.")
    gift.chapter_id = chapter.id
    session.flush()
    return assign_gift(session, chapter, gift.id, drive_id), chapter


# --- A month's corrections and gifts sent directly to the partner (the monthly report) ---------


def corrections_between(
    session: Session, chapter: Chapter, start: datetime, end: datetime
) -> list[tuple[Entry, Gift]]:
    """The chapter's correction entries effective in [start, end) with their gifts, oldest
    first; the reason is the entry's memo."""
    return list(
        session.exec(
            scope.rows_of(Entry, chapter, Gift)
            .join(Gift, Gift.id == Entry.gift_id)
            .where(
                Entry.kind == EntryKind.CORRECTION,
                Entry.drive_id.is_not(None),
                Entry.effective_at >= start,
                Entry.effective_at < end,
            )
            .order_by(Entry.effective_at, Entry.id)
        ).all()
    )


def direct_gifts_between(
    session: Session, chapter: Chapter, start: datetime, end: datetime
) -> list[tuple[Gift, DirectGift]]:
    """Gifts of the chapter sent directly to the partner, received in [start, end)."""
    return list(
        session.exec(
            scope.rows_of(Gift, chapter, DirectGift)
            .join(DirectGift, DirectGift.gift_id == Gift.id)
            .where(Gift.received_at >= start, Gift.received_at < end)
            .order_by(Gift.received_at, Gift.id)
        ).all()
    )
