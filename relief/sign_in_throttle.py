"""Sign-in throttling that slows guessing but cannot lock the account's owner out.

Wrong passwords are counted per account *and* address (``sign_in_failure``). An address that
has been failing for an account waits before its next password for that account is even
checked; the wait doubles with the account's failures from every address (the first
:data:`FREE_FAILURES` are free: typos) up to :data:`LONGEST_WAIT`. An address that has not
been failing for the account is never held back by this: the owner, from their own address,
with the right password, signs in while someone elsewhere guesses. Failures are forgotten a
day after an address's last one, and an address's failures when it signs in.

The per-address limit on the sign-in route (views/account.py, all accounts together) stays.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta

from sqlalchemy import case, delete, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from relief.models import SignInFailure, email_key, table_of, utcnow

#: Wrong passwords an account may get (from every address) before failing addresses wait.
FREE_FAILURES = 3
#: The wait never grows past this: the owner who mistypes during an attack waits at most this.
LONGEST_WAIT = timedelta(hours=1)
#: Failures older than this (after an address's last one) are forgotten.
MEMORY = timedelta(days=1)


def account_key(email: str) -> str:
    """The email as compared everywhere (``models.email_key``: NFKC and Unicode case folding, so
    ``ÉCHO@x`` and ``écho@x`` are one account), hashed: unknown emails count like real ones."""
    return hashlib.sha256(email_key(email).encode()).hexdigest()


def wait_after(failures: int) -> timedelta:
    """How long a failing address waits once the account has had ``failures`` wrong
    passwords: nothing for the first few, then 2, 4, 8 … seconds, at most an hour."""
    if failures <= FREE_FAILURES:
        return timedelta(0)
    doublings = min(failures - FREE_FAILURES, 20)  # 2**20 s is far past the longest wait
    return min(LONGEST_WAIT, timedelta(seconds=2**doublings))


def seconds_to_wait(session: Session, email: str, address: str, now: datetime | None = None):
    """Seconds before ``address`` may try a password for ``email`` again; 0 for an address
    that has not been failing for it (whatever others do)."""
    now = now or utcnow()
    key = account_key(email)
    last_failed_at = session.exec(
        select(SignInFailure.last_failed_at).where(
            SignInFailure.account_key == key,
            SignInFailure.address == address[:64],
            SignInFailure.last_failed_at > now - MEMORY,
        )
    ).first()
    if last_failed_at is None:
        return 0
    failures = session.exec(
        select(func.coalesce(func.sum(SignInFailure.failures), 0)).where(
            SignInFailure.account_key == key, SignInFailure.last_failed_at > now - MEMORY
        )
    ).one()
    ready = last_failed_at + wait_after(int(failures))
    return max(0, math.ceil((ready - now).total_seconds()))


def record_failure(session: Session, email: str, address: str) -> int:
    """Count a wrong password from ``address`` for ``email``; returns the seconds the address
    must now wait. Flushes (the caller keeps it even when the answer is a refusal)."""
    now = utcnow()
    table = table_of(SignInFailure)
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    forgotten = table.c.last_failed_at <= now - MEMORY
    first = {"account_key": account_key(email), "address": address[:64], "failures": 1}
    session.execute(
        insert(table)
        .values(**first, last_failed_at=now)
        .on_conflict_do_update(
            index_elements=[table.c.account_key, table.c.address],
            set_={
                "failures": case((forgotten, 1), else_=table.c.failures + 1),
                "last_failed_at": now,
            },
        )
    )
    # Keep the table small: failures past memory count for nothing.
    session.execute(delete(SignInFailure).where(col(SignInFailure.last_failed_at) <= now - MEMORY))
    return seconds_to_wait(session, email, address, now)


def forget(session: Session, email: str, address: str) -> None:
    """The address signed in to the account: its failures for it no longer count."""
    session.execute(
        delete(SignInFailure).where(
            col(SignInFailure.account_key) == account_key(email),
            col(SignInFailure.address) == address[:64],
        )
    )
