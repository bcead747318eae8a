"""The sponsor's payment of a match pledge (relief/matches.py): an ordinary cash or check
gift in the ledger, recorded by the treasurer whose books receive it and linked to its pledge,
so the pledge shows it received and *raised* counts it once."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, col, select

from relief import drives, ledger, matches
from relief.errors import InvalidInput, NotFound
from relief.ledger import owner
from relief.matches import Standing
from relief.models import (
    Chapter,
    Drive,
    DriveChapter,
    FormPurpose,
    Gift,
    GiftMethod,
    MatchPayment,
    MatchPledge,
    User,
)
from relief.treasury import once
from relief.validation import check_text


def receivable(session: Session, chapter: Chapter) -> list[tuple[Drive, Standing]]:
    """The pledges whose sponsor's payment ``chapter``'s treasurer records: the whole-drive
    pledges of drives it hosts, and the pledges for the chapter itself (the money lands in
    its books either way: ``ledger.owner``)."""
    found = []
    for drive in session.exec(
        select(Drive)
        .join(DriveChapter, col(DriveChapter.drive_id) == Drive.id)
        .where(DriveChapter.chapter_id == chapter.id)
        .order_by(col(Drive.id))
    ):
        hosts = drive.host_chapter_id == chapter.id
        for standing in matches.standings(session, drive):
            if standing.chapter_slug == chapter.slug or (hosts and standing.chapter_slug is None):
                found.append((drive, standing))
    return found


def pledge_for(session: Session, chapter: Chapter, pledge_id: int) -> tuple[MatchPledge, Drive]:
    """A pledge (not withdrawn) whose sponsor pays into ``chapter``'s books, with its drive;
    any other is not found, like a pledge that does not exist."""
    pledge = session.get(MatchPledge, pledge_id)
    drive = session.get(Drive, pledge.drive_id) if pledge is not None else None
    books = owner.owner(pledge.chapter_id, drive.host_chapter_id) if pledge and drive else None
    if pledge is None or drive is None or pledge.withdrawn_at is not None or books != chapter.id:
        raise NotFound(f"There is no match pledge #{pledge_id} for {chapter.name}.")
    return pledge, drive


def record_payment(
    session: Session,
    chapter: Chapter,
    pledge_id: int,
    *,
    amount_cents: int,
    method: GiftMethod,
    received_on: date,
    check_number: str | None = None,
    form_token: str | None = None,
    recorded_by: User | None = None,
) -> Gift:
    """The sponsor's gift against a pledge, recorded by the treasurer whose books receive it
    (the host's for a whole-drive pledge, else the pledge's chapter's); flushes. An ordinary
    cash or check gift in the ledger (``drives.record_offline_gift``), linked to the pledge.
    Once per form token, and once per check number per pledge (``treasury.once``)."""
    used = once.claim(session, chapter, form_token, FormPurpose.DIRECT_GIFT, recorded_by)
    pledge, drive = pledge_for(session, chapter, pledge_id)
    if received_on > ledger.today():
        raise InvalidInput("The date received cannot be in the future.")
    check_number = check_text(check_number or "", "check number", 64, required=False) or None
    if check_number is not None:
        first = session.exec(
            select(Gift.id)
            .join(MatchPayment, col(MatchPayment.gift_id) == Gift.id)
            .where(MatchPayment.pledge_id == pledge.id, Gift.check_number == check_number)
        ).first()
        if first is not None:
            raise once.AlreadyRecorded(
                f"Already recorded: check #{check_number} from {pledge.sponsor_name} is gift "
                f"#{first}. Nothing was recorded a second time.",
                FormPurpose.DIRECT_GIFT,
                first,
            )
    gift = drives.record_offline_gift(
        session,
        drive,
        amount_cents,
        method=method,
        chapter=session.get(Chapter, pledge.chapter_id) if pledge.chapter_id else None,
        donor_name=pledge.sponsor_name,
        show_name=True,
        check_number=check_number,
        received_at=ledger.noon(received_on),
    )
    assert gift.id is not None and pledge.id is not None, "flushed"
    session.add(MatchPayment(gift_id=gift.id, pledge_id=pledge.id))
    session.flush()
    once.settle(used, gift.id)
    return gift
