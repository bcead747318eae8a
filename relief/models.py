"""Tables. Money is integer cents in the drive's currency; times are timezone-aware UTC.

The ledger (``Entry``) is append-only: every figure shown anywhere is derived from it.
``Total`` and ``DailyTotal`` are running sums maintained in the same transaction as each
entry, so pages never sum gifts; ``ledger.recompute`` proves them equal to the entries.
"""

from __future__ import annotations

import enum
import secrets
from datetime import UTC, date, datetime
from typing import ClassVar

from sqlalchemy import BigInteger, CheckConstraint, Column, Index, MetaData
from sqlalchemy import Enum as SAEnum
from sqlmodel import Field, SQLModel

# Stable constraint names, so Alembic migrations are the same on SQLite and PostgreSQL.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata: MetaData = SQLModel.metadata


def utcnow() -> datetime:
    """Now, timezone-aware in UTC (the database stores and returns UTC)."""
    return datetime.now(UTC)


def new_public_id() -> str:
    """128 random bits, URL-safe; never starting with "-", which a command line would take
    for an option (`flask stripe assign <id> …`)."""
    while True:
        value = secrets.token_urlsafe(16)
        if value[0] != "-":
            return value


def _enum(cls: type[enum.Enum], **column) -> Column:
    # Stored as the value's text (VARCHAR + CHECK), portable across both databases.
    return Column(
        SAEnum(
            cls,
            values_callable=lambda e: [m.value for m in e],
            native_enum=False,
            create_constraint=True,
            length=24,
            name=cls.__name__.lower(),
        ),
        nullable=False,
        **column,
    )


class Chapter(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=200)
    #: Where the chapter works, e.g. a US state code ("MO").
    region: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    #: A few public sentences about the chapter, shown on its side of each drive's page;
    #: its organizers edit it (issue 4, organizer's workspace).
    blurb: str = Field(default="", max_length=500, sa_column_kwargs={"server_default": ""})


class Drive(SQLModel, table=True):
    __table_args__ = (
        CheckConstraint("goal_cents > 0", name="goal_positive"),
        CheckConstraint("ratio_hundredths > 0", name="ratio_positive"),
    )
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=64, unique=True)
    title: str = Field(max_length=200)
    story: str = Field(default="", max_length=10_000)
    goal_cents: int
    currency: str = Field(default="USD", max_length=3)
    starts_on: date
    ends_on: date | None = None
    partner_name: str = Field(default="Undue Medical Debt", max_length=200)
    target_region: str | None = Field(default=None, max_length=200)
    #: Debt relieved per unit given, in hundredths: 10000 means "about 100:1". An estimate.
    ratio_hundredths: int = Field(default=10_000)
    #: Where the ratio comes from and when it was stated; shown beside every projection.
    ratio_source: str = Field(
        default="Undue Medical Debt's published average: each $1 donated relieves about $100 "
        "of medical debt",
        max_length=500,
    )
    ratio_as_of: date = Field(default=date(2024, 1, 1))
    #: Advanced when something the public pages show changes without a ledger entry (a donor
    #: erased): it is part of the drive's state, so cached pages drop what they showed.
    public_revision: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = Field(default_factory=utcnow)


class DriveChapter(SQLModel, table=True):
    """A chapter taking part in a drive, with its optional sub-goal."""

    __tablename__ = "drive_chapter"
    __table_args__ = (
        CheckConstraint("goal_cents IS NULL OR goal_cents > 0", name="goal_positive"),
    )
    drive_id: int = Field(foreign_key="drive.id", primary_key=True)
    chapter_id: int = Field(foreign_key="chapter.id", primary_key=True)
    goal_cents: int | None = None


class GiftMethod(enum.StrEnum):
    CARD = "card"
    CASH = "cash"
    CHECK = "check"
    TEST = "test"


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


class EntryKind(enum.StrEnum):
    GIFT = "gift"
    FEE = "fee"
    REFUND = "refund"
    DISPUTE_WITHDRAWN = "dispute_withdrawn"
    DISPUTE_REINSTATED = "dispute_reinstated"
    REMITTANCE = "remittance"
    CORRECTION = "correction"


