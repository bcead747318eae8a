"""Optional two-factor sign-in: a time-based one-time code (TOTP, RFC 6238, by pyotp) from an
authenticator app, or one of ten recovery codes shown once at enrolment.

A code is accepted for the current 30-second step or the one either side (a phone's clock
drifts), and never twice: the last accepted step is kept, so a code seen over a shoulder is
useless once used. Recovery codes are stored as SHA-256 and each works once. Wrong codes are
slowed like wrong passwords (relief/sign_in_throttle.py, keyed by the account), in auth.py.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

import pyotp
import segno
from sqlmodel import Session, col, select

from relief.errors import InvalidInput
from relief.models import Membership, RecoveryCode, Role, User, present, utcnow

RECOVERY_CODES = 10
#: Steps either side of now a code may come from.
DRIFT = 1


def new_secret() -> str:
    return pyotp.random_base32()


def qr_svg(secret: str, email: str, issuer: str) -> str:
    """The QR code an authenticator app scans, as a ``data:`` URI of an SVG (the page's CSP
    allows ``img-src data:``; nothing is fetched, the secret never leaves the page)."""
    uri = pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=issuer)
    return segno.make(uri, error="m").svg_data_uri(scale=4, border=2)


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _clean(code: str) -> str:
    return "".join((code or "").split()).lower()


def _accepted_step(secret: str, code: str, after: int | None, now: datetime) -> int | None:
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in range(current - DRIFT, current + DRIFT + 1):
        if (after is None or step > after) and secrets.compare_digest(
            totp.generate_otp(step), code
        ):
            return step
    return None


def enrol(session: Session, user: User, secret: str, code: str, now: datetime | None = None):
    """Turn two-factor sign-in on once the app shows the right code for ``secret``; returns
    the recovery codes (shown once, stored hashed). Earlier recovery codes stop working."""
    step = _accepted_step(secret, _clean(code), None, now or utcnow())
    if step is None:
        raise InvalidInput(
            "That code is not right. Scan the QR code again and type the 6 digits your app "
            "shows now."
        )
    user.totp_secret = secret
    user.totp_last_step = step
    for old in session.exec(select(RecoveryCode).where(RecoveryCode.user_id == user.id)):
        session.delete(old)
    codes = [f"{secrets.token_hex(4)}-{secrets.token_hex(4)}" for _ in range(RECOVERY_CODES)]
    for code_text in codes:
        session.add(RecoveryCode(user_id=present(user.id), code_hash=_hash(code_text)))
    session.flush()
    return codes


def check(session: Session, user: User, code: str, now: datetime | None = None) -> str | None:
    """What accepted ``code`` for this enrolled account — "code" or "recovery code" — and it is
    used up; None if it is not right (or already used)."""
    code = _clean(code)
    if user.totp_secret and code.isdigit():
        step = _accepted_step(user.totp_secret, code, user.totp_last_step, now or utcnow())
        if step is not None:
            user.totp_last_step = step
            session.flush()
            return "code"
        return None
    found = session.exec(
        select(RecoveryCode).where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == _hash(code),
            col(RecoveryCode.used_at).is_(None),
        )
    ).first()
    if found is None:
        return None
    found.used_at = now or utcnow()
    session.flush()
    return "recovery code"


def turn_off(session: Session, user: User) -> None:
    """Forget the app's secret and every recovery code: sign-in asks the password only,
    until the person sets two-factor sign-in up again (at once, where it is required)."""
    user.totp_secret = None
    user.totp_last_step = None
    for code in session.exec(select(RecoveryCode).where(RecoveryCode.user_id == user.id)):
        session.delete(code)
    session.flush()


def recovery_codes_left(session: Session, user: User) -> int:
    return len(
        session.exec(
            select(RecoveryCode.id).where(
                RecoveryCode.user_id == user.id, col(RecoveryCode.used_at).is_(None)
            )
        ).all()
    )


def required_for(session: Session, user: User) -> bool:
    """Whom RELIEF_REQUIRE_2FA binds: coalition admins and treasurers."""
    if user.is_admin:
        return True
    return (
        session.exec(
            select(Membership).where(
                Membership.user_id == user.id, Membership.role == Role.TREASURER
            )
        ).first()
        is not None
    )
