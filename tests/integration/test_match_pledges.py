"""Match pledges: a sponsor's promise to match gifts, shown apart from the money raised, and
the sponsor's own gift that fulfils it — counted in raised once, when it is received."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from relief import drives, ledger, matches
from relief.models import Drive, GiftMethod, MatchCounts
from tests import stripe_objects as so
from tests.factories import make_coalition, make_gift
from tests.stripe_fixtures import *  # noqa: F403

META = {"drive": "mo-2026", "chapter": "st-louis"}


def fresh(session):
    session.rollback()
    session.expire_all()
    return session


def api(client):
    return client.get("/api/drives/mo-2026").get_json()


def card_gift(client, cents, intent, chapter="st-louis"):
    obj = so.checkout_session(
        amount_cents=cents, metadata={"drive": "mo-2026", "chapter": chapter}, payment_intent=intent
    )
    assert so.deliver(client, so.event("checkout.session.completed", obj)).status_code == 200


def pledge(session, *, ratio="1:1", cap=500_000, starts=0, ends=10, counts="online", **more):
    """A pledge made by St. Louis's organizer, its window in days from today."""
    drive = session.exec(select(Drive)).one()
    chapter = drives.get_chapter(session, more.pop("chapter", "st-louis"))
    today = ledger.today()
    made = matches.create_pledge(
        session,
        chapter,
        drive,
        matches.PledgeTerms(
            sponsor_name=more.pop("sponsor", "Acme Health"),
            ratio=ratio,
            cap_cents=cap,
            starts_on=today + timedelta(days=starts),
            ends_on=today + timedelta(days=ends),
            counts=MatchCounts(counts),
            **more,
        ),
    )
    session.commit()
    return made


def matched(client) -> list[tuple[str, int, int, int, int]]:
    return [
        (
            m["sponsor"],
            m["pledged_cents"],
            m["matched_cents"],
            m["received_cents"],
            m["remaining_cents"],
        )
        for m in api(client)["matches"]
    ]


@pytest.fixture
def drive(stripe_session):
    return make_coalition(stripe_session, starts_on=ledger.today() - timedelta(days=30))


def test_gifts_during_the_pledge_are_matched_and_others_are_not(
    stripe_session, stripe_client, drive
):
    pledge(stripe_session, cap=500_000)
    card_gift(stripe_client, 2500, "pi_m1")
    # A check is not an online gift; a check received before the pledge began is outside it.
    make_gift(stripe_session, drive, 1000, chapter="st-louis", method=GiftMethod.CHECK)
    make_gift(
        stripe_session,
        drive,
        4000,
        chapter="st-louis",
        received_at=ledger.noon(ledger.today() - timedelta(days=3)),
    )
    assert matched(stripe_client) == [("Acme Health", 500_000, 2500, 0, 2500)]
    assert api(stripe_client)["raised_cents"] == 7500  # the promise is not money


def test_a_pledge_of_all_gifts_counts_checks_within_its_window_only(
    stripe_session, stripe_client, drive
):
    pledge(stripe_session, counts="all", starts=-2, ends=0)
    card_gift(stripe_client, 2500, "pi_m2")
    make_gift(stripe_session, drive, 1000, chapter="kansas-city", method=GiftMethod.CASH)
    make_gift(stripe_session, drive, 4000, received_at=ledger.noon(ledger.today() - timedelta(3)))
    assert matched(stripe_client) == [("Acme Health", 500_000, 3500, 0, 3500)]


def test_a_refund_reduces_the_match(stripe_session, stripe_client, drive):
    pledge(stripe_session)
    card_gift(stripe_client, 4000, "pi_m3")
    assert matched(stripe_client)[0][2] == 4000
    refunded = so.charge(
        charge_id="ch_m3", payment_intent="pi_m3", amount_cents=4000, amount_refunded=1500
    )
    so.deliver(stripe_client, so.event("charge.refunded", refunded))
    assert matched(stripe_client)[0][2] == 2500


def test_the_cap_holds_and_later_pledges_match_what_the_first_leaves(
    stripe_session, stripe_client, drive
):
    pledge(stripe_session, cap=3000, sponsor="First Bank")
    pledge(stripe_session, ratio="2:1", cap=100_000, sponsor="Second Co")
    pledge(stripe_session, ratio="1:2", cap=100_000, sponsor="Third Co", starts=1)
    card_gift(stripe_client, 5000, "pi_m4")
    card_gift(stripe_client, 1001, "pi_m5")
    # The first matches $30.00 of the $60.01; the second 2:1 of the $30.01 left; the third
    # has not started.
    assert matched(stripe_client) == [
        ("First Bank", 3000, 3000, 0, 3000),
        ("Second Co", 100_000, 6002, 0, 6002),
        ("Third Co", 100_000, 0, 0, 0),
    ]
