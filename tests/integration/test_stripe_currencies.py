"""A refund or dispute in another currency than its drive's (issue 13: Adaptive Pricing charges
a donor in their own currency) is posted as what really left the account — its balance
transaction, in the account's currency — or held with a sentence; never its own amount as if
it were in the drive's currency."""

from __future__ import annotations

from sqlmodel import select

from relief.models import Job, JobStatus, ParkedEvent
from relief.outbox.worker import Worker
from tests import stripe_objects as so
from tests.factories import make_coalition
from tests.integration.test_webhooks import api, exact, fresh, paid_session
from tests.stripe_fixtures import *  # noqa: F403


def _paid(client, intent, amount=5_000):
    _, evt = paid_session(amount, payment_intent=intent)
    assert so.deliver(client, evt).status_code == 200


def _euro_refund(refund_id, intent, euro_cents, status="succeeded"):
    """Stripe's refund of a payment the donor made in euros: its amount in euros, its
    balance transaction (not expanded in an event) naming what left the USD account."""
    obj = so.refund(
        refund_id=refund_id,
        charge_id=f"ch_of_{intent}",
        payment_intent=intent,
        amount_cents=euro_cents,
        status=status,
    )
    obj["currency"] = "eur"
    obj["balance_transaction"] = f"txn_of_{refund_id}"
    return obj


def _account_side(fake, refund, usd_cents, currency="usd"):
    """What Stripe answers for the refund with its balance transaction expanded."""
    txn = so.shape(
        "balance_transaction",
        id=refund["balance_transaction"],
        amount=-usd_cents,
        net=-usd_cents,
        fee=0,
        currency=currency,
        type="refund",
        source=refund["id"],
    )
    fake.refunds[refund["id"]] = {**refund, "balance_transaction": txn}


def _run_refund_jobs(app):
    Worker(app, kinds=("refund-amount",)).burst()


def test_a_refund_in_another_currency_is_posted_as_what_left_the_account(
    stripe_app, stripe_session, stripe_client, fake_stripe
):
    drive = make_coalition(stripe_session)
    _paid(stripe_client, "pi_fx")
    refund = _euro_refund("re_fx", "pi_fx", 2_000)  # €20.00 back to the donor…
    _account_side(fake_stripe, refund, 2_173)  # …which cost the account $21.73
    charge = so.charge(
        charge_id="ch_of_pi_fx", payment_intent="pi_fx", amount_cents=4_600, amount_refunded=2_000
    )
    charge["currency"] = "eur"
    for evt in (so.event("charge.refunded", charge), so.event("refund.created", refund)):
        assert so.deliver(stripe_client, evt).status_code == 200
    # Nothing is posted in the wrong currency while the worker reads the balance transaction.
    assert api(stripe_client)["refunds_cents"] == 0
    _run_refund_jobs(stripe_app)
    figures = api(stripe_client)
    assert (figures["refunds_cents"], figures["raised_cents"]) == (2_173, 5_000 - 2_173)
    # Later news of the same refund (its failure) uses the converted amount: all of it back.
    failed = _euro_refund("re_fx", "pi_fx", 2_000, status="failed")
    assert so.deliver(stripe_client, so.event("refund.failed", failed)).status_code == 200
    assert api(stripe_client)["refunds_cents"] == 0
    exact(stripe_session, drive)


def test_a_refund_whose_account_currency_is_not_the_drives_is_kept_with_a_sentence(
    stripe_app, stripe_session, stripe_client, fake_stripe
):
    make_coalition(stripe_session)
    _paid(stripe_client, "pi_fx_eur")
    refund = _euro_refund("re_fx_eur", "pi_fx_eur", 2_000)
    _account_side(fake_stripe, refund, 2_000, currency="eur")
    assert so.deliver(stripe_client, so.event("refund.created", refund)).status_code == 200
    _run_refund_jobs(stripe_app)
    assert api(stripe_client)["refunds_cents"] == 0
    job = fresh(stripe_session).exec(select(Job).where(Job.key == "refund-amount:re_fx_eur")).one()
    assert job.status == JobStatus.KEPT
    assert "left the Stripe account in EUR, not in the drive's currency" in job.last_error


def test_a_dispute_in_another_currency_is_converted_by_its_balance_transaction(
    stripe_session, stripe_client
):
    drive = make_coalition(stripe_session)
    _paid(stripe_client, "pi_fx_dp")
    obj = so.dispute(
        dispute_id="dp_fx",
        charge_id="ch_of_pi_fx_dp",
        payment_intent="pi_fx_dp",
        amount_cents=4_600,  # €46.00
        status="needs_response",
    )
    obj["currency"] = "eur"
    obj["balance_transactions"] = [
        so.shape(
            "balance_transaction",
            id="txn_dp_fx",
            amount=-5_000,  # the $50.00 the account gave up
            fee=1_500,
            net=-6_500,
            currency="usd",
            type="adjustment",
            source="dp_fx",
        )
    ]
    for name in ("created", "funds_withdrawn"):
        evt = so.event(f"charge.dispute.{name}", obj)
        assert so.deliver(stripe_client, evt).status_code == 200
    assert api(stripe_client)["disputes_cents"] == 5_000
    won = {**obj, "status": "won", "balance_transactions": []}
    assert so.deliver(stripe_client, so.event("charge.dispute.closed", won)).status_code == 200
    assert api(stripe_client)["disputes_cents"] == 0
    exact(stripe_session, drive)


def test_a_dispute_in_another_currency_without_a_balance_transaction_is_held(
    stripe_session, stripe_client
):
    make_coalition(stripe_session)
    _paid(stripe_client, "pi_fx_held")
    obj = so.dispute(
        dispute_id="dp_fx_held",
        charge_id="ch_of_pi_fx_held",
        payment_intent="pi_fx_held",
        amount_cents=4_600,
        status="needs_response",
    )
    obj["currency"] = "eur"
    evt = so.event("charge.dispute.created", obj)
    assert so.deliver(stripe_client, evt).status_code == 200
    assert api(stripe_client)["disputes_cents"] == 0
    held = fresh(stripe_session).exec(select(ParkedEvent)).one()
    assert "Dispute dp_fx_held is in EUR and gift" in held.reason
    assert "Nothing was posted" in held.reason
