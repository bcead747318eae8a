"""The refund-amount job: a refund in another currency than its gift's (Stripe's Adaptive
Pricing charges a donor in their own currency) is posted as what really left the account —
its balance transaction, in the account's currency — never as its own amount in another
currency.

The webhook that tells of such a refund writes a ``refund-amount:<re_…>`` job in its own unit
of work and posts nothing; a worker runs the job like a fee read (relief/payments/fee_reader.py):
ask Stripe with no lock held, then post in a unit of work of its own. If the account's currency
is not the drive's either, nothing is posted: the job is kept on /admin/outbox with a sentence
saying so, for a person to settle.
"""

from __future__ import annotations

import logging

from relief import boundary, outbox
from relief.payments import reversals
from relief.payments.gateway import Gateway, GatewayError

log = logging.getLogger(__name__)


def read_refund(gateway: Gateway, gift_id: int, refund_id: str) -> str:
    """Read the refund's balance transaction and post the refund as it left the account; a
    sentence for logs. Raises GatewayError (the job is retried) or ``outbox.Kept`` (the
    account's currency is not the drive's: kept for a person). Needs an app context."""
    try:
        found = gateway.refund_in_account(refund_id)
    except GatewayError as error:
        log.warning("refund %s of gift %s not read yet: %s", refund_id, gift_id, error)
        raise
    with boundary.command() as session:
        posted = reversals.refund_converted(session, gift_id, found)
    if posted is None:
        raise outbox.Kept(
            f"Refund {refund_id} left the Stripe account in {found.currency}, not in the "
            "drive's currency, so Relief cannot post it as a number in the drive's books. "
            "Nothing was posted; look the refund up in Stripe's dashboard."
        )
    return posted
