"""POST /stripe/webhook: raw bytes → verify → claim the event id → screen → dispatch (or hold).
The boundary commits the event's unit when the answer is below 400.

The fee of a gift just paid, and its receipt, are jobs written in the event's own unit
(relief/outbox): they exist if and only if the gift was committed, and a worker
(`flask --app app worker`) runs them after the answer, so Stripe never waits on its own API.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from relief import boundary, db
from relief.payments import webhooks
from relief.web import csrf

bp = Blueprint("webhook", __name__)


# The one CSRF exemption: Stripe's servers cannot hold our CSRF token. The Stripe-Signature
# (an HMAC of the exact body with our webhook secret) is what authenticates this request.
@csrf.exempt
@bp.post("/stripe/webhook")
def stripe_webhook():
    # Two events about one new gift can race to insert it; the loser runs once more and then
    # finds the winner's row. A second failure is a 500, and Stripe retries later. The event
    # is the unit's only work, so the first run needs no savepoint of its own. An event
    # signed but not in the shape of Stripe's objects, or beyond our limits, is held for a
    # person and answered 200 (payments/webhooks.py): only an unsigned body is refused.
    # RELIEF_WEBHOOKS=kept: the event is only kept here, and the worker records it
    # (relief/payments/drain.py).
    work = webhooks.keep if current_app.config["RELIEF_WEBHOOKS"] == "kept" else webhooks.receive
    try:
        outcome = boundary.retry_unit_on_conflict(
            lambda: work(
                db.session(),
                request.get_data(),
                request.headers.get("Stripe-Signature"),
                current_app.config["STRIPE_WEBHOOK_SECRET"],
            )
        )
    except webhooks.BadSignature as error:
        current_app.logger.warning("refused a webhook: %s", error)
        return jsonify(error="Invalid signature."), 400
    return jsonify(outcome.as_json())
