"""A new treasurer, in a real browser: sign in, enter an event's checks against the slip's
count and total (first off, then right), post them, and see the dashboard change."""

from __future__ import annotations

from datetime import date

import pytest
from playwright.sync_api import expect

from tests.factories import make_coalition, make_gift
from tests.treasury_helpers import PASSWORD, data, make_user

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def shoot(browser, url, name, cookies, screens):
    """Full-page screenshots of ``url`` at phone and desktop widths, signed in as ``cookies``."""
    for label, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        context = browser.new_context(viewport=viewport)
        context.add_cookies(cookies)
        page = context.new_page()
        page.goto(url)
        # Nothing may be wider than the screen (a phone would scroll the whole page sideways).
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        page.screenshot(path=str(screens / f"{name}-{label}.png"), full_page=True)
        context.close()


@pytest.mark.browser
def test_treasurer_enters_a_batch_of_checks_and_sees_the_dashboard_change(
    live_app, live_server, browser, screens
):
    app, base = live_app, live_server.url
    with data(app) as session:
        drive = make_coalition(session)
        make_gift(session, drive, 20_000, chapter="st-louis", donor_name="Earlier gift")
        make_user(session, "treasurer@stl.example.org", "st-louis")
    shoot(browser, f"{base}/login", "login", [], screens)

    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.goto(f"{base}/treasurer/st-louis/")
    expect(page).to_have_url(f"{base}/login?next=/treasurer/st-louis/")
    page.get_by_label("Email").fill("treasurer@stl.example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="St. Louis treasury")).to_be_visible()
    net = page.locator('[data-figure="net"]')
    expect(net).to_have_text("$200.00")

    page.get_by_role("link", name="Deposit batches").click()
    page.get_by_label("Event or slip name").fill("Church potluck")
    page.get_by_label("Number of gifts on the slip").fill("3")
    page.get_by_label("Total on the slip ($)").fill("175.00")
    page.get_by_label("Who holds the money until it is deposited").fill("Dana")
    page.get_by_role("button", name="Start the batch").click()
    expect(page.get_by_role("heading", name="Church potluck")).to_be_visible()

    today = date.today().isoformat()
    for amount, number, name in (("100", "1041", "Ann Lee"), ("50", "1042", "")):
        page.get_by_label("Amount ($)").fill(amount)
        page.get_by_label("Check number").fill(number)
        page.get_by_label("Date received").fill(today)
        page.get_by_label("Donor's name").fill(name)
        page.get_by_role("button", name="Add this gift").click()
        expect(page.get_by_role("status").filter(has_text=f"Added ${amount}")).to_be_visible()

    # Two gifts, $150: the slip says three and $175. Posting stays closed.
    expect(page.get_by_role("heading", name="Does not balance yet")).to_be_visible()
    expect(page.locator('[data-figure="entered-total"]')).to_have_text("$150.00")
    post = page.get_by_role("button", name="Post 2 gifts to the ledger")
    expect(post).to_be_disabled()
    cookies = context.cookies()
    shoot(browser, page.url, "batch-unbalanced", cookies, screens)

    page.get_by_label("Amount ($)").fill("25")
    page.get_by_label("Cash or check").select_option("cash")
    page.get_by_label("Check number").fill("")
    page.get_by_label("Date received").fill(today)
    page.get_by_label("Keep the name off the public supporter list").check()
    page.get_by_role("button", name="Add this gift").click()
    expect(page.get_by_role("heading", name="Balanced — ready to post")).to_be_visible()
    shoot(browser, page.url, "batch-balanced", cookies, screens)
    page.get_by_role("button", name="Post 3 gifts to the ledger").click()
    expect(page.get_by_text("Posted 3 gifts, $175.00, to the ledger.")).to_be_visible()
    expect(page.get_by_role("heading", name="Posted")).to_be_visible()

    page.get_by_role("link", name="Dashboard").click()
    expect(net).to_have_text("$375.00")
    expect(page.locator('[data-figure="held"]')).to_have_text("$375.00")
    expect(
        page.get_by_text("Batch “Church potluck” is not deposited (Dana holds it)")
    ).to_be_visible()
    shoot(browser, page.url, "dashboard", cookies, screens)
    context.close()
