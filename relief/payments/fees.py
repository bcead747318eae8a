"""Processor fees, read from each payment's balance transaction.

A gift is recorded the moment Stripe says it was paid, with ``fee_pending``; its fee is filled
in afterwards (right after the webhook's commit, and by ``flask stripe sync-fees``), so a slow
or failing Stripe API never loses or delays a gift.
"""

from __future__ import annotations

import logging

from sqlmodel import Session, select

from relief.models import EntryKind, Gift
from relief.payments import records, webhooks
from relief.payments.gateway import Gateway, GatewayError

log = logging.getLogger(__name__)


def fill(session: Session, gateway: Gateway, gift: Gift) -> int:
    """Read the gift's fee from Stripe and post it once; returns the fee in cents.

    Raises GatewayError when Stripe cannot tell (the gift stays ``fee_pending``)."""
    if not gift.fee_pending:
        return 0
    fee = gateway.payment_fee(
        payment_intent_id=gift.stripe_payment_intent_id,
        charge_id=gift.stripe_charge_id,
        invoice_id=gift.stripe_invoice_id,
    )
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


def fill_one(session: Session, gateway: Gateway, gift_id: int) -> str:
    """One gift's fee in the caller's unit of work; a sentence for logs and the CLI."""
    gift = session.get(Gift, gift_id)
    if gift is None or not gift.fee_pending:
        return f"gift {gift_id}: nothing to do"
    try:
        cents = fill(session, gateway, gift)
    except GatewayError as error:
        log.warning("fee for gift %s still pending: %s", gift.public_id, error)
        raise
    # An event about this payment may have been parked until its ids were known.
    replayed = webhooks.replay(session, records.known_ids(gift))
    return f"gift {gift.public_id}: fee {cents} cents" + (
        f"; {replayed} parked event{'s' if replayed != 1 else ''} applied" if replayed else ""
    )
