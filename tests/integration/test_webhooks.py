"""Stripe's webhook: signed events from Stripe's own object shapes, delivered once, twice, at
the same moment, and in any order; every figure exact to the cent afterwards."""

from __future__ import annotations

import itertools
import json
import random
import re
import threading
import time

import pytest
from sqlalchemy import text
from sqlmodel import Session, func, select

from relief import drives, ledger
from relief.models import (
    Entry,
    Gift,
    GiftStatus,
    Job,
    JobStatus,
    MonthlyGift,
    ParkedEvent,
    StripeEvent,
)
from tests import stripe_objects as so
from tests.factories import make_coalition
from tests.stripe_fixtures import *  # noqa: F403
from tests.treasury_helpers import SignedIn, data, make_user

META = {"drive": "mo-2026", "chapter": "st-louis"}


def fresh(session):
    session.rollback()  # end the test's read snapshot; see what the app committed
    session.expire_all()  # (rollback outside a transaction expires nothing)
    return session


def api(client):
    return client.get("/api/drives/mo-2026").get_json()


def exact(session, drive):
    assert ledger.verify(fresh(session), drive) == []


def paid_session(amount_cents=2500, metadata=None, **options):
    obj = so.checkout_session(amount_cents=amount_cents, metadata=metadata or META, **options)
    return obj, so.event("checkout.session.completed", obj)


def count(session, model) -> int:
    return fresh(session).exec(select(func.count()).select_from(model)).one()


@pytest.fixture
def drive(stripe_session):
    return make_coalition(stripe_session)


def test_a_gift_from_a_session_we_did_not_start_keeps_its_donor_s_address_for_lookups(
    stripe_session, stripe_client, drive
):
    """The gift goes in by one INSERT of its own (not the ORM's flush, whose hook keeps
    donor_email_key): its normalised address is kept all the same, and it is paid once."""
    from relief.models import email_key

    _, evt = paid_session(2500, email="Ñandú.Donor@Example.ORG")
    assert so.deliver(stripe_client, evt).get_json()["result"][0].endswith(" paid")
    gift = fresh(stripe_session).exec(select(Gift)).one()
    assert gift.donor_email == "Ñandú.Donor@Example.ORG"
    assert gift.donor_email_key == email_key("ñandú.donor@example.org")
    assert gift.status is GiftStatus.PAID and gift.chapter_id is not None
    assert api(stripe_client)["raised_cents"] == 2500


def test_a_paid_session_records_the_gift_and_its_fee_from_the_balance_transaction(
    stripe_session, stripe_client, fake_stripe, drive
):
    obj, evt = paid_session(5000, payment_intent="pi_fee1")
    fake_stripe.fees["ch_of_pi_fee1"] = 140
    response = so.deliver(stripe_client, evt)
    assert response.status_code == 200 and response.get_json()["duplicate"] is False
    figures = api(stripe_client)
    assert (figures["raised_cents"], figures["fees_cents"], figures["net_cents"]) == (
        5000,
        140,
        4860,
    )
    assert figures["projected_relief_cents"] == 486_000
    gift = fresh(stripe_session).exec(select(Gift)).one()
    assert gift.status is GiftStatus.PAID and not gift.fee_pending
    assert gift.stripe_charge_id == "ch_of_pi_fee1"
    assert (gift.donor_email, gift.show_name) == ("donor@example.org", False)
    exact(stripe_session, drive)


@pytest.mark.parametrize("expands", [True, False], ids=["Stripe expands", "ids only"])
def test_the_fee_is_read_in_one_request_where_stripe_expands_the_charge(
    stripe_session, stripe_client, fake_stripe, drive, expands
):
    """Each Stripe request costs a few hundred milliseconds and counts against its read rate
    limit: one, with the charge and its balance transaction expanded in place. A server
    that answers ids instead is followed to the same fee."""
    fake_stripe.expands = expands
    _, evt = paid_session(5000, payment_intent="pi_one_call")
    fake_stripe.fees["ch_of_pi_one_call"] = 175
    fake_stripe.requests.clear()
    assert so.deliver(stripe_client, evt).status_code == 200
    asked = [r["path"] for r in fake_stripe.requests]
    if expands:
        assert asked == ["/v1/payment_intents/pi_one_call"]
    else:
        assert asked == [
            "/v1/payment_intents/pi_one_call",
            "/v1/charges/ch_of_pi_one_call",
            "/v1/balance_transactions/txn_of_ch_of_pi_one_call",
        ]
    assert api(stripe_client)["fees_cents"] == 175
    gift = fresh(stripe_session).exec(select(Gift)).one()
    assert (gift.stripe_charge_id, gift.fee_pending) == ("ch_of_pi_one_call", False)
    exact(stripe_session, drive)


def test_stripe_gets_its_answer_before_the_fee_is_read_and_no_lock_is_held_while_it_is(
    stripe_session, stripe_app, stripe_client, fake_stripe, drive
):
    """The webhook asks Stripe nothing: the fee is a job, read by a worker after the answer.
    While the worker waits for Stripe's fee lookup, another request writes at once (no
    database lock is held)."""
    _, evt = paid_session(5000, payment_intent="pi_late_fee")
    fake_stripe.fees["ch_of_pi_late_fee"] = 140
    engine = stripe_app.extensions["relief.engine"]
    writes_meanwhile = []

    def another_writer(method, path):
        if engine.dialect.name == "sqlite":
            other = engine.raw_connection()
            try:
                for statement in (
                    "PRAGMA busy_timeout = 200",
                    "BEGIN IMMEDIATE",
                    "UPDATE gift SET donor_name = donor_name",
                    "COMMIT",
                ):
                    other.driver_connection.execute(statement)
            finally:
                other.close()
        else:
            with Session(engine) as other:
                other.execute(text("SET LOCAL lock_timeout = '200ms'"))
                other.execute(text("UPDATE gift SET donor_name = donor_name"))
                other.commit()
        writes_meanwhile.append(path)

    fake_stripe.while_answering = another_writer
    assert so.post_only(stripe_client, evt).status_code == 200
    assert fake_stripe.requests == [] and writes_meanwhile == []  # Stripe was not asked
    assert api(stripe_client)["fees_cents"] == 0  # recorded; the fee not known yet
    so.run_fee_jobs(stripe_app)
    assert writes_meanwhile, "Stripe was never asked for the fee"
    assert api(stripe_client)["fees_cents"] == 140
    exact(stripe_session, drive)


