"""Accounts run from the browser: the password rules, invitations, password resets by email,
roles and removal by a coalition admin.

An invitation and a reset are one-time links (:class:`relief.models.AccountLink`): the token
in the link is an HMAC of the row's random nonce under the app's SECRET_KEY, so the mail job
rebuilds it when it sends (nothing secret sits in the outbox) and the row keeps only the
token's SHA-256. A link works once, until it expires; a newer link of the same purpose for
the same person replaces the older one. Services flush; the caller's unit commits (the
email's job is enqueued in the same unit, so it exists exactly when the link does).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select
from werkzeug.security import generate_password_hash

from relief import drives, sign_in_sessions, two_factor
from relief.errors import Conflict, InvalidInput, NotFound
from relief.models import (
    AccountLink,
    Chapter,
    LinkPurpose,
    Membership,
    Role,
    User,
    present,
    utcnow,
)
from relief.outbox import due
from relief.validation import EMAIL

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
#: How long each kind of link works.
LIFETIME = {LinkPurpose.INVITATION: timedelta(days=7), LinkPurpose.RESET: timedelta(minutes=30)}
#: What a role field may say besides the roles: the account has no role in that chapter.
NO_ROLE = "none"


def normal_email(email: str) -> str:
    email = (email or "").strip().lower()
    if not EMAIL.match(email) or len(email) > 320:
        raise InvalidInput(f"“{email[:80]}” is not an email address.")
    return email


def check_password(password: str) -> str:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"The password must be at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(f"The password must be at most {MAX_PASSWORD_LENGTH} characters.")
    return password


def hash_password(password: str) -> str:
    return generate_password_hash(check_password(password), method="scrypt")


# --- One-time links ---------------------------------------------------------------------------


def link_token(secret: str, link: AccountLink) -> str:
    """The token in the link's URL (rebuilt from the nonce; never stored)."""
    digest = hmac.new(secret.encode(), f"account-link:{link.nonce}".encode(), hashlib.sha256)
    return digest.hexdigest()


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_link(
    session: Session, secret: str, user: User, purpose: LinkPurpose, sent_by: str, now: datetime
) -> AccountLink:
    for older in session.exec(
        select(AccountLink).where(
            AccountLink.user_id == user.id,
            AccountLink.purpose == purpose,
            col(AccountLink.used_at).is_(None),
        )
    ):
        older.used_at = now  # replaced: only the newest link works
    link = AccountLink(
        purpose=purpose,
        user_id=present(user.id),
        nonce=secrets.token_hex(32),
        token_hash="",
        created_at=now,
        expires_at=now + LIFETIME[purpose],
        sent_by=sent_by[:320],
    )
    link.token_hash = _token_hash(link_token(secret, link))
    session.add(link)
    session.flush()
    due.account_mail(session, present(link.id), purpose.value)
    return link


class LinkRefused(InvalidInput):
    """The link is unknown, used or expired: a sentence saying so, and what to do."""

    status_code = 410


def open_link(
    session: Session, token: str, purpose: LinkPurpose, now: datetime | None = None
) -> tuple[AccountLink, User]:
    """The live link with this token and its account, or :class:`LinkRefused`."""
    now = now or utcnow()
    again = (
        "Ask your coalition admin to invite you again."
        if purpose == LinkPurpose.INVITATION
        else "Ask for a new one on the sign-in page (“Forgot your password?”)."
    )
    link = session.exec(
        select(AccountLink).where(
            AccountLink.token_hash == _token_hash(token or ""), AccountLink.purpose == purpose
        )
    ).first()
    user = session.get(User, link.user_id) if link is not None else None
    if link is None or user is None:
        raise LinkRefused(f"This link is not valid. {again}")
    if link.used_at is not None:
        raise LinkRefused(f"This link was already used (each link works once). {again}")
    if link.expires_at <= now:
        raise LinkRefused(f"This link has expired. {again}")
    if purpose == LinkPurpose.RESET and user.removed_at is not None:
        raise LinkRefused(f"This link is not valid. {again}")
    return link, user


