"""POST /stripe/webhook: raw bytes → verify → claim the event id → dispatch → commit.

The fee of a gift just paid is read from Stripe by the worker's fee reader, a thread of its
own (payments/fee_reader.py), best effort: the gift is already safe, neither Stripe nor the
next request waits on Stripe's API, and `flask stripe sync-fees` fills in what this could not.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy.exc import DataError, IntegrityError

from relief import db
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
        outcome = _process_once(event)
    except _MALFORMED as error:
        # Signed with our secret yet not the shape of Stripe's objects: nothing was written
        # (the unit of work rolled back). Say so, so it shows in Stripe's dashboard; a 500
        # would read as an outage. Only the id and type are logged, never the body.
        db.session().rollback()
        current_app.logger.warning(
            "refused a malformed %s event %s: %s",
            str(event.get("type"))[:100],
            str(event.get("id"))[:100],
            type(error).__name__,
        )
        return jsonify(error="The event is not in the shape of a Stripe object."), 400
    response = jsonify(outcome.as_json())
    if outcome.fee_pending and not gateway().test_mode:
        fee_reader.of(current_app._get_current_object()).submit(outcome.fee_pending)
    return response


def _process_once(event: dict) -> webhooks.Outcome:
    # Two events about one new gift can race to insert it; the loser retries once and then
    # finds the winner's row. A second failure is a 500, and Stripe retries later.
    for attempt in (1, 2):
        session = db.session()
        db.begin_write(session)
        try:
            outcome = webhooks.process(session, event)
            db.commit()
            return outcome
        except IntegrityError:
            session.rollback()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")
