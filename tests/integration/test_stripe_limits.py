"""Signed Stripe events at and beyond our own limits: every one is recorded or held for a
person with a reason they can read, answered 2xx (Stripe would retry anything else for days),
never a 500; amounts are checked against what they refer to before anything is posted, and
the ledger's running totals stay exact integers in one currency.

Issue 14, items 3-5: on PostgreSQL a 304-character ``metadata.ref`` lost a real payment (400 on
every delivery); 100,000-level nesting, ``metadata.drive`` as an object and an amount of 10^20
were 500s; an over-refund made a drive's raised negative, a negative dispute added money, and
two sessions of 2^62 cents turned SQLite's running totals into REAL."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text
from sqlmodel import func, select

from relief import drives, ledger
from relief.errors import InvalidInput
from relief.models import Entry, EntryKind, Gift, GiftStatus, ParkedEvent, StripeEvent, Total
from tests import stripe_objects as so
from tests.factories import make_coalition
from tests.stripe_fixtures import *  # noqa: F403
from tests.treasury_helpers import SignedIn, data, make_user

META = {"drive": "mo-2026", "chapter": "st-louis"}


@pytest.fixture
def drive(stripe_session):
    return make_coalition(stripe_session)


def api(client) -> dict:
    return client.get("/api/drives/mo-2026").get_json()


def count(app, model) -> int:
    with data(app) as session:
        return session.exec(select(func.count()).select_from(model)).one()


def held(app) -> list[ParkedEvent]:
    with data(app) as session:
        return list(session.exec(select(ParkedEvent).order_by(ParkedEvent.id)))


def books_are_exact(app) -> None:
    with data(app) as session:
        assert ledger.verify(session, drives.get_drive(session, "mo-2026")) == []
    result = app.test_cli_runner().invoke(args=["ledger", "verify"])
    assert result.exit_code == 0, result.output


def assert_held(app, response, *words) -> ParkedEvent:
    """Answered 2xx (Stripe stops retrying), parked with a reason a treasurer reads, and
    nothing posted."""
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.get_json()["parked"] is True
    [parked] = held(app)
    assert parked.waits_for is None
    for word in words:
        assert word in parked.reason, parked.reason
    return parked


def paid(amount_cents=2000, **options):
    obj = so.checkout_session(amount_cents=amount_cents, metadata=dict(META), **options)
    return obj, so.event("checkout.session.completed", obj)


# --- over-long strings: truncated to the column, the full value kept -----------------------


def test_a_500_character_ref_and_a_330_character_email_record_the_gift_in_full(
    stripe_app, stripe_client, drive
):
    """Stripe allows 500 characters of metadata; our columns hold 200 (ref) and 320 (email).
    PostgreSQL refused the insert: 400 on every delivery, the payment never recorded."""
    ref = "r" * 500
    email = "d" * 318 + "@example.org"  # 330 characters
    obj, evt = paid(2500, email=email)
    obj["metadata"]["ref"] = ref
    response = so.deliver(stripe_client, evt)
    assert response.status_code == 200 and response.get_json()["parked"] is False
    assert api(stripe_client)["raised_cents"] == 2500
    with data(stripe_app) as session:
        gift = session.exec(select(Gift)).one()
        assert gift.status is GiftStatus.PAID
        assert gift.ref == ref[:200] and gift.donor_email == email[:320]
        stored = session.get(StripeEvent, evt["id"])
        assert stored.payload is not None
        kept = json.loads(stored.payload)["data"]["object"]
    assert kept["metadata"]["ref"] == ref and kept["customer_details"]["email"] == email
    books_are_exact(stripe_app)


def test_an_event_of_ordinary_length_keeps_no_copy(stripe_app, stripe_client, drive):
    """Only an event something had to be shortened for is kept whole (it holds a donor's
    email and name)."""
    _, evt = paid(2500)
    assert so.deliver(stripe_client, evt).status_code == 200
    with data(stripe_app) as session:
        assert session.get(StripeEvent, evt["id"]).payload is None


# --- wrong types and absurd nesting: held with a reason, 2xx -------------------------------


def test_a_session_whose_id_is_an_object_is_held_not_a_500(stripe_app, stripe_client, drive):
    """Found by the fuzz test on PostgreSQL: psycopg "cannot adapt type 'dict'", a 500."""
    obj, evt = paid(2500)
    obj["id"] = {}
    response = so.deliver(stripe_client, evt)
    assert_held(stripe_app, response, "id")
    assert count(stripe_app, Gift) == 0
    again = so.deliver(stripe_client, evt)
    assert again.status_code == 200 and again.get_json()["duplicate"] is True
    assert len(held(stripe_app)) == 1
    books_are_exact(stripe_app)


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("metadata", {"drive": {"slug": "mo-2026"}}, ["metadata.drive", "an object"]),
        ("client_reference_id", {"": None}, ["client_reference_id"]),
        ("amount_total", "2500", ["amount_total", "text"]),
        ("amount_total", 25.0, ["amount_total", "a number with a fraction"]),
        ("payment_intent", 12345, ["payment_intent"]),
        ("customer_details", ["x"], ["customer_details", "a list"]),
        ("created", 10**30, ["created"]),
        ("currency", "dollars", ["currency"]),
    ],
    ids=[
        "drive object",
        "reference object",
        "amount text",
        "amount float",
        "intent number",
        "details list",
        "created huge",
        "currency word",
    ],
)
def test_a_session_with_a_field_of_the_wrong_type_is_held_with_its_name(
    stripe_app, stripe_client, drive, field, value, words
):
    obj, evt = paid(2500)
    obj[field] = value
    response = so.deliver(stripe_client, evt)
    assert_held(stripe_app, response, *words)
    assert count(stripe_app, Gift) == 0 and api(stripe_client)["raised_cents"] == 0
    books_are_exact(stripe_app)


def test_an_event_whose_own_id_is_not_text_counts_once_by_its_body(
    stripe_app, stripe_client, drive
):
    """The signature proves the money moved; the claim is the signed body's hash (Stripe
    redelivers the same bytes), so a redelivery is still a duplicate."""
    _, evt = paid(2500)
    evt["id"] = {"nested": ["id"]}
    response = so.deliver(stripe_client, evt)
    assert response.status_code == 200 and response.get_json()["event"].startswith("body:")
    assert so.deliver(stripe_client, evt).get_json()["duplicate"] is True
    assert count(stripe_app, StripeEvent) == 1 and api(stripe_client)["raised_cents"] == 2500
    books_are_exact(stripe_app)


def test_a_body_nested_100000_levels_is_held_not_a_500(stripe_app, stripe_client, drive):
    """Python's JSON reader gives up (RecursionError) long before: the signed body is kept
    as it came and answered 200, once however often Stripe delivers it."""
    depth = 100_000
    body = (
        b'{"id": "evt_deep", "type": "checkout.session.completed", "data": {"object": '
        + b"[" * depth
        + b"]" * depth
        + b"}}"
    )
    for _ in range(2):
        response = stripe_client.post(
            "/stripe/webhook", data=body, headers=so.webhook_headers(body)
        )
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
    [parked] = held(stripe_app)
    assert "nested" in parked.reason and parked.payload.encode() == body
    assert count(stripe_app, StripeEvent) == 1 and count(stripe_app, Gift) == 0
    books_are_exact(stripe_app)


def test_a_readable_but_deeply_nested_event_is_held(stripe_app, stripe_client, drive):
    obj, evt = paid(2500)
    nested: list = []
    for _ in range(200):
        nested = [nested]
    obj["metadata"]["notes"] = nested
    assert_held(stripe_app, so.deliver(stripe_client, evt), "nested")


# --- amounts checked against what they refer to ---------------------------------------------


@pytest.mark.parametrize("amount", [10**20, 2**62, 2**31, 1_000_000_001, -500])
def test_a_session_amount_beyond_reason_is_held(stripe_app, stripe_client, drive, amount):
    """10^20 overflowed SQLite (a 500); 2^31 overflows PostgreSQL's INTEGER column."""
    _, evt = paid(amount)
    assert_held(stripe_app, so.deliver(stripe_client, evt), "amount_total")
    assert count(stripe_app, Gift) == 0 and count(stripe_app, Entry) == 0
    books_are_exact(stripe_app)


