"""Match pledges: a sponsor's promise to match gifts, shown apart from the money raised, and
the sponsor's own gift that fulfils it — counted in raised once, when it is received."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlmodel import col, select

from relief import drives, ledger, matches
from relief.errors import Conflict, InvalidInput, NotFound
from relief.models import AuditEvent, Drive, GiftMethod, MatchCounts
from relief.treasury import exports, sponsor_gifts
from tests import stripe_objects as so
from tests.factories import make_coalition, make_gift
from tests.read_back import pdf_text
from tests.stripe_fixtures import *  # noqa: F403
from tests.treasury_helpers import SignedIn, data, make_user

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


def TODAY() -> str:  # noqa: N802 — read like the constant it stands for
    return ledger.today().isoformat()


def figure(page: str, name: str) -> str:
    return page.split(f'data-figure="{name}">', 1)[1].split("<", 1)[0]


def rows(response) -> list[dict]:
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


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


@pytest.mark.parametrize(
    "first, second, apart, chapters_pledge",
    [
        ("kansas-city", "st-louis", timedelta(hours=1), 10_000),
        ("st-louis", "kansas-city", timedelta(hours=1), 0),
        # Two checks of one day (its noon): the one recorded first came first.
        ("kansas-city", "st-louis", timedelta(0), 10_000),
        ("st-louis", "kansas-city", timedelta(0), 0),
    ],
)
def test_which_gift_came_first_decides_what_a_later_chapters_pledge_matches(
    stripe_session, stripe_client, drive, monkeypatch, first, second, apart, chapters_pledge
):
    """A whole drive's $100 pledge, made first, takes the first $100 given: when that was
    Kansas City's check, St. Louis's own $100 pledge matches St. Louis's check that came
    after; when St. Louis's came first, the whole drive's pledge took it and nothing is left
    for St. Louis's. However the database numbered the chapters."""
    monkeypatch.setattr(matches, "PAGE", 1)  # the gifts read in order a page at a time
    pledge(stripe_session, cap=10_000, counts="all", starts=-2, sponsor="Whole Drive Co")
    pledge(
        stripe_session, cap=10_000, counts="all", starts=-2, sponsor="Gateway", chapter_only=True
    )
    morning = ledger.noon(ledger.today() - timedelta(days=1)) - apart * 3
    make_gift(stripe_session, drive, 10_000, chapter=first, received_at=morning)
    make_gift(stripe_session, drive, 10_000, chapter=second, received_at=morning + apart)
    assert matched(stripe_client) == [
        ("Whole Drive Co", 10_000, 10_000, 0, 10_000),
        ("Gateway", 10_000, chapters_pledge, 0, chapters_pledge),
    ]


def _work_of_standings(session, drive) -> tuple[int, int]:
    """What reading the drive's pledges costs the database: SQLite's virtual machine steps
    (in hundreds), or on PostgreSQL the rows read from the gifts and their entries. With
    the pledges' matched cents."""
    session.rollback()
    connection = session.connection()
    raw = connection.connection.dbapi_connection
    if connection.dialect.name == "sqlite":
        steps = [0]

        def count() -> int:
            steps[0] += 1
            return 0

        raw.set_progress_handler(count, 100)
        try:
            figures = matches.standings(session, drive)
        finally:
            raw.set_progress_handler(None, 100)
        return steps[0], sum(s.matched_cents for s in figures)
    # The planner's statistics, as autovacuum keeps them after a load: without them it reads
    # a table it thinks small from end to end.
    connection.exec_driver_sql("ANALYZE entry, gift")

    def rows_read() -> int:
        read = connection.exec_driver_sql(
            "SELECT sum(coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0))"
            " FROM pg_stat_xact_user_tables WHERE relname IN ('entry', 'gift')"
        )
        return int(read.scalar() or 0)

    before = rows_read()
    figures = matches.standings(session, drive)
    return rows_read() - before, sum(s.matched_cents for s in figures)


def test_what_a_pledge_matched_costs_the_same_whatever_the_number_of_gifts(session):
    """The drive page reads its pledges' figures from the ledger's sums by day received, not
    by summing the gifts: 2,000 more gifts in the pledge's window cost its read nothing more
    (before, every one of them was read, each time the page was built)."""
    drive = make_coalition(session, starts_on=ledger.today() - timedelta(days=30))
    pledge(session, counts="all", starts=-3, cap=10_000_000)
    yesterday = ledger.noon(ledger.today() - timedelta(days=1))
    for n in range(10):
        make_gift(session, drive, 100 + n, chapter="st-louis", received_at=yesterday)
    few, matched = _work_of_standings(session, drive)
    assert matched == sum(100 + n for n in range(10))
    many = [
        {
            "drive_id": drive.id,
            "chapter_id": None,
            "amount_cents": 500,
            "currency": "USD",
            "method": GiftMethod.CARD if n % 2 else GiftMethod.CASH,
            "status": "paid",
            "received_at": yesterday - timedelta(minutes=n),
        }
        for n in range(2_000)
    ]
    ledger.append_gifts_in_bulk(session, drive, many)
    session.commit()
    more, matched = _work_of_standings(session, drive)
    assert matched == sum(100 + n for n in range(10)) + 2_000 * 500
    assert more <= few + 5, (few, more)
    assert ledger.verify(session, drive) == []