class Entry(SQLModel, table=True):
    """One append-only ledger line. Never updated or deleted; a correction is a new entry.

    ``amount_cents`` is signed, in the direction of its kind's total: a gift +, a refund −,
    a dispute withdrawal −, a reinstatement +, a fee + (charged) or − (returned), a
    remittance + (sent). A correction changes *raised* by its sign.
    """

    __table_args__ = (
        CheckConstraint("amount_cents <> 0", name="amount_nonzero"),
        Index("ix_entry_drive_id", "drive_id", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    kind: EntryKind = Field(sa_column=_enum(EntryKind))
    amount_cents: int
    currency: str = Field(default="USD", max_length=3)
    drive_id: int | None = Field(default=None, foreign_key="drive.id")
    chapter_id: int | None = Field(default=None, foreign_key="chapter.id")
    gift_id: int | None = Field(default=None, foreign_key="gift.id", index=True)
    #: The entry this one reverses or corrects, if any.
    reverses_id: int | None = Field(default=None, foreign_key="entry.id")
    #: What made this entry (a Stripe refund id, "fee:txn_…"); UNIQUE, so it posts once.
    external_id: str | None = Field(default=None, max_length=255, unique=True)
    memo: str = Field(default="", max_length=500)
    #: When the money moved; decides the day and month it belongs to.
    effective_at: datetime = Field(default_factory=utcnow)
    recorded_at: datetime = Field(default_factory=utcnow)


class Total(SQLModel, table=True):
    """Running sums per drive (chapter_id 0) and per drive and chapter, kept with each entry."""

    drive_id: int = Field(primary_key=True)
    #: 0 is the whole drive; otherwise the chapter credited.
    chapter_id: int = Field(primary_key=True)
    # Sums of many entries: 64-bit, a 32-bit INTEGER overflows past $21.4M on PostgreSQL.
    gifts_cents: int = Field(default=0, sa_type=BigInteger)
    refunds_cents: int = Field(default=0, sa_type=BigInteger)
    disputes_cents: int = Field(default=0, sa_type=BigInteger)
    corrections_cents: int = Field(default=0, sa_type=BigInteger)
    fees_cents: int = Field(default=0, sa_type=BigInteger)
    remitted_cents: int = Field(default=0, sa_type=BigInteger)
    gift_count: int = 0
    #: Number of entries summed, and a hash chained over them: the ledger fingerprint.
    entry_count: int = 0
    last_entry_id: int = 0
    chain_hash: str = Field(default="", max_length=64)
    updated_at: datetime = Field(default_factory=utcnow)


class DailyTotal(SQLModel, table=True):
    """Money raised per drive per day (UTC), for pace and the chart over time."""

    __tablename__ = "daily_total"
    drive_id: int = Field(primary_key=True)
    day: date = Field(primary_key=True)
    raised_cents: int = Field(default=0, sa_type=BigInteger)
    gift_count: int = 0


class MonthTotal(SQLModel, table=True):
    """A chapter's money per drive, calendar month (UTC) and entry kind, kept with each entry:
    what the treasurer's month figures and the monthly report read, so they cost the same at
    any size of ledger."""

    __tablename__ = "month_total"
    chapter_id: int = Field(primary_key=True)
    drive_id: int = Field(primary_key=True)
    month: date = Field(primary_key=True)  # its first day
    kind: EntryKind = Field(sa_column=_enum(EntryKind, primary_key=True))
    amount_cents: int = Field(default=0, sa_type=BigInteger)
    gift_count: int = 0


class StripeEvent(SQLModel, table=True):
    """Every Stripe event id we accepted; the primary key makes each process once."""

    __tablename__ = "stripe_event"
    id: str = Field(primary_key=True, max_length=255)
    type: str = Field(max_length=100)
    received_at: datetime = Field(default_factory=utcnow)


class ParkedEvent(SQLModel, table=True):
    """A verified event about a gift we do not know yet; replayed when the gift arrives."""

    __tablename__ = "parked_event"
    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(max_length=255, unique=True)
    #: The Stripe id it waits for (payment intent or charge).
    waits_for: str = Field(max_length=255, index=True)
    payload: str
    parked_at: datetime = Field(default_factory=utcnow)


# --- Treasury: accounts, per-chapter roles, audit log, deposit batches, remittances, partner
# reports. Money still enters and leaves only through ``Entry``; these tables hold who, why and
# the paperwork around it.


class Role(enum.StrEnum):
    TREASURER = "treasurer"
    ORGANIZER = "organizer"


class User(SQLModel, table=True):
    """A person who signs in: a chapter's treasurer or organizer, or a coalition admin."""

    __tablename__ = "user_account"
    id: int | None = Field(default=None, primary_key=True)
    #: Stored lowercased; the sign-in name.
    email: str = Field(max_length=320, unique=True)
    #: werkzeug's scrypt hash (salted, memory-hard); never the password.
    password_hash: str = Field(max_length=255)
    #: What the session cookie names instead of the id; replaced on a password reset, which
    #: signs the person out everywhere.
    session_token: str = Field(
        default_factory=lambda: secrets.token_urlsafe(24), max_length=64, unique=True
    )
    #: A coalition admin sees every chapter and the audit log.
    is_admin: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    #: Set by `user remove`: the account can no longer sign in. The row stays, so the names
    #: on batches and remittances it recorded keep pointing somewhere.
    removed_at: datetime | None = None

    # Flask-Login's protocol, without its mixin (kept free of Flask imports).
    is_authenticated: ClassVar[bool] = True
    is_anonymous: ClassVar[bool] = False

    @property
    def is_active(self) -> bool:
        return self.removed_at is None

    def get_id(self) -> str:
        return self.session_token


class Membership(SQLModel, table=True):
    """A user's role in one chapter."""

    user_id: int = Field(foreign_key="user_account.id", primary_key=True)
    chapter_id: int = Field(foreign_key="chapter.id", primary_key=True)
    role: Role = Field(sa_column=_enum(Role))


class AuditEvent(SQLModel, table=True):
    """Who did what, when, from where. Append-only: nothing updates or deletes these rows."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_chapter_at", "chapter_id", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    #: Kept as text as well as id, so the line stays readable after the account is removed.
    actor_email: str = Field(max_length=320)
    actor_id: int | None = None
    chapter_id: int | None = Field(default=None, foreign_key="chapter.id")
    #: A short verb phrase, e.g. "batch.post", "remittance.record", "login.failed".
    action: str = Field(max_length=64)
    detail: str = Field(default="", max_length=2000)
    #: The client's address as the app saw it ("cli" for commands).
    ip: str = Field(default="", max_length=64)


class BatchStatus(enum.StrEnum):
    OPEN = "open"
    POSTED = "posted"


class DepositBatch(SQLModel, table=True):
    """A deposit slip: an event's cash and checks, entered against a stated count and total."""

    __tablename__ = "deposit_batch"
    __table_args__ = (
        CheckConstraint("expected_count > 0", name="count_positive"),
        CheckConstraint("expected_total_cents > 0", name="total_positive"),
    )
    id: int | None = Field(default=None, primary_key=True)
    chapter_id: int = Field(foreign_key="chapter.id", index=True)
    drive_id: int = Field(foreign_key="drive.id")
    label: str = Field(max_length=200)
    expected_count: int
    expected_total_cents: int
    #: Who has the cash and checks until they are deposited.
    held_by: str = Field(default="", max_length=200)
    deposited_on: date | None = None
    status: BatchStatus = Field(sa_column=_enum(BatchStatus))
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)
    posted_at: datetime | None = None


class BatchLine(SQLModel, table=True):
    """One gift on a deposit slip; a draft until the batch is posted, then tied to its Gift."""

    __tablename__ = "batch_line"
    __table_args__ = (CheckConstraint("amount_cents > 0", name="amount_positive"),)
    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="deposit_batch.id", index=True)
    amount_cents: int
    method: GiftMethod = Field(sa_column=_enum(GiftMethod))
    donor_name: str = Field(default="", max_length=200)
    show_name: bool = False
    check_number: str | None = Field(default=None, max_length=64)
    received_on: date
    gift_id: int | None = Field(default=None, foreign_key="gift.id")


