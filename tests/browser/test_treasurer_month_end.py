"""The issue's "Done when", in Chromium at a phone's width.

The first flow: a St. Louis treasurer signs in, enters an event's two checks and posts them,
syncs Stripe (a local server answering with Stripe's shapes) and sees the payout reconciled to
the cent, records a remittance (on which the host chapter's treasurer records the partner's
report), downloads the ledger CSV — and a Kansas City treasurer gets 404 for every St. Louis URL.

The second: month end. Last month's checks are entered now (as treasurers do, days late), Stripe
is synced, the bank statement imported and matched to the payout and the deposited batch, the
close-month checklist is all done, last month is closed — and a correction entered afterwards
lands in this month, the next open one."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import LiveServer
from tests.browser.test_treasurer_browser import PHONE, shoot
from tests.conftest import make_app
from tests.factories import make_coalition, make_gift
from tests.integration.test_payouts import card_gift, payout, txn
from tests.stripe_fixtures import fake_stripe  # noqa: F401
from tests.treasury_helpers import PASSWORD, data, make_user

STL = "treasurer@stl.example.org"
KC = "treasurer@kc.example.org"
HOST = "treasurer@mid-mo.example.org"  # the drive's host chapter records the partner's reports


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
    screens,
):
    app, base = stripe_live_server.app, stripe_live_server.url
    with data(app) as session:
        drive = make_coalition(session)
        card_gift(session, drive, 5_000, 175, "ch_walk_stl")
        card_gift(session, drive, 2_000, 88, "ch_walk_kc", chapter="kansas-city")
        make_gift(session, drive, 77_700, chapter="kansas-city", donor_name="Kay Kansas")
        make_user(session, STL, "st-louis")
        make_user(session, KC, "kansas-city")
        make_user(session, HOST, "mid-missouri")
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

    # The host chapter's treasurer records the partner's report, naming St. Louis's check;
    # St. Louis's treasurer sees it beside the projection.
    host_context, host_page = sign_in(browser, base, HOST)
    host_page.goto(f"{base}/treasurer/mid-missouri/partner-reports")
    host_page.get_by_label("The partner's reference").fill("UMD-STL-7")
    host_page.get_by_label("Medical debt abolished ($)").fill("15000")
    host_page.get_by_label("Number helped").fill("12")
    host_page.get_by_label("Counted as").select_option("households")
    host_page.get_by_label("Region").fill("St. Louis City")
    host_page.get_by_label("Date of the report").fill(today)
    host_page.get_by_label("ref CHK 3001").check()
    host_page.get_by_role("button", name="Record the report").click()
    expect(host_page.get_by_text("Recorded the partner's report UMD-STL-7.")).to_be_visible()
    host_context.close()
    go(page, "Partner reports")
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


def unix(day: date) -> int:
    return int(datetime.combine(day, time(15), UTC).timestamp())


@pytest.mark.browser
def test_a_treasurer_matches_the_bank_statement_closes_last_month_and_corrects_after(
    stripe_live_server,
    fake_stripe,  # noqa: F811
    browser,
    screens,
    this_month,
    last_month,
):
    app, base = stripe_live_server.app, stripe_live_server.url
    received = last_month + timedelta(days=9)  # the event, last month
    deposited = received + timedelta(days=1)
    arrival = received + timedelta(days=3)  # Stripe's payout reaches the bank
    with data(app) as session:
        drive = make_coalition(session)
        at = datetime.combine(received, time(15), UTC)
        card_gift(session, drive, 5_000, 175, "ch_me_stl", when=at)
        card_gift(session, drive, 2_000, 88, "ch_me_kc", chapter="kansas-city", when=at)
        make_user(session, STL, "st-louis")
    lines = [
        txn("txn_me_stl", 5_000, 175, "ch_me_stl"),
        txn("txn_me_kc", 2_000, 88, "ch_me_kc"),
    ]
    fake_stripe.payout_transactions["po_month"] = lines
    fake_stripe.payouts = [
        payout(
            "po_month",
            sum(t["net"] for t in lines),
            created=unix(received + timedelta(days=1)),
            arrival=unix(arrival),
        )
    ]
    month_name = last_month.strftime("%B %Y")

    context, page = sign_in(browser, base, STL)
    page.goto(f"{base}/treasurer/st-louis/")
    # Last month's church checks, entered today; banked the day after the service.
    go(page, "Deposit batches")
    page.get_by_label("Event or slip name").fill("Church checks")
    page.get_by_label("Number of gifts on the slip").fill("2")
    page.get_by_label("Total on the slip ($)").fill("250.00")
    page.get_by_role("button", name="Start the batch").click()
    for amount, number, name in (("150", "3001", "Ana Pew"), ("100", "3002", "Bo Pew")):
        page.get_by_label("Amount ($)").fill(amount)
        page.get_by_label("Check number").fill(number)
        page.get_by_label("Date received").fill(received.isoformat())
        page.get_by_label("Donor's name").fill(name)
        page.get_by_role("button", name="Add this gift").click()
        expect(page.get_by_role("status").filter(has_text=f"Added ${amount}")).to_be_visible()
    page.get_by_role("button", name="Post 2 gifts to the ledger").click()
    expect(page.get_by_text("Posted 2 gifts, $250.00, to the ledger.")).to_be_visible()
    page.get_by_label("Deposited on").fill(deposited.isoformat())
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Saved who holds the money and the deposit date.")).to_be_visible()

    # Before the statement: the dashboard says what keeps last month open.
    go(page, "Dashboard")
    expect(page.get_by_role("heading", name=f"Before closing {month_name}")).to_be_visible()
    expect(page.locator('[data-month-state="open"]')).to_be_visible()
    expect(page.get_by_role("link", name="Batch “Church checks”, deposited")).to_be_visible()
    page.screenshot(path=str(screens / "month-end-checklist-open-390.png"), full_page=True)

    go(page, "Payouts")
    page.get_by_role("button", name="Sync with Stripe").click()
    row = page.locator('tr[data-payout="po_month"]')
    expect(row).to_contain_text("Reconciled to the cent")
    expect(row).to_contain_text("$48.25")  # St. Louis's share
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # The share and the state are on the screen, not beyond its right edge.
    for cell in (row.locator('td[data-label="State"]'), row.locator("td").nth(2)):
        box = cell.bounding_box()
        assert box and box["x"] + box["width"] <= PHONE["width"], box
    payouts_url = page.url
    row.get_by_role("link").click()
    expect(page.get_by_role("heading", name="Payout arriving")).to_be_visible()
    expect(page.locator('[data-figure="difference"]')).to_have_text("$0.00")
    payout_url = page.url

    # The bank's CSV: the Stripe payout and the batch's deposit (two days apart from
    # our dates, as banks post them), and a cheque the chapter wrote.
    go(page, "Bank statement")
    statement = (
        "Posted Date,Description,Amount\n"
        f"{arrival.strftime('%m/%d/%Y')},STRIPE TRANSFER ST-{arrival:%d%m},67.37\n"
        f"{(deposited + timedelta(days=1)).strftime('%m/%d/%Y')},COUNTER DEPOSIT,250.00\n"
        f"{(deposited + timedelta(days=2)).strftime('%m/%d/%Y')},CHECK 1207,-80.00\n"
    )
    page.get_by_label("Bank statement (CSV)").set_input_files(
        files=[{"name": "statement.csv", "mimeType": "text/csv", "buffer": statement.encode()}]
    )
    page.get_by_role("button", name="Import and match").click()
    expect(page.get_by_text("Imported 2 deposits; 2 matched")).to_be_visible()
    expect(page.get_by_role("heading", name="Unmatched deposits (0)")).to_be_visible()
    expect(page.get_by_role("heading", name="Matched deposits (2)")).to_be_visible()
    expect(page.get_by_role("link", name="Stripe payout po_month")).to_be_visible()
    expect(page.get_by_role("link", name="deposit batch “Church checks”")).to_be_visible()
    bank_url = page.url

    go(page, "Dashboard")
    expect(page.locator('[data-check="done"]')).to_have_count(4)
    expect(page.locator('[data-check="open"]')).to_have_count(0)
    expect(page.get_by_text(f"{month_name} is reconciled: it can be closed.")).to_be_visible()
    cookies = context.cookies()
    for url, name in (
        (page.url, "month-end-close-dashboard"),
        (payouts_url, "month-end-payouts"),
        (payout_url, "month-end-payout"),
        (bank_url, "month-end-bank"),
    ):
        shoot(browser, url, name, cookies, screens)

    expect(page.get_by_label("Month", exact=True)).to_have_value(last_month.isoformat())
    page.get_by_label("I have checked this month").check()
    page.get_by_role("button", name="Close the month").click()
    expect(page.get_by_text(f"{month_name} is closed.")).to_be_visible()
    expect(page.locator(".closed-months")).to_contain_text(month_name)
    page.screenshot(path=str(screens / "month-end-closed-390.png"), full_page=True)

    # A check of last month was mistyped: the correction lands in this month.
    go(page, "Gifts")
    page.locator("tr", has_text="Ana Pew").get_by_role("link").first.click()
    page.get_by_label("The amount the gift should count for").fill("105.00")
    page.get_by_label("Reason").fill("Check 3001 was for $105, mistyped as $150")
    page.get_by_role("button", name="Post the correction").click()
    expect(page.get_by_text("The correction is in the ledger.")).to_be_visible()
    expect(page.locator('[data-figure="current"]')).to_have_text("$105.00")
    correction = page.locator("tr", has_text="correction:")
    expect(correction).to_contain_text("-$45.00")
    expect(correction).to_contain_text(date.today().isoformat())

    # A check received last month turns up after the close: entered with its real date, it
    # is posted on the first day of this month, its memo saying so.
    go(page, "Deposit batches")
    page.get_by_label("Event or slip name").fill("Late check")
    page.get_by_label("Number of gifts on the slip").fill("1")
    page.get_by_label("Total on the slip ($)").fill("40.00")
    page.get_by_role("button", name="Start the batch").click()
    page.get_by_label("Amount ($)").fill("40")
    page.get_by_label("Check number").fill("3003")
    page.get_by_label("Date received").fill(received.isoformat())
    page.get_by_label("Donor's name").fill("Cy Late")
    page.get_by_role("button", name="Add this gift").click()
    page.get_by_role("button", name="Post 1 gift to the ledger").click()
    go(page, "Gifts")
    page.locator("tr", has_text="Cy Late").get_by_role("link").first.click()
    moved = page.locator("tr", has_text="moved to")
    expect(moved).to_contain_text(this_month.isoformat())
    expect(moved).to_contain_text(
        f"in closed {month_name}: moved to {this_month.strftime('%B %Y')}"
    )
    page.screenshot(path=str(screens / "month-end-late-gift-390.png"), full_page=True)

    go(page, "Exports")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download ledger CSV").click()
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text(encoding="utf-8"))))
    by_kind = {}
    for r in rows:
        by_kind.setdefault(r["kind"], []).append(r)
    # Last month's money stays in last month; the correction and the late check are in the
    # next open month.
    assert sorted((r["amount"], r["effective_date"]) for r in by_kind["gift"]) == sorted(
        [
            ("50.00", received.isoformat()),
            ("150.00", received.isoformat()),
            ("100.00", received.isoformat()),
            ("40.00", this_month.isoformat()),
        ]
    )
    assert [(r["amount"], r["effective_date"][:7]) for r in by_kind["correction"]] == [
        ("-45.00", this_month.isoformat()[:7])
    ]
    # The closed month cannot be closed again, nor is it offered.
    go(page, "Dashboard")
    expect(
        page.get_by_label("Month", exact=True).locator(f'option[value="{last_month.isoformat()}"]')
    ).to_have_count(0)
    context.close()