def use_link(
    session: Session, token: str, purpose: LinkPurpose, password: str, now: datetime | None = None
) -> tuple[User, int]:
    """Set the account's password through a live link, which is then used up; every sign-in
    session of the account ends. Returns the account and how many sessions ended."""
    now = now or utcnow()
    link, user = open_link(session, token, purpose, now)
    user.password_hash = hash_password(password)
    user.removed_at = None
    link.used_at = now
    ended = sign_in_sessions.end_all(session, user)
    session.flush()
    return user, ended


# --- Invitations and roles (a coalition admin) ------------------------------------------------


def set_role(session: Session, user: User, chapter_slug: str, role: str) -> str:
    """Give ``user`` ``role`` in the chapter (or none); a sentence saying what changed."""
    chapter = drives.get_chapter(session, chapter_slug)
    membership = session.get(Membership, (user.id, chapter.id))
    if role == NO_ROLE:
        if membership is None:
            raise Conflict(f"{user.email} has no role in {chapter.slug}.")
        session.delete(membership)
        session.flush()
        return f"{user.email}: no longer {membership.role.value} of {chapter.slug}"
    try:
        wanted = Role(role)
    except ValueError:
        raise InvalidInput("Choose a role: treasurer, organizer or none.") from None
    if membership is not None and membership.role == wanted:
        raise Conflict(f"{user.email} is already {wanted.value} of {chapter.slug}.")
    if membership is None:
        session.add(
            Membership(user_id=present(user.id), chapter_id=present(chapter.id), role=wanted)
        )
    else:
        membership.role = wanted
    session.flush()
    return f"{user.email}: {wanted.value} of {chapter.slug}"


def invite(
    session: Session,
    secret: str,
    email: str,
    *,
    invited_by: str,
    chapter_slugs: list[str] | tuple[str, ...] = (),
    role: str = Role.TREASURER.value,
    admin: bool = False,
    now: datetime | None = None,
) -> tuple[User, AccountLink]:
    """Invite a person: an account that cannot sign in until its owner sets a password through
    the emailed link (7 days, once). A removed account is invited back; an active one is a
    :class:`Conflict` (change its roles instead). Flushes; the email is a job of this unit."""
    now = now or utcnow()
    email = normal_email(email)
    if not chapter_slugs and not admin:
        raise InvalidInput("Choose at least one chapter, or make the person a coalition admin.")
    if chapter_slugs and role not in {r.value for r in Role}:
        raise InvalidInput("Choose the role in those chapters: treasurer or organizer.")
    chapters = [drives.get_chapter(session, slug) for slug in chapter_slugs]
    user = session.exec(select(User).where(User.email == email)).first()
    if user is not None and user.removed_at is None:
        raise Conflict(f"{email} already has an account: change its roles below instead.")
    if user is None:
        user = User(email=email, password_hash="!")  # "!" matches no password
        session.add(user)
    else:
        user.password_hash = "!"
    user.is_admin = admin
    session.flush()
    for chapter in chapters:
        if session.get(Membership, (user.id, chapter.id)) is None:
            session.add(
                Membership(
                    user_id=present(user.id), chapter_id=present(chapter.id), role=Role(role)
                )
            )
    session.flush()
    return user, _new_link(session, secret, user, LinkPurpose.INVITATION, invited_by, now)


