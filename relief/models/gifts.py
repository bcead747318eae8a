"""Gifts, online and offline, one-time and monthly."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, Index, or_, text
from sqlmodel import Field, SQLModel, col

from relief.models.base import _enum, new_public_id, utcnow


class GiftMethod(enum.StrEnum):
    CARD = "card"
    CASH = "cash"
    CHECK = "check"
    TEST = "test"


#: Gifts given online: Stripe's card gifts, and the test checkout's in test mode.
ONLINE_METHODS = (GiftMethod.CARD, GiftMethod.TEST)


class GiftStatus(enum.StrEnum):
    PENDING = "pending"  # form sent to checkout; no money yet, nothing in the ledger
    PROCESSING = "processing"  # a delayed payment method has not settled
    PAID = "paid"
    FAILED = "failed"
    REFUNDED = "refunded"  # fully
    DISPUTED = "disputed"  # money withdrawn by an open or lost dispute


class Gift(SQLModel, table=True):
    """One payment by one donor. A monthly gift has one row per month paid."""

    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        Index("ix_gift_drive_received", "drive_id", "received_at"),
        # The drive page's recent supporters: paid gifts, newest first, read from the index
        # alone (pending gifts, whose received_at is NULL, would otherwise come first on
        # PostgreSQL's backward scan).
        Index("ix_gift_drive_status_received", "drive_id", "status", "received_at", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    #: Unguessable id for the donor's own links (success page, receipt); never a sequence.
    public_id: str = Field(default_factory=lambda: new_public_id(), max_length=32, unique=True)
    #: None while a gift from an unknown drive waits for a treasurer to assign it.
    drive_id: int | None = Field(default=None, foreign_key="drive.id")
    chapter_id: int | None = Field(default=None, foreign_key="chapter.id")
    amount_cents: int
    currency: str = Field(default="USD", max_length=3)
    method: GiftMethod = Field(sa_column=_enum(GiftMethod))
    status: GiftStatus = Field(sa_column=_enum(GiftStatus))
    donor_name: str = Field(default="", max_length=200)
    donor_email: str | None = Field(default=None, max_length=320)
    #: donor_email normalised (models/privacy.normalise_email), set on every flush: lookups
    #: compare this, never SQL lower(), which folds only ASCII.
    donor_email_key: str | None = Field(default=None, max_length=320, index=True)
    #: The donor allowed their name on the public supporter list.
    show_name: bool = False
    #: A private message to the organizers: never on a public page, API or press PDF.
    message: str | None = Field(default=None, max_length=2000)
    monthly: bool = False
    check_number: str | None = Field(default=None, max_length=64)
    #: Attribution: the ?ref= and utm_* parameters of the link the donor came through.
    ref: str | None = Field(default=None, max_length=200)
    utm_source: str | None = Field(default=None, max_length=200)
    utm_medium: str | None = Field(default=None, max_length=200)
    utm_campaign: str | None = Field(default=None, max_length=200)
    #: The drive slug named by a Stripe session we could not match; kept for assignment.
    unmatched_drive: str | None = Field(default=None, max_length=200)
    stripe_session_id: str | None = Field(default=None, max_length=255, unique=True)
    stripe_payment_intent_id: str | None = Field(default=None, max_length=255, unique=True)
    stripe_charge_id: str | None = Field(default=None, max_length=255, unique=True)
    stripe_invoice_id: str | None = Field(default=None, max_length=255, unique=True)
    stripe_subscription_id: str | None = Field(default=None, max_length=255, index=True)
    stripe_customer_id: str | None = Field(default=None, max_length=255)
    #: True until the processor's fee for this gift is known and in the ledger.
    fee_pending: bool = False
    #: Marked test-mode gifts (built-in test checkout); they can be purged.
    test_mode: bool = False
    #: When the money was received (financially relevant time).
    received_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    #: Part of amount_cents the donor added to cover the processing fee (donate form).
    covered_fee_cents: int = 0
    #: The highest ``amount_refunded`` a charge.refunded event stated for this gift's charge:
    #: refunds it counts that no refund object explains yet are posted provisionally.
    stripe_refunded_cents: int = 0
    #: The member's page the gift was given on (relief/members.py): it credits that member,
    #: and its chapter.
    member_page_id: int | None = Field(default=None, foreign_key="member_page.id", index=True)
    #: A gift in honour ("honour") or in memory ("memory") of someone, named here; None if not.
    dedication_kind: str | None = Field(default=None, max_length=8)
    honoree_name: str | None = Field(default=None, max_length=200)
    #: Who the donor asked us to send a card to by email, and what it says: private (never on a
    #: public page, the API, a CSV or the press report), erased with the donor.
    card_name: str | None = Field(default=None, max_length=200)
    card_email: str | None = Field(default=None, max_length=320)
    card_message: str | None = Field(default=None, max_length=500)
    #: The language the donor gave in ("en", "es"): their emails and receipt are in it.
    locale: str = Field(default="en", max_length=8, sa_column_kwargs={"server_default": "en"})


def _partial_index(name: str, *columns, where) -> Index:
    """An index of the gifts that meet ``where``, the same predicate on both databases."""
    return Index(name, *columns, sqlite_where=where, postgresql_where=where)


#: The dashboard's "needs attention" counts: a chapter's unassigned gifts and pending fees.
Index("ix_gift_chapter_drive_status", col(Gift.chapter_id), col(Gift.drive_id), col(Gift.status))
#: "Has the chapter live card gifts?" (the month-end checklist) without reading its cash and
#: checks. test_mode makes it two equalities: SQLite keeps no statistics, and with one it took
#: ix_gift_chapter_fee_pending instead and read every gift of the chapter.
CARD_PAYMENT = or_(
    col(Gift.stripe_charge_id).is_not(None), col(Gift.stripe_payment_intent_id).is_not(None)
)
_partial_index(
    "ix_gift_chapter_card", col(Gift.chapter_id), col(Gift.test_mode), where=CARD_PAYMENT
)
Index("ix_gift_chapter_fee_pending", col(Gift.chapter_id), col(Gift.fee_pending))
#: The treasurer's list of the chapter's gifts, newest first, a hundred at a time
#: (treasury/gifts.recent_gifts): read from the top, not every gift of the chapter sorted.
Index("ix_gift_chapter_newest", col(Gift.chapter_id), col(Gift.id))
#: … and, for a host, each hosted drive's gifts to the whole drive (no chapter), newest first.
_partial_index(
    "ix_gift_whole_drive_newest",
    col(Gift.drive_id),
    col(Gift.id),
    where=col(Gift.chapter_id).is_(None),
)
#: The organizer's supporters of the chapter, newest first (organize/workspace.supporters).
Index(
    "ix_gift_chapter_status_received",
    col(Gift.chapter_id),
    col(Gift.status),
    col(Gift.received_at),
    col(Gift.id),
)
#: "Does the drive count test-mode money?" (the press report's band): only those gifts. The
#: predicate is written as each database's planner matches a query's ``test_mode = true``.
Index(
    "ix_gift_drive_test_mode",
    col(Gift.drive_id),
    sqlite_where=text("test_mode = 1"),
    postgresql_where=text("test_mode"),
)


class MonthlyGift(SQLModel, table=True):
    """A monthly gift's Stripe subscription: each month paid is its own Gift row; this row says
    whether more months will come."""

    __tablename__ = "monthly_gift"
    subscription_id: str = Field(primary_key=True, max_length=255)
    #: Stripe's subscription status as last reported (active, past_due, canceled, ...).
    status: str = Field(default="active", max_length=32)
    canceled_at: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)
    #: When the event that reported ``status`` was created: an older one, delivered late,
    #: does not overwrite it.
    status_at: datetime | None = None
    #: A month's payment failed then (the card declined, say), and no payment came since.
    payment_failed_at: datetime | None = None
    #: When Stripe tries the card again; None when it will not (the donor must act).
    next_attempt_at: datetime | None = None

    @property
    def overdue(self) -> bool:
        """A month's payment failed and none came since: Stripe is retrying (past_due) or
        has stopped (unpaid). What the donor's pages say until they act or it is paid."""
        return self.canceled_at is None and self.status in ("past_due", "unpaid")


class DonorLink(SQLModel, table=True):
    """A one-time "Find my gifts" sign-in link (relief/donor_access.py). It names a gift of the
    donor, not their address: erasing the donor clears the gift's address and the link
    opens nothing. The token is not stored: it is derived from ``nonce`` with the app's
    SECRET_KEY when the email is written, and only its hash is kept for the lookup."""

    __tablename__ = "donor_link"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    nonce: str = Field(max_length=64)
    #: No foreign key: purging test gifts deletes gifts, and a link to one opens nothing.
    gift_id: int = Field(index=True)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None