def test_two_sessions_of_2_to_the_62_cents_leave_the_totals_integers(
    stripe_app, stripe_client, drive
):
    """They made SQLite's running totals REAL (2^63 overflows its INTEGER) and the ledger
    verification failed; now both are held, and a real gift still counts exactly."""
    for _ in range(2):
        so.deliver(stripe_client, paid(2**62)[1])
    assert so.deliver(stripe_client, paid(2500)[1]).status_code == 200
    assert len(held(stripe_app)) == 2
    assert api(stripe_client)["raised_cents"] == 2500
    with data(stripe_app) as session:
        kinds = session.connection().execute(text("SELECT gifts_cents FROM total")).scalars()
        assert all(type(value) is int for value in kinds)
    books_are_exact(stripe_app)


def _refund(amount_refunded, charge_id="ch_over", intent="pi_over", amount=2000):
    return so.event(
        "charge.refunded",
        so.charge(
            charge_id=charge_id,
            payment_intent=intent,
            amount_cents=amount,
            amount_refunded=amount_refunded,
        ),
    )


def test_a_refund_larger_than_its_gift_is_held_and_raised_never_goes_negative(
    stripe_app, stripe_client, drive
):
    """On a $20 gift, ``amount_refunded: 500000`` made the drive's raised −$4,980."""
    so.deliver(stripe_client, paid(2000, payment_intent="pi_over")[1])
    response = so.deliver(stripe_client, _refund(500_000, amount=500_000))
    parked = assert_held(stripe_app, response, "$5,000.00", "$20.00")
    assert "ch_over" in parked.reason
    figures = api(stripe_client)
    assert (figures["raised_cents"], figures["refunds_cents"]) == (2000, 0)
    # A refund the charge itself says is larger than the charge is held too.
    assert so.deliver(stripe_client, _refund(2500, amount=2000)).get_json()["parked"] is True
    # The real, full refund afterwards counts.
    assert so.deliver(stripe_client, _refund(2000)).get_json()["parked"] is False
    assert api(stripe_client)["raised_cents"] == 0
    books_are_exact(stripe_app)