def get_account(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or user.removed_at is not None:
        raise NotFound("There is no such account.")
    return user


def change_role(session: Session, user_id: int, chapter_slug: str, role: str) -> str:
    """An admin gives an account a role in a chapter, or takes it away; a sentence of what
    changed (for the audit log)."""
    return set_role(session, get_account(session, user_id), chapter_slug, role)


def remove(session: Session, user_id: int, by: User) -> tuple[User, int]:
    """An admin removes an account: it loses its roles and cannot sign in; every sign-in
    session ends and every unused link stops working. What it recorded stays."""
    user = get_account(session, user_id)
    if user.id == by.id:
        raise InvalidInput("You cannot remove your own account: ask another admin.")
    now = utcnow()
    for membership in session.exec(select(Membership).where(Membership.user_id == user.id)):
        session.delete(membership)
    for link in session.exec(
        select(AccountLink).where(
            AccountLink.user_id == user.id, col(AccountLink.used_at).is_(None)
        )
    ):
        link.used_at = now
    user.removed_at = now
    user.is_admin = False
    user.password_hash = "!"
    ended = sign_in_sessions.end_all(session, user)
    session.flush()
    return user, ended


def reset_two_factor(session: Session, user_id: int, by: User) -> tuple[User, int]:
    """An admin turns off someone's two-factor sign-in (a lost phone and lost recovery codes):
    the secret and codes are forgotten and every sign-in session of theirs ends, so the next
    sign-in is by password — and then sets it up again where RELIEF_REQUIRE_2FA binds them."""
    user = get_account(session, user_id)
    if user.id == by.id:
        raise InvalidInput(
            "Turn off your own two-factor sign-in from your account page (it asks your password)."
        )
    if not user.totp_secret:
        raise InvalidInput(f"{user.email} has no two-factor sign-in to turn off.")
    two_factor.turn_off(session, user)
    return user, sign_in_sessions.end_all(session, user)


def turn_off_own_two_factor(session: Session, user: User, required: bool) -> None:
    """A person turns off their own two-factor sign-in (their password checked first, counted
    like a sign-in: auth.check_password); refused where RELIEF_REQUIRE_2FA binds them
    (``required``): they set it up again instead."""
    if required:
        raise InvalidInput(
            "Your coalition requires two-factor sign-in for treasurers and admins. To move it "
            "to a new phone, set it up again above: that replaces the old one."
        )
    two_factor.turn_off(session, user)


# --- Password reset (anyone) ------------------------------------------------------------------


def request_reset(session: Session, secret: str, email: str, now: datetime | None = None) -> bool:
    """Email a reset link if an active account has this address; nothing otherwise. The
    caller answers the same either way (the return value is for tests and the log)."""
    try:
        email = normal_email(email)
    except InvalidInput:
        return False
    user = session.exec(select(User).where(User.email == email)).first()
    if user is None or user.removed_at is not None:
        return False
    _new_link(session, secret, user, LinkPurpose.RESET, "", now or utcnow())
    return True


@dataclass(frozen=True)
class LinkMail:
    """What an account email needs: to whom, the link's token, when it expires, who sent it."""

    email: str
    purpose: LinkPurpose
    token: str
    expires_at: datetime
    sent_by: str
    roles: list[tuple[str, str]]
    is_admin: bool


def link_mail(session: Session, secret: str, link_id: int) -> LinkMail | None:
    """The email of a link still worth sending; None once it is used, replaced or expired."""
    link = session.get(AccountLink, link_id)
    if link is None or link.used_at is not None or link.expires_at <= utcnow():
        return None
    user = session.get(User, link.user_id)
    if user is None:
        return None
    roles = [
        (slug, Role(role).value)
        for slug, role in session.exec(
            select(Chapter.slug, Membership.role)
            .join(Membership, col(Membership.chapter_id) == Chapter.id)
            .where(Membership.user_id == user.id)
            .order_by(Chapter.slug)
        )
    ]
    return LinkMail(
        user.email,
        link.purpose,
        link_token(secret, link),
        link.expires_at,
        link.sent_by,
        roles,
        user.is_admin,
    )


def chapters(session: Session) -> list[Chapter]:
    """Every chapter, by name (what an admin gives roles in)."""
    return list(session.exec(select(Chapter).order_by(Chapter.name)))