def test_a_fee_no_worker_read_waits_in_the_outbox_for_the_next_worker(
    stripe_session, stripe_app, stripe_client, fake_stripe, drive
):
    """The fee job is in the database with the gift: no worker running when the webhook
    came (or the worker stopped) loses nothing; the next `worker --burst` reads it."""
    _, evt = paid_session(5000, payment_intent="pi_lost_fee")
    fake_stripe.fees["ch_of_pi_lost_fee"] = 140
    assert so.post_only(stripe_client, evt).status_code == 200
    assert api(stripe_client)["fees_cents"] == 0
    gift = fresh(stripe_session).exec(select(Gift)).one()
    assert gift.fee_pending
    job = stripe_session.exec(select(Job).where(Job.key == f"fee:gift:{gift.id}")).one()
    assert job.status is JobStatus.QUEUED
    result = stripe_app.test_cli_runner().invoke(args=["worker", "--burst"])
    assert result.exit_code == 0, result.output
    assert f"fee:gift:{gift.id}: done" in result.output
    assert "Ran 2 jobs: 1 done, 1 kept (no mail server)" in result.output  # and the receipt
    assert api(stripe_client)["fees_cents"] == 140
    exact(stripe_session, drive)


def test_a_late_event_dated_in_a_closed_month_lands_in_the_next_open_month(
    stripe_session, stripe_client, drive
):
    """Stripe retries for days: a payment made on the last day of a month the treasurer has
    since closed must not change that month's figures."""
    from datetime import UTC, date, datetime, timedelta

    from relief.models import Chapter, MonthClose

    this_month = date.today().replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    paid_at = datetime(this_month.year, this_month.month, 1, tzinfo=UTC) - timedelta(hours=2)
    st_louis = stripe_session.exec(select(Chapter).where(Chapter.slug == "st-louis")).one()
    stripe_session.add(MonthClose(chapter_id=st_louis.id, month=last_month))
    stripe_session.commit()

    obj, evt = paid_session(4_000)
    obj["created"] = int(paid_at.timestamp())
    assert so.deliver(stripe_client, evt).status_code == 200
    entry = fresh(stripe_session).exec(select(Entry).where(Entry.kind == "gift")).one()
    assert entry.effective_at.replace(tzinfo=UTC) == datetime(
        this_month.year, this_month.month, 1, tzinfo=UTC
    )
    assert f"in closed {last_month:%B %Y}: moved to {this_month:%B %Y}" in entry.memo
    assert api(stripe_client)["raised_cents"] == 4_000  # counted, in the open month
    exact(stripe_session, drive)


def test_a_signed_session_whose_reference_is_not_a_string_is_held_not_a_500(
    stripe_session, stripe_client, drive
):
    # Found by the fuzz test: an object where Stripe always sends a string id. Signed, so
    # kept with a reason for a person and answered 200 (a 400 would be retried for days).
    obj, evt = paid_session(2500, metadata={"drive": "mo-2026"})
    obj["client_reference_id"] = {"": None}
    response = so.deliver(stripe_client, evt)
    assert response.status_code == 200 and response.get_json()["parked"] is True
    parked = fresh(stripe_session).exec(select(ParkedEvent)).one()
    assert parked.reason == "client_reference_id is an object where Stripe sends text."
    assert count(stripe_session, Gift) == 0 and count(stripe_session, StripeEvent) == 1


def test_the_same_event_delivered_twice_counts_once(stripe_session, stripe_client, drive):
    _, evt = paid_session(2500)
    assert so.deliver(stripe_client, evt).get_json()["duplicate"] is False
    second = so.deliver(stripe_client, evt)
    assert second.status_code == 200 and second.get_json()["duplicate"] is True
    assert api(stripe_client)["raised_cents"] == 2500
    assert api(stripe_client)["donation_count"] == 1
    exact(stripe_session, drive)