def test_the_sponsors_payment_fulfils_the_pledge_and_raised_rises_by_it_once_everywhere(
    stripe_app, stripe_client
):
    """Page, API, both CSVs and the press PDF agree: the sponsor's $25 is raised once, when
    received, never as a promise; the pledge shows it matched, received and fulfilled."""
    with data(stripe_app) as session:
        make_coalition(session, starts_on=ledger.today() - timedelta(days=30))  # hosted by MM
        make_user(session, "t@mm.org", "mid-missouri")
        # All gifts count, cash and checks too: the sponsor's own check must still not.
        pledge(session, cap=5000, counts="all")
    card_gift(stripe_client, 2500, "pi_m6")
    before = api(stripe_client)
    assert before["raised_cents"] == 2500
    assert before["projected_relief_with_match_cents"] == before["projected_relief_cents"] + 250_000
    page = stripe_client.get("/drives/mo-2026").get_data(as_text=True)
    assert "Every gift doubled, up to $50" in page
    assert "$25.00 of the $50.00 match used" in page

    treasurer = SignedIn(stripe_app, "t@mm.org")
    screen = treasurer.get("/treasurer/mid-missouri/matches").get_data(as_text=True)
    assert figure(screen, "matched-1") == "$25.00" and figure(screen, "remaining-1") == "$25.00"
    # A chapter other than the one whose books receive it cannot record it.
    with data(stripe_app) as session, pytest.raises(NotFound):
        sponsor_gifts.record_payment(
            session,
            drives.get_chapter(session, "st-louis"),
            1,
            amount_cents=2500,
            method=GiftMethod.CHECK,
            received_on=ledger.today(),
        )
    form = {"amount": "25", "method": "check", "check_number": "101", "received": TODAY()}
    paid = treasurer.post("/treasurer/mid-missouri/matches/1/payments", form)
    assert paid.status_code == 302, paid.get_data(as_text=True)[:800]
    again = treasurer.post("/treasurer/mid-missouri/matches/1/payments", form)
    assert again.status_code == 409 and "Already recorded" in again.get_data(as_text=True)

    after = api(stripe_client)
    assert after["raised_cents"] == before["raised_cents"] + 2500 == 5000
    assert matched(stripe_client) == [("Acme Health", 5000, 2500, 2500, 0)]
    assert after["matches"][0]["fulfilled"] is True
    assert after["projected_relief_with_match_cents"] is None
    assert sum(c["raised_cents"] for c in after["chapters"]) == 5000

    page = stripe_client.get("/drives/mo-2026").get_data(as_text=True)
    assert "Acme Health has paid $25.00 of it so far." in page
    assert "$25.00 of the $50.00 match used" in page
    assert "$50.00" in page.split('class="progress', 1)[1][:600]  # raised, on the bar

    donors = rows(treasurer.get("/treasurer/mid-missouri/donors.csv"))
    assert [(d["donor"], d["amount"], d["match_pledge"]) for d in donors] == [
        ("Acme Health", "25.00", "#1 Acme Health")
    ]
    entries = rows(treasurer.get("/treasurer/mid-missouri/ledger.csv"))
    assert [(e["kind"], e["amount"], e["match_pledge"]) for e in entries] == [
        ("gift", "25.00", "#1 Acme Health")
    ]
    with data(stripe_app) as session:
        stl = "".join(exports.donor_csv(session, drives.get_chapter(session, "st-louis")))
    assert [(d["amount"], d["match_pledge"]) for d in csv.DictReader(io.StringIO(stl))] == [
        ("25.00", "")
    ]

    text = " ".join(pdf_text(stripe_client.get("/drives/mo-2026/report.pdf").data).split())
    assert "$50.00 raised" in text
    assert "Matched, pledged by Acme Health: $25.00, received $25.00" in text


def _form(**changes) -> dict:
    today = ledger.today()
    return {
        "sponsor_name": "Acme Health",
        "ratio": "1:1",
        "cap": "5,000",
        "starts_on": today.isoformat(),
        "ends_on": (today + timedelta(days=10)).isoformat(),
        "counts": "online",
        **changes,
    }


