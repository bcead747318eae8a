"""Gifts from Checkout Sessions and invoices: each handler brings our gift up to the state of
the Stripe object it is given, so repeats and any order end the same.

* A session names its drive, chapter and our pending gift in ``metadata``. A session we did not
  create (a Payment Link with drive metadata, say) still records a gift; an unknown drive
  records one with no drive, counted nowhere until it is assigned (treasury.gifts.assign).
* A monthly gift is a Stripe subscription; every paid invoice is one Gift row. The first
  invoice is also announced by the session: both find the same row through the invoice id.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, bindparam
from sqlmodel import Session, col, select

from relief import members, privacy
from relief.ledger import as_utc
from relief.models import (
    Chapter,
    Drive,
    DriveChapter,
    Gift,
    GiftMethod,
    GiftStatus,
    MemberPage,
    MonthlyGift,
    utcnow,
)
from relief.outbox import due
from relief.payments import records
from relief.payments.screening import Hold

log = logging.getLogger(__name__)


@dataclass
class Handled:
    """What a handler did, for the webhook's answer and the log."""

    message: str
    gift: Gift | None = None
    #: Stripe ids now known to belong to a gift: parked events waiting for them can run.
    became_known: tuple[str, ...] = ()
    #: Waiting for a gift that is not known yet (the event is parked, not lost).
    waits_for: str | None = None


#: A session's drive (by slug) and its currency, and, if it takes part in that drive, its
#: chapter (by slug).
_DRIVE_AND_CHAPTER = (
    select(Drive.id, Chapter.id, Drive.currency)
    .select_from(Drive)
    .outerjoin(DriveChapter, col(DriveChapter.drive_id) == col(Drive.id))
    .outerjoin(
        Chapter,
        and_(
            col(Chapter.id) == col(DriveChapter.chapter_id),
            col(Chapter.slug) == bindparam("chapter"),
        ),
    )
    .where(Drive.slug == bindparam("drive"))
    .order_by(col(Chapter.id).is_(None))  # the named chapter's row first, if it takes part
    .limit(1)
)


def _drive_and_chapter(
    session: Session, metadata: dict, currency: str
) -> tuple[int | None, int | None]:
    """The ids of the drive and chapter the metadata names (None when unknown). Money in
    another currency than the drive's is held: it would mix currencies in one total."""
    drive_slug = metadata.get("drive")
    if not drive_slug:
        return None, None
    drive_id, chapter_id, drive_currency = drive_row(session, drive_slug, metadata.get("chapter"))
    if drive_id is None or drive_currency is None:
        return None, None
    _same_currency(currency, drive_currency, f"drive {drive_slug} counts")
    return drive_id, chapter_id


def drive_row(
    session: Session, drive: str, chapter: str | None
) -> tuple[int | None, int | None, str | None]:
    """The drive's id, the chapter's (if it takes part in the drive) and the drive's
    currency; all None when there is no such drive."""
    row = (
        session.connection()
        .execute(_DRIVE_AND_CHAPTER, {"drive": drive, "chapter": chapter})
        .first()
    )
    return (None, None, None) if row is None else (row[0], row[1], row[2])


def _currency(obj: dict) -> str:
    return (obj.get("currency") or "usd").upper()


def _same_currency(currency: str, expected: str, whose: str) -> None:
    if currency != expected:
        raise Hold(
            f"The payment is in {currency}, but {whose} {expected}: Relief does not mix "
            "currencies in one total."
        )


def _new_gift(
    session: Session,
    obj: dict,
    metadata: dict,
    amount_cents: int,
    *,
    subscription_mode: bool,
    invoice_id: str | None,
    paid_at: datetime | None,
) -> Gift:
    """A gift for money we did not see coming (no pending gift of ours): inserted whole, as
    the session describes it, in one statement; paid, with its entry, when ``paid_at``."""
    drive_id, chapter_id = _drive_and_chapter(session, metadata, _currency(obj))
    values = new_gift_values(
        obj,
        metadata,
        amount_cents,
        drive_id,
        chapter_id,
        members.credited(session, drive_id, metadata.get("member")),
        subscription_mode=subscription_mode,
        invoice_id=invoice_id,
    )
    if privacy.scrub_event_if_erased(session, values["donor_email"], obj):
        values.update(privacy.FORGOTTEN)  # an erased donor is never written
    return records.insert_gift(session, values, paid_at=paid_at)


