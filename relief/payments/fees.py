"""Processor fees, read from each payment's balance transaction.

A gift is recorded the moment Stripe says it was paid, with ``fee_pending``; its fee is filled
in afterwards (by the worker's fee reader once the webhook has answered, and by
``flask stripe sync-fees``), so a slow or failing Stripe API never loses or delays a gift.
Stripe is asked between two short units of work: no database lock is held while it answers.
"""

from __future__ import annotations

import logging

from sqlmodel import Session, select

from relief import db
from relief.models import EntryKind, Gift
from relief.payments import records, webhooks
from relief.payments.gateway import Gateway, GatewayError, PaymentFee

log = logging.getLogger(__name__)


def record(session: Session, gift: Gift, fee: PaymentFee) -> int:
    """Post the fee Stripe stated for this gift's payment, once; returns it in cents."""
    # The ids learnt on the way let refunds and disputes find this gift.
    gift.stripe_charge_id = gift.stripe_charge_id or fee.charge_id
    gift.stripe_payment_intent_id = gift.stripe_payment_intent_id or fee.payment_intent_id
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
    return list(
        session.exec(
            select(Gift.id)
            .where(Gift.fee_pending, Gift.status.in_(tuple(records.MONEY_RECEIVED)))
            .order_by(Gift.id)
        )
    )


def fill_one(gateway: Gateway, gift_id: int) -> str:
    """Read one gift's fee from Stripe and post it, each step in its own unit of work; a
    sentence for logs and the CLI. Raises GatewayError (the gift stays ``fee_pending``)."""
    with db.unit_of_work(write=False) as session:
        gift = session.get(Gift, gift_id)
        if gift is None or not gift.fee_pending:
            return f"gift {gift_id}: nothing to do"
        public_id = gift.public_id
        payment = {
            "payment_intent_id": gift.stripe_payment_intent_id,
            "charge_id": gift.stripe_charge_id,
            "invoice_id": gift.stripe_invoice_id,
        }
    try:
        fee = gateway.payment_fee(**payment)
    except GatewayError as error:
        log.warning("fee for gift %s still pending: %s", public_id, error)
        raise
    with db.unit_of_work() as session:
        gift = session.get(Gift, gift_id)
        if not gift.fee_pending:  # another worker filled it meanwhile
            return f"gift {public_id}: fee already filled"
        cents = record(session, gift, fee)
        # An event about this payment may have been parked until its ids were known.
        replayed = webhooks.replay(session, records.known_ids(gift))
    return f"gift {public_id}: fee {cents} cents" + (
        f"; {replayed} parked event{'s' if replayed != 1 else ''} applied" if replayed else ""
    )
