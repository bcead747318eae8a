"""Stripe payout sync: bring our payouts and their balance transactions up to what Stripe
states, match each transaction to its gift, and post Stripe's dispute fees to the ledger.

Both `flask stripe sync` and the treasurer's Sync button call :func:`sync`. The reconciliation
screens read what it stores through :mod:`relief.treasury.payouts`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import literal, or_
from sqlmodel import Session, col, select

from relief import ledger
from relief.ledger import owner
from relief.models import (
    Chapter,
    Drive,
    Entry,
    EntryKind,
    Gift,
    Payout,
    PayoutTransaction,
    utcnow,
)
from relief.payments.gateway import BalanceTransactionInfo, Gateway, PayoutInfo
from relief.treasury import audit
from relief.treasury.payouts import DISPUTE_FEE, NOT_PAID_OUT

#: Statuses after which a payout no longer changes.
FINAL = ("paid", "failed", "canceled")
#: Payouts listed between checkpoints (Stripe's page size).
CHECKPOINT_EVERY = 100
#: Stripe's reporting categories of a dispute's adjustments (money withdrawn, and put back).
DISPUTE_CATEGORIES = ("dispute", "dispute_reversal")


@dataclass
class SyncResult:
    test_mode: bool = False
    payouts_seen: int = 0
    payouts_new: int = 0
    transactions_new: int = 0
    transactions_matched: int = 0

    def sentence(self) -> str:
        if self.test_mode:
            return "Test mode: there is no Stripe account, so nothing to sync."
        return (
            f"Synced {self.payouts_seen} payout{'s' if self.payouts_seen != 1 else ''} "
            f"({self.payouts_new} new) and {self.transactions_new} new balance "
            f"transaction{'s' if self.transactions_new != 1 else ''}; "
            f"{self.transactions_matched} matched to gifts."
        )


def _since(session: Session) -> datetime | None:
    """Where the payout list resumes: the oldest payout that can still change (not final, or its
    transactions not all stored), else the newest payout; None (everything) the first time."""
    open_payout = session.exec(
        select(Payout.created)
        .where(
            or_(
                col(Payout.status).not_in(FINAL),
                (col(Payout.transactions_complete).is_(False))
                & col(Payout.automatic).is_(True)
                & col(Payout.status).not_in(NOT_PAID_OUT),
            )
        )
        .order_by(col(Payout.created))
    ).first()
    if open_payout is not None:
        return open_payout
    return session.exec(select(Payout.created).order_by(col(Payout.created).desc())).first()


def _upsert_payout(session: Session, info: PayoutInfo) -> bool:
    """Bring our row up to Stripe's payout; True when it is new."""
    payout = session.exec(select(Payout).where(Payout.stripe_id == info.id)).first()
    new = payout is None
    if payout is None:
        payout = Payout(
            stripe_id=info.id,
            created=info.created,
            arrival_date=info.arrival_date,
            amount_cents=info.amount_cents,
            status=info.status,
        )
        session.add(payout)
    payout.amount_cents = info.amount_cents
    payout.currency = info.currency
    payout.status = info.status
    payout.automatic = info.automatic
    payout.arrival_date = info.arrival_date
    payout.description = info.description[:500]
    payout.failure_message = info.failure_message[:500]
    payout.synced_at = utcnow()
    session.flush()
    return new


def _gift_for(
    session: Session, charge_id: str | None, payment_intent_id: str | None
) -> Gift | None:
    if charge_id:
        gift = session.exec(select(Gift).where(Gift.stripe_charge_id == charge_id)).first()
        if gift is not None:
            return gift
    if payment_intent_id:
        return session.exec(
            select(Gift).where(Gift.stripe_payment_intent_id == payment_intent_id)
        ).first()
    return None


def _store(session: Session, payout: Payout, info: BalanceTransactionInfo) -> bool:
    """Store one balance transaction once (its Stripe id is UNIQUE); True when new."""
    if session.exec(
        select(PayoutTransaction.id).where(PayoutTransaction.stripe_id == info.id)
    ).first():
        return False
    gift = _gift_for(session, info.charge_id, info.payment_intent_id)
    assert payout.id is not None, "a stored payout"
    session.add(
        PayoutTransaction(
            stripe_id=info.id,
            payout_id=payout.id,
            type=info.type,
            reporting_category=info.reporting_category,
            source_id=info.source_id,
            charge_id=info.charge_id,
            payment_intent_id=info.payment_intent_id,
            amount_cents=info.amount_cents,
            fee_cents=info.fee_cents,
            net_cents=info.net_cents,
            currency=info.currency,
            created=info.created,
            description=info.description,
            gift_id=gift.id if gift else None,
            chapter_id=_books_of(session, gift),
        )
    )
    session.flush()
    return True


