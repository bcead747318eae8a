"""Processor fees, read from each payment's balance transaction.

A gift is recorded the moment Stripe says it was paid, with ``fee_pending``; its fee is filled
in afterwards (by the gift's ``fee:gift:<id>`` job, which an outbox worker or
``flask stripe sync-fees`` runs), so a slow or failing Stripe API never loses or delays a gift.
The jobs (:func:`fee_reader.read_fees`, up to a hundred at once) ask Stripe between two short
units of work of their own, :func:`to_read_many` and :func:`post_read_fee`: no database lock is
held while Stripe answers.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass

from sqlmodel import Session, col, select

from relief import ledger
from relief.models import EntryKind, Gift, utcnow
from relief.payments import records, webhooks
from relief.payments.gateway import PaymentFee

log = logging.getLogger(__name__)


def _learn_ids(gift: Gift, fee: PaymentFee) -> None:
    # The ids learnt on the way let refunds and disputes find this gift.
    gift.stripe_charge_id = gift.stripe_charge_id or fee.charge_id
    gift.stripe_payment_intent_id = gift.stripe_payment_intent_id or fee.payment_intent_id


def record(session: Session, gift: Gift, fee: PaymentFee) -> int:
    """Post the fee Stripe stated for this gift's payment, once; returns it in cents."""
    _learn_ids(gift, fee)
    if fee.fee_cents:
        records.post(
            session,
            gift,
            EntryKind.FEE,
            fee.fee_cents,
            f"fee:{fee.balance_transaction_id}",
            effective_at=gift.received_at,
            memo="processing fee",
        )
    gift.fee_pending = False
    session.flush()
    return fee.fee_cents


def pending_gift_ids(session: Session) -> list[int]:
    """Gifts whose money arrived and whose fee is not known yet, oldest first."""
    ids = session.exec(
        select(col(Gift.id))
        .where(col(Gift.fee_pending), col(Gift.status).in_(tuple(records.MONEY_RECEIVED)))
        .order_by(col(Gift.id))
    )
    return [gift_id for gift_id in ids if gift_id is not None]


@dataclass(frozen=True)
class FeeToRead:
    """What to ask the processor for one gift's fee."""

    gift_id: int
    public_id: str
    payment_intent_id: str | None
    charge_id: str | None
    invoice_id: str | None


def _to_read(gift: Gift) -> FeeToRead:
    return FeeToRead(
        gift_id=records.saved_id(gift),
        public_id=gift.public_id,
        payment_intent_id=gift.stripe_payment_intent_id,
        charge_id=gift.stripe_charge_id,
        invoice_id=gift.stripe_invoice_id,
    )


def to_read(session: Session, gift_id: int) -> FeeToRead | None:
    """The payment whose fee this gift still waits for; None when it waits for none."""
    gift = session.get(Gift, gift_id)
    if gift is None or not gift.fee_pending:
        return None
    return _to_read(gift)


def to_read_many(session: Session, gift_ids: list[int]) -> dict[int, FeeToRead]:
    """What to ask for each of these gifts still waiting for its fee, by gift id (one query)."""
    gifts = session.exec(
        select(Gift).where(col(Gift.id).in_(gift_ids), col(Gift.fee_pending))
    ).all()
    return {records.saved_id(gift): _to_read(gift) for gift in gifts}


def post_read_fee(session: Session, wanted: FeeToRead, fee: PaymentFee) -> str:
    """Post the fee the processor stated, unless another worker did meanwhile, and apply the
    events parked until the payment's ids were known; flushes. A sentence for logs and the
    CLI."""
    gift = session.get(Gift, wanted.gift_id)
    if gift is None or not gift.fee_pending:
        return f"gift {wanted.public_id}: fee already filled"
    cents = record(session, gift, fee)
    replayed = webhooks.replay(session, records.known_ids(gift))
    return f"gift {wanted.public_id}: fee {cents} cents" + (
        f"; {replayed} parked event{'s' if replayed != 1 else ''} applied" if replayed else ""
    )


def post_read_fees(
    session: Session, read: dict[int, tuple[FeeToRead, PaymentFee]]
) -> dict[int, str]:
    """:func:`post_read_fee` for many gifts at once (a batch read with one list request): the
    same entries, each fee once, posted per drive with :func:`ledger.append_many` in a
    handful of statements, and the parked events waiting for any of their ids applied. A
    sentence per gift id."""
    gifts = {
        records.saved_id(gift): gift
        for gift in session.exec(select(Gift).where(col(Gift.id).in_(list(read))))
    }
    results: dict[int, str] = {}
    by_drive: dict[int, list[ledger.NewEntry]] = defaultdict(list)
    known: list[str] = []
    for gift_id, (wanted, fee) in read.items():
        gift = gifts.get(gift_id)
        if gift is None or not gift.fee_pending:
            results[gift_id] = f"gift {wanted.public_id}: fee already filled"
            continue
        if gift.drive_id is None:  # in no drive's totals: the one-by-one path posts it
            results[gift_id] = post_read_fee(session, wanted, fee)
            continue
        _learn_ids(gift, fee)
        if fee.fee_cents:
            by_drive[gift.drive_id].append(
                ledger.NewEntry(
                    kind=EntryKind.FEE,
                    amount_cents=fee.fee_cents,
                    currency=gift.currency,
                    drive_id=gift.drive_id,
                    chapter_id=gift.chapter_id,
                    gift_id=gift_id,
                    effective_at=gift.received_at or utcnow(),
                    external_id=f"fee:{fee.balance_transaction_id}",
                    memo="processing fee",
                )
            )
        gift.fee_pending = False
        known.extend(records.known_ids(gift))
        results[gift_id] = f"gift {wanted.public_id}: fee {fee.fee_cents} cents"
    for entries in by_drive.values():
        ledger.append_many(session, entries)
    session.flush()
    replayed = webhooks.replay(session, known)
    if replayed:
        log.info("%d parked event(s) applied once their fees' ids were known", replayed)
    return results
