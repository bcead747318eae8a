"""The treasurer's records: deposit batches, gifts sent straight to the partner, remittances,
bank lines, closed months."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Index, Text
from sqlmodel import Field, SQLModel

from relief.models.base import _enum, utcnow
from relief.models.gifts import GiftMethod


class BatchStatus(enum.StrEnum):
    OPEN = "open"
    POSTED = "posted"


class DepositBatch(SQLModel, table=True):
    """A deposit slip: an event's cash and checks, entered against a stated count and total."""

    __tablename__ = "deposit_batch"
    __table_args__ = (
        CheckConstraint("expected_count > 0", name="count_positive"),
        CheckConstraint("expected_total_cents > 0", name="total_positive"),
        # The paper's own key: one batch per printed slip.
        Index("uq_deposit_batch_slip", "chapter_id", "slip_number", unique=True),
    )
    id: int | None = Field(default=None, primary_key=True)
    chapter_id: int = Field(foreign_key="chapter.id", index=True)
    drive_id: int = Field(foreign_key="drive.id")
    label: str = Field(max_length=200)
    #: The number printed on the bank's deposit slip, if the treasurer gave it (optional).
    slip_number: str | None = Field(default=None, max_length=64)
    expected_count: int
    expected_total_cents: int
    #: Who has the cash and checks until they are deposited.
    held_by: str = Field(default="", max_length=200)
    #: The day the money came in (the event's date, on the slip): each gift's date received
    #: unless it says otherwise. NULL only for batches started before batches had one.
    received_on: date | None = None
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
    __table_args__ = (
        # The paper's key: the partner's reference and the donor's check number, per drive.
        Index("uq_direct_gift_paper", "drive_id", "partner_reference", "check_number", unique=True),
    )
    gift_id: int = Field(foreign_key="gift.id", primary_key=True)
    #: What the partner's acknowledgement says, e.g. their receipt number.
    partner_reference: str = Field(default="", max_length=200)
    drive_id: int | None = Field(default=None, foreign_key="drive.id")
    #: The donor's check number, kept here only when the partner's reference is given too:
    #: the two make the gift's unique key in its drive. NULL (no key) otherwise, and on a
    #: duplicate recorded before the key existed (the earlier one keeps it).
    check_number: str | None = Field(default=None, max_length=64)


class Remittance(SQLModel, table=True):
    """Money a chapter sent to the relief partner for a drive; posted as a remittance entry."""

    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        Index("uq_remittance_reference", "chapter_id", "standing_reference", unique=True),
    )
    id: int | None = Field(default=None, primary_key=True)
    drive_id: int = Field(foreign_key="drive.id")
    chapter_id: int = Field(foreign_key="chapter.id", index=True)
    amount_cents: int
    sent_on: date
    #: The check number, wire or ACH reference.
    reference: str = Field(max_length=200)
    #: The reference while the remittance stands, unique in the chapter; cleared when it is
    #: reversed, so the same check can be recorded again correctly (and NULL on a duplicate
    #: recorded before the key existed; the earlier one keeps it).
    standing_reference: str | None = Field(default=None, max_length=200)
    entry_id: int | None = Field(default=None, foreign_key="entry.id")
    recorded_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)


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
    #: The month's treasurer's report as it stood at closing (JSON of plain values): what its
    #: PDF shows forever after. None for a month closed before snapshots were kept.
    snapshot: str | None = Field(default=None, sa_type=Text)
    #: The fingerprint of the chapter's books at closing: the ledger's hash chained over the
    #: chapter's entries (all drives) in id order, up to and including ``last_entry_id``.
    fingerprint: str | None = Field(default=None, max_length=64)
    last_entry_id: int | None = None


class FormPurpose(enum.StrEnum):
    """What a money form records; with the record's id, where its first record is."""

    DIRECT_GIFT = "direct_gift"
    CORRECTION = "correction"
    REMITTANCE = "remittance"
    BATCH = "batch"
    BATCH_POST = "batch_post"
    PARTNER_REPORT = "partner_report"


class FormToken(SQLModel, table=True):
    """A money form's one-time token, stored when the form is first used: a repeat of the
    same token (a double click, the back button, a resend) finds this row and its record
    instead of recording a second time."""

    __tablename__ = "form_token"
    token: str = Field(primary_key=True, max_length=64)
    chapter_id: int = Field(foreign_key="chapter.id")
    purpose: FormPurpose = Field(sa_column=_enum(FormPurpose))
    #: The id of what the form recorded (a gift, remittance, batch, entry, report…).
    record_id: int | None = None
    used_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    used_at: datetime = Field(default_factory=utcnow)


class AccountRole(enum.StrEnum):
    """What an account of the chapter's chart does in the journal export: each ledger entry
    moves money between a money account (where it sits) and an income or expense account."""

    BANK = "bank"
    STRIPE_CLEARING = "stripe_clearing"
    UNDEPOSITED = "undeposited"
    DIRECT_TO_PARTNER = "direct_to_partner"
    DONATIONS = "donations"
    REFUNDS = "refunds"
    DISPUTES = "disputes"
    FEES = "fees"
    GRANTS = "grants"


class ChartAccount(SQLModel, table=True):
    """The coalition's name and number for one account role, as an admin set it; a role with
    no row uses the default of ``treasury.journal.DEFAULT_CHART``."""

    __tablename__ = "chart_account"
    role: AccountRole = Field(sa_column=_enum(AccountRole, primary_key=True))
    #: The account's number in the books, e.g. "4010" (may be empty: some charts have none).
    number: str = Field(default="", max_length=20)
    name: str = Field(max_length=100)
    updated_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    updated_at: datetime = Field(default_factory=utcnow)
