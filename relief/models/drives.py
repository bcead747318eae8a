"""Chapters, drives, who takes part, and what the relief partner reports back."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Column, LargeBinary, UniqueConstraint, false
from sqlmodel import Field, SQLModel

from relief.models.base import utcnow


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
    #: The chapter whose books hold what no chapter claims: gifts to the whole drive, Payment
    #: Link gifts without a chapter (``ledger.owner``). One of the drive's chapters; fixed
    #: once the drive has a gift.
    host_chapter_id: int = Field(foreign_key="chapter.id")
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
    #: The sites allowed to show the drive's embed in a frame, ``https://host[:port]`` each,
    #: one a line (relief.share.parse_origins); none: no site may. Its organizers list them.
    embed_origins: str = Field(default="", max_length=2000, sa_column_kwargs={"server_default": ""})
    created_at: datetime = Field(default_factory=utcnow)
    #: The drive's image (:mod:`relief.drive_images`): a digest of its bytes, which names it
    #: in its URL, so a new image is a new URL and the old one can be cached for good; None
    #: without one. Its bytes are in ``drive_image``; the page reads only these columns.
    image_digest: str | None = Field(default=None, max_length=64)
    #: What the image shows, for people who cannot see it (required with an image).
    image_alt: str = Field(default="", max_length=300, sa_column_kwargs={"server_default": ""})
    image_width: int | None = None
    image_height: int | None = None


class DriveImage(SQLModel, table=True):
    """One stored version of a drive's image: the re-encoded bytes, kept in the database so
    every app server serves them without shared files. Named by ``name`` in its URL
    (``<digest>.jpg``, ``<digest>-800.jpg``)."""

    __tablename__ = "drive_image"
    __table_args__ = (UniqueConstraint("drive_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    drive_id: int = Field(foreign_key="drive.id", index=True)
    name: str = Field(max_length=100)
    width: int
    height: int
    content_type: str = Field(max_length=32)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
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


class PartnerReport(SQLModel, table=True):
    """One record of a purchase the relief partner reported for a drive: its first record, a
    correction or a withdrawal. Records are never edited: a correction or withdrawal is a new
    record that supersedes the one before it, with the reason. A purchase counts with its
    newest record, unless that one withdraws it."""

    __tablename__ = "partner_report"
    __table_args__ = (
        CheckConstraint("debt_abolished_cents > 0", name="debt_positive"),
        CheckConstraint("people_helped >= 0", name="people_not_negative"),
        CheckConstraint("revision >= 1", name="revision_positive"),
        # One purchase, one reference per drive: the same letter entered twice is refused,
        # and two corrections of the same record at once cannot both be written.
        UniqueConstraint("drive_id", "partner_reference", "revision"),
    )
    id: int | None = Field(default=None, primary_key=True)
    drive_id: int = Field(foreign_key="drive.id", index=True)
    #: The chapter whose treasury it was entered from.
    chapter_id: int = Field(foreign_key="chapter.id")
    #: The partner's own reference for the purchase (its letter's or invoice's number).
    partner_reference: str = Field(max_length=200)
    #: 1 for a purchase's first record, 2 for the record that corrects or withdraws it, …
    revision: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    #: The record this one corrects or withdraws.
    supersedes_id: int | None = Field(default=None, foreign_key="partner_report.id")
    #: This record withdraws the purchase: it no longer counts anywhere (its figures are
    #: those of the record it withdraws).
    withdrawn: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    #: Why it was corrected or withdrawn; empty on a first record.
    reason: str = Field(default="", max_length=400, sa_column_kwargs={"server_default": ""})
    debt_abolished_cents: int
    people_helped: int
    #: The partner counted households rather than people.
    counts_households: bool = False
    region: str = Field(default="", max_length=200)
    reported_on: date
    recorded_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)


class PartnerReportRemittance(SQLModel, table=True):
    """A remittance whose money paid for the purchase one report records."""

    __tablename__ = "partner_report_remittance"
    report_id: int = Field(foreign_key="partner_report.id", primary_key=True)
    remittance_id: int = Field(foreign_key="remittance.id", primary_key=True)