def new_gift_values(
    obj: dict,
    metadata: dict,
    amount_cents: int,
    drive_id: int | None,
    chapter_id: int | None,
    page: MemberPage | None,
    *,
    subscription_mode: bool,
    invoice_id: str | None,
) -> dict:
    """The columns of a new gift for this session, given its drive, chapter and the member
    page its metadata names (looked up by the caller)."""
    details = obj.get("customer_details") or {}
    values = {
        "drive_id": drive_id,
        "chapter_id": chapter_id,
        "amount_cents": amount_cents,
        "currency": _currency(obj),
        "method": GiftMethod.CARD,
        "status": GiftStatus.PENDING,
        "unmatched_drive": None if drive_id else (metadata.get("drive") or "(none)")[:200],
        "ref": metadata.get("ref") or None,
        "monthly": subscription_mode,
        "stripe_session_id": obj["id"],
        "stripe_payment_intent_id": records.stripe_id(obj.get("payment_intent")),
        "stripe_customer_id": records.stripe_id(obj.get("customer")),
        "stripe_subscription_id": (
            records.stripe_id(obj.get("subscription")) if subscription_mode else None
        ),
        "stripe_invoice_id": invoice_id if subscription_mode else None,
        "donor_email": details.get("email") or obj.get("customer_email"),
        "donor_name": (details.get("name") or "")[:200],
    }
    # The member's page the metadata names gets the gift, and the gift that member's chapter.
    values["member_page_id"] = page.id if page is not None else None
    if page is not None:
        values["chapter_id"] = page.chapter_id
    return values


_NOT_IN_THE_BOOKS = (GiftStatus.PENDING, GiftStatus.PROCESSING, GiftStatus.FAILED)


def _credit_member(session: Session, gift: Gift, metadata: dict) -> None:
    """The member's page the metadata names (``member``, its address on the gift's drive)
    gets the gift, and the gift goes to that member's chapter: a session created elsewhere
    (or a pending gift of ours that lost its page) still credits the member."""
    if may_credit_member(gift):
        credit_member(gift, members.credited(session, gift.drive_id, metadata.get("member")))


def may_credit_member(gift: Gift) -> bool:
    """A gift already in the ledger stays in the books it is in."""
    return gift.member_page_id is None and gift.status in _NOT_IN_THE_BOOKS


def credit_member(gift: Gift, page: MemberPage | None) -> None:
    if page is not None:
        gift.member_page_id = page.id
        gift.chapter_id = page.chapter_id


def _donor_from_session(gift: Gift, obj: dict) -> None:
    details = obj.get("customer_details") or {}
    if not gift.donor_email:
        gift.donor_email = details.get("email") or obj.get("customer_email")
    if not gift.donor_name and details.get("name"):
        gift.donor_name = details["name"][:200]


def _update_gift(
    session: Session,
    gift: Gift,
    obj: dict,
    metadata: dict,
    amount: int,
    subscription_mode: bool,
    invoice_id: str | None,
) -> None:
    """Bring one of our gifts (pending, or announced already) up to the session's state."""
    take_session(gift, obj, amount, subscription_mode, invoice_id)
    _credit_member(session, gift, metadata)
    privacy.scrub_if_erased(session, gift, obj)  # an erased donor is never written back


