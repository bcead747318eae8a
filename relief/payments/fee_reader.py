"""The fee job: ask Stripe for the fee of a gift just paid, and post it.

The webhook writes a ``fee:gift:<id>`` job in the gift's own unit of work (relief/outbox) and
answers at once; a worker (``flask --app app worker``) runs the job, and
``flask stripe sync-fees`` runs the same job for every gift still waiting. A worker that stops
mid-job loses nothing: the job is claimed again once its lease ends.

Each fee read has units of work of its own: read what to ask, ask Stripe with no lock held,
post the answer (once: a second run finds the fee filled).
"""

from __future__ import annotations

import logging

from relief import boundary
from relief.payments import fees
from relief.payments.gateway import Gateway, GatewayError

log = logging.getLogger(__name__)


def read_fee(gateway: Gateway, gift_id: int) -> str:
    """Read one gift's fee from Stripe and post it; a sentence for logs and the CLI. Raises
    GatewayError (the gift stays ``fee_pending``; the job is retried). Needs an app context."""
    with boundary.command(write=False) as session:
        wanted = fees.to_read(session, gift_id)
    if wanted is None:
        return f"gift {gift_id}: nothing to do"
    try:
        fee = gateway.payment_fee(
            payment_intent_id=wanted.payment_intent_id,
            charge_id=wanted.charge_id,
            invoice_id=wanted.invoice_id,
        )
    except GatewayError as error:
        log.warning("fee for gift %s still pending: %s", wanted.public_id, error)
        raise
    with boundary.command() as session:
        return fees.post_read_fee(session, wanted, fee)
