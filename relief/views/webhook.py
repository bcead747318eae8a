"""POST /stripe/webhook: raw bytes → verify → claim the event id → screen → dispatch (or hold).
The boundary commits the event's unit when the answer is below 400.

The fee of a gift just paid is read from Stripe by the worker's fee reader, a thread of its
own (payments/fee_reader.py), best effort and only once the unit has committed: the gift is
already safe, neither Stripe nor the next request waits on Stripe's API, and
`flask stripe sync-fees` fills in what this could not.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from relief import boundary, db
from relief.payments import fee_reader, webhooks
from relief.web import csrf, gateway

bp = Blueprint("webhook", __name__)


# The one CSRF exemption: Stripe's servers cannot hold our CSRF token. The Stripe-Signature
# (an HMAC of the exact body with our webhook secret) is what authenticates this request.
@csrf.exempt
@bp.post("/stripe/webhook")
def stripe_webhook():
    # Two events about one new gift can race to insert it; the loser runs once more and then
    # finds the winner's row. A second failure is a 500, and Stripe retries later. An event
    # signed but not in the shape of Stripe's objects, or beyond our limits, is held for a
    # person and answered 200 (payments/webhooks.py): only an unsigned body is refused.
    try:
        outcome = boundary.retry_on_conflict(
            lambda: webhooks.receive(
                db.session(),
                request.get_data(),
                request.headers.get("Stripe-Signature"),
                current_app.config["STRIPE_WEBHOOK_SECRET"],
            )
        )
    except webhooks.BadSignature as error:
        current_app.logger.warning("refused a webhook: %s", error)
        return jsonify(error="Invalid signature."), 400
    if outcome.fee_pending and not gateway().test_mode:
        # Flask types the current_app proxy as the app itself, so its unwrapping is unknown.
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        boundary.after_commit(lambda: fee_reader.of(app).submit(outcome.fee_pending))
    return jsonify(outcome.as_json())
