"""Accounts, roles, the audit log, and the rate-limit counters every worker shares."""

from __future__ import annotations

import enum
import secrets
from datetime import datetime
from typing import ClassVar

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from relief.models.base import _enum, utcnow


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


class RateLimitCounter(SQLModel, table=True):
    """Fixed-window request counters for Flask-Limiter, shared by every worker through the
    database (see relief/ratelimit.py)."""

    __tablename__ = "rate_limit_counter"
    key: str = Field(primary_key=True, max_length=255)
    count: int = 0
    #: When the window ends (seconds since the epoch); the counter restarts after it.
    expires_at: int = Field(index=True)
