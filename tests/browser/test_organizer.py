"""A chapter organizer, in a real browser on a phone: sign in, start a drive, cite the ratio's
source, raise the goal and see the public page change at once, read the supporters to thank
them (no emails) — and another chapter's organizer gets 404 on every one of those pages."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from tests.factories import make_coalition, make_gift
from tests.treasury_helpers import PASSWORD, data, make_user

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def fits(page, width):
    # Nothing may be wider than the screen (a phone would scroll the whole page sideways).
    assert page.evaluate("document.documentElement.scrollWidth") <= width, page.url


def shoot(browser, url, name, cookies, screens):
    """Full-page screenshots of ``url`` at phone and desktop widths, signed in as ``cookies``."""
    for label, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        context = browser.new_context(viewport=viewport)
        context.add_cookies(cookies)
        page = context.new_page()
        page.goto(url)
        fits(page, viewport["width"])
        page.screenshot(path=str(screens / f"organizer-{name}-{label}.png"), full_page=True)
        context.close()


def sign_in(browser, base, email, path):
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}{path}")
    return context, page


@pytest.mark.browser
def test_an_organizer_runs_a_drive_from_a_phone_and_another_chapter_sees_none_of_it(
    live_app, live_server, browser, screens
):
    app, base = live_app, live_server.url
    with data(app) as session:
        drive = make_coalition(session)
        make_user(session, "organizer@stl.example.org", "st-louis", role="organizer")
        make_user(session, "organizer@kc.example.org", "kansas-city", role="organizer")
        gift = make_gift(
            session,
            drive,
            7_500,
            chapter="st-louis",
            donor_name="Bo Private",
            show_name=False,
            donor_email="bo.private@example.org",
        )
        gift.message = "For my neighbour's hospital bills."
        session.add(gift)
        session.commit()
        make_gift(
            session,
            drive,
            2_000,
            chapter="st-louis",
            donor_name="Ana Public",
            show_name=True,
            donor_email="ana@example.org",
        )

    # Sign-in leads an organizer to their chapters, not to an empty treasury.
    context, page = sign_in(browser, base, "organizer@stl.example.org", "/organize/")
    expect(page.get_by_role("heading", name="Chapters you organize")).to_be_visible()
    fits(page, PHONE["width"])
    page.screenshot(path=str(screens / "organizer-index-phone.png"), full_page=True)
    page.get_by_role("link", name="St. Louis").click()
    expect(page.get_by_role("heading", name="St. Louis: drives")).to_be_visible()
    fits(page, PHONE["width"])
    cookies = context.cookies()

    # Start a drive, with a bad slug first: the sentence shows and nothing typed is lost.
    page.get_by_role("link", name="Start a new drive").click()
    page.get_by_label("Title").fill("St. Louis Spring Jubilee")
    page.get_by_label("Web address (slug)").fill("St Louis Spring")
    page.get_by_label("Story (why this drive; blank lines separate paragraphs)").fill(
        "Medical debt follows families for years.\n\nTogether we can end some of it."
    )
    page.get_by_label("Goal ($)").fill("3,000")
    page.get_by_label("End date").fill((date.today() + timedelta(days=45)).isoformat())
    page.get_by_label("Our chapter's sub-goal ($, optional)").fill("1,000")
    page.get_by_label("Where the debt is relieved (target region)").fill("Missouri")
    page.get_by_label("Relief ratio: debt relieved per $1").fill("110")
    page.get_by_label("Source of the ratio").fill(
        "Undue Medical Debt's letter to the coalition, March 2026"
    )
    page.get_by_label("Date the source states it").fill("2026-03-01")
    page.get_by_role("button", name="Create the drive").click()
    expect(page.get_by_role("alert")).to_contain_text("must be lowercase letters, digits")
    expect(page.get_by_label("Title")).to_have_value("St. Louis Spring Jubilee")
    fits(page, PHONE["width"])
    page.screenshot(path=str(screens / "organizer-new-drive-error-phone.png"), full_page=True)
    page.get_by_label("Web address (slug)").fill("stl-spring")
    page.get_by_role("button", name="Create the drive").click()
    expect(page.get_by_role("heading", name="St. Louis Spring Jubilee")).to_be_visible()
    expect(page.get_by_text("is created and its page is live")).to_be_visible()
    drive_url = page.url
    assert drive_url == f"{base}/organize/st-louis/drives/stl-spring/"
    shoot(browser, drive_url, "drive", cookies, screens)

    # The public page, seen by a visitor (served from the cache on the second visit).
    visitor = browser.new_context(viewport=PHONE).new_page()
    visitor.goto(f"{base}/drives/stl-spring")
    expect(visitor.get_by_text("$0.00 raised of $3,000.00 goal")).to_be_visible()
    expect(visitor.get_by_text("letter to the coalition, March 2026")).to_be_visible()
    visitor.reload()
    expect(visitor.get_by_text("$0.00 raised of $3,000.00 goal")).to_be_visible()

    # Raise the goal and cite a newer source: the visitor's next request shows both.
    expect(page.get_by_text("Changing the ratio changes every projection at once")).to_be_visible()
    page.get_by_label("Goal ($)").fill("4,500")
    page.get_by_label("Source of the ratio").fill("Undue Medical Debt, annual report 2025, p. 4")
    page.get_by_label("Date the source states it").fill("2025-06-30")
    page.get_by_role("button", name="Save the drive").click()
    expect(page.get_by_text("Saved. The drive's page shows the change now.")).to_be_visible()
    expect(page.locator('[data-figure="goal"]')).to_have_text("$4,500.00")
    visitor.reload()
    expect(visitor.get_by_text("$0.00 raised of $4,500.00 goal")).to_be_visible()
    expect(visitor.get_by_text("annual report 2025, p. 4 (stated June 2025)")).to_be_visible()
    fits(visitor, PHONE["width"])
    visitor.screenshot(path=str(screens / "organizer-public-page-phone.png"), full_page=True)
    visitor.context.close()

    # The chapter page's details and the supporters: real names to thank, never an email.
    page.get_by_role("link", name="Chapter page").click()
    page.get_by_label("About the chapter (public, at most 500 characters)").fill(
        "We meet every second Tuesday at the Central Library."
    )
    page.get_by_role("button", name="Save the chapter page").click()
    expect(page.get_by_text("Saved. Every drive page of the chapter shows it now.")).to_be_visible()
    shoot(browser, page.url, "chapter-page", cookies, screens)
    visitor = browser.new_context(viewport=PHONE).new_page()
    visitor.goto(f"{base}/drives/stl-spring/st-louis")
    expect(
        visitor.get_by_text("We meet every second Tuesday at the Central Library.")
    ).to_be_visible()
    expect(visitor.get_by_text("St. Louis chapter (MO)")).to_be_visible()
    fits(visitor, PHONE["width"])
    visitor.screenshot(
        path=str(screens / "organizer-public-chapter-page-phone.png"), full_page=True
    )
    visitor.context.close()
    page.get_by_role("link", name="Supporters").click()
    bo = page.get_by_role("listitem").filter(has_text="Bo Private")
    expect(bo).to_contain_text("anonymous to the public")
    expect(bo).to_contain_text("$75.00")
    expect(bo).to_contain_text("For my neighbour's hospital bills.")
    ana = page.get_by_role("listitem").filter(has_text="Ana Public")
    expect(ana).to_contain_text("$20.00")
    expect(ana).not_to_contain_text("anonymous to the public")
    html = page.content()
    assert not set(re.findall(r"[\w.+-]+@[\w-]+\.[\w.]+", html)) - {"organizer@stl.example.org"}
    supporters_url = page.url
    shoot(browser, supporters_url, "supporters", cookies, screens)
    shoot(browser, f"{base}/organize/st-louis/", "chapter", cookies, screens)
    context.close()

    # Kansas City's organizer: the same URLs are a 404, and so is the drive under their own.
    context, page = sign_in(browser, base, "organizer@kc.example.org", "/organize/")
    for url in (
        f"{base}/organize/st-louis/",
        drive_url,
        f"{base}/organize/kansas-city/drives/stl-spring/",
        f"{base}/organize/st-louis/page",
        supporters_url,
    ):
        response = page.goto(url)
        assert response.status == 404, url
        expect(page.get_by_role("heading", name="Not found")).to_be_visible()
        assert "Bo Private" not in page.content()
    context.close()
