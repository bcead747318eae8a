"""The official client over real HTTP against localstripe (a stateful Stripe-compatible server
started here): a payment, its fee from the balance transaction, a refund made through our
gateway, and the charge's real JSON coming back as a signed charge.refunded event.

localstripe has no Checkout Sessions (the session event is built from Stripe's fixture shape),
reports zero fees, sends no charge.* events and ignores idempotency keys (MACHINE-NOTES).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from sqlmodel import select

from relief import ledger
from relief.models import Gift, GiftStatus
from relief.payments.stripe_gateway import StripeGateway
from tests import stripe_objects as so
from tests.conftest import make_app
from tests.factories import make_coalition
from tests.loopback import free_port

PICKLE = Path("/tmp/localstripe.pickle")
SECRET_KEY = "sk_test_relief_localstripe"


@pytest.fixture(scope="module")
def localstripe():
    binary = shutil.which("localstripe") or str(Path(os.sys.executable).parent / "localstripe")
    PICKLE.unlink(missing_ok=True)  # it keeps state there even with --from-scratch
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--from-scratch"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("localstripe did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(10)
        PICKLE.unlink(missing_ok=True)


def _get(url: str) -> dict:
    request = urllib.request.Request(url)
    token = base64.b64encode(f"{SECRET_KEY}:".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
        return json.loads(response.read())


def test_a_card_payment_its_fee_and_a_refund_over_real_http(localstripe, database_url):
    import stripe

    client = stripe.StripeClient(SECRET_KEY, base_addresses={"api": localstripe})
    card = client.v1.payment_methods.create(
        {
            "type": "card",
            "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"},
        }
    )
    intent = client.v1.payment_intents.create(
        {"amount": 4000, "currency": "usd", "payment_method": card.id, "confirm": True}
    )
    assert intent.status == "succeeded"

    app = make_app(
        database_url,
        STRIPE_SECRET_KEY=SECRET_KEY,
        STRIPE_WEBHOOK_SECRET=so.WEBHOOK_SECRET,
        STRIPE_API_BASE=localstripe,
    )
    try:
        web = app.test_client()
        with app.app_context():
            from sqlmodel import Session

            with Session(app.extensions["relief.engine"], expire_on_commit=False) as session:
                drive = make_coalition(session)
                session_obj = so.checkout_session(
                    amount_cents=4000,
                    payment_intent=intent.id,
                    metadata={"drive": "mo-2026", "chapter": "mid-missouri"},
                )
                response = so.deliver(web, so.event("checkout.session.completed", session_obj))
                assert response.status_code == 200
                session.rollback()
                gift = session.exec(select(Gift)).one()
                # The fee was read right after the commit, from localstripe's balance
                # transaction (always 0 there); the charge id came with it.
                assert not gift.fee_pending and gift.stripe_charge_id.startswith("ch_")

                gateway = StripeGateway(
                    secret_key=SECRET_KEY, webhook_secret=so.WEBHOOK_SECRET, api_base=localstripe
                )
                refund_id = gateway.refund(gift, 1500, request_id="treasurer-request-1")
                assert refund_id.startswith("re_")
                charge = _get(f"{localstripe}/v1/charges/{gift.stripe_charge_id}")
                assert charge["amount_refunded"] == 1500
                # localstripe sends no charge.* events: sign its real charge JSON ourselves.
                so.deliver(web, so.event("charge.refunded", charge))
                figures = web.get("/api/drives/mo-2026").get_json()
                assert (figures["gifts_cents"], figures["refunds_cents"]) == (4000, 1500)
                assert figures["raised_cents"] == 2500
                session.rollback()
                assert session.get(Gift, gift.id).status is GiftStatus.PAID
                assert ledger.verify(session, drive) == []
    finally:
        app.extensions["relief.engine"].dispose()
