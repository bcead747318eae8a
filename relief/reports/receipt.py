"""A donor's receipt for one gift: plain data for the receipt PDF.

The receipt is reached through the gift's unguessable ``public_id`` (the donor's own link);
it shows that donor's name, never anyone else's data. It follows the gift: the amount is what
the gift is now (net of refunds, disputes and corrections, from the drive's books), with each
change listed and dated; a refunded gift's receipt says so. Its dates are the coalition's
(RELIEF_TIMEZONE), and it says which zone that is: a gift at 8:30 pm on December 31 in
Chicago is a December 31 gift, in that tax year.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import Session, col, select

from relief.errors import NotFound
from relief.ledger import months
from relief.models import Chapter, Drive, Gift
from relief.payments import donations, records
from relief.treasury import gifts


@dataclass(frozen=True)
class ReceiptChange:
    """A refund, dispute or correction after the gift was received."""

    on: datetime
    label: str
    #: Signed: a refund is negative.
    amount_cents: int


@dataclass(frozen=True)
class Receipt:
    number: str
    #: What the gift is now: received, net of every change below.
    amount_cents: int
    #: What was first received, and when.
    received_cents: int
    currency: str
    received_at: datetime
    changes: tuple[ReceiptChange, ...]
    #: What went back to the donor; the whole gift when ``refunded``.
    refunded_cents: int
    refunded: bool
    method: str
    monthly: bool
    donor_name: str
    drive_title: str
    drive_slug: str
    chapter_name: str | None
    org_name: str
    #: The configured statement about tax-deductibility (RELIEF_RECEIPT_STATEMENT).
    statement: str
    test_mode: bool
    issued_at: datetime
    #: The coalition's time zone (RELIEF_TIMEZONE), which every date on the receipt is in.
    zone: str


NO_RECEIPT = "There is no receipt here: the gift is unknown or its payment has not completed."


def build(
    session: Session, public_id: str, *, org_name: str, statement: str, now: datetime
) -> Receipt:
    """The receipt of the gift with this public id, once its money arrived (paid, and later
    refunded or disputed too: the receipt then says what the gift is now); NotFound for any
    other gift, without saying which case it was."""
    row = session.exec(
        select(Gift, Drive, Chapter)
        .join(Drive, col(Drive.id) == col(Gift.drive_id))
        .outerjoin(Chapter, col(Chapter.id) == col(Gift.chapter_id))
        .where(Gift.public_id == public_id[:32])
    ).first()
    if row is None or row[0].status not in records.MONEY_RECEIVED:
        raise NotFound(NO_RECEIPT)
    gift, drive, chapter = row
    history = donations.gift_history(session, gift)
    if not history.received_cents:
        raise NotFound(NO_RECEIPT)  # nothing in the drive's books
    assert gift.id is not None
    return Receipt(
        number=f"{drive.slug.upper()}-{gift.id:06d}",
        amount_cents=history.net_cents,
        received_cents=history.received_cents,
        currency=gift.currency,
        # The day it counts on: a correction may have moved it to the day it was received.
        received_at=_utc(gifts.dated_at(session, gift) or history.received_at or gift.created_at),
        changes=tuple(
            ReceiptChange(on=_utc(change.on), label=change.label, amount_cents=change.amount_cents)
            for change in history.changes
        ),
        refunded_cents=history.refunded_cents,
        refunded=history.fully_refunded,
        method=gift.method.value,
        monthly=gift.monthly,
        donor_name=gift.donor_name,
        drive_title=drive.title,
        drive_slug=drive.slug,
        chapter_name=chapter.name if chapter else None,
        org_name=org_name,
        statement=statement,
        test_mode=gift.test_mode,
        issued_at=now.astimezone(UTC),
        zone=months.zone_name(),
    )


def _utc(moment: datetime) -> datetime:
    """SQLite hands datetimes back without their zone; they are UTC."""
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
