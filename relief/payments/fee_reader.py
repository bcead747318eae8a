"""The fee job: ask Stripe for the fee of a gift just paid, and post it.

The webhook writes a ``fee:gift:<id>`` job in the gift's own unit of work (relief/outbox) and
answers at once; a worker (``flask --app app worker``) runs the jobs, up to a hundred at once
(:func:`read_fees`), and ``flask stripe sync-fees`` runs the same jobs for every gift still
waiting. A worker that stops mid-batch loses nothing: its jobs are claimed again once their
lease ends, and a fee already posted is not posted again (the gift's ``fee_pending`` and the
entry's external id guard it).

A batch reads what to ask in one unit of work, asks Stripe with no lock held — one list of
the account's recent card payments' balance transactions for up to a hundred fees — and posts
every fee found in one unit. A gift the list does not show (paid long before its webhook came,
another type of payment, a monthly gift's invoice, a server that cannot list) is read on its
own (:func:`read_fee`), as before: nothing waits forever.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from relief import boundary
from relief.payments import fees
from relief.payments.gateway import Gateway, GatewayError, PaymentFee

log = logging.getLogger(__name__)

#: Fee jobs a worker claims and reads at once: one page of Stripe's list.
BATCH_SIZE = 100
#: How long before its fee job was written a payment may have been charged and still be
#: looked for in the list. Stripe sends ``checkout.session.completed`` within seconds of the
#: payment, but the job is written when the worker records the kept event: hours later if no
#: worker ran meanwhile. A wide window costs no request (the list is read newest first, at
#: most a page per fee wanted); a redelivery days later is read on its own.
CHARGED_BEFORE_WEBHOOK = timedelta(days=1)


def list_window(webhook_at: list[datetime]) -> tuple[datetime, datetime]:
    """The times to list the account's card payments between, for fees whose jobs were
    written at these times. Stripe's times are whole seconds, and a charge precedes its
    webhook: up to the second after the last job (Stripe's clock and ours agree within it;
    a payment that seems later is read on its own)."""
    last = max(webhook_at).replace(microsecond=0) + timedelta(seconds=1)
    return min(webhook_at) - CHARGED_BEFORE_WEBHOOK, last


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


def read_fees(
    gateway: Gateway, webhook_at: dict[int, datetime | None]
) -> dict[int, str | GatewayError]:
    """Read these gifts' fees from Stripe and post them; ``webhook_at`` is when each gift's
    webhook was recorded (its fee job's time: the payment was charged just before; a gift's
    own ``received_at`` is the checkout session's start, which can be long before the
    payment). A sentence per gift for logs, or the GatewayError that leaves it
    ``fee_pending`` (its job is retried). When the list itself fails (a 429 after Stripe's
    rate limit, Stripe down), every gift in the batch waits for the retry: none is read one
    by one then, which would only ask more. Needs an app context."""
    gift_ids = list(webhook_at)
    with boundary.command(write=False) as session:
        wanted = fees.to_read_many(session, gift_ids)
    results: dict[int, str | GatewayError] = {
        gift_id: f"gift {gift_id}: nothing to do" for gift_id in gift_ids if gift_id not in wanted
    }
    listable = [
        one
        for one in wanted.values()
        if webhook_at[one.gift_id] is not None and (one.payment_intent_id or one.charge_id)
    ]
    found: dict[int, PaymentFee] = {}
    if len(listable) > 1:  # for one fee, its own read is one request too
        received = [at for one in listable if (at := webhook_at[one.gift_id]) is not None]
        created_gte, created_lte = list_window(received)
        try:
            listed = gateway.charge_fees(
                created_gte=created_gte,
                created_lte=created_lte,
                wanted={
                    key for one in listable for key in (one.payment_intent_id, one.charge_id) if key
                },
                # As many pages as fees wanted, at most. The list is newest first, so the
                # payments made meanwhile come first: at ~800 gifts a second, Stripe's
                # whole-second times put 8-16 pages of them before a batch's hundred. A page
                # is one request, as one fee read alone is, so a batch never asks more than
                # twice what reading each alone would, and its pages serve the next batches
                # too (the gateway keeps what it listed).
                most_pages=len(listable),
            )
        except GatewayError as error:
            log.warning("%d fees still pending: %s", len(wanted), error)
            return results | dict.fromkeys(wanted, error)
        for one in listable:
            fee = listed.get(one.payment_intent_id or "") or listed.get(one.charge_id or "")
            if fee is not None:
                found[one.gift_id] = fee
    if found:
        with boundary.command() as session:
            results |= fees.post_read_fees(
                session, {gift_id: (wanted[gift_id], fee) for gift_id, fee in found.items()}
            )
    for gift_id in wanted.keys() - found.keys():
        try:
            results[gift_id] = read_fee(gateway, gift_id)
        except GatewayError as error:
            results[gift_id] = error
    return results
