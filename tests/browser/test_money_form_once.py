"""A treasurer in a real browser records a check the donor mailed to the partner, goes back
and sends the same paper again: the app says it is already recorded and links to the gift."""

from __future__ import annotations

from datetime import date

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from relief.models import Gift
from tests.factories import make_coalition
from tests.treasury_helpers import PASSWORD, data, make_user


def fill_the_check(page):
    page.get_by_label("Amount ($)").fill("500")
    page.get_by_label("Check number").fill("1001")
    page.get_by_label("Date the partner received it").fill(date.today().isoformat())
    page.get_by_label("Donor's name").fill("Ana B.")
    page.get_by_label("Partner's receipt or reference").fill("UMD-2291")
    page.get_by_role("button", name="Record the gift").click()


@pytest.mark.browser
def test_the_back_button_and_the_same_check_again_record_nothing_twice(
    live_app, live_server, browser
):
    app, base = live_app, live_server.url
    with data(app) as session:
        make_coalition(session)
        make_user(session, "treasurer@stl.example.org", "st-louis")
    page = browser.new_context().new_page()
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill("treasurer@stl.example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{base}/treasurer/st-louis/direct")
    fill_the_check(page)
    expect(page.get_by_text("Recorded $500.00 sent directly to the partner.")).to_be_visible()
    first_gift = page.url

    page.go_back()
    fill_the_check(page)
    expect(page.get_by_role("alert")).to_contain_text("Already recorded: check #1001")
    page.get_by_role("link", name="Gift #").click()
    expect(page).to_have_url(first_gift)
    expect(page.locator('[data-figure="current"]')).to_have_text("$500.00")
    with data(app) as session:
        assert len(session.exec(select(Gift)).all()) == 1