def take_session(
    gift: Gift, obj: dict, amount: int, subscription_mode: bool, invoice_id: str | None
) -> None:
    """What :func:`_update_gift` takes from the session itself: its ids, the donor, and the
    amount Stripe collected (the member's page and an erased donor are looked up apart)."""
    if obj.get("currency"):
        _same_currency(_currency(obj), gift.currency, f"gift #{gift.id} is in")
    gift.stripe_session_id = obj["id"]
    gift.stripe_payment_intent_id = (
        records.stripe_id(obj.get("payment_intent")) or gift.stripe_payment_intent_id
    )
    gift.stripe_customer_id = records.stripe_id(obj.get("customer")) or gift.stripe_customer_id
    if subscription_mode:
        gift.stripe_subscription_id = records.stripe_id(obj.get("subscription"))
        gift.stripe_invoice_id = gift.stripe_invoice_id or invoice_id
    _donor_from_session(gift, obj)
    if gift.status in _NOT_IN_THE_BOOKS and amount:
        # What Stripe collected is what was given (money that moved counts, whatever the
        # form's bounds); nothing is in the ledger for this gift yet.
        if amount != gift.amount_cents:
            gift.covered_fee_cents = 0
        gift.amount_cents = amount


def checkout_session(session: Session, obj: dict, *, payment_failed: bool = False) -> Handled:
    """checkout.session.completed / async_payment_succeeded / async_payment_failed."""
    metadata = obj.get("metadata") or {}
    subscription_mode = obj.get("mode") == "subscription"
    invoice_id = records.stripe_id(obj.get("invoice"))
    gift = (
        records.by_session(session, obj["id"])
        or (records.by_invoice(session, invoice_id) if subscription_mode else None)
        or records.by_public_id(session, metadata.get("gift") or obj.get("client_reference_id"))
    )
    if gift is not None and gift.stripe_session_id not in (None, obj["id"]):
        # Our pending gift already belongs to another session: this is a second payment for
        # it. Record it as its own gift rather than merging two payments into one.
        gift = None
    amount = obj.get("amount_total") or 0
    payment_status = obj.get("payment_status")
    inserted_paid = False
    if gift is None:
        if amount <= 0:
            return Handled(f"session {obj['id']} has no amount; nothing to record")
        inserted_paid = payment_status == "paid" and not payment_failed
        gift = _new_gift(
            session,
            obj,
            metadata,
            amount,
            subscription_mode=subscription_mode,
            invoice_id=invoice_id,
            paid_at=records.at(obj.get("created")) if inserted_paid else None,
        )
    else:
        _update_gift(session, gift, obj, metadata, amount, subscription_mode, invoice_id)
    if subscription_mode and gift.stripe_subscription_id:
        session.flush()
        _monthly(session, gift.stripe_subscription_id)

    if payment_failed:
        if gift.status in (GiftStatus.PENDING, GiftStatus.PROCESSING):
            gift.status = GiftStatus.FAILED
            return Handled(f"gift {gift.public_id}: payment failed", gift)
        return Handled(f"gift {gift.public_id} is {gift.status.value}; failure ignored", gift)
    if payment_status == "paid":
        # A new gift went in paid, with its entry; one of ours is marked paid now.
        recorded = inserted_paid or records.mark_paid(
            session, gift, received_at=records.at(obj.get("created"))
        )
        if recorded:
            due.gift_paid(session, gift)
        return Handled(
            f"gift {gift.public_id} " + ("paid" if recorded else f"already {gift.status.value}"),
            gift,
            became_known=records.known_ids(gift),
        )
    if payment_status == "unpaid" and gift.status == GiftStatus.PENDING:
        # A delayed method (bank debit): money not there yet; async_payment_* will say.
        gift.status = GiftStatus.PROCESSING
    return Handled(
        f"gift {gift.public_id} is {gift.status.value}", gift, became_known=records.known_ids(gift)
    )


def checkout_expired(session: Session, obj: dict) -> Handled:
    """checkout.session.expired: the donor left without paying; our pending gift is closed
    (the form can still be filled again from it). Never touches a gift that was paid."""
    gift = records.by_session(session, obj["id"])
    if gift is None or gift.status != GiftStatus.PENDING:
        return Handled(f"session {obj['id']} expired; nothing pending")
    gift.status = GiftStatus.FAILED
    return Handled(f"gift {gift.public_id}: checkout expired unpaid", gift)


def _monthly(session: Session, subscription_id: str) -> MonthlyGift:
    plan = session.get(MonthlyGift, subscription_id)
    if plan is None:
        plan = MonthlyGift(subscription_id=subscription_id)
        session.add(plan)
        session.flush()
    return plan


