"""POST /stripe/webhook: raw bytes → verify → claim the event id → dispatch. The boundary
commits the event's unit when the answer is below 400.

The fee of a gift just paid is read from Stripe by the worker's fee reader, a thread of its
own (payments/fee_reader.py), best effort and only once the unit has committed: the gift is
already safe, neither Stripe nor the next request waits on Stripe's API, and
`flask stripe sync-fees` fills in what this could not.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy.exc import DataError

from relief import boundary, db
from relief.payments import fee_reader, webhooks
from relief.web import csrf, gateway

bp = Blueprint("webhook", __name__)

#: What a handler raises when a verified event's object lacks a field or has one of another
#: type (DataError: a value the database refuses, such as a NUL byte on PostgreSQL).
_MALFORMED = (KeyError, TypeError, AttributeError, ValueError, IndexError, DataError)


# The one CSRF exemption: Stripe's servers cannot hold our CSRF token. The Stripe-Signature
# (an HMAC of the exact body with our webhook secret) is what authenticates this request.
@csrf.exempt
@bp.post("/stripe/webhook")
def stripe_webhook():
    try:
        event = webhooks.verify_event(
            request.get_data(),
            request.headers.get("Stripe-Signature"),
            current_app.config["STRIPE_WEBHOOK_SECRET"],
        )
    except webhooks.BadSignature as error:
        current_app.logger.warning("refused a webhook: %s", error)
        return jsonify(error="Invalid signature."), 400
    try:
        # Two events about one new gift can race to insert it; the loser runs once more and
        # then finds the winner's row. A second failure is a 500, and Stripe retries later.
        outcome = boundary.retry_on_conflict(lambda: webhooks.process(db.session(), event))
    except _MALFORMED as error:
        # Signed with our secret yet not the shape of Stripe's objects: the 400 keeps nothing.
        # Say so, so it shows in Stripe's dashboard; a 500 would read as an outage. Only the
        # id and type are logged, never the body.
        current_app.logger.warning(
            "refused a malformed %s event %s: %s",
            str(event.get("type"))[:100],
            str(event.get("id"))[:100],
            type(error).__name__,
        )
        return jsonify(error="The event is not in the shape of a Stripe object."), 400
    if outcome.fee_pending and not gateway().test_mode:
        # Flask types the current_app proxy as the app itself, so its unwrapping is unknown.
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        boundary.after_commit(lambda: fee_reader.of(app).submit(outcome.fee_pending))
    return jsonify(outcome.as_json())
