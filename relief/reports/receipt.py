"""A donor's receipt for one paid gift: plain data for the receipt PDF.

The receipt is reached through the gift's unguessable ``public_id`` (the donor's own link);
it shows that donor's name, never anyone else's data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import Session, col, select

from relief.errors import NotFound
from relief.models import Chapter, Drive, Gift, GiftStatus


@dataclass(frozen=True)
class Receipt:
    number: str
    amount_cents: int
    currency: str
    received_at: datetime
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


NO_RECEIPT = "There is no receipt here: the gift is unknown or its payment has not completed."


def build(
    session: Session, public_id: str, *, org_name: str, statement: str, now: datetime
) -> Receipt:
    """The receipt of the paid gift with this public id; NotFound for any other gift.

    Refunded, disputed, pending and failed gifts have no receipt (the money is not, or no
    longer, a gift), and the message does not say which case it was.
    """
    row = session.exec(
        select(Gift, Drive, Chapter)
        .join(Drive, col(Drive.id) == Gift.drive_id)
        .outerjoin(Chapter, col(Chapter.id) == Gift.chapter_id)
        .where(Gift.public_id == public_id[:32])
    ).first()
    if row is None or row[0].status != GiftStatus.PAID:
        raise NotFound(NO_RECEIPT)
    gift, drive, chapter = row
    received_at = gift.received_at or gift.created_at
    return Receipt(
        number=f"{drive.slug.upper()}-{gift.id:06d}",
        amount_cents=gift.amount_cents,
        currency=gift.currency,
        received_at=received_at.astimezone(UTC),
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
    )
