"""What Stripe told us: event ids seen once, events parked until their gift arrives, refunds,
payouts."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint
from sqlmodel import Field, SQLModel

from relief.models.base import utcnow


class StripeEvent(SQLModel, table=True):
    """Every Stripe event id we accepted; the primary key makes each process once."""

    __tablename__ = "stripe_event"
    #: Stripe's event id; for a signed body without a usable one, "body:" and the body's
    #: SHA-256 (Stripe redelivers the same bytes, so a redelivery is still a duplicate).
    id: str = Field(primary_key=True, max_length=255)
    type: str = Field(max_length=100)
    received_at: datetime = Field(default_factory=utcnow)
    #: The event as Stripe signed it, kept only when a value was cut to fit one of our
    #: columns (a 500-character ``metadata.ref``, say): the full value stays on record.
    payload: str | None = None


class ParkedEvent(SQLModel, table=True):
    """A verified event that did not post: either it is about a gift we do not know yet
    (``waits_for``; replayed when the gift arrives) or it is held for a person (``reason``:
    an amount beyond what it refers to, a field of the wrong type, ...), listed for the
    coalition admin and never replayed by itself."""

    __tablename__ = "parked_event"
    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(max_length=255, unique=True)
    #: The Stripe id it waits for (payment intent, charge, subscription); None when held.
    waits_for: str | None = Field(default=None, max_length=255, index=True)
    #: Why it is held, in a sentence for a treasurer; None while it only waits for its gift.
    reason: str | None = Field(default=None, max_length=500)
    #: The event as Stripe signed it (the raw body when it could not be read).
    payload: str
    parked_at: datetime = Field(default_factory=utcnow)


class StripeRefund(SQLModel, table=True):
    """One Stripe refund object of a gift, in the latest state we were told. The ledger's
    refunds of a gift follow these rows (payments/reversals.py): each refund whose status
    counts is posted once, dated at its own ``created``; one that fails puts its money back."""

    __tablename__ = "stripe_refund"
    __table_args__ = (CheckConstraint("amount_cents > 0", name="amount_positive"),)
    id: int | None = Field(default=None, primary_key=True)
    stripe_id: str = Field(max_length=255, unique=True)
    gift_id: int = Field(foreign_key="gift.id", index=True)
    amount_cents: int
    currency: str = Field(default="USD", max_length=3)
    #: pending, requires_action, succeeded, failed or canceled (Stripe's word). Failed and
    #: canceled are final: a stale "succeeded" arriving later does not undo them.
    status: str = Field(max_length=32)
    #: When Stripe made the refund: the date its ledger entry carries.
    created: datetime
    #: The time of the latest event that told us about it.
    updated_at: datetime = Field(default_factory=utcnow)


class Payout(SQLModel, table=True):
    """A Stripe payout to the coalition's bank account, as last synced."""

    id: int | None = Field(default=None, primary_key=True)
    stripe_id: str = Field(max_length=255, unique=True)
    #: What reached (or will reach) the bank; Stripe's own figure, the "actual" of a payout.
    amount_cents: int
    currency: str = Field(default="USD", max_length=3)
    #: pending, in_transit, paid, failed or canceled (Stripe's word).
    status: str = Field(max_length=32)
    #: Only automatic payouts list their balance transactions; a manual one cannot be split.
    automatic: bool = True
    arrival_date: date
    created: datetime = Field(index=True)
    description: str = Field(default="", max_length=500)
    failure_message: str = Field(default="", max_length=500)
    #: The last balance transaction stored for this payout: a sync stopped halfway resumes
    #: after it (Stripe's ``starting_after``).
    transactions_cursor: str | None = Field(default=None, max_length=255)
    #: True once every balance transaction of the payout is stored.
    transactions_complete: bool = False
    synced_at: datetime = Field(default_factory=utcnow)


class PayoutTransaction(SQLModel, table=True):
    """One balance transaction of a payout (a charge, refund, dispute adjustment, ...), with the
    gift it was matched to. A payout's own balance transaction is not stored."""

    __tablename__ = "payout_transaction"
    id: int | None = Field(default=None, primary_key=True)
    stripe_id: str = Field(max_length=255, unique=True)
    payout_id: int = Field(foreign_key="payout.id", index=True)
    #: Stripe's type: charge, payment, refund, payment_refund, adjustment, ...
    type: str = Field(max_length=64)
    reporting_category: str = Field(default="", max_length=64)
    #: The object that moved the money (ch_…, re_…, du_…).
    source_id: str | None = Field(default=None, max_length=255)
    #: The charge behind it (the source itself for a charge; a refund's or dispute's charge).
    charge_id: str | None = Field(default=None, max_length=255, index=True)
    payment_intent_id: str | None = Field(default=None, max_length=255)
    #: Signed, as Stripe gives them: gross, Stripe's fee, and net = gross − fee.
    amount_cents: int
    fee_cents: int
    net_cents: int
    currency: str = Field(default="USD", max_length=3)
    created: datetime
    #: Stripe's description ("Billing - Usage Fee (2026-11-01)"), shown for the account's
    #: own lines (a Stripe fee, a failed payout's money back).
    description: str = Field(default="", max_length=500)
    #: The gift it was matched to (None while unmatched) and the chapter whose books hold
    #: it (``ledger.owner``: the gift's chapter, or for a gift to the whole drive its host).
    gift_id: int | None = Field(default=None, foreign_key="gift.id")
    chapter_id: int | None = Field(default=None, foreign_key="chapter.id", index=True)


class KeptEvent(SQLModel, table=True):
    """A signed event the webhook kept without processing it (``RELIEF_WEBHOOKS=kept``): a
    drainer processes it, in arrival order with the others, and deletes it in the same unit
    (relief/payments/drain.py). Its claim in ``stripe_event`` is made then, so a redelivery
    kept twice is still processed once."""

    __tablename__ = "kept_event"
    id: int | None = Field(default=None, primary_key=True)
    #: The event as Stripe signed it.
    payload: str
    received_at: datetime = Field(default_factory=utcnow)
    #: Runs that failed; after ``drain.MAX_ATTEMPTS`` it is held for a person.
    attempts: int = 0
    #: Not drained before this (a failed run waits, doubling).
    run_after: datetime = Field(default_factory=utcnow)
    #: Why the last run failed (the exception's name, never a value of the body).
    error: str | None = Field(default=None, max_length=500)
