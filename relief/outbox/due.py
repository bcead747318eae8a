"""The work a change makes due, by name: each enqueues one job in the caller's unit of work,
under the key that makes it happen once (a redelivered webhook enqueues nothing new).

Mail jobs carry ids only; the address is read when the mail is sent, so a donor erased
meanwhile gets nothing (relief/mail/jobs.py checks again)."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session

from relief.models import Gift, JobStatus
from relief.outbox import Due, by_key, enqueue, enqueue_all, requeue


def fee(session: Session, gift_id: int) -> bool:
    """Read this gift's processing fee from Stripe."""
    return enqueue(session, "fee", f"fee:gift:{gift_id}", {"gift_id": gift_id})


def fee_now(session: Session, gift_id: int) -> None:
    """The gift's fee job, due now with fresh attempts (``stripe sync-fees``), unless a worker
    holds it."""
    fee(session, gift_id)
    job = by_key(session, f"fee:gift:{gift_id}")
    if job is not None and job.status != JobStatus.RUNNING:
        requeue(job)
        session.flush()


def refund_amount(session: Session, gift_id: int, refund_id: str) -> bool:
    """Read what a refund in another currency than its gift's took out of the account (its
    balance transaction), and post that (``payments.refund_reader``)."""
    return enqueue(
        session,
        "refund-amount",
        f"refund-amount:{refund_id}",
        {"gift_id": gift_id, "refund_id": refund_id},
    )


def gift_paid(session: Session, gift: Gift) -> int:
    """What a gift just paid makes due, in one statement: its receipt, the card its donor
    asked us to send (the first payment of a monthly gift only: later months keep no card),
    and the reading of its processing fee; how many jobs were written."""
    if gift.id is None:
        raise ValueError("the gift is not flushed yet")
    return enqueue_all(
        session, paid_gift_jobs(gift.id, gift.donor_email, gift.card_email, gift.fee_pending)
    )


def paid_gift_jobs(
    gift_id: int, donor_email: str | None, card_email: str | None, fee_pending: bool
) -> list[Due]:
    """The jobs of :func:`gift_paid`, for the caller to write (many gifts' at once)."""
    jobs: list[Due] = []
    if donor_email:  # no address (or erased): no receipt
        key = f"receipt:gift:{gift_id}"
        jobs.append(Due("mail", key, {"template": "receipt", "gift_id": gift_id}))
    if card_email:
        key = f"honour-card:gift:{gift_id}"
        jobs.append(Due("mail", key, {"template": "honour_card", "gift_id": gift_id}))
    if fee_pending:
        jobs.append(Due("fee", f"fee:gift:{gift_id}", {"gift_id": gift_id}))
    return jobs


def _mail(session: Session, gift: Gift, key: str, template: str, **values) -> bool:
    if not gift.donor_email or gift.id is None:
        return False  # no address (or erased): nothing to send
    return enqueue(session, "mail", key, {"template": template, "gift_id": gift.id, **values})


def receipt(session: Session, gift: Gift) -> bool:
    """The receipt of a gift just paid (each month of a monthly gift is a gift of its own)."""
    return _mail(session, gift, f"receipt:gift:{gift.id}", "receipt")


def refund_notice(session: Session, gift: Gift, refunded_cents: int) -> bool:
    """A notice that the gift was refunded, once per refunded total it reaches."""
    key = f"notice:refund:gift:{gift.id}:{refunded_cents}"
    return _mail(session, gift, key, "refund", refunded_cents=refunded_cents)


def dispute_notice(session: Session, gift: Gift, dispute_id: str) -> bool:
    """A notice that a dispute withheld the gift, once per dispute."""
    key = f"notice:dispute:{dispute_id}"
    return _mail(session, gift, key, "dispute", dispute_id=dispute_id)


def year_end(session: Session, gift: Gift, year: int, donor_hash: str) -> bool:
    """A donor's year-end statement, once per donor and year: ``donor_hash`` is the keyed
    hash of their normalised address (relief/privacy.py), ``gift`` their latest gift of the
    year, whose address the mail goes to."""
    return _mail(session, gift, f"year-end:{year}:{donor_hash[:64]}", "year_end", year=year)


def digest(session: Session, user_id: int, day: date) -> bool:
    """A person's daily digest of what needs attention, once per day."""
    return enqueue(
        session,
        "mail",
        f"digest:{user_id}:{day.isoformat()}",
        {"template": "digest", "user_id": user_id, "day": day.isoformat()},
    )


def account_mail(session: Session, link_id: int, purpose: str) -> bool:
    """An invitation or a password reset: the email carrying a one-time link (its token is
    rebuilt when the mail is sent, never kept in the job; relief/accounts.py)."""
    return enqueue(
        session,
        "mail",
        f"account:{purpose}:link:{link_id}",
        {"template": purpose, "link_id": link_id},
    )
