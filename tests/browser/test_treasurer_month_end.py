"""The issue's "Done when", as one flow in Chromium: a St. Louis treasurer signs in, enters an
event's two checks and posts them, syncs Stripe (a local server answering with Stripe's shapes)
and sees the payout reconciled to the cent, records a remittance and the partner's report,
downloads the ledger CSV — and a Kansas City treasurer gets 404 for every St. Louis URL."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import LiveServer
from tests.browser.test_treasurer_browser import PHONE, screens  # noqa: F401
from tests.conftest import make_app
from tests.factories import make_coalition, make_gift
from tests.integration.test_payouts import card_gift, payout, txn
from tests.stripe_fixtures import fake_stripe  # noqa: F401
from tests.treasury_helpers import PASSWORD, data, make_user

STL = "treasurer@stl.example.org"
KC = "treasurer@kc.example.org"


@pytest.fixture
def stripe_live_server(sqlite_url, fake_stripe):  # noqa: F811
    """The live app with Stripe keys, its API pointed at the local fake over real HTTP."""
    app = make_app(sqlite_url, STRIPE_SECRET_KEY="sk_test_relief", STRIPE_API_BASE=fake_stripe.url)
    with LiveServer(app) as server:
        yield server


def sign_in(browser, base, email):
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    return context, page


def go(page, section):
    """Follow the treasury menu (pages may link the same place again in their text)."""
    menu = page.get_by_role("navigation", name="St. Louis treasury")
    menu.get_by_role("link", name=section, exact=True).click()


@pytest.mark.browser
def test_a_st_louis_treasurer_closes_the_month_and_kansas_city_sees_none_of_it(
    stripe_live_server,
    fake_stripe,  # noqa: F811
    browser,
    screens,  # noqa: F811
):
    app, base = stripe_live_server.app, stripe_live_server.url
    with data(app) as session:
        drive = make_coalition(session)
        card_gift(session, drive, 5_000, 175, "ch_walk_stl")
        card_gift(session, drive, 2_000, 88, "ch_walk_kc", chapter="kansas-city")
        make_gift(session, drive, 77_700, chapter="kansas-city", donor_name="Kay Kansas")
        make_user(session, STL, "st-louis")
        make_user(session, KC, "kansas-city")
    lines = [
        txn("txn_walk_stl", 5_000, 175, "ch_walk_stl"),
        txn("txn_walk_kc", 2_000, 88, "ch_walk_kc"),
    ]
    fake_stripe.payout_transactions["po_walk"] = lines
    fake_stripe.payouts = [payout("po_walk", sum(t["net"] for t in lines))]

    context, page = sign_in(browser, base, STL)
    page.goto(f"{base}/treasurer/st-louis/")
    expect(page.get_by_role("heading", name="St. Louis treasury")).to_be_visible()
    net = page.locator('[data-figure="net"]')
    expect(net).to_have_text("$48.25")  # the card gift less Stripe's fee

    # An event's two checks, against the deposit slip's count and total.
    go(page, "Deposit batches")
    page.get_by_label("Event or slip name").fill("Bake sale checks")
    page.get_by_label("Number of gifts on the slip").fill("2")
    page.get_by_label("Total on the slip ($)").fill("160.00")
    page.get_by_label("Who holds the money until it is deposited").fill("Rosa")
    page.get_by_role("button", name="Start the batch").click()
    expect(page.get_by_role("heading", name="Bake sale checks")).to_be_visible()
    batch_url = page.url
    today = date.today().isoformat()
    for amount, number, name in (("100", "2001", "Ida Baker"), ("60", "2002", "Jo Baker")):
        page.get_by_label("Amount ($)").fill(amount)
        page.get_by_label("Check number").fill(number)
        page.get_by_label("Date received").fill(today)
        page.get_by_label("Donor's name").fill(name)
        page.get_by_role("button", name="Add this gift").click()
        expect(page.get_by_role("status").filter(has_text=f"Added ${amount}")).to_be_visible()
    expect(page.get_by_role("heading", name="Balanced — ready to post")).to_be_visible()
    page.get_by_role("button", name="Post 2 gifts to the ledger").click()
    expect(page.get_by_text("Posted 2 gifts, $160.00, to the ledger.")).to_be_visible()

    go(page, "Dashboard")
    expect(net).to_have_text("$208.25")
    expect(page.locator('[data-figure="held"]')).to_have_text("$208.25")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(screens / "month-end-dashboard-posted-390.png"), full_page=True)

    # Stripe: the payout carries both chapters' card gifts and reconciles to the cent.
    go(page, "Payouts")
    page.get_by_role("button", name="Sync with Stripe").click()
    expect(
        page.get_by_text("Synced 1 payout (1 new) and 2 new balance transactions; 2 matched")
    ).to_be_visible()
    row = page.locator('tr[data-payout="po_walk"]')
    expect(row).to_contain_text("$67.37")  # paid out: (50.00 − 1.75) + (20.00 − 0.88)
    expect(row).to_contain_text("$48.25 (1)")  # St. Louis's share
    expect(row).to_contain_text("Reconciled to the cent")
    page.screenshot(path=str(screens / "month-end-payouts-390.png"), full_page=True)

    # Money sent to the partner, and what the partner says it relieved with it.
    go(page, "Remittances")
    page.get_by_label("Amount sent ($)").fill("150.00")
    page.get_by_label("Date sent").fill(today)
    page.get_by_label("Check number, wire or ACH reference").fill("CHK 3001")
    page.get_by_role("button", name="Record the remittance").click()
    expect(page.get_by_text("Recorded the remittance of $150.00.")).to_be_visible()
    expect(page.locator('[data-figure="held-mo-2026"]')).to_have_text("$58.25")

    go(page, "Partner reports")
    page.get_by_label("Medical debt abolished ($)").fill("15000")
    page.get_by_label("Number helped").fill("12")
    page.get_by_label("Counted as").select_option("households")
    page.get_by_label("Region").fill("St. Louis City")
    page.get_by_label("Date of the report").fill(today)
    page.get_by_role("button", name="Record the report").click()
    expect(page.get_by_text("Recorded the partner's report.")).to_be_visible()
    expect(page.locator('[data-figure="actual-mo-2026"]')).to_have_text("$15,000")
    expect(page.get_by_role("cell", name="12 households")).to_be_visible()

    # The month's ledger, as a spreadsheet would open it.
    go(page, "Exports")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download ledger CSV").click()
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text(encoding="utf-8"))))
    assert sorted((r["kind"], r["amount"]) for r in rows) == sorted(
        [
            ("gift", "50.00"),
            ("fee", "1.75"),
            ("gift", "100.00"),
            ("gift", "60.00"),
            ("remittance", "150.00"),
        ]
    )
    assert {r["drive"] for r in rows} == {"mo-2026"}
    assert {r["effective_date"] for r in rows} == {today}
    assert not any(r["amount"] in ("20.00", "0.88", "777.00") for r in rows)  # Kansas City's
    batch_id = batch_url.rstrip("/").rsplit("/", 1)[1]
    context.close()

    # Kansas City's treasurer: St. Louis does not exist, by any URL.
    context, page = sign_in(browser, base, KC)
    for path in (
        "/treasurer/st-louis/",
        f"/treasurer/st-louis/batches/{batch_id}",
        "/treasurer/st-louis/batches",
        "/treasurer/st-louis/remittances",
        "/treasurer/st-louis/partner-reports",
        "/treasurer/st-louis/exports",
        "/treasurer/st-louis/ledger.csv",
        "/treasurer/st-louis/donors.csv",
        f"/treasurer/kansas-city/batches/{batch_id}",  # St. Louis's batch under KC's own URL
    ):
        response = page.goto(base + path)
        assert response.status == 404, path
        body = page.content()
        assert "Bake sale" not in body and "Ida Baker" not in body, path
    page.goto(f"{base}/treasurer/kansas-city/")
    expect(page.get_by_role("heading", name="Kansas City treasury")).to_be_visible()
    expect(page.get_by_text("Bake sale checks")).to_have_count(0)
    context.close()