def _invoice_subscription(obj: dict) -> tuple[str | None, dict]:
    """The subscription and its metadata, wherever this API version puts them."""
    parent = (obj.get("parent") or {}).get("subscription_details") or {}
    subscription = records.stripe_id(parent.get("subscription") or obj.get("subscription"))
    metadata = dict(
        parent.get("metadata") or (obj.get("subscription_details") or {}).get("metadata") or {}
    )
    for line in (obj.get("lines") or {}).get("data") or []:
        for key, value in (line.get("metadata") or {}).items():
            metadata.setdefault(key, value)
    return subscription, metadata


def _invoice_payment_ids(obj: dict) -> tuple[str | None, str | None]:
    """(payment intent, charge) of an invoice: top-level on older API versions, under
    ``payments`` on newer ones when expanded; else (None, None)."""
    intent = records.stripe_id(obj.get("payment_intent"))
    charge = records.stripe_id(obj.get("charge"))
    for payment in (obj.get("payments") or {}).get("data") or []:
        inner = payment.get("payment") or {}
        intent = intent or records.stripe_id(inner.get("payment_intent"))
        charge = charge or records.stripe_id(inner.get("charge"))
    return intent, charge


def invoice_paid(session: Session, obj: dict, at: datetime | None = None) -> Handled:
    """invoice.paid: one month of a monthly gift. The first month is the session's gift. A
    payment failed before is behind the donor now."""
    amount = obj.get("amount_paid") or 0
    if amount <= 0:
        return Handled(f"invoice {obj['id']} paid nothing (trial or credit)")
    subscription_id, metadata = _invoice_subscription(obj)
    intent_id, charge_id = _invoice_payment_ids(obj)
    gift = records.by_invoice(session, obj["id"])
    if gift is None and obj.get("billing_reason") == "subscription_create":
        pending = records.by_public_id(session, metadata.get("gift"))
        if pending is not None and pending.stripe_invoice_id is None:
            gift = pending
    if gift is None:
        earlier = records.first_of_subscription(session, subscription_id)
        if earlier is None and not metadata.get("drive"):
            return Handled(
                f"invoice {obj['id']}: subscription {subscription_id} not known yet",
                waits_for=subscription_id,
            )
        gift = Gift(
            amount_cents=amount,
            currency=_currency(obj),
            method=GiftMethod.CARD,
            status=GiftStatus.PENDING,
            monthly=True,
        )
        if earlier is not None:
            _same_currency(gift.currency, earlier.currency, "the monthly gift is in")
            for name in (
                "drive_id", "chapter_id", "unmatched_drive", "donor_name", "donor_email",
                "show_name", "ref", "utm_source", "utm_medium", "utm_campaign", "test_mode",
                "member_page_id",
                "locale",
            ):  # fmt: skip
                setattr(gift, name, getattr(earlier, name))
        else:
            gift.drive_id, gift.chapter_id = _drive_and_chapter(session, metadata, gift.currency)
            gift.unmatched_drive = None if gift.drive_id else metadata.get("drive")
            _credit_member(session, gift, metadata)
            gift.donor_email = obj.get("customer_email")
            gift.donor_name = (obj.get("customer_name") or "")[:200]
        session.add(gift)
    elif obj.get("currency"):
        _same_currency(_currency(obj), gift.currency, f"gift #{gift.id} is in")
    gift.stripe_invoice_id = obj["id"]
    gift.stripe_subscription_id = subscription_id or gift.stripe_subscription_id
    gift.stripe_customer_id = records.stripe_id(obj.get("customer")) or gift.stripe_customer_id
    gift.stripe_payment_intent_id = gift.stripe_payment_intent_id or intent_id
    gift.stripe_charge_id = gift.stripe_charge_id or charge_id
    if gift.status in (GiftStatus.PENDING, GiftStatus.PROCESSING) and amount != gift.amount_cents:
        gift.amount_cents = amount
        gift.covered_fee_cents = 0
    session.flush()
    paid_at = (obj.get("status_transitions") or {}).get("paid_at") or obj.get("created")
    if subscription_id:
        plan = _monthly(session, subscription_id)
        if _is_news(plan, at):
            _set_status(plan, "active", at)
    recorded = records.mark_paid(session, gift, received_at=records.at(paid_at))
    if recorded:
        due.gift_paid(session, gift)
    return Handled(
        f"invoice {obj['id']}: gift {gift.public_id} "
        + ("paid" if recorded else f"already {gift.status.value}"),
        gift,
        became_known=records.known_ids(gift),
    )


