"""The append-only ledger and the running sums kept beside it in the same transaction."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Index
from sqlmodel import Field, SQLModel, col

from relief.models.base import _enum, utcnow


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
    #: Indexed: a remittance's reversal is looked up by it (the monthly report, remittances).
    reverses_id: int | None = Field(default=None, foreign_key="entry.id", index=True)
    #: What made this entry (a Stripe refund id, "fee:txn_…"); UNIQUE, so it posts once.
    external_id: str | None = Field(default=None, max_length=255, unique=True)
    memo: str = Field(default="", max_length=500)
    #: When the money moved; decides the day and month it belongs to.
    effective_at: datetime = Field(default_factory=utcnow)
    recorded_at: datetime = Field(default_factory=utcnow)
    #: The drive's fingerprint chain through this entry, written with it: published with the
    #: entry, so a verifier names the first entry that no longer hashes to what was recorded.
    #: None for an entry under no drive (an unassigned gift's), which no chain covers.
    chain_hash: str | None = Field(default=None, max_length=64)
    #: When the entry was dated in a month its chapter had closed: that original date (the
    #: ledger booked it at ``effective_at``, the next open month's first moment); NULL when
    #: it was not moved. Not part of the fingerprint.
    dated_at: datetime | None = Field(default=None)


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
    """Money raised per drive per day (the coalition's days, RELIEF_TIMEZONE), for pace and
    the chart over time."""

    __tablename__ = "daily_total"
    drive_id: int = Field(primary_key=True)
    day: date = Field(primary_key=True)
    raised_cents: int = Field(default=0, sa_type=BigInteger)
    gift_count: int = 0


class ReceivedTotal(SQLModel, table=True):
    """Donors' net cents per drive by the day each gift was received (the coalition's days),
    given online or not, and chapter credited: every raised entry of a gift (its gift, its
    refunds, disputes and corrections) on its gift's day. What match pledges read, so their
    cost does not grow with the gifts (``relief.matches``)."""

    __tablename__ = "received_total"
    drive_id: int = Field(primary_key=True)
    day: date = Field(primary_key=True)
    #: Given by card (or the test checkout): a pledge may match only these.
    online: bool = Field(primary_key=True)
    #: The chapter the gift is credited to; 0 when it is the drive's only.
    chapter_id: int = Field(primary_key=True)
    net_cents: int = Field(default=0, sa_type=BigInteger)


class LinkTotal(SQLModel, table=True):
    """A drive's gifts by the link each donor came through: per chapter the entry names (0:
    the whole drive), ``?ref=`` and ``utm_source`` ("" when the link carried none), every
    raised entry of a gift (its gift, refunds, disputes and corrections). What the attribution
    pages read, so their cost does not grow with the gifts (``relief.treasury.attribution``).
    An erased donor's gifts move to "" (``ledger.links.forget``): a label may name them."""

    __tablename__ = "link_total"
    drive_id: int = Field(primary_key=True)
    chapter_id: int = Field(primary_key=True)
    ref: str = Field(primary_key=True, max_length=200)
    utm_source: str = Field(primary_key=True, max_length=200)
    gift_count: int = 0
    #: The gift entries alone: what was given, before anything was taken back.
    gifts_cents: int = Field(default=0, sa_type=BigInteger)
    #: Every raised entry: what the gifts raised now.
    raised_cents: int = Field(default=0, sa_type=BigInteger)


class MonthTotal(SQLModel, table=True):
    """A chapter's money per drive, calendar month (in the coalition's zone) and entry kind,
    kept with each entry: what the treasurer's month figures and the monthly report read, so
    they cost the same at any size of ledger."""

    __tablename__ = "month_total"
    chapter_id: int = Field(primary_key=True)
    drive_id: int = Field(primary_key=True)
    month: date = Field(primary_key=True)  # its first day
    kind: EntryKind = Field(sa_column=_enum(EntryKind, primary_key=True))
    amount_cents: int = Field(default=0, sa_type=BigInteger)
    gift_count: int = 0


class SumsZone(SQLModel, table=True):
    """The time zone ``month_total``, ``daily_total`` and ``received_total`` are keyed in (one
    row): the app refuses to start when RELIEF_TIMEZONE says otherwise, until ``flask ledger
    rekey``."""

    __tablename__ = "sums_zone"
    id: int = Field(default=1, primary_key=True)
    zone: str = Field(max_length=64)
    keyed_at: datetime = Field(default_factory=utcnow)


#: A chapter's entries by date: the ledger CSV export. (It was made
#: for the month figures' GROUP BY, which now reads month_total instead.)
Index(
    "ix_entry_chapter_month",
    col(Entry.chapter_id),
    col(Entry.effective_at),
    col(Entry.drive_id),
    col(Entry.kind),
    col(Entry.amount_cents),
)
#: A chapter's entries of one kind in a month (the monthly report's corrections) without
#: reading the month's every entry.
Index("ix_entry_chapter_kind", col(Entry.chapter_id), col(Entry.kind), col(Entry.effective_at))
