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
from relief.i18n import N_
from relief.ledger import as_utc, months, moves
from relief.models import Chapter, Drive, Gift, Job, JobStatus
from relief.payments import donations, records

#: Printed on every receipt whatever the operator's tax statement says: a donor files it.
NO_GOODS_OR_SERVICES = N_("No goods or services were provided in exchange for this gift.")


@dataclass(frozen=True)
class Issuer:
    """Who receives the money, as a donor files it (relief/organization.py: the RELIEF_ORG_*
    settings, or what an admin set in the browser)."""

    name: str
    legal_name: str
    ein: str
    address: str
    contact: str
    #: The statement about tax-deductibility (RELIEF_RECEIPT_STATEMENT).
    statement: str


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
    issuer: Issuer
    #: A copy issued after the receipt was emailed: the donor may already have filed one.
    duplicate: bool
    test_mode: bool
    issued_at: datetime
    #: The coalition's time zone (RELIEF_TIMEZONE), which every date on the receipt is in.
    zone: str
    #: A dedicated gift: "honour" or "memory", and whom (never the card's recipient).
    dedication_kind: str | None = None
    honoree_name: str | None = None
    #: The language the donor gave in: the receipt is written in it.
    language: str = "en"


NO_RECEIPT = N_("There is no receipt here: the gift is unknown or its payment has not completed.")


def emailed(session: Session, gift_id: int) -> bool:
    """Whether the gift's receipt email went out (relief/outbox/due.py names its key)."""
    job = session.exec(select(Job).where(Job.key == f"receipt:gift:{gift_id}")).first()
    return job is not None and job.status == JobStatus.DONE


def build(
    session: Session, public_id: str, *, issuer: Issuer, now: datetime, reissue: bool = False
) -> Receipt:
    """The receipt of the gift with this public id, once its money arrived (paid, and later
    refunded or disputed too: the receipt then says what the gift is now); NotFound for any
    other gift, without saying which case it was. ``reissue``: a copy asked for again (the
    download); it says "Duplicate" once the emailed receipt went out."""
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
        received_at=as_utc(
            moves.counts_at(session, gift) or history.received_at or gift.created_at
        ),
        changes=tuple(
            ReceiptChange(
                on=as_utc(change.on), label=change.label, amount_cents=change.amount_cents
            )
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
        issuer=issuer,
        duplicate=reissue and emailed(session, gift.id),
        test_mode=gift.test_mode,
        issued_at=now.astimezone(UTC),
        zone=months.zone_name(),
        dedication_kind=gift.dedication_kind if gift.honoree_name else None,
        honoree_name=gift.honoree_name,
        language=gift.locale,
    )
