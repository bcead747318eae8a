"""Stripe objects and signed events for tests and the benchmark, built from Stripe's own
fixture shapes (tests/fixtures/stripe/, copied from Stripe's openapi fixtures3.json): each
builder copies the real shape and changes only the fields a test is about. The one place
that signs webhooks (``sign``) and posts them (``deliver`` in-process, ``post_live`` over HTTP)."""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
import time
from functools import cache
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures" / "stripe"
WEBHOOK_SECRET = "whsec_relief_tests"
#: The version the webhook endpoint is created with (relief/payments/gateway.py).
API_VERSION = "2026-10-28.endive"
_ids = itertools.count(1)


@cache
def _load(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def shape(name: str, **changes) -> dict:
    obj = copy.deepcopy(_load(name))
    obj.update(changes)
    return obj


def new_id(prefix: str) -> str:
    return f"{prefix}_test{next(_ids):06d}"


def checkout_session(
    *,
    amount_cents: int,
    metadata: dict,
    mode: str = "payment",
    payment_status: str = "paid",
    session_id: str | None = None,
    payment_intent: str | None = None,
    subscription: str | None = None,
    invoice: str | None = None,
    email: str = "donor@example.org",
    name: str | None = "Dana Donor",
) -> dict:
    obj = shape(
        "checkout.session",
        id=session_id or new_id("cs"),
        amount_subtotal=amount_cents,
        amount_total=amount_cents,
        currency="usd",
        metadata=metadata,
        mode=mode,
        payment_status=payment_status,
        status="complete",
        submit_type="donate" if mode == "payment" else None,
        payment_intent=(payment_intent or new_id("pi")) if mode == "payment" else None,
        subscription=subscription if mode == "subscription" else None,
        invoice=invoice if mode == "subscription" else None,
        customer=new_id("cus") if mode == "subscription" else None,
        client_reference_id=metadata.get("gift"),
        created=int(time.time()),
    )
    obj["customer_details"]["email"] = email
    obj["customer_details"]["name"] = name
    return obj


def charge(
    *,
    charge_id: str,
    payment_intent: str,
    amount_cents: int,
    amount_refunded: int = 0,
    refunds: list[dict] | None = None,
    balance_transaction: str | None = None,
) -> dict:
    obj = shape(
        "charge",
        id=charge_id,
        payment_intent=payment_intent,
        amount=amount_cents,
        amount_captured=amount_cents,
        captured=True,
        amount_refunded=amount_refunded,
        refunded=amount_refunded >= amount_cents,
        balance_transaction=balance_transaction or f"txn_{charge_id}",
    )
    obj["refunds"] = {
        "data": refunds or [],
        "has_more": False,
        "object": "list",
        "url": f"/v1/charges/{charge_id}/refunds",
    }
    if refunds is None:
        # API versions since 2022-11-15 no longer embed the refunds.
        del obj["refunds"]
    return obj


def refund(
    *, refund_id: str, charge_id: str, payment_intent: str, amount_cents: int, status="succeeded"
):
    return shape(
        "refund",
        id=refund_id,
        charge=charge_id,
        payment_intent=payment_intent,
        amount=amount_cents,
        status=status,
        created=int(time.time()),
    )


def dispute(
    *, dispute_id: str, charge_id: str, payment_intent: str, amount_cents: int, status: str
):
    return shape(
        "dispute",
        id=dispute_id,
        charge=charge_id,
        payment_intent=payment_intent,
        amount=amount_cents,
        status=status,
        reason="fraudulent",
    )


def invoice(
    *,
    invoice_id: str,
    subscription: str,
    amount_cents: int,
    billing_reason: str,
    metadata: dict | None = None,
) -> dict:
    obj = shape(
        "invoice",
        id=invoice_id,
        amount_due=amount_cents,
        amount_paid=amount_cents,
        amount_remaining=0,
        billing_reason=billing_reason,
        status="paid",
        currency="usd",
        customer_email="monthly@example.org",
        subscription=None,
    )
    obj["parent"] = {
        "quote_details": None,
        "subscription_details": {"metadata": metadata or {}, "subscription": subscription},
        "type": "subscription_details",
    }
    obj["status_transitions"]["paid_at"] = int(time.time())
    return obj


def subscription(*, subscription_id: str, status: str = "canceled") -> dict:
    return shape("subscription", id=subscription_id, status=status, canceled_at=int(time.time()))


def event(
    event_type: str, obj: dict, event_id: str | None = None, api_version: str = API_VERSION
) -> dict:
    """A signed event's body in the API version Relief pins (the webhook endpoint's)."""
    return shape(
        "event",
        id=event_id or new_id("evt"),
        type=event_type,
        created=int(time.time()),
        data={"object": obj},
        api_version=api_version,
    )


def sign(payload: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """The Stripe-Signature header Stripe would send for ``payload``."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def body(evt: dict) -> bytes:
    """The event's exact bytes, as Stripe posts them (and signs them)."""
    return json.dumps(evt).encode()


def webhook_headers(
    payload: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    """The headers of Stripe's POST of ``payload``: its signature and JSON type."""
    return {
        "Stripe-Signature": sign(payload, secret, timestamp),
        "Content-Type": "application/json",
    }


def post_live(base_url: str, payload: bytes, http=None, secret: str = WEBHOOK_SECRET):
    """POST signed bytes to the webhook of a live server (gunicorn in a test) with requests,
    or with ``http``, a ``requests.Session`` of the caller's."""
    import requests

    return (http or requests).post(
        base_url + "/stripe/webhook",
        data=payload,
        headers=webhook_headers(payload, secret),
        timeout=60,
    )


def deliver(client, evt: dict, secret: str = WEBHOOK_SECRET, timestamp: int | None = None):
    """POST the event to our webhook as Stripe does: exact bytes, signed. Then runs the fee
    jobs it queued, as a worker would, so tests see the fees."""
    response = post_only(client, evt, secret, timestamp)
    run_fee_jobs(client.application)
    return response


def post_only(client, evt: dict, secret: str = WEBHOOK_SECRET, timestamp: int | None = None):
    """POST the event to our webhook, and run no job (no worker is running)."""
    payload = body(evt)
    with client.post(
        "/stripe/webhook", data=payload, headers=webhook_headers(payload, secret, timestamp)
    ) as response:
        pass
    return response


def run_fee_jobs(app) -> None:
    """Record the kept events (RELIEF_WEBHOOKS=kept) and run the fee jobs due now, as
    ``flask worker --burst`` would (emails are left queued: tests that send them start a
    mail server)."""
    from relief.outbox.worker import Worker

    drainer = Worker(app)
    while drainer.drain():
        pass
    Worker(app, kinds=("fee",)).burst()


def wait_for_fees(engine, seconds: float = 60) -> int:
    """How many gifts still wait for their fee once none does or ``seconds`` have passed: the
    fee readers of live servers work after the webhook's answer."""
    from sqlmodel import Session, func, select

    from relief.models import Gift

    deadline = time.monotonic() + seconds
    while True:
        with Session(engine) as session:
            pending = session.exec(
                select(func.count()).select_from(Gift).where(Gift.fee_pending)
            ).one()
        if pending == 0 or time.monotonic() > deadline:
            return pending
        time.sleep(0.2)
