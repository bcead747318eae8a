"""Sign-in sessions kept on the server: signing out really ends one.

The session cookie (Flask's, signed) carries only a random token; ``sign_in_session`` holds its
SHA-256, the account, when and from where. A cookie signs a request in only while its row is
live — not ended, younger than :data:`LIFETIME` — and the request comes from the address and
browser the session signed in from (:func:`binding_of`). So a copied cookie is refused once
its owner signs out, ends it from another browser, changes or resets the password, or an admin
signs the account out; and it never works from another address, whatever forwarding headers
the copier sends (the address is the one the app sees: the socket's, or the trusted proxy's
view with RELIEF_TRUSTED_PROXIES).

Services here take the unit's session and flush; the caller audits each end.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from relief.models import SignInSession, User, present, utcnow

#: As long as Flask's own cookie lives (PERMANENT_SESSION_LIFETIME): after it, sign in again.
LIFETIME = timedelta(days=31)
#: "Last seen" is written at most this often, so reading pages rarely writes.
SEEN_EVERY = timedelta(minutes=1)
USER_AGENT_SHOWN = 200


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def binding_of(address: str, user_agent: str) -> str:
    """What a request must match to use a session: its address and full User-Agent."""
    return _hash(f"{address}\n{user_agent}")


def begin(session: Session, user: User, address: str, user_agent: str) -> str:
    """A new live session for ``user``; returns its token (for the cookie, never stored).
    Also sets ``user.sign_in_token``, which Flask-Login writes into the cookie."""
    token = secrets.token_urlsafe(32)
    session.add(
        SignInSession(
            token_hash=_hash(token),
            user_id=present(user.id),
            user_agent=user_agent[:USER_AGENT_SHOWN],
            address=address[:64],
            binding_hash=binding_of(address, user_agent),
        )
    )
    session.flush()
    user.sign_in_token = token
    return token


def _live(now: datetime):
    return (col(SignInSession.ended_at).is_(None), SignInSession.created_at > now - LIFETIME)


def load(
    session: Session, token: str, address: str, user_agent: str
) -> tuple[User, SignInSession] | None:
    """The account and its session that ``token`` signs in, if the session is live, its
    account not removed, and the request comes from the session's address and browser."""
    now = utcnow()
    row = session.exec(
        select(User, SignInSession)
        .join(SignInSession, col(SignInSession.user_id) == col(User.id))
        .where(
            SignInSession.token_hash == _hash(token or ""),
            col(User.removed_at).is_(None),
            *_live(now),
        )
    ).first()
    if row is None:
        return None
    user, sign_in = row
    if not secrets.compare_digest(sign_in.binding_hash, binding_of(address, user_agent)):
        return None
    user.sign_in_token = token
    return user, sign_in


def needs_touch(sign_in: SignInSession) -> bool:
    return utcnow() - sign_in.last_seen_at >= SEEN_EVERY


def touch(engine: Engine, session_id: int) -> None:
    """Record that the session was used now, in its own short transaction (a page read is not
    a writer unit; on SQLite this takes the write lock for one UPDATE)."""
    now = utcnow()
    with engine.connect().execution_options(relief_write=True) as connection:
        with connection.begin():
            connection.execute(
                update(SignInSession)
                .where(
                    col(SignInSession.id) == session_id,
                    col(SignInSession.last_seen_at) <= now - SEEN_EVERY,
                )
                .values(last_seen_at=now)
            )


def live_sessions(session: Session, user: User) -> list[SignInSession]:
    """The account's live sessions, most recently seen first."""
    return list(
        session.exec(
            select(SignInSession)
            .where(SignInSession.user_id == user.id, *_live(utcnow()))
            .order_by(col(SignInSession.last_seen_at).desc(), col(SignInSession.id).desc())
        )
    )


def end(session: Session, user: User, session_id: int) -> bool:
    """End one of ``user``'s live sessions; False if it is not theirs or not live (the caller
    answers the same for both)."""
    sign_in = session.get(SignInSession, session_id)
    if sign_in is None or sign_in.user_id != user.id or sign_in.ended_at is not None:
        return False
    sign_in.ended_at = utcnow()
    session.flush()
    return True


def end_all(session: Session, user: User, keep: int | None = None) -> int:
    """End every live session of ``user`` but ``keep`` (the one asking); how many ended."""
    now = utcnow()
    conditions = [SignInSession.user_id == user.id, *_live(now)]
    if keep is not None:
        conditions.append(col(SignInSession.id) != keep)
    ended = session.exec(select(SignInSession).where(*conditions)).all()
    for sign_in in ended:
        sign_in.ended_at = now
    session.flush()
    return len(ended)


def current(session: Session, user: User) -> SignInSession | None:
    """The session ``user`` was loaded with (by its token), if it is still live."""
    if not user.sign_in_token:
        return None
    return session.exec(
        select(SignInSession).where(
            SignInSession.token_hash == _hash(user.sign_in_token), *_live(utcnow())
        )
    ).first()


def end_current(session: Session, user: User) -> bool:
    """Signing out: the session ``user`` was loaded with ends (its cookie is refused from now
    on, copies included)."""
    sign_in = current(session, user)
    if sign_in is None:
        return False
    return end(session, user, present(sign_in.id))


@dataclass(frozen=True)
class SessionLine:
    """One live session as the account's sessions page shows it."""

    id: int
    device: str
    address: str
    signed_in_at: datetime
    last_seen_at: datetime
    this_one: bool


def sessions_page(session: Session, user: User) -> list[SessionLine]:
    """The account's live sessions, the one asking first, then by last seen."""
    here = current(session, user)
    lines = [
        SessionLine(
            id=present(row.id),
            device=row.user_agent or "unknown browser",
            address=row.address or "unknown address",
            signed_in_at=row.created_at,
            last_seen_at=row.last_seen_at,
            this_one=here is not None and row.id == here.id,
        )
        for row in live_sessions(session, user)
    ]
    return sorted(lines, key=lambda line: not line.this_one)