class DirectGift(SQLModel, table=True):
    """A gift sent straight to the relief partner (a check mailed to them): it counts toward
    the drive, and its ledger pair (gift + remittance) keeps it out of the money held."""

    __tablename__ = "direct_gift"
    gift_id: int = Field(foreign_key="gift.id", primary_key=True)
    #: What the partner's acknowledgement says, e.g. their receipt number.
    partner_reference: str = Field(default="", max_length=200)


class Remittance(SQLModel, table=True):
    """Money a chapter sent to the relief partner for a drive; posted as a remittance entry."""

    __table_args__ = (CheckConstraint("amount_cents > 0", name="amount_positive"),)
    id: int | None = Field(default=None, primary_key=True)
    drive_id: int = Field(foreign_key="drive.id")
    chapter_id: int = Field(foreign_key="chapter.id", index=True)
    amount_cents: int
    sent_on: date
    #: The check number, wire or ACH reference.
    reference: str = Field(max_length=200)
    entry_id: int | None = Field(default=None, foreign_key="entry.id")
    recorded_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)


class PartnerReport(SQLModel, table=True):
    """What the relief partner reported it abolished with a drive's money."""

    __tablename__ = "partner_report"
    __table_args__ = (
        CheckConstraint("debt_abolished_cents > 0", name="debt_positive"),
        CheckConstraint("people_helped >= 0", name="people_not_negative"),
    )
    id: int | None = Field(default=None, primary_key=True)
    drive_id: int = Field(foreign_key="drive.id", index=True)
    #: The chapter whose treasurer entered it.
    chapter_id: int = Field(foreign_key="chapter.id")
    debt_abolished_cents: int
    people_helped: int
    #: The partner counted households rather than people.
    counts_households: bool = False
    region: str = Field(default="", max_length=200)
    reported_on: date
    recorded_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)


