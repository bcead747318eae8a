"""A donor taps "Continue" twice (a double tap on a slow phone): the browser sends the form
once, so one pending gift and one checkout; back from checkout, the form can be sent again."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlmodel import Session, func, select

from relief.models import Gift
from tests.factories import make_coalition


def gifts(app) -> int:
    with Session(app.extensions["relief.engine"]) as session:
        return session.exec(select(func.count()).select_from(Gift)).one()


@pytest.mark.browser
def test_a_double_tap_on_continue_sends_the_form_once(live_app, live_server, browser):
    with live_app.app_context():
        with Session(live_app.extensions["relief.engine"]) as session:
            make_coalition(session)
    base = live_app.config["LIVE_URL"]
    page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    posts = []
    page.on("request", lambda r: r.method == "POST" and "/donate" in r.url and posts.append(r))
    page.goto(f"{base}/drives/mo-2026")
    page.get_by_text("$25", exact=True).click()
    page.get_by_label("Your email").fill("dana@example.org")
    # Two taps 30 ms apart: the second lands while the first is on its way to the server.
    page.evaluate(
        """() => {
            const button = document.querySelector('#donate button[type=submit]');
            button.click();
            setTimeout(() => button.click(), 30);
        }"""
    )
    expect(page).to_have_url(re.compile("/test-checkout/"))
    page.wait_for_timeout(300)  # a second request, if any, has reached the server
    assert (len(posts), gifts(live_app)) == (1, 1)

    # Back from checkout, the form goes again. (Playwright's Chromium runs without the
    # back-forward cache, so the page is loaded again here; a phone's browser restores it as
    # it was left, and donate.js's pageshow handler lets it send again there.)
    page.go_back()
    page.get_by_role("button", name="Continue to test checkout").click()
    page.wait_for_url("**/test-checkout/**")
    assert (len(posts), gifts(live_app)) == (2, 2)
