"""The yardsticks, served by the same gunicorn line in the same run, so every figure can be
given as a ratio to what Flask and gunicorn cost on their own:

* ``/healthz`` answers as Relief's does;
* ``/stripe/webhook`` is the floor of a webhook: the least one can do that keeps its event
  before answering. It checks Stripe's signature on the raw bytes with Relief's own
  ``verify_event`` and inserts the event's id and body into a table of the same database, in one
  statement and its commit, through Relief's own engine (``db.make_engine``: the same SQLite
  pragmas and writer queue, the same PostgreSQL pool); it records no gift. Relief's webhook ÷
  this one is how far recording a gift is from the floor on this machine, whatever the
  machine's speed that day.
"""

import os
from datetime import UTC, datetime

from flask import Flask, abort, jsonify, request
from sqlalchemy import text

from relief.db import make_engine
from relief.payments.stripe_gateway import BadSignature, Unreadable, verify_event

app = Flask(__name__)

#: Created by the benchmark before it loads the floor (bench/webhooks.py).
FLOOR_TABLE = "bench_floor_event"
_engine = None


def database():
    """The engine of DATABASE_URL, made at the first event."""
    global _engine
    if _engine is None:
        # A writer, as Relief's webhook is: on SQLite it queues for the write lock.
        _engine = make_engine(os.environ["DATABASE_URL"]).execution_options(relief_write=True)
    return _engine


@app.get("/healthz")
def healthz():
    return jsonify(status="ok")


@app.post("/stripe/webhook")
def stripe_webhook():
    payload = request.get_data()
    try:  # Relief's own check: the signature on the raw bytes, then the JSON
        event = verify_event(
            payload, request.headers.get("Stripe-Signature"), os.environ["STRIPE_WEBHOOK_SECRET"]
        )
    except (BadSignature, Unreadable):
        abort(400)
    with database().begin() as connection:
        connection.execute(
            text(f"INSERT INTO {FLOOR_TABLE} (id, received_at, payload) VALUES (:id, :at, :body)"),
            {"id": event["id"], "at": datetime.now(UTC), "body": payload.decode()},
        )
    return jsonify(received=event["id"])