def test_a_refund_larger_than_its_gift_arriving_first_is_held_when_the_gift_comes(
    stripe_app, stripe_client, drive
):
    early = so.deliver(stripe_client, _refund(5000, amount=5000))
    assert early.get_json()["parked"] is True and held(stripe_app)[0].waits_for == "pi_over"
    assert so.deliver(stripe_client, paid(2000, payment_intent="pi_over")[1]).status_code == 200
    [parked] = held(stripe_app)
    assert parked.waits_for is None and "$50.00" in parked.reason
    assert api(stripe_client)["raised_cents"] == 2000  # the gift counts; the refund waits
    books_are_exact(stripe_app)


def test_a_negative_refund_is_held(stripe_app, stripe_client, drive):
    so.deliver(stripe_client, paid(2000, payment_intent="pi_over")[1])
    assert_held(stripe_app, so.deliver(stripe_client, _refund(-500)), "negative")
    assert api(stripe_client)["raised_cents"] == 2000


def test_a_failed_refund_of_a_negative_amount_is_held(stripe_app, stripe_client, drive):
    so.deliver(stripe_client, paid(2000, payment_intent="pi_over")[1])
    so.deliver(stripe_client, _refund(1000))
    refund = so.refund(
        refund_id="re_neg",
        charge_id="ch_over",
        payment_intent="pi_over",
        amount_cents=-1000,
        status="failed",
    )
    assert_held(stripe_app, so.deliver(stripe_client, so.event("refund.failed", refund)), "amount")
    assert api(stripe_client)["raised_cents"] == 1000
    books_are_exact(stripe_app)


def _dispute(amount, dispute_id="dp_x", status="needs_response"):
    return so.event(
        "charge.dispute.created",
        so.dispute(
            dispute_id=dispute_id,
            charge_id="ch_disp",
            payment_intent="pi_disp",
            amount_cents=amount,
            status=status,
        ),
    )


def test_a_negative_dispute_is_held_and_adds_no_money(stripe_app, stripe_client, drive):
    """A dispute of −$500 added $500 to the drive."""
    so.deliver(stripe_client, paid(2000, payment_intent="pi_disp")[1])
    assert_held(stripe_app, so.deliver(stripe_client, _dispute(-50_000)), "negative")
    figures = api(stripe_client)
    assert (figures["raised_cents"], figures["disputes_cents"]) == (2000, 0)
    books_are_exact(stripe_app)


def test_disputes_beyond_the_gift_are_held(stripe_app, stripe_client, drive):
    so.deliver(stripe_client, paid(2000, payment_intent="pi_disp")[1])
    assert_held(stripe_app, so.deliver(stripe_client, _dispute(2001)), "$20.01", "$20.00")
    # One real dispute of the whole gift; a second dispute on the same charge would take the
    # money out twice.
    assert so.deliver(stripe_client, _dispute(2000, "dp_real")).get_json()["parked"] is False
    assert so.deliver(stripe_client, _dispute(2000, "dp_again")).get_json()["parked"] is True
    figures = api(stripe_client)
    assert (figures["raised_cents"], figures["disputes_cents"]) == (0, 2000)
    books_are_exact(stripe_app)