def subscription_deleted(session: Session, obj: dict, at: datetime | None = None) -> Handled:
    """customer.subscription.deleted: no more months. Months already paid stay counted."""
    plan = _monthly(session, obj["id"])
    _cancel(plan, obj, at)
    return Handled(f"monthly gift {obj['id']} cancelled; past months stay counted")


#: Subscription statuses after which no month is charged again (Stripe's documented enum:
#: incomplete, incomplete_expired, trialing, active, past_due, canceled, unpaid, paused).
_ENDED = ("canceled", "incomplete_expired")


def _cancel(plan: MonthlyGift, obj: dict, at: datetime | None) -> None:
    status = obj.get("status")
    plan.status = status if isinstance(status, str) and status in _ENDED else "canceled"
    plan.canceled_at = records.at(obj.get("canceled_at") or obj.get("ended_at"))
    plan.next_attempt_at = None
    plan.status_at = at or plan.status_at
    plan.updated_at = utcnow()


def _is_news(plan: MonthlyGift, at: datetime | None) -> bool:
    """Whether an event created ``at`` says something newer than what the plan keeps. A
    cancelled plan stays cancelled: Stripe never restarts a cancelled subscription."""
    if plan.canceled_at is not None:
        return False
    return at is None or plan.status_at is None or as_utc(at) >= as_utc(plan.status_at)


def subscription_updated(session: Session, obj: dict, at: datetime | None) -> Handled:
    """customer.subscription.updated: keep Stripe's status of a monthly gift (past_due while
    a payment is retried, unpaid once retries end, active again when paid). Moves no money."""
    plan = _monthly(session, obj["id"])
    if not _is_news(plan, at):
        return Handled(f"monthly gift {obj['id']}: {plan.status} already, kept")
    status = str(obj.get("status") or plan.status)
    if status in _ENDED:
        _cancel(plan, obj, at)
        return Handled(f"monthly gift {obj['id']} cancelled; past months stay counted")
    _set_status(plan, status, at)
    return Handled(f"monthly gift {obj['id']}: {status}")


def _set_status(plan: MonthlyGift, status: str, at: datetime | None) -> None:
    """Keep Stripe's status of a monthly gift as of ``at``; active again puts a declined
    payment behind the donor."""
    plan.status, plan.status_at, plan.updated_at = status, at, utcnow()
    if status == "active":
        plan.payment_failed_at = plan.next_attempt_at = None


def invoice_payment_failed(session: Session, obj: dict, at: datetime | None) -> Handled:
    """invoice.payment_failed: a month of a monthly gift was not paid (the card declined,
    say). No money moved, so nothing is posted; the donor's pages say so, with when Stripe
    tries again, until a payment succeeds or the gift is cancelled."""
    subscription_id, _ = _invoice_subscription(obj)
    if not subscription_id:
        return Handled(f"invoice {obj['id']} failed; not a monthly gift, nothing to do")
    plan = _monthly(session, subscription_id)
    if not _is_news(plan, at):
        return Handled(f"invoice {obj['id']} failed; monthly gift already {plan.status}")
    retry = obj.get("next_payment_attempt")
    _set_status(plan, "past_due", at)
    plan.payment_failed_at = at or utcnow()
    plan.next_attempt_at = records.at(retry) if retry else None
    return Handled(
        f"invoice {obj['id']} failed; monthly gift {subscription_id} past due, "
        + (f"retried {plan.next_attempt_at:%Y-%m-%d}" if retry else "no retry")
    )