#: A chapter's entries by date: the ledger CSV export and a month's corrections. (It was made
#: for the month figures' GROUP BY, which now reads month_total instead.)
Index(
    "ix_entry_chapter_month",
    Entry.chapter_id,
    Entry.effective_at,
    Entry.drive_id,
    Entry.kind,
    Entry.amount_cents,
)
#: The dashboard's "needs attention" counts: a chapter's unassigned gifts and pending fees.
Index("ix_gift_chapter_drive_status", Gift.chapter_id, Gift.drive_id, Gift.status)
#: "Has the chapter card gifts?" (the month-end checklist) without reading its cash and checks.
CARD_PAYMENT = Gift.stripe_charge_id.is_not(None) | Gift.stripe_payment_intent_id.is_not(None)
Index(
    "ix_gift_chapter_card",
    Gift.chapter_id,
    sqlite_where=CARD_PAYMENT,
    postgresql_where=CARD_PAYMENT,
)
Index("ix_gift_chapter_fee_pending", Gift.chapter_id, Gift.fee_pending)
# --- Payments (issue 3): monthly gifts and the shared rate-limit counter ---


class MonthlyGift(SQLModel, table=True):
    """A monthly gift's Stripe subscription: each month paid is its own Gift row; this row says
    whether more months will come."""

    __tablename__ = "monthly_gift"
    subscription_id: str = Field(primary_key=True, max_length=255)
    #: Stripe's subscription status as last reported (active, past_due, canceled, ...).
    status: str = Field(default="active", max_length=32)
    canceled_at: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)


class RateLimitCounter(SQLModel, table=True):
    """Fixed-window request counters for Flask-Limiter, shared by every worker through the
    database (see relief/ratelimit.py)."""

    __tablename__ = "rate_limit_counter"
    key: str = Field(primary_key=True, max_length=255)
    count: int = 0
    #: When the window ends (seconds since the epoch); the counter restarts after it.
    expires_at: int = Field(index=True)


# --- Payout reconciliation (issue 4): Stripe payouts and their balance transactions, bank
# statement lines, and closed months. Payouts belong to the coalition's Stripe account; a
# chapter sees a payout through the balance transactions matched to its gifts.


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
    #: The gift it was matched to (None while unmatched) and that gift's chapter.
    gift_id: int | None = Field(default=None, foreign_key="gift.id")
    chapter_id: int | None = Field(default=None, foreign_key="chapter.id", index=True)


class BankLine(SQLModel, table=True):
    """A deposit from an imported bank statement, and the payout or deposit batch it matched."""

    __tablename__ = "bank_line"
    __table_args__ = (CheckConstraint("amount_cents > 0", name="amount_positive"),)
    id: int | None = Field(default=None, primary_key=True)
    chapter_id: int = Field(foreign_key="chapter.id", index=True)
    posted_on: date
    description: str = Field(default="", max_length=500)
    amount_cents: int
    #: A hash of (chapter, date, amount, description, repeat number in the file): importing the
    #: same statement twice stores each line once.
    fingerprint: str = Field(max_length=64, unique=True)
    payout_id: int | None = Field(default=None, foreign_key="payout.id")
    batch_id: int | None = Field(default=None, foreign_key="deposit_batch.id")
    imported_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    imported_at: datetime = Field(default_factory=utcnow)


class MonthClose(SQLModel, table=True):
    """A chapter's month its treasurer reconciled and closed: later entries that would fall in
    it land in the next open month."""

    __tablename__ = "month_close"
    chapter_id: int = Field(foreign_key="chapter.id", primary_key=True)
    #: The first day of the month.
    month: date = Field(primary_key=True)
    closed_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    closed_at: datetime = Field(default_factory=utcnow)