def test_an_organizer_makes_changes_ends_and_withdraws_a_pledge_each_audited(app, client):
    with data(app) as session:
        make_coalition(session, starts_on=ledger.today() - timedelta(days=30))
        make_user(session, "o@stl.org", "st-louis", role="organizer")
    organizer = SignedIn(app, "o@stl.org")
    base = "/organize/st-louis/drives/mo-2026/matches"

    refused = organizer.post(base, _form(ratio="0:1"))
    body = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "such as 1:1 (every gift doubled)" in body
    assert 'value="Acme Health"' in body  # what was typed is kept
    assert api(client)["matches"] == []

    assert organizer.post(base, _form()).status_code == 302
    tomorrow = ledger.today() + timedelta(days=1)
    later = _form(sponsor_name="Later Co", starts_on=tomorrow.isoformat(), cap="100")
    assert organizer.post(base, later).status_code == 302
    page = client.get("/drives/mo-2026").get_data(as_text=True)
    assert "Every gift doubled, up to $5,000" in page and "Pledged by Acme Health" in page
    assert f"It starts on {tomorrow:%b} {tomorrow.day}, {tomorrow.year}." in page

    # Terms change only before the pledge starts.
    edited = organizer.post(f"{base}/2", later | {"ratio": "2:1", "cap": "300"})
    assert edited.status_code == 302
    assert "Every gift tripled, up to $300" in client.get("/drives/mo-2026").get_data(as_text=True)
    started = organizer.post(f"{base}/1", _form(cap="9,000"))
    assert started.status_code == 409 and "has started" in started.get_data(as_text=True)

    assert organizer.post(f"{base}/1/end").status_code == 302
    assert api(client)["matches"][0]["ends_on"] == ledger.today().isoformat()
    no_reason = organizer.post(f"{base}/2/withdraw", {"reason": ""})
    assert no_reason.status_code == 400
    assert organizer.post(f"{base}/2/withdraw", {"reason": "Sponsor pulled out"}).status_code == 302
    assert [m["sponsor"] for m in api(client)["matches"]] == ["Acme Health"]

    with data(app) as session:
        lines = session.exec(
            select(AuditEvent.action, AuditEvent.detail).order_by(col(AuditEvent.id))
        ).all()
    actions = [action for action, _ in lines if action.startswith("match.")]
    assert actions == ["match.create", "match.create", "match.edit", "match.end", "match.withdraw"]
    assert "Sponsor pulled out" in lines[-1][1]


def test_a_chapters_pledge_matches_its_gifts_only_and_its_treasurer_records_the_payment(
    stripe_session, stripe_client, drive
):
    made = pledge(stripe_session, chapter_only=True, counts="all")
    card_gift(stripe_client, 2000, "pi_m7", chapter="st-louis")
    card_gift(stripe_client, 3000, "pi_m8", chapter="kansas-city")
    make_gift(stripe_session, drive, 1000)  # to the whole drive: not St. Louis's
    assert matched(stripe_client) == [("Acme Health", 500_000, 2000, 0, 2000)]
    assert api(stripe_client)["matches"][0]["chapter"] == "st-louis"

    host = drives.get_chapter(stripe_session, "mid-missouri")
    with pytest.raises(NotFound):  # the money is St. Louis's: its treasurer records it
        sponsor_gifts.record_payment(
            stripe_session,
            host,
            made.id,
            amount_cents=2000,
            method=GiftMethod.CHECK,
            received_on=ledger.today(),
        )
    stripe_session.rollback()
    st_louis = drives.get_chapter(stripe_session, "st-louis")
    gift = sponsor_gifts.record_payment(
        stripe_session,
        st_louis,
        made.id,
        amount_cents=2000,
        method=GiftMethod.CHECK,
        received_on=ledger.today(),
    )
    stripe_session.commit()
    assert gift.chapter_id == st_louis.id
    stl = next(c for c in api(stripe_client)["chapters"] if c["slug"] == "st-louis")
    assert stl["raised_cents"] == 4000  # the card gift and the sponsor's check, once each
    assert matched(stripe_client) == [("Acme Health", 500_000, 2000, 2000, 0)]

    # Paid against, it can no longer be withdrawn (only ended early).
    with pytest.raises(Conflict, match="cannot be withdrawn"):
        matches.withdraw(fresh(stripe_session), made, "changed our mind")


def test_a_pledge_outside_the_drive_or_with_a_bad_ratio_is_refused_with_a_sentence(
    stripe_session, drive
):
    with pytest.raises(InvalidInput, match="cannot end after the drive does"):
        drive_row = fresh(stripe_session).exec(select(Drive)).one()
        drive_row.ends_on = ledger.today() + timedelta(days=5)
        pledge(stripe_session, ends=6)
    stripe_session.rollback()
    with pytest.raises(InvalidInput, match="cannot start before the drive does"):
        pledge(stripe_session, starts=-31)
    stripe_session.rollback()
    for ratio in ("0:1", "1", "11:1", "a:b", "1:1:1"):
        with pytest.raises(InvalidInput, match="such as 1:1"):
            pledge(stripe_session, ratio=ratio)
        stripe_session.rollback()
    assert matches.parse_ratio(" 2 : 1 ") == (2, 1)