def test_a_session_in_another_currency_than_its_drive_is_held(stripe_app, stripe_client, drive):
    obj, evt = paid(2500)
    obj["currency"] = "eur"
    assert_held(stripe_app, so.deliver(stripe_client, evt), "EUR", "USD")
    assert count(stripe_app, Gift) == 0
    books_are_exact(stripe_app)


def test_a_held_event_stays_claimed_and_its_redelivery_is_a_duplicate(
    stripe_app, stripe_client, drive
):
    """A webhook event runs without a savepoint of its own (it is its unit's only work): a
    hold rolls the unit back and claims the event again, so it is kept once, and Stripe's
    next delivery of it changes nothing."""
    obj, evt = paid(2500)
    obj["currency"] = "eur"
    assert_held(stripe_app, so.deliver(stripe_client, evt), "EUR")
    again = so.deliver(stripe_client, evt).get_json()
    assert again["duplicate"] is True and again["parked"] is False
    assert (count(stripe_app, StripeEvent), count(stripe_app, Gift)) == (1, 0)
    assert len(held(stripe_app)) == 1
    books_are_exact(stripe_app)


# --- what a treasurer sees ------------------------------------------------------------------


def test_held_events_are_listed_with_their_reason_for_the_coalition_admin(
    stripe_app, stripe_client, drive
):
    obj, evt = paid(2500)
    obj["metadata"]["drive"] = {"slug": "mo-2026"}
    so.deliver(stripe_client, evt)
    with data(stripe_app) as session:
        make_user(session, "admin@coalition.org", admin=True)
    admin = SignedIn(stripe_app, "admin@coalition.org")
    page = admin.get("/admin/unassigned").get_data(as_text=True)
    assert evt["id"] in page and "checkout.session.completed" in page
    assert "metadata.drive is an object where Stripe sends text" in page
    index = admin.get("/treasurer/").get_data(as_text=True)
    assert "1 Stripe event held" in index


# --- the ledger's own bounds ----------------------------------------------------------------


@pytest.mark.parametrize("amount", [2**62, -(2**62), 1_000_000_001])
def test_the_ledger_refuses_an_entry_beyond_its_bound_with_a_sentence(stripe_app, drive, amount):
    with data(stripe_app) as session:
        with pytest.raises(InvalidInput, match=r"at most \$10,000,000\.00"):
            ledger.append(
                session, kind=EntryKind.CORRECTION, amount_cents=amount, drive_id=drive.id
            )
        session.rollback()
    books_are_exact(stripe_app)


def test_ledger_verify_names_an_entry_in_a_foreign_currency(stripe_app, drive):
    with data(stripe_app) as session:
        ledger.append(
            session,
            kind=EntryKind.CORRECTION,
            amount_cents=500,
            drive_id=drive.id,
            currency="EUR",
        )
        session.commit()
        problems = ledger.verify(session, drives.get_drive(session, "mo-2026"))
    assert problems == ["1 entry in EUR in a drive counted in USD"]
    result = stripe_app.test_cli_runner().invoke(args=["ledger", "verify"])
    assert result.exit_code != 0 and "1 entry in EUR" in result.output


def test_ledger_verify_names_running_totals_that_are_no_longer_integers(stripe_app, drive):
    """What 2^63 did on SQLite: the sum overflowed INTEGER and became REAL (a float, which
    Python compares equal to an int of the same value: the type is checked by itself)."""
    with data(stripe_app) as session:
        ledger.append(session, kind=EntryKind.GIFT, amount_cents=500, drive_id=drive.id)
        session.commit()
        if session.get_bind().dialect.name == "sqlite":
            session.execute(text("UPDATE total SET gifts_cents = 9223372036854775807 + 1"))
            session.commit()
            problems = ledger.verify(session, drives.get_drive(session, "mo-2026"))
            assert "drive totals: gifts_cents is not a whole number of cents" in problems
        else:  # BIGINT cannot hold anything else: the check passes
            assert ledger.verify(session, drives.get_drive(session, "mo-2026")) == []
            assert type(session.exec(select(Total.gifts_cents)).first()) is int