@pytest.mark.parametrize(
    "tamper",
    ["missing", "wrong secret", "stale", "tampered body", "garbage header", "unsigned json"],
)
def test_bad_signatures_are_refused_and_write_nothing(stripe_session, stripe_client, drive, tamper):
    _, evt = paid_session(2500)
    payload = json.dumps(evt).encode()
    headers = {"Stripe-Signature": so.sign(payload)}
    match tamper:
        case "missing":
            headers = {}
        case "wrong secret":
            headers = {"Stripe-Signature": so.sign(payload, secret="whsec_someone_else")}
        case "stale":
            headers = {"Stripe-Signature": so.sign(payload, timestamp=int(time.time()) - 301)}
        case "tampered body":
            payload = payload.replace(b'"amount_total": 2500', b'"amount_total": 250000')
        case "garbage header":
            headers = {"Stripe-Signature": "t=1,v1=deadbeef"}
        case "unsigned json":
            headers = {"Stripe-Signature": ""}
    response = stripe_client.post(
        "/stripe/webhook", data=payload, headers=headers, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.get_json() == {"error": "Invalid signature."}
    assert count(stripe_session, StripeEvent) == 0 and count(stripe_session, Gift) == 0


def test_unknown_event_types_are_acknowledged_and_ignored(stripe_session, stripe_client, drive):
    response = so.deliver(
        stripe_client, so.event("customer.created", so.shape("event")["data"]["object"])
    )
    assert response.status_code == 200 and "ignored" in response.get_json()["result"][0]
    assert count(stripe_session, Gift) == 0


def _refund_events(charge_id, intent, amount, refunds):
    """charge.refunded as a modern API version sends it: cumulative amount, no refund list."""
    return so.event(
        "charge.refunded",
        so.charge(
            charge_id=charge_id, payment_intent=intent, amount_cents=amount, amount_refunded=refunds
        ),
    )


def test_partial_then_full_refund(stripe_session, stripe_client, drive):
    _, evt = paid_session(4000, payment_intent="pi_r1")
    so.deliver(stripe_client, evt)
    so.deliver(stripe_client, _refund_events("ch_r1", "pi_r1", 4000, 1500))
    figures = api(stripe_client)
    assert (figures["raised_cents"], figures["refunds_cents"]) == (2500, 1500)
    full = _refund_events("ch_r1", "pi_r1", 4000, 4000)
    so.deliver(stripe_client, full)
    so.deliver(stripe_client, full)  # a repeat
    # A stale copy of the first event (another event id) after the full one changes nothing.
    so.deliver(stripe_client, _refund_events("ch_r1", "pi_r1", 4000, 1500))
    figures = api(stripe_client)
    assert (figures["raised_cents"], figures["refunds_cents"], figures["donation_count"]) == (
        0,
        4000,
        1,
    )
    gift = fresh(stripe_session).exec(select(Gift)).one()
    assert gift.status is GiftStatus.REFUNDED
    exact(stripe_session, drive)


def test_refunds_listed_on_the_charge_post_once_per_refund_id(stripe_session, stripe_client, drive):
    _, evt = paid_session(4000, payment_intent="pi_r2")
    so.deliver(stripe_client, evt)
    first = so.refund(
        refund_id="re_a", charge_id="ch_r2", payment_intent="pi_r2", amount_cents=1000
    )
    second = so.refund(
        refund_id="re_b", charge_id="ch_r2", payment_intent="pi_r2", amount_cents=500
    )
    for refunds, cumulative in (([first], 1000), ([first, second], 1500)):
        charge = so.charge(
            charge_id="ch_r2",
            payment_intent="pi_r2",
            amount_cents=4000,
            amount_refunded=cumulative,
            refunds=refunds,
        )
        so.deliver(stripe_client, so.event("charge.refunded", charge))
    ids = set(fresh(stripe_session).exec(select(Entry.external_id).where(Entry.kind == "refund")))
    assert ids == {"refund:re_a", "refund:re_b"}
    assert api(stripe_client)["raised_cents"] == 2500
    exact(stripe_session, drive)


def test_a_failed_refund_puts_the_money_back_once(stripe_session, stripe_client, drive):
    _, evt = paid_session(3000, payment_intent="pi_f")
    so.deliver(stripe_client, evt)
    so.deliver(stripe_client, _refund_events("ch_f", "pi_f", 3000, 3000))
    assert api(stripe_client)["raised_cents"] == 0
    failed = so.refund(
        refund_id="re_f",
        charge_id="ch_f",
        payment_intent="pi_f",
        amount_cents=3000,
        status="failed",
    )
    so.deliver(stripe_client, so.event("refund.failed", failed))
    so.deliver(stripe_client, so.event("refund.updated", failed))  # the same news again
    assert api(stripe_client)["raised_cents"] == 3000
    gift = fresh(stripe_session).exec(select(Gift)).one()
    assert gift.status is GiftStatus.PAID
    exact(stripe_session, drive)


def test_a_refund_arriving_before_its_gift_is_applied_later(stripe_session, stripe_client, drive):
    obj, evt = paid_session(2000, payment_intent="pi_early")
    early = so.deliver(stripe_client, _refund_events("ch_early", "pi_early", 2000, 500))
    assert early.status_code == 200 and early.get_json()["parked"] is True
    assert count(stripe_session, ParkedEvent) == 1
    assert api(stripe_client)["refunds_cents"] == 0
    so.deliver(stripe_client, evt)
    figures = api(stripe_client)
    assert (figures["gifts_cents"], figures["refunds_cents"], figures["raised_cents"]) == (
        2000,
        500,
        1500,
    )
    assert count(stripe_session, ParkedEvent) == 0
    exact(stripe_session, drive)


def _dispute(status, amount=2500):
    return so.dispute(
        dispute_id="dp_1",
        charge_id="ch_d",
        payment_intent="pi_d",
        amount_cents=amount,
        status=status,
    )


def test_dispute_opened_then_won_withdraws_and_reinstates_once(
    stripe_session, stripe_client, drive
):
    _, evt = paid_session(2500, payment_intent="pi_d")
    so.deliver(stripe_client, evt)
    so.deliver(stripe_client, so.event("charge.dispute.created", _dispute("needs_response")))
    so.deliver(
        stripe_client, so.event("charge.dispute.funds_withdrawn", _dispute("needs_response"))
    )
    figures = api(stripe_client)
    assert (figures["raised_cents"], figures["disputes_cents"]) == (0, 2500)
    assert fresh(stripe_session).exec(select(Gift)).one().status is GiftStatus.DISPUTED
    so.deliver(stripe_client, so.event("charge.dispute.funds_reinstated", _dispute("won")))
    so.deliver(stripe_client, so.event("charge.dispute.closed", _dispute("won")))
    figures = api(stripe_client)
    assert (figures["raised_cents"], figures["disputes_cents"]) == (2500, 0)
    assert fresh(stripe_session).exec(select(Gift)).one().status is GiftStatus.PAID
    exact(stripe_session, drive)


def test_a_lost_dispute_keeps_the_money_out(stripe_session, stripe_client, drive):
    _, evt = paid_session(2500, payment_intent="pi_d")
    so.deliver(stripe_client, evt)
    so.deliver(stripe_client, so.event("charge.dispute.created", _dispute("needs_response")))
    so.deliver(stripe_client, so.event("charge.dispute.closed", _dispute("lost")))
    so.deliver(stripe_client, so.event("charge.dispute.funds_withdrawn", _dispute("lost")))
    figures = api(stripe_client)
    assert (figures["raised_cents"], figures["disputes_cents"], figures["gifts_cents"]) == (
        0,
        2500,
        2500,
    )
    exact(stripe_session, drive)


def test_an_inquiry_moves_no_money(stripe_session, stripe_client, drive):
    _, evt = paid_session(2500, payment_intent="pi_d")
    so.deliver(stripe_client, evt)
    so.deliver(
        stripe_client, so.event("charge.dispute.created", _dispute("warning_needs_response"))
    )
    assert api(stripe_client)["raised_cents"] == 2500


def test_a_delayed_payment_that_fails_never_counts(stripe_session, stripe_client, drive):
    obj, evt = paid_session(5000, payment_status="unpaid")
    so.deliver(stripe_client, evt)
    gift = fresh(stripe_session).exec(select(Gift)).one()
    assert gift.status is GiftStatus.PROCESSING and api(stripe_client)["raised_cents"] == 0
    so.deliver(stripe_client, so.event("checkout.session.async_payment_failed", obj))
    gift = fresh(stripe_session).exec(select(Gift)).one()
    assert gift.status is GiftStatus.FAILED and api(stripe_client)["raised_cents"] == 0
    assert "did not go through" in stripe_client.get(f"/gifts/{gift.public_id}").get_data(
        as_text=True
    )


def test_a_delayed_payment_that_succeeds_counts_once(stripe_session, stripe_client, drive):
    obj, evt = paid_session(5000, payment_status="unpaid")
    so.deliver(stripe_client, evt)
    paid = dict(obj, payment_status="paid")
    so.deliver(stripe_client, so.event("checkout.session.async_payment_succeeded", paid))
    so.deliver(stripe_client, so.event("checkout.session.completed", paid))
    assert api(stripe_client)["raised_cents"] == 5000
    exact(stripe_session, drive)


def _monthly_events(first_invoice_first: bool):
    meta = {**META, "gift": "g-monthly"}
    session_obj = so.checkout_session(
        amount_cents=1000,
        metadata=meta,
        mode="subscription",
        subscription="sub_m",
        invoice="in_1",
    )
    first = so.invoice(
        invoice_id="in_1",
        subscription="sub_m",
        amount_cents=1000,
        billing_reason="subscription_create",
        metadata=meta,
    )
    events = [so.event("checkout.session.completed", session_obj), so.event("invoice.paid", first)]
    return events[::-1] if first_invoice_first else events


@pytest.mark.parametrize("first_invoice_first", [False, True])
def test_monthly_gifts_count_each_month_once(
    stripe_session, stripe_client, drive, first_invoice_first
):
    for evt in _monthly_events(first_invoice_first):
        so.deliver(stripe_client, evt)
    assert (api(stripe_client)["raised_cents"], api(stripe_client)["donation_count"]) == (1000, 1)
    for month, invoice_id in enumerate(("in_2", "in_3"), start=2):
        renewal = so.invoice(
            invoice_id=invoice_id,
            subscription="sub_m",
            amount_cents=1000,
            billing_reason="subscription_cycle",
            metadata={**META, "gift": "g-monthly"},
        )
        so.deliver(stripe_client, so.event("invoice.paid", renewal))
        so.deliver(stripe_client, so.event("invoice.paid", renewal))  # same month, new event id
        assert api(stripe_client)["raised_cents"] == 1000 * month
    gifts = fresh(stripe_session).exec(select(Gift).order_by(Gift.id)).all()
    assert [g.stripe_invoice_id for g in gifts] == ["in_1", "in_2", "in_3"]
    assert {g.chapter_id for g in gifts} == {gifts[0].chapter_id} and gifts[0].chapter_id
    assert all(g.monthly and g.status is GiftStatus.PAID for g in gifts)
    # Cancelling stops future months; past ones stay counted.
    so.deliver(
        stripe_client,
        so.event("customer.subscription.deleted", so.subscription(subscription_id="sub_m")),
    )
    assert fresh(stripe_session).get(MonthlyGift, "sub_m").canceled_at is not None
    assert api(stripe_client)["raised_cents"] == 3000
    exact(stripe_session, drive)


def test_a_monthly_gift_from_our_form_is_the_same_row_as_its_first_invoice(
    stripe_session, stripe_client, drive
):
    from relief.models import GiftMethod

    pending = Gift(
        drive_id=drive.id,
        amount_cents=1000,
        method=GiftMethod.CARD,
        status=GiftStatus.PENDING,
        monthly=True,
        donor_name="Mo",
        show_name=True,
    )
    stripe_session.add(pending)
    stripe_session.commit()
    meta = {"drive": "mo-2026", "gift": pending.public_id}
    first = so.invoice(
        invoice_id="in_f1",
        subscription="sub_f",
        amount_cents=1000,
        billing_reason="subscription_create",
        metadata=meta,
    )
    so.deliver(stripe_client, so.event("invoice.paid", first))
    session_obj = so.checkout_session(
        amount_cents=1000, metadata=meta, mode="subscription", subscription="sub_f", invoice="in_f1"
    )
    so.deliver(stripe_client, so.event("checkout.session.completed", session_obj))
    assert count(stripe_session, Gift) == 1
    assert api(stripe_client)["donation_count"] == 1
    text = stripe_client.get(f"/gifts/{pending.public_id}").get_data(as_text=True)
    assert "this month" in text and "relieves about" in text


def test_a_session_for_an_unknown_drive_is_kept_and_counts_nowhere(
    stripe_session, stripe_client, drive
):
    _, evt = paid_session(7500, metadata={"drive": "no-such-drive", "chapter": "st-louis"})
    assert so.deliver(stripe_client, evt).status_code == 200
    gift = fresh(stripe_session).exec(select(Gift)).one()
    assert gift.drive_id is None and gift.unmatched_drive == "no-such-drive"
    assert gift.status is GiftStatus.PAID and gift.amount_cents == 7500
    assert api(stripe_client)["raised_cents"] == 0
    exact(stripe_session, drive)
    # A refund of it before it is assigned is kept with it, and moves with it.
    so.deliver(
        stripe_client,
        so.event(
            "charge.refunded",
            so.charge(
                charge_id="ch_u",
                payment_intent=gift.stripe_payment_intent_id,
                amount_cents=7500,
                amount_refunded=500,
            ),
        ),
    )
    runner = stripe_client.application.test_cli_runner()
    listed = runner.invoke(args=["stripe", "unassigned"])
    assert gift.public_id in listed.output and "no-such-drive" in listed.output
    result = runner.invoke(
        args=["stripe", "assign", gift.public_id, "mo-2026", "--chapter", "st-louis"]
    )
    assert result.exit_code == 0, result.output
    figures = api(stripe_client)
    assert (figures["gifts_cents"], figures["refunds_cents"], figures["raised_cents"]) == (
        7500,
        500,
        7000,
    )
    assert {c["slug"]: c["raised_cents"] for c in figures["chapters"]}["st-louis"] == 7000
    again = runner.invoke(args=["stripe", "assign", gift.public_id, "mo-2026"])
    assert again.exit_code != 0 and "already counts toward a drive" in again.output
    assert runner.invoke(args=["stripe", "unassigned"]).output.strip() == "No unassigned gifts."
    exact(stripe_session, drive)


def _assign_as(entry_point, app, gift_id, public_id):
    """Give the gift mo-2026 and St. Louis through one of the three ways in."""
    if entry_point == "command line":
        result = app.test_cli_runner().invoke(
            args=["stripe", "assign", public_id, "mo-2026", "--chapter", "st-louis"]
        )
        assert result.exit_code == 0, result.output
        return
    with data(app) as session:
        drive_id = drives.get_drive(session, "mo-2026").id
        st_louis = drives.get_chapter(session, "st-louis").id
        if entry_point == "treasurer":
            # The treasurer's screen lists the unassigned gifts credited to the chapter.
            session.get(Gift, gift_id).chapter_id = st_louis
            session.commit()
            make_user(session, "t@stl.org", chapter="st-louis")
        else:
            make_user(session, "admin@mo.org", admin=True)
    if entry_point == "treasurer":
        treasurer = SignedIn(app, "t@stl.org")
        listing = treasurer.get("/treasurer/st-louis/unassigned").get_data(as_text=True)
        assert "no-such-drive" in listing
        response = treasurer.post(f"/treasurer/st-louis/unassigned/{gift_id}", {"drive": drive_id})
    else:
        admin = SignedIn(app, "admin@mo.org")
        assert "no-such-drive" in admin.get("/admin/unassigned").get_data(as_text=True)
        response = admin.post(f"/admin/unassigned/{gift_id}", {"target": f"{drive_id}:{st_louis}"})
    assert response.status_code == 302, response.get_data(as_text=True)


@pytest.mark.parametrize("entry_point", ["command line", "treasurer", "admin"])
def test_an_unassigned_gift_counts_once_with_its_fee_and_refunds_however_it_is_assigned(
    stripe_app, stripe_client, fake_stripe, entry_point
):
    # (No session fixture: it would keep an app context, and so Flask's g, open across the
    # screens' requests.)
    with data(stripe_app) as session:
        make_coalition(session)
    # Paid for a drive we do not know; its fee read and part of it refunded before anyone
    # gives it a drive: all of it kept outside every drive.
    fake_stripe.fees["ch_of_pi_lost"] = 250
    _, evt = paid_session(10_000, payment_intent="pi_lost", metadata={"drive": "no-such-drive"})
    so.deliver(stripe_client, evt)

    def refunded(total_cents):
        charge = so.charge(
            charge_id="ch_of_pi_lost",
            payment_intent="pi_lost",
            amount_cents=10_000,
            amount_refunded=total_cents,
        )
        assert so.deliver(stripe_client, so.event("charge.refunded", charge)).status_code == 200

    def verified():
        with data(stripe_app) as session:
            assert ledger.verify(session, drives.get_drive(session, "mo-2026")) == []

    refunded(1_000)
    assert api(stripe_client)["raised_cents"] == 0
    with data(stripe_app) as session:
        gift = session.exec(select(Gift)).one()
        assert gift.drive_id is None and not gift.fee_pending

    _assign_as(entry_point, stripe_app, gift.id, gift.public_id)

    figures = api(stripe_client)
    counted = ("gifts_cents", "fees_cents", "refunds_cents", "raised_cents", "donation_count")
    assert tuple(figures[name] for name in counted) == (10_000, 250, 1_000, 9_000, 1)
    assert {c["slug"]: c["raised_cents"] for c in figures["chapters"]}["st-louis"] == 9_000
    verified()
    runner = stripe_app.test_cli_runner()
    verify = runner.invoke(args=["ledger", "verify"])
    assert verify.exit_code == 0 and "mo-2026: exact" in verify.output
    assert runner.invoke(args=["stripe", "unassigned"]).output.strip() == "No unassigned gifts."
    # The gift's own entries still add up to it, so Stripe's cumulative refund figure is
    # measured right: a second refund after the assignment counts once, in the drive.
    refunded(3_000)
    figures = api(stripe_client)
    assert (figures["refunds_cents"], figures["raised_cents"]) == (3_000, 7_000)
    with data(stripe_app) as session:
        assert session.get(Gift, gift.id).status is GiftStatus.PAID
    verified()


def test_a_payment_link_session_records_a_gift_below_the_form_minimum(
    stripe_session, stripe_client, drive
):
    # Made in Stripe's dashboard, not by our form: no gift id; $1 is below the form's $5.
    _, evt = paid_session(100, metadata={"drive": "mo-2026", "chapter": "kansas-city"})
    so.deliver(stripe_client, evt)
    figures = api(stripe_client)
    assert figures["raised_cents"] == 100
    assert {c["slug"]: c["raised_cents"] for c in figures["chapters"]}["kansas-city"] == 100


def test_stripe_down_never_loses_the_gift_and_sync_fees_fills_it_later(
    stripe_session, stripe_client, stripe_app, fake_stripe, drive
):
    fake_stripe.down = True
    _, evt = paid_session(2500, payment_intent="pi_down")
    assert so.deliver(stripe_client, evt).status_code == 200
    gift = fresh(stripe_session).exec(select(Gift)).one()
    assert gift.status is GiftStatus.PAID and gift.fee_pending
    assert api(stripe_client)["raised_cents"] == 2500 and api(stripe_client)["fees_cents"] == 0
    runner = stripe_app.test_cli_runner()
    result = runner.invoke(args=["stripe", "sync-fees"])
    assert result.exit_code != 0 and "still pending" in result.output
    fake_stripe.down = False
    fake_stripe.fees["ch_of_pi_down"] = 85
    result = runner.invoke(args=["stripe", "sync-fees"])
    assert result.exit_code == 0, result.output
    assert "1 of 1 pending fees filled" in result.output
    assert api(stripe_client)["fees_cents"] == 85
    assert (
        runner.invoke(args=["stripe", "sync-fees"]).output.strip() == "0 of 0 pending fees filled."
    )
    assert api(stripe_client)["fees_cents"] == 85
    exact(stripe_session, drive)


def _story(n: int):
    """One gift's life as events: paid, partly refunded, disputed and lost; $40 given,
    $10 refunded, $30 disputed away (what the charge's state says at the end)."""
    pi, ch, dp = f"pi_s{n}", f"ch_s{n}", f"dp_s{n}"
    _, paid = paid_session(4000, payment_intent=pi)
    refund = so.event(
        "charge.refunded",
        so.charge(charge_id=ch, payment_intent=pi, amount_cents=4000, amount_refunded=1000),
    )
    opened = so.event(
        "charge.dispute.created",
        so.dispute(
            dispute_id=dp,
            charge_id=ch,
            payment_intent=pi,
            amount_cents=3000,
            status="needs_response",
        ),
    )
    lost = so.event(
        "charge.dispute.closed",
        so.dispute(
            dispute_id=dp, charge_id=ch, payment_intent=pi, amount_cents=3000, status="lost"
        ),
    )
    return [paid, refund, opened, lost]


def _won_story(n: int):
    """Paid $40, $5 refunded, the other $35 disputed and won back."""
    pi, ch, dp = f"pi_w{n}", f"ch_w{n}", f"dp_w{n}"
    _, paid = paid_session(4000, payment_intent=pi)
    refund = so.event(
        "charge.refunded",
        so.charge(charge_id=ch, payment_intent=pi, amount_cents=4000, amount_refunded=500),
    )
    withdrawn = so.event(
        "charge.dispute.funds_withdrawn",
        so.dispute(
            dispute_id=dp, charge_id=ch, payment_intent=pi, amount_cents=3500, status="under_review"
        ),
    )
    reinstated = so.event(
        "charge.dispute.funds_reinstated",
        so.dispute(dispute_id=dp, charge_id=ch, payment_intent=pi, amount_cents=3500, status="won"),
    )
    return [paid, refund, withdrawn, reinstated]


def test_every_order_of_a_won_dispute_ends_exact(stripe_session, stripe_client, drive):
    orders = list(itertools.permutations(range(4)))
    rng = random.Random(5)
    for n, order in enumerate(orders):
        events = _won_story(n)
        deliveries = [events[i] for i in order]
        deliveries += rng.sample(deliveries, 2)
        for evt in deliveries:
            assert so.deliver(stripe_client, evt).status_code == 200
    figures = api(stripe_client)
    gifts = len(orders)
    assert (figures["gifts_cents"], figures["refunds_cents"], figures["disputes_cents"]) == (
        4000 * gifts,
        500 * gifts,
        0,
    )
    assert figures["raised_cents"] == 3500 * gifts
    statuses = set(fresh(stripe_session).exec(select(Gift.status)))
    assert statuses == {GiftStatus.PAID}
    exact(stripe_session, drive)


def test_every_order_of_events_delivered_once_or_twice_ends_exact(
    stripe_session, stripe_client, drive
):
    orders = list(itertools.permutations(range(4)))
    rng = random.Random(3)
    for n, order in enumerate(orders):
        events = _story(n)
        deliveries = [events[i] for i in order]
        deliveries += rng.sample(deliveries, 2)  # some arrive again, later
        for evt in deliveries:
            assert so.deliver(stripe_client, evt).status_code == 200
    figures = api(stripe_client)
    gifts = len(orders)
    assert figures["gifts_cents"] == 4000 * gifts
    assert figures["refunds_cents"] == 1000 * gifts
    assert figures["disputes_cents"] == 3000 * gifts
    assert figures["raised_cents"] == 0 and figures["donation_count"] == gifts
    assert count(stripe_session, ParkedEvent) == 0
    exact(stripe_session, drive)


def test_the_same_event_at_the_same_moment_in_two_workers_counts_once(
    stripe_session, stripe_app, drive, database_url
):
    """Two workers (threads with their own database sessions) process one event id at once.
    On PostgreSQL the second one's INSERT … ON CONFLICT waits for the first to commit, then
    sees the row; on SQLite the second waits for the write lock."""
    from relief.payments import webhooks

    _, evt = paid_session(2500)
    # A writer unit's engine: each transaction takes the write lock at its start (SQLite).
    engine = stripe_app.extensions["relief.writer_engine"]
    first_claimed = threading.Event()
    results: dict[str, tuple] = {}

    def worker(name: str, hold: float):
        with Session(engine, expire_on_commit=False) as session:
            if name == "second":
                first_claimed.wait(5)
            started = time.monotonic()
            outcome = webhooks.process(session, json.loads(json.dumps(evt)))
            if name == "first":
                first_claimed.set()
                time.sleep(hold)  # still inside the transaction
            session.commit()
            results[name] = (outcome.duplicate, time.monotonic() - started)

    with stripe_app.app_context():
        threads = [
            threading.Thread(target=worker, args=("first", 0.5)),
            threading.Thread(target=worker, args=("second", 0)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
    assert results["first"][0] is False and results["second"][0] is True
    if "postgresql" in database_url:
        assert results["second"][1] > 0.3  # it waited for the first transaction
    assert count(stripe_session, StripeEvent) == 1 and count(stripe_session, Gift) == 1
    assert ledger.totals(fresh(stripe_session), drive).raised_cents == 2500
    exact(stripe_session, drive)


def test_concurrent_deliveries_through_http_count_once(stripe_session, stripe_app, drive):
    """The same signed event POSTed by several threads at once: one 'processed', the rest
    duplicates, one gift."""
    _, evt = paid_session(2500)
    payload = json.dumps(evt).encode()
    answers = []

    def post():
        client = stripe_app.test_client()
        response = client.post(
            "/stripe/webhook",
            data=payload,
            content_type="application/json",
            headers={"Stripe-Signature": so.sign(payload)},
        )
        answers.append((response.status_code, response.get_json()["duplicate"]))

    threads = [threading.Thread(target=post) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(answers) == [(200, False)] + [(200, True)] * 5
    assert count(stripe_session, Gift) == 1
    exact(stripe_session, drive)


def test_a_monthly_month_gets_its_fee_through_the_invoice_and_can_then_be_refunded(
    stripe_session, stripe_client, fake_stripe, drive
):
    """Newer API versions name no payment on an invoice: the fee sync finds it through the
    invoice's payments, and a refund parked until then is applied."""
    fake_stripe.fees["ch_of_pi_of_in_1"] = 52
    for evt in _monthly_events(False):
        so.deliver(stripe_client, evt)
    assert api(stripe_client)["fees_cents"] == 52  # filled right after the webhook
    refund = so.charge(
        charge_id="ch_of_pi_of_in_9",
        payment_intent="pi_of_in_9",
        amount_cents=1000,
        amount_refunded=1000,
    )
    renewal = so.invoice(
        invoice_id="in_9",
        subscription="sub_m",
        amount_cents=1000,
        billing_reason="subscription_cycle",
    )
    fake_stripe.down = True
    so.deliver(stripe_client, so.event("invoice.paid", renewal))
    assert so.deliver(stripe_client, so.event("charge.refunded", refund)).get_json()["parked"]
    assert api(stripe_client)["raised_cents"] == 2000
    fake_stripe.down = False
    result = stripe_app_runner(stripe_client).invoke(args=["stripe", "sync-fees"])
    assert result.exit_code == 0 and "1 parked event applied" in result.output
    figures = api(stripe_client)
    assert (figures["raised_cents"], figures["refunds_cents"]) == (1000, 1000)
    exact(stripe_session, drive)


def stripe_app_runner(client):
    return client.application.test_cli_runner()


def test_a_monthly_donor_reaches_the_customer_portal_from_the_gift_page(
    stripe_session, stripe_client, fake_stripe, drive
):
    for evt in _monthly_events(False):
        so.deliver(stripe_client, evt)
    gift = fresh(stripe_session).exec(select(Gift)).one()
    page = stripe_client.get(f"/gifts/{gift.public_id}").get_data(as_text=True)
    assert "Change amount, update card or cancel" in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
    response = stripe_client.post(f"/gifts/{gift.public_id}/manage", data={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["Location"].startswith("https://billing.stripe.com/p/session/")
    (call,) = [r for r in fake_stripe.requests if r["path"] == "/v1/billing_portal/sessions"]
    assert call["params"]["customer"] == gift.stripe_customer_id
    so.deliver(
        stripe_client,
        so.event("customer.subscription.deleted", so.subscription(subscription_id="sub_m")),
    )
    page = stripe_client.get(f"/gifts/{gift.public_id}").get_data(as_text=True)
    assert "Your monthly gift is cancelled; the months you gave still count" in page
    assert "Change amount" not in page


def test_an_expired_checkout_closes_the_pending_gift(stripe_session, stripe_client, drive):
    from relief.models import GiftMethod

    pending = Gift(
        drive_id=drive.id,
        amount_cents=2500,
        method=GiftMethod.CARD,
        status=GiftStatus.PENDING,
        stripe_session_id="cs_expiring",
    )
    stripe_session.add(pending)
    stripe_session.commit()
    obj = so.checkout_session(
        amount_cents=2500, metadata=META, session_id="cs_expiring", payment_status="unpaid"
    )
    obj["status"] = "expired"
    so.deliver(stripe_client, so.event("checkout.session.expired", obj))
    assert fresh(stripe_session).get(Gift, pending.id).status is GiftStatus.FAILED
    assert api(stripe_client)["raised_cents"] == 0


def test_two_events_creating_the_same_gift_at_once_make_one_gift(stripe_session, stripe_app, drive):
    """A Payment Link session's completed and async-succeeded events arrive together in two
    workers: both try to create its gift; the loser of the unique-key race retries and finds
    the winner's gift."""
    obj, completed = paid_session(3000, metadata={"drive": "mo-2026"})
    succeeded = so.event("checkout.session.async_payment_succeeded", obj)
    answers = []

    def post(evt):
        payload = json.dumps(evt).encode()
        response = stripe_app.test_client().post(
            "/stripe/webhook",
            data=payload,
            content_type="application/json",
            headers={"Stripe-Signature": so.sign(payload)},
        )
        answers.append(response.status_code)

    threads = [threading.Thread(target=post, args=(evt,)) for evt in (completed, succeeded)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert answers == [200, 200]
    assert count(stripe_session, Gift) == 1
    figures = api(stripe_app.test_client())
    assert (figures["raised_cents"], figures["donation_count"]) == (3000, 1)
    exact(stripe_session, drive)


#: The SQL statements one webhook spends recording a new paid gift to a chapter
#: (docs/performance.md, change 22): claim the event; find the gift, the drive; the
#: erased-donor check; the gift, inserted paid; the ledger (hold the drive's totals and
#: reserve the entry's id, the entry, the drive's and the chapter's totals, the month, the
#: day, the day received: added in session 18 so that match pledges cost the same at any
#: number of gifts; the link: session 20, so that the attribution pages do); the receipt and
#: fee jobs (one multi-row insert); the parked-event check. No savepoint: the event is the
#: unit's only work, and a hold rolls the unit back. SQLite also counts its BEGIN IMMEDIATE
#: (PostgreSQL's BEGIN is the driver's own). On PostgreSQL the six running sums after the
#: entry are one statement (``ledger.sums.add``).
STATEMENTS_PER_GIFT = {"sqlite": 16, "postgresql": 10}


def test_recording_a_paid_gift_takes_no_more_statements_than_it_did(
    stripe_session, stripe_app, stripe_client, drive
):
    """Each webhook gift is paid for in statements under load (issue 18: 500 events/s on two
    CPUs). A change that adds a query to this path makes this fail: say why in the pin."""
    from sqlalchemy import event

    engine = stripe_app.extensions["relief.engine"]
    so.post_only(stripe_client, paid_session(2500, session_id="cs_warm")[1])  # caches warm
    statements: list[str] = []

    def counted(_conn, _cursor, statement, *_args):
        statements.append(" ".join(statement.split())[:90])

    event.listen(engine, "before_cursor_execute", counted)
    try:
        answer = so.post_only(stripe_client, paid_session(2500, session_id="cs_counted")[1])
    finally:
        event.remove(engine, "before_cursor_execute", counted)
    assert answer.status_code == 200 and answer.get_json()["result"][0].endswith(" paid")
    dialect = engine.dialect.name
    assert len(statements) == STATEMENTS_PER_GIFT[dialect], "\n".join(statements)
    exact(stripe_session, drive)


def test_without_a_webhook_secret_no_event_is_accepted(session, client):
    """Test mode has no webhook secret: even a correctly formed, signed-looking event is
    refused (the test checkout needs no webhook)."""
    make_coalition(session)
    _, evt = paid_session(2500)
    response = so.deliver(client, evt)
    assert response.status_code == 400
    assert count(session, StripeEvent) == 0 and count(session, Gift) == 0


def test_money_that_moved_counts_whatever_the_drive_dates_say(stripe_session, stripe_client):
    from datetime import date

    make_coalition(stripe_session, starts_on=date(2020, 1, 1), ends_on=date(2020, 12, 31))
    _, evt = paid_session(1500)
    assert so.deliver(stripe_client, evt).status_code == 200
    assert api(stripe_client)["raised_cents"] == 1500


def test_a_link_longer_than_its_column_or_with_a_nul_is_kept_cut_and_the_gift_counts(
    stripe_session, stripe_client, drive
):
    """A checkout session made elsewhere (a Payment Link, the dashboard, another tool) may
    carry a ``ref`` of up to Stripe's 500 characters, with a NUL in it. The event's texts are
    fitted to their columns as it arrives (``payments/screening``): the gift counts, under its
    link without the NUL and cut to the 200 characters ``ref`` holds, and the sums by link
    (keyed by the ref as stored) agree with the ledger."""
    from relief.treasury import attribution

    long_ref = "flyer-" + "x" * 494
    _obj, event = paid_session(2_500, metadata={**META, "ref": "fly\x00" + long_ref[3:]})
    answer = so.deliver(stripe_client, event)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    gift = fresh(stripe_session).exec(select(Gift)).one()
    assert gift.ref == long_ref[:200]
    assert ledger.verify(stripe_session, drive) == []
    st_louis = drives.get_chapter(stripe_session, "st-louis")
    by_ref = attribution.attribution(stripe_session, st_louis, drive).by_ref
    assert [(row.label, row.raised_cents) for row in by_ref] == [(long_ref[:200], 2_500)]
