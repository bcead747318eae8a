"""Accounts, roles, the audit log, and the rate-limit counters every worker shares."""

from __future__ import annotations

import enum
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
    #: A coalition admin sees every chapter and the audit log.
    is_admin: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    #: Set by `user remove`: the account can no longer sign in. The row stays, so the names
    #: on batches and remittances it recorded keep pointing somewhere.
    removed_at: datetime | None = None
    #: The TOTP secret (base32) once the person enrolled in two-factor sign-in; None: off.
    totp_secret: str | None = Field(default=None, max_length=64)
    #: The last TOTP time step accepted: a code is never accepted twice (relief/two_factor.py).
    totp_last_step: int | None = None
    #: Asked for the daily digest of what needs attention (relief/treasury/digest.py).
    digest: bool = False

    # Flask-Login's protocol, without its mixin (kept free of Flask imports).
    is_authenticated: ClassVar[bool] = True
    is_anonymous: ClassVar[bool] = False

    @property
    def is_active(self) -> bool:
        return self.removed_at is None

    @property
    def sign_in_token(self) -> str | None:
        """The token of the sign-in session this account was signed in or loaded with (kept on
        the object, never in this row): what Flask-Login puts in the session cookie."""
        return self.__dict__.get("_sign_in_token")

    @sign_in_token.setter
    def sign_in_token(self, token: str) -> None:
        self.__dict__["_sign_in_token"] = token

    def get_id(self) -> str | None:
        return self.sign_in_token


class SignInSession(SQLModel, table=True):
    """One signed-in browser. The session cookie carries only a random token; this row holds
    its hash, so a copied cookie works only while the row is live (not ended)."""

    __tablename__ = "sign_in_session"
    id: int | None = Field(default=None, primary_key=True)
    #: SHA-256 of the cookie's token (the token itself is never stored).
    token_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    #: Updated at most once a minute, so reading a page rarely writes.
    last_seen_at: datetime = Field(default_factory=utcnow)
    #: The browser's User-Agent, cut short: shown to the user as the device.
    user_agent: str = Field(default="", max_length=200)
    #: The client's address at sign-in (the proxy's view only with RELIEF_TRUSTED_PROXIES).
    address: str = Field(default="", max_length=64)
    #: SHA-256 of the address and full User-Agent at sign-in: a request from another address
    #: or browser is not signed in by this session.
    binding_hash: str = Field(max_length=64)
    #: Signed out, ended from another session, by a password change or reset, or by an admin.
    ended_at: datetime | None = None


class SignInFailure(SQLModel, table=True):
    """Wrong passwords for one account from one address (see relief/sign_in_throttle.py)."""

    __tablename__ = "sign_in_failure"
    #: SHA-256 of the email as typed (lowercased): unknown emails are counted alike, and no
    #: email is kept here.
    account_key: str = Field(primary_key=True, max_length=64)
    address: str = Field(primary_key=True, max_length=64)
    failures: int = 0
    last_failed_at: datetime = Field(default_factory=utcnow, index=True)


class LinkPurpose(enum.StrEnum):
    INVITATION = "invitation"
    RESET = "reset"


class AccountLink(SQLModel, table=True):
    """A one-time link emailed to a person: an invitation to set a first password, or a
    password reset (relief/accounts.py). The link's token is never stored: it is an HMAC of
    ``nonce`` under the app's SECRET_KEY (so the mail job can rebuild it), and this row keeps
    only its SHA-256 — a copy of the database opens no account."""

    __tablename__ = "account_link"
    id: int | None = Field(default=None, primary_key=True)
    purpose: LinkPurpose = Field(sa_column=_enum(LinkPurpose))
    user_id: int = Field(foreign_key="user_account.id", index=True)
    nonce: str = Field(max_length=64, unique=True)
    #: SHA-256 of the link's token.
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    #: Set when the link is used (or a newer link of the same purpose replaces it).
    used_at: datetime | None = None
    #: Who sent it: the admin's email for an invitation, "" for a reset the person asked.
    sent_by: str = Field(default="", max_length=320)


class RecoveryCode(SQLModel, table=True):
    """One of the codes shown once at two-factor enrolment, for a lost phone; each works once."""

    __tablename__ = "recovery_code"
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    #: SHA-256 of the code (the code itself is never stored).
    code_hash: str = Field(max_length=64, unique=True)
    used_at: datetime | None = None


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
