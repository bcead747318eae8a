"""A monthly gift whose month was not paid: Stripe's ``invoice.payment_failed`` and
``customer.subscription.updated`` (its status enum: active, past_due, unpaid, canceled,
incomplete, incomplete_expired, trialing, paused) move no money, but the donor's gift page and
"Find my gifts" say the card was declined and when Stripe tries again, until a month is paid or
the gift is cancelled. Events come late and out of order: an older one never overwrites a newer
status, and a cancelled gift stays cancelled. On SQLite and PostgreSQL."""

from __future__ import annotations

import re
import time

import pytest
from sqlmodel import Session, select

from relief import ledger
from relief.config import smtp_settings
from relief.models import Gift, MonthlyGift
from relief.outbox.worker import Worker
from tests import stripe_objects as so
from tests.conftest import make_app
from tests.factories import make_coalition
from tests.integration.test_donate import csrf_token, text_of
from tests.mailbox import parts
from tests.stripe_fixtures import *  # noqa: F403

META = {"drive": "mo-2026", "chapter": "st-louis", "gift": "g-monthly"}
DONOR = "monthly-donor@example.org"
DECLINED = "Your latest monthly payment did not go through"


@pytest.fixture
def app(database_url, fake_stripe, mailbox):
    app = make_app(
        database_url,
        STRIPE_SECRET_KEY="sk_test_relief",
        STRIPE_WEBHOOK_SECRET=so.WEBHOOK_SECRET,
        STRIPE_API_BASE=fake_stripe.url,
        SMTP=smtp_settings(mailbox.url),
        MAIL_FROM="Relief <receipts@relief.example.org>",
        RELIEF_PUBLIC_URL="https://relief.example.org",
    )
    with Session(app.extensions["relief.engine"], expire_on_commit=False) as session:
        make_coalition(session)
    yield app
    app.extensions["relief.engine"].dispose()


def at(event: dict, seconds_from_now: int) -> dict:
    """The event as Stripe created it ``seconds_from_now`` (negative: earlier)."""
    return {**event, "created": int(time.time()) + seconds_from_now}


def month(invoice_id: str, billing_reason: str = "subscription_cycle") -> dict:
    return so.invoice(
        invoice_id=invoice_id,
        subscription="sub_d",
        amount_cents=1000,
        billing_reason=billing_reason,
        metadata=META,
    )


def declined(invoice_id: str, retry_in_days: int | None) -> dict:
    """An invoice Stripe could not charge: open, attempted, retried in so many days (None: no
    retry left)."""
    obj = dict(
        month(invoice_id),
        status="open",
        amount_paid=0,
        amount_remaining=1000,
        attempted=True,
        attempt_count=1,
        next_payment_attempt=None
        if retry_in_days is None
        else int(time.time()) + retry_in_days * 86400,
    )
    obj["status_transitions"] = dict(obj["status_transitions"], paid_at=None)
    return obj


def subscription(status: str) -> dict:
    return so.shape("subscription", id="sub_d", status=status, canceled_at=None, ended_at=None)


def deliver(client, event: dict) -> str:
    answer = so.deliver(client, event)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return " ".join(answer.get_json()["result"])


def raised(client) -> int:
    return client.get("/api/drives/mo-2026").get_json()["raised_cents"]