def sync(
    session: Session,
    gateway: Gateway,
    *,
    actor: audit.Actor,
    checkpoint: Callable[[], None],
    progress: Callable[[int, int], None] | None = None,
    chapter: Chapter | None = None,
) -> SyncResult:
    """Fetch payouts and, for each automatic one, its balance transactions; store each once.

    First the audit line "stripe.sync" (``actor``, and the ``chapter`` whose screen asked),
    kept by the first checkpoint whatever Stripe does next. Idempotent (every Stripe id is
    UNIQUE) and resumable: each payout remembers the last balance transaction stored, and
    ``checkpoint`` (the caller's commit) runs after each one, so a sync cut off halfway resumes
    where it stopped and doubles nothing. ``progress(done, total)`` is told after each payout's
    transactions. Raises GatewayError when Stripe fails: the caller drops the unfinished batch;
    what was checkpointed stays.
    """
    audit.record(session, actor, "stripe.sync", "sync with Stripe started", chapter)
    checkpoint()
    result = SyncResult(test_mode=gateway.test_mode)
    if gateway.test_mode:
        return result
    for info in gateway.list_payouts(_since(session)):
        result.payouts_seen += 1
        result.payouts_new += _upsert_payout(session, info)
        if result.payouts_seen % CHECKPOINT_EVERY == 0:
            checkpoint()
    checkpoint()
    todo = list(
        session.exec(
            select(Payout)
            .where(
                col(Payout.transactions_complete).is_(False),
                col(Payout.automatic).is_(True),
                col(Payout.status).not_in(NOT_PAID_OUT),
            )
            .order_by(col(Payout.created), col(Payout.id))
        )
    )
    for done, payout in enumerate(todo, start=1):
        for transaction in gateway.payout_transactions(
            payout.stripe_id, payout.transactions_cursor
        ):
            result.transactions_new += _store(session, payout, transaction)
            payout.transactions_cursor = transaction.id
            session.flush()
            # Each transaction is kept with the cursor after it (a commit costs about a
            # millisecond): an outage loses nothing already fetched.
            checkpoint()
        payout.transactions_complete = True
        session.flush()
        checkpoint()
        if progress:
            progress(done, len(todo))
    rematch(session)
    post_dispute_fees(session)
    session.flush()
    checkpoint()
    result.transactions_matched = len(
        session.exec(
            select(PayoutTransaction.id).where(col(PayoutTransaction.gift_id).is_not(None))
        ).all()
    )
    return result


def _books_of(session: Session, gift: Gift | None) -> int | None:
    """The chapter whose books hold the gift (``ledger.owner``): its own, or for a gift to
    the whole drive the drive's host; None while its drive is unknown."""
    if gift is None:
        return None
    drive = session.get(Drive, gift.drive_id) if gift.drive_id else None
    if drive is None:
        return gift.chapter_id
    return owner.owner(gift.chapter_id, drive.host_chapter_id)


def rematch(session: Session) -> int:
    """Match transactions still without a gift (the gift's webhook may have come later), and
    follow a gift credited to a chapter since; flushes. Returns how many changed."""
    changed = 0
    rows = session.exec(
        select(PayoutTransaction).where(
            or_(
                col(PayoutTransaction.gift_id).is_(None),
                col(PayoutTransaction.chapter_id).is_(None),
            )
        )
    ).all()
    for txn in rows:
        gift = (
            session.get(Gift, txn.gift_id)
            if txn.gift_id
            else _gift_for(session, txn.charge_id, txn.payment_intent_id)
        )
        if gift is None:
            continue
        books = _books_of(session, gift)
        if (txn.gift_id, txn.chapter_id) != (gift.id, books):
            txn.gift_id, txn.chapter_id = gift.id, books
            changed += 1
    session.flush()
    return changed


def is_dispute(txn: PayoutTransaction) -> bool:
    """A dispute's withdrawal or reinstatement (an "adjustment" whose source is the dispute)."""
    return txn.type == "adjustment" and (
        txn.reporting_category in DISPUTE_CATEGORIES
        or (txn.source_id or "").startswith(("dp_", "du_"))
    )


def post_dispute_fees(session: Session) -> int:
    """Post Stripe's fee on each dispute balance transaction of a known gift to the ledger, once
    (external id ``dispute-fee:<txn>``); flushes. Returns how many were posted.

    The dispute's webhook says how much was withdrawn or put back but not what Stripe charged
    for the dispute: only the balance transaction does (a withdrawal's fee, and a negative fee
    when a won dispute's fee is given back). Without it the chapter's net overstates what it
    holds and the payout never reconciles. Posted to the gift's drive and chapter (not to the
    gift itself), dated when Stripe took it (in the next open month if that month is closed)."""

    rows = session.exec(
        select(PayoutTransaction, Gift)
        .join(Gift, col(Gift.id) == PayoutTransaction.gift_id)
        .where(
            PayoutTransaction.type == "adjustment",
            PayoutTransaction.fee_cents != 0,
            ~select(Entry.id)
            .where(Entry.external_id == literal(DISPUTE_FEE) + PayoutTransaction.stripe_id)
            .exists(),
        )
        .order_by(col(PayoutTransaction.created), col(PayoutTransaction.id))
    ).all()
    posted = 0
    for txn, gift in rows:
        if not is_dispute(txn):
            continue
        what = "Stripe's dispute fee" if txn.fee_cents > 0 else "Stripe's dispute fee given back"
        entry = ledger.append(
            session,
            kind=EntryKind.FEE,
            amount_cents=txn.fee_cents,
            currency=gift.currency,
            drive_id=gift.drive_id,
            chapter_id=gift.chapter_id,
            # Not the gift's own fee: kept off the gift, so the donor's receipt and the donor
            # CSV still show what processing the gift cost; the chapter's figures carry it.
            effective_at=txn.created,
            external_id=f"{DISPUTE_FEE}{txn.stripe_id}",
            memo=f"{what} ({txn.source_id}, balance transaction {txn.stripe_id})",
        )
        posted += entry is not None
    session.flush()
    return posted
