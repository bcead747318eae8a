"""A chapter's gifts as its treasurer handles them: gifts sent straight to the partner,
corrections (new entries, never edits), and unassigned gifts (whose drive was unknown), with
the one service that gives them a drive."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, literal, or_, union_all
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from relief import drives, ledger, money
from relief.errors import Conflict, InvalidInput, NotFound
from relief.ledger import moves
from relief.models import (
    Chapter,
    DirectGift,
    Drive,
    DriveChapter,
    Entry,
    EntryKind,
    FormPurpose,
    Gift,
    GiftMethod,
    PayoutTransaction,
    User,
    utcnow,
)
from relief.payments import records
from relief.treasury import once, scope
from relief.treasury.payouts import DISPUTE_FEE
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
    """A day typed on a form, booked at its noon on the coalition's calendar."""
    return ledger.noon(day)


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
    form_token: str | None = None,
    recorded_by: User | None = None,
) -> Gift:
    """A gift the donor sent straight to the relief partner (e.g. a check mailed to them with
    the drive's name on it); flushes. Once per form token (``once``), and once per partner's
    reference and check number in the drive: the same paper again raises AlreadyRecorded
    with the first gift.

    It is posted as two entries: the *gift* (it counts toward the drive's raised total and its
    projected relief, like any gift) and a *remittance* of the same amount on the same day
    (the money is already with the partner). So the chapter's held figure, net − remitted,
    never includes it, and the drive's remitted total equals what the partner received.
    """
    used = once.claim(session, chapter, form_token, FormPurpose.DIRECT_GIFT, recorded_by)
    drive = scope.drive_of(session, chapter, drive_id)
    if received_on > ledger.today():
        raise InvalidInput("The date received cannot be in the future.")
    check_number = check_text(check_number or "", "check number", 64, required=False) or None
    partner_reference = check_text(partner_reference, "partner's reference", 200, False)
    # The paper's key needs both: check numbers alone repeat across donors' accounts.
    paper_check_number = check_number if partner_reference else None
    if paper_check_number is not None:
        first = session.exec(
            select(DirectGift).where(
                DirectGift.drive_id == drive.id,
                DirectGift.partner_reference == partner_reference,
                DirectGift.check_number == paper_check_number,
            )
        ).first()
        if first is not None:
            raise once.AlreadyRecorded(
                f"Already recorded: check #{paper_check_number} with the partner’s reference "
                f"“{partner_reference}” is gift #{first.gift_id} in “{drive.title}”. Nothing "
                "was recorded a second time.",
                FormPurpose.DIRECT_GIFT,
                first.gift_id,
            )
    gift = drives.record_offline_gift(
        session,
        drive,
        amount_cents,
        method=method,
        chapter=chapter,
        donor_name=donor_name,
        show_name=show_name,
        check_number=check_number,
        received_at=_noon(received_on),
    )
    assert gift.id is not None, "recorded and flushed"
    session.add(
        DirectGift(
            gift_id=gift.id,
            partner_reference=partner_reference,
            drive_id=drive.id,
            check_number=paper_check_number,
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
    once.settle(used, gift.id)
    return gift


@dataclass(frozen=True)
class GiftDetail:
    gift: Gift
    drive: Drive | None
    entries: tuple[Entry, ...]
    #: Gift entries plus corrections: what the gift counts for now.
    current_cents: int
    direct: DirectGift | None
    #: The day the gift counts on now (a correction may have moved it), the coalition's.
    dated_on: date | None = None


def gift_detail(session: Session, chapter: Chapter, gift_id: int) -> GiftDetail:
    """A gift in the chapter's books (a host's include the whole drive's), with its entries."""
    gift = scope.get_in_books(session, Gift, gift_id, chapter, "gift")
    entries = tuple(
        session.exec(
            select(Entry)
            .where(Entry.gift_id == gift.id, col(Entry.drive_id).is_not(None))
            .order_by(col(Entry.id))
        )
    )
    return GiftDetail(
        gift=gift,
        drive=session.get(Drive, gift.drive_id) if gift.drive_id else None,
        entries=entries,
        current_cents=sum(e.amount_cents for e in entries if e.kind in AMOUNT_KINDS),
        direct=session.get(DirectGift, gift.id),
        dated_on=ledger.local_day(moved) if (moved := moves.counts_at(session, gift)) else None,
    )


def correct_gift(
    session: Session,
    chapter: Chapter,
    gift_id: int,
    *,
    correct_amount_cents: int,
    reason: str,
    form_token: str | None = None,
    recorded_by: User | None = None,
    correct_received_on: date | None = None,
) -> ledger.Posted:
    """Make a gift count for ``correct_amount_cents`` (0 voids it) with a correction entry of
    the difference, pointing at the gift's entry and carrying the reason; flushes. Once per
    form token (``once``).

    With ``correct_received_on`` another day than the gift's, the gift moves there: a
    correction reverses what it counts for on its old date and a new one counts the correct
    amount on the new date (the coalition's calendar), so each month and year keeps what was
    really received in it.

    Nothing is edited: the gift row keeps what was first recorded and the history shows both.
    A gift sent directly to the partner gets the same correction on its remittance entry,
    so the chapter's held figure stays out of it.
    """
    used = once.claim(session, chapter, form_token, FormPurpose.CORRECTION, recorded_by)
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
    old_at = moves.counts_at(session, gift) or gift.created_at
    moving = correct_received_on is not None and correct_received_on != ledger.local_day(old_at)
    if moving:
        assert correct_received_on is not None
        if correct_received_on > ledger.today():
            raise InvalidInput("The date received cannot be in the future.")
        if detail.current_cents == 0 or correct_amount_cents == 0:
            raise InvalidInput(
                "A voided gift has no date to move: correct its amount or its date, not both."
            )
    delta = correct_amount_cents - detail.current_cents
    if delta == 0 and not moving:
        raise Conflict(
            f"The gift already counts for {money.format(correct_amount_cents, gift.currency)}."
        )
    original = next(e for e in detail.entries if e.kind is EntryKind.GIFT)
    if moving:
        assert correct_received_on is not None
        entry = _move_gift(
            session, detail, original.id, old_at, correct_received_on, correct_amount_cents, reason
        )
    else:
        entry = _post_correction(session, detail, original.id, delta, utcnow(), reason)
    once.settle(used, gift.id)
    return entry


def _post_correction(
    session: Session,
    detail: GiftDetail,
    original_id: int | None,
    cents: int,
    at: datetime,
    reason: str,
    external_id: str | None = None,
    reverses_id: int | None = None,
) -> ledger.Posted:
    """One correction of ``cents`` at ``at`` (and its twin on the remittance of a gift sent
    directly to the partner)."""
    gift = detail.gift
    entry = ledger.append(
        session,
        kind=EntryKind.CORRECTION,
        amount_cents=cents,
        currency=gift.currency,
        drive_id=gift.drive_id,
        chapter_id=gift.chapter_id,
        gift_id=gift.id,
        reverses_id=reverses_id or original_id,
        effective_at=at,
        external_id=external_id,
        memo=f"correction: {reason}"[:500],
    )
    if detail.direct is not None:
        ledger.append(
            session,
            kind=EntryKind.REMITTANCE,
            amount_cents=cents,
            currency=gift.currency,
            drive_id=gift.drive_id,
            chapter_id=gift.chapter_id,
            gift_id=gift.id,
            reverses_id=original_id,
            effective_at=at,
            memo=f"correction of a gift sent directly to the partner: {reason}"[:500],
        )
    assert entry is not None, "a correction is posted once: its external id is new"
    return entry


def _move_gift(
    session: Session,
    detail: GiftDetail,
    original_id: int | None,
    old_at: datetime,
    new_day: date,
    new_cents: int,
    reason: str,
) -> ledger.Posted:
    """Take the gift off its old date and put it, for ``new_cents``, on ``new_day``."""
    old_day = ledger.local_day(old_at)
    why = f"date received {old_day.isoformat()} → {new_day.isoformat()}: {reason}"
    reversal = _post_correction(session, detail, original_id, -detail.current_cents, old_at, why)
    external_id = moves.MOVED_ID.format(gift_id=detail.gift.id, reversal_id=reversal.id)
    return _post_correction(
        session,
        detail,
        original_id,
        new_cents,
        ledger.noon(new_day),
        why,
        external_id=external_id,
        reverses_id=reversal.id,
    )


def recent_gifts(
    session: Session, chapter: Chapter, limit: int = 100, before_id: int | None = None
) -> list[tuple[Gift, Drive | None]]:
    """The gifts in the chapter's books (a host's include those to the whole drive), newest
    first, ``limit`` at a time.

    The books' parts (``ledger.owner``) are read apart, each newest first and ``limit`` at
    most: the chapter's own gifts from ix_gift_chapter_newest, and for each drive it hosts
    the gifts to the whole drive from ix_gift_whole_drive_newest. As one condition with
    ``OR``, SQLite read every gift of the chapter and sorted them to show a hundred (1 s at
    1,000,000 gifts)."""
    hosted = session.exec(select(Drive.id).where(Drive.host_chapter_id == chapter.id))
    parts = [col(Gift.chapter_id) == chapter.id]
    parts += [col(Gift.chapter_id).is_(None) & (col(Gift.drive_id) == d) for d in hosted]
    newest = []
    for part in parts:
        ids = select(Gift.id).where(part)
        if before_id is not None:
            ids = ids.where(col(Gift.id) < before_id)
        newest.append(ids.order_by(col(Gift.id).desc()).limit(limit).subquery())
    # Joined, not "id IN": PostgreSQL hashed the few ids and scanned every gift to meet them.
    wanted = union_all(*(select(each.c.id) for each in newest)).subquery()
    return list(
        session.exec(
            select(Gift, Drive)
            .join_from(Gift, wanted, col(Gift.id) == wanted.c.id)
            .outerjoin(Drive, col(Drive.id) == Gift.drive_id)
            .order_by(col(Gift.id).desc())
            .limit(limit)
        ).all()
    )


# --- Unassigned gifts: money arrived for a drive we did not know ------------------------------
#
# A Stripe session that names a drive we do not have (a Payment Link, say) still records its
# gift, with its entries under no drive: counted nowhere until someone gives it a drive. A
# treasurer does that for the chapter's gifts, a coalition admin for gifts of no chapter, and
# `flask stripe assign` for any; all three call :func:`assign`.


def _unassigned(statement: SelectOfScalar[Gift]) -> SelectOfScalar[Gift]:
    """Gifts whose money arrived and whose drive is not known, oldest first.

    Ordered by ``id + 0``, which no index serves: SQLite (no statistics) then finds them by
    ix_gift_chapter_drive_status, chapter, no drive and status, a handful; ordered by ``id``
    it took ix_gift_chapter_newest for its order and read every gift of the chapter (every
    whole-drive gift, for an admin) to find none (1.25 million steps at 1,000,000 gifts)."""
    return statement.where(
        col(Gift.drive_id).is_(None), col(Gift.status).in_(tuple(records.MONEY_RECEIVED))
    ).order_by(col(Gift.id) + 0)


def unassigned(session: Session, chapter: Chapter, limit: int | None = None) -> list[Gift]:
    """The chapter's unassigned gifts, oldest first (the first ``limit`` of them)."""
    return list(session.exec(_unassigned(scope.rows_of(Gift, chapter)).limit(limit)))


def unassigned_of_no_chapter(session: Session) -> list[Gift]:
    """Unassigned gifts credited to no chapter either, oldest first (admins only)."""
    return list(session.exec(_unassigned(select(Gift).where(col(Gift.chapter_id).is_(None)))))


def every_unassigned(session: Session) -> list[Gift]:
    """Every unassigned gift, of any chapter or none, oldest first (the command line)."""
    return list(session.exec(_unassigned(select(Gift))))


def _count(session: Session, statement) -> int:
    return session.exec(select(func.count()).select_from(statement.subquery())).one()


def count_unassigned(session: Session, chapter: Chapter) -> int:
    return _count(session, _unassigned(scope.rows_of(Gift, chapter)).order_by(None))


def count_fee_pending(session: Session, chapter: Chapter) -> int:
    """Card gifts in the chapter's books whose processor fee is not known yet (net is
    provisional until it is)."""
    return _count(session, scope.books_of(Gift, chapter).where(col(Gift.fee_pending).is_(True)))


def unassigned_gift(session: Session, chapter: Chapter, gift_id: int) -> Gift:
    """One of the chapter's gifts waiting for a drive; NotFound otherwise."""
    gift = scope.get_owned(session, Gift, gift_id, chapter, "gift")
    if gift.drive_id is not None:
        raise NotFound(f"Gift #{gift_id} is not waiting for a drive.")
    return gift


def unassigned_gift_of_no_chapter(session: Session, gift_id: int) -> Gift:
    """A gift of no chapter waiting for a drive; NotFound otherwise."""
    gift = session.get(Gift, gift_id)
    if gift is None or gift.drive_id is not None or gift.chapter_id is not None:
        raise NotFound(f"Gift #{gift_id} is not waiting for a drive and chapter.")
    return gift


def drive_chapter_pairs(session: Session) -> list[tuple[Drive, Chapter]]:
    """Every (drive, chapter taking part) a gift of no chapter can go to."""
    return list(
        session.exec(
            select(Drive, Chapter)
            .join(DriveChapter, col(DriveChapter.drive_id) == Drive.id)
            .join(Chapter, col(Chapter.id) == DriveChapter.chapter_id)
            .order_by(col(Drive.starts_on).desc(), Drive.title, Chapter.name)
        ).all()
    )


def _entries_outside_drives(session: Session, gift: Gift) -> list[Entry]:
    """What the ledger kept for the gift under no drive: its own entries, and Stripe's fees on
    its disputes (posted beside the gift, not on it; see payout_sync.post_dispute_fees)."""
    dispute_fee_ids = select(literal(DISPUTE_FEE) + PayoutTransaction.stripe_id).where(
        PayoutTransaction.gift_id == gift.id
    )
    return list(
        session.exec(
            select(Entry)
            .where(
                col(Entry.drive_id).is_(None),
                or_(col(Entry.gift_id) == gift.id, col(Entry.external_id).in_(dispute_fee_ids)),
            )
            .order_by(col(Entry.id))
        )
    )


def assign(session: Session, gift: Gift, drive: Drive, chapter: Chapter | None) -> Gift:
    """Give an unassigned gift its drive, credited to ``chapter`` (None: the drive only);
    flushes. The one way a gift gets a drive after the fact.

    Each entry kept for the gift under no drive (its gift entry, fee, refunds, disputes,
    Stripe's dispute fees) is posted again under the drive and chapter, on its own date (in
    the next open month if that month is closed), and reversed where it was, each once
    (external ids ``assign:entry:<id>`` and ``unassigned:<id>``). So the drive counts the gift
    exactly once, with everything that happened to it, and the gift's own entries still add
    up to what it is: a refund or dispute arriving later is measured against the right sums.
    Later entries go straight to the drive.
    """
    if gift.drive_id is not None:
        raise Conflict("This gift already counts toward a drive.")
    if gift.status not in records.MONEY_RECEIVED:
        raise InvalidInput(
            f"Only gifts whose money arrived can be assigned; this one is {gift.status.value}."
        )
    if gift.currency != drive.currency:
        raise InvalidInput(
            f"The gift is in {gift.currency}; “{drive.title}” is in {drive.currency}."
        )
    if chapter is not None and session.get(DriveChapter, (drive.id, chapter.id)) is None:
        raise InvalidInput("Choose a drive and one of the chapters taking part in it.")
    kept = _entries_outside_drives(session, gift)
    gift.drive_id = drive.id
    gift.chapter_id = chapter.id if chapter else None
    session.flush()
    if not any(entry.kind is EntryKind.GIFT and entry.gift_id == gift.id for entry in kept):
        # Not left by the webhook (it always posts the gift entry); a gift recorded without
        # one still counts once.
        records.post(
            session,
            gift,
            EntryKind.GIFT,
            gift.amount_cents,
            f"assign:gift:{gift.id}",
            effective_at=gift.received_at or gift.created_at,
            memo=f"{gift.method.value} gift, assigned to the drive",
        )
    for entry in kept:
        ledger.append(
            session,
            kind=entry.kind,
            amount_cents=entry.amount_cents,
            currency=entry.currency,
            drive_id=drive.id,
            chapter_id=gift.chapter_id,
            gift_id=entry.gift_id,
            effective_at=entry.effective_at,
            external_id=f"assign:entry:{entry.id}",
            memo=f"{entry.memo} (assigned to the drive)"[:500],
        )
        ledger.append(
            session,
            kind=entry.kind,
            amount_cents=-entry.amount_cents,
            currency=entry.currency,
            drive_id=None,
            chapter_id=entry.chapter_id,
            gift_id=entry.gift_id,
            effective_at=entry.effective_at,
            external_id=f"unassigned:{entry.id}",
            reverses_id=entry.id,
            memo=f"moved to {drive.slug}",
        )
    session.flush()
    return gift


def assign_gift(session: Session, chapter: Chapter, gift_id: int, drive_id: int | str) -> Gift:
    """The treasurer's Unassigned screen: one of the chapter's gifts to one of its drives."""
    gift = scope.get_owned(session, Gift, gift_id, chapter, "gift")
    return assign(session, gift, scope.drive_of(session, chapter, drive_id), chapter)


def assign_of_no_chapter(
    session: Session, gift_id: int, drive_id: int, chapter_id: int
) -> tuple[Gift, Chapter]:
    """The admin's screen: a gift of no chapter to a drive and a chapter taking part in it."""
    gift = unassigned_gift_of_no_chapter(session, gift_id)
    drive = session.get(Drive, drive_id)
    chapter = session.get(Chapter, chapter_id)
    if drive is None or chapter is None:
        raise InvalidInput("Choose a drive and one of the chapters taking part in it.")
    return assign(session, gift, drive, chapter), chapter


def assign_by_public_id(
    session: Session, public_id: str, drive_slug: str, chapter_slug: str | None
) -> Gift:
    """The command line: a gift by its public id to a drive (and chapter) by slug."""
    gift = records.by_public_id(session, public_id)
    if gift is None:
        raise NotFound("There is no such gift.")
    drive = drives.get_drive(session, drive_slug)
    chapter = drives.chapter_in_drive(session, drive, chapter_slug) if chapter_slug else None
    return assign(session, gift, drive, chapter)


# --- A month's corrections and gifts sent directly to the partner (the monthly report) ---------


def corrections_between(
    session: Session, chapter: Chapter, start: datetime, end: datetime
) -> list[tuple[Entry, Gift]]:
    """The correction entries in the chapter's books effective in [start, end) with their
    gifts, oldest first; the reason is the entry's memo."""
    return list(
        session.exec(
            scope.books_of(Entry, chapter, Gift)
            .join(Gift, col(Gift.id) == Entry.gift_id)
            .where(
                Entry.kind == EntryKind.CORRECTION,
                col(Entry.drive_id).is_not(None),
                Entry.effective_at >= start,
                Entry.effective_at < end,
            )
            .order_by(col(Entry.effective_at), col(Entry.id))
        ).all()
    )


def direct_gifts_between(
    session: Session, chapter: Chapter, start: datetime, end: datetime
) -> list[tuple[Gift, DirectGift]]:
    """Gifts of the chapter sent directly to the partner, received in [start, end)."""
    # Read from the direct gifts (few, whatever the number of gifts), each gift by its key.
    # SQLite keeps no statistics: given "gift.chapter_id = ?" it would start from the
    # chapter's gifts and read them all (0.1–0.2 s at 1,000,000), so the chapter is compared
    # as an expression no index serves ("+ 0"), and the gifts are named by the direct gifts.
    return list(
        session.exec(
            select(Gift, DirectGift)
            .join(DirectGift, col(DirectGift.gift_id) == Gift.id)
            .where(
                col(Gift.id).in_(select(DirectGift.gift_id)),
                col(Gift.chapter_id) + 0 == chapter.id,
                col(Gift.received_at) >= start,
                col(Gift.received_at) < end,
            )
            .order_by(col(Gift.received_at), col(Gift.id))
        ).all()
    )