def test_a_declined_month_is_on_the_donors_pages_until_a_month_is_paid(app, mailbox):
    client = app.test_client()
    first = so.checkout_session(
        amount_cents=1000,
        metadata=META,
        mode="subscription",
        subscription="sub_d",
        invoice="in_d1",
        email=DONOR,
    )
    deliver(client, at(so.event("checkout.session.completed", first), -600))
    deliver(client, at(so.event("invoice.paid", month("in_d1", "subscription_create")), -600))
    with Session(app.extensions["relief.engine"]) as session:
        public_id = session.exec(select(Gift.public_id)).one()
    gift_page = f"/gifts/{public_id}"
    assert DECLINED not in text_of(client.get(gift_page))
    assert raised(client) == 1000

    # The second month is declined; Stripe retries in three days.
    said = deliver(client, at(so.event("invoice.payment_failed", declined("in_d2", 3)), -60))
    assert "past due" in said
    retry_day = ledger.local_day(ledger.as_utc(_plan(app).next_attempt_at))
    page = text_of(client.get(gift_page))
    assert DECLINED in page and "Stripe will try your card again on" in page
    assert f"{retry_day:%B} {retry_day.day}, {retry_day.year}" in page
    assert "Change amount, update card or cancel" in page  # the way to another card
    assert raised(client) == 1000  # no money moved

    # Stripe's own status change, sent before the decline, arrives late: it changes nothing.
    deliver(client, at(so.event("customer.subscription.updated", subscription("active")), -300))
    assert _plan(app).status == "past_due" and DECLINED in text_of(client.get(gift_page))

    # The last retry fails: no retry left, the donor must act.
    deliver(client, at(so.event("invoice.payment_failed", declined("in_d2", None)), -30))
    deliver(client, at(so.event("customer.subscription.updated", subscription("unpaid")), -20))
    page = text_of(client.get(gift_page))
    assert "Stripe will not try again: update your card below" in page
    spanish = text_of(client.get(gift_page, headers={"Accept-Language": "es-MX"}))
    assert "Stripe no volverá a intentarlo" in spanish

    # The donor's own page ("Find my gifts") says the same.
    assert "Stripe will not try again" in text_of(_donors_page(app, mailbox))

    # The donor updated the card: the next month is paid, and the notice is gone.
    deliver(client, so.event("invoice.paid", month("in_d3")))
    assert raised(client) == 2000
    assert DECLINED not in text_of(client.get(gift_page))
    assert _plan(app).payment_failed_at is None and _plan(app).status == "active"
    # A decline older than that payment, delivered late, is old news.
    deliver(client, at(so.event("invoice.payment_failed", declined("in_d2", 1)), -10))
    assert DECLINED not in text_of(client.get(gift_page))


def test_a_cancelled_monthly_gift_stays_cancelled_whatever_comes_after(app):
    client = app.test_client()
    deliver(client, at(so.event("invoice.paid", month("in_c1", "subscription_create")), -600))
    cancelled = dict(subscription("canceled"), canceled_at=int(time.time()) - 100)
    said = deliver(client, at(so.event("customer.subscription.updated", cancelled), -100))
    assert "cancelled" in said and _plan(app).canceled_at is not None
    deliver(client, so.event("invoice.payment_failed", declined("in_c2", 3)))
    deliver(client, so.event("customer.subscription.updated", subscription("past_due")))
    plan = _plan(app)
    assert plan.canceled_at is not None and plan.status == "canceled" and not plan.overdue
    with Session(app.extensions["relief.engine"]) as session:
        public_id = session.exec(select(Gift.public_id)).one()
    page = text_of(client.get(f"/gifts/{public_id}"))
    assert "Your monthly gift is cancelled" in page and DECLINED not in page
    assert raised(client) == 1000


@pytest.mark.parametrize("status", ["incomplete", "trialing", "paused", "active", "a_new_one"])
def test_every_other_status_stripe_documents_is_kept_without_a_notice(app, status):
    """Only past_due and unpaid mean a declined month; a status added later is kept as it is
    (and shown to nobody) rather than refused."""
    client = app.test_client()
    deliver(client, at(so.event("invoice.paid", month("in_s1", "subscription_create")), -60))
    deliver(client, so.event("customer.subscription.updated", subscription(status)))
    plan = _plan(app)
    assert plan.status == status and not plan.overdue and plan.canceled_at is None


def _plan(app) -> MonthlyGift:
    with Session(app.extensions["relief.engine"]) as session:
        [plan] = session.exec(select(MonthlyGift)).all()
        return plan


def _donors_page(app, mailbox):
    """The donor's "Find my gifts" page, reached as the donor does: by the emailed link."""
    donor = app.test_client()
    Worker(app).burst()  # the receipts, sent first
    mailbox.messages.clear()
    donor.post("/my-gifts", data={"csrf_token": csrf_token(donor, "/my-gifts"), "email": DONOR})
    Worker(app).burst()
    [message] = mailbox.messages
    link = re.search(r"https://relief\.example\.org(/my-gifts/link/\S+)", parts(message)["text"])[1]
    assert donor.post(link, data={"csrf_token": csrf_token(donor, link)}).status_code == 303
    return donor.get("/my-gifts")
