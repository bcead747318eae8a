"""Members' own fundraising pages on a drive, and the one-time links that let a member
write or edit theirs (relief/members.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, UniqueConstraint
from sqlmodel import Field, SQLModel

from relief.models.base import utcnow


class MemberPage(SQLModel, table=True):
    """A chapter member's page on a drive, ``/drives/<slug>/p/<name>``. Pending until an
    organizer of its chapter approves it; hidden at once (with a reason) when one hides it.
    What it has raised is read from the ledger (its gifts' entries), never kept here."""

    __tablename__ = "member_page"
    __table_args__ = (
        UniqueConstraint("drive_id", "name", name="uq_member_page_drive_name"),
        UniqueConstraint("drive_id", "email_key", name="uq_member_page_drive_email"),
        CheckConstraint("goal_cents IS NULL OR goal_cents > 0", name="goal_positive"),
    )
    id: int | None = Field(default=None, primary_key=True)
    drive_id: int = Field(foreign_key="drive.id", index=True)
    #: The chapter its gifts credit.
    chapter_id: int = Field(foreign_key="chapter.id")
    #: The page's address on the drive, chosen by the member; None until they choose it.
    name: str | None = Field(default=None, max_length=40)
    #: The member's name as the public sees it (never their email).
    display_name: str = Field(max_length=80)
    #: Private: where the member's links go; never on a public page, API or CSV.
    email: str = Field(max_length=320)
    #: email normalised (models/privacy.email_key): one page per member and drive.
    email_key: str = Field(max_length=320)
    story: str = Field(default="", max_length=2000)
    goal_cents: int | None = None
    created_at: datetime = Field(default_factory=utcnow)
    #: When an organizer approved it (it is public from then, unless hidden).
    approved_at: datetime | None = None
    approved_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    #: When an organizer hid it (a 404 from then), and why.
    hidden_at: datetime | None = None
    hidden_reason: str = Field(default="", max_length=400)


class MemberLink(SQLModel, table=True):
    """A one-time link to write or edit a member page. Like a donor's link, the token is not
    stored: it is derived from ``nonce`` with SECRET_KEY, and only its hash is kept."""

    __tablename__ = "member_link"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    nonce: str = Field(max_length=64)
    member_page_id: int = Field(foreign_key="member_page.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None
