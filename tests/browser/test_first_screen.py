"""What a donor sees before scrolling, on a phone (390 px) and a desktop (1280 px): the drive's
photo, raised of goal, what $1 relieves there and through whom, and the give box; amount buttons
showing their impact; the fee note following the chosen amount; on a desktop the give box
beside the story, kept in view. A chapter's page leads with the chapter's own goal."""

from __future__ import annotations

import re
from io import BytesIO

import pytest
from PIL import Image
from sqlmodel import Session

from relief import drive_images, drives, money
from relief.payments import donations
from tests.factories import make_coalition, make_gift

pytestmark = pytest.mark.browser

VIEWPORTS = {"phone": (390, 844), "desktop": (1280, 900)}
STORY = "\n\n".join(
    f"Paragraph {n}: medical debt follows families across Missouri, and one in five "
    "households carries some. A relief nonprofit buys it for pennies and cancels it."
    for n in range(1, 9)
)


def seed(app):
    with app.app_context(), Session(app.extensions["relief.engine"]) as session:
        drive = make_coalition(session, story=STORY, target_region="Missouri")
        # The whole drive has met its goal; St. Louis is at 41% of its own.
        make_gift(session, drive, 139_500, chapter="mid-missouri")
        make_gift(session, drive, 20_500, chapter="st-louis", donor_name="Ana B.", show_name=True)
        drives.set_chapter_goal(session, drive, drives.get_chapter(session, "st-louis"), 50_000)
        out = BytesIO()
        Image.new("RGB", (1600, 900), (11, 110, 79)).save(out, "JPEG")
        drive_images.set_image(session, drive, out.getvalue(), "Volunteers at the launch")
        session.commit()


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def on_first_screen(page, selector: str) -> bool:
    """The element is wholly inside the window as the page opens (no scrolling)."""
    box = page.locator(selector).first.bounding_box()
    height = page.viewport_size["height"]
    width = page.viewport_size["width"]
    return (
        box is not None
        and box["y"] >= 0
        and box["y"] + box["height"] <= height
        and (box["x"] + box["width"] <= width)
    )


@pytest.mark.parametrize("label", ["phone", "desktop"])
def test_the_first_screen_holds_the_figures_the_dollar_line_and_the_give_box(
    live_app, live_server, browser, label, screens
):
    seed(live_app)
    width, height = VIEWPORTS[label]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.goto(f"{live_server.url}/drives/mo-2026")
    page.screenshot(path=str(screens / f"first-screen-drive-{label}.png"))

    headline = flat(page.inner_text(".headline"))
    assert "$1,600.00 raised of $1,600.00 goal" in headline
    assert "About $160,000 of medical debt relieved so far" in headline
    assert "Every $1 relieves about $100 of medical debt in Missouri." in headline
    assert "Undue Medical Debt buys the debt for pennies on the dollar" in headline
    for selector in (
        "h1",
        "img.drive-image",
        ".headline .progress-text",
        ".headline .per-dollar",
        "#donate-h",
        "#donate .amounts .chips",
    ):
        assert on_first_screen(page, selector), f"{selector} is below the first screen"
    assert page.locator("img.drive-image").evaluate("i => i.complete && i.naturalWidth > 0")
    assert page.locator("img.drive-image").get_attribute("alt") == "Volunteers at the launch"
    # Each amount says what it relieves.
    chips = flat(page.inner_text("#donate .amounts .chips"))
    assert "$25 → about $2,500" in chips and "$100 → about $10,000" in chips
    # No horizontal scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= width

    # The fee note names the chosen amount, with figures the server computed.
    rate = donations.FeeRate(290, 30, 70)
    note = page.locator("#fee-note")
    page.locator("#donate").get_by_text("$50", exact=True).click()
    covered = money.format(donations.charge_for(5_000, True, rate))
    assert note.inner_text() == f"($50.00 becomes {covered})"
    page.locator("#donate").get_by_text("Monthly", exact=True).click()
    monthly = money.format(donations.charge_for(5_000, True, rate, monthly=True))
    assert monthly != covered and note.inner_text() == f"($50.00 becomes {monthly})"
    page.get_by_label("Other amount (USD)").fill("35")
    assert "2.9% + $0.30" in note.inner_text()

    story = page.locator(".story").bounding_box()
    give = page.locator(".drive-give").bounding_box()
    if label == "desktop":
        # Two columns: the give box beside the story, and still in view once the story scrolls by.
        assert give["x"] > story["x"] + story["width"] - 1
        page.locator(".board").scroll_into_view_if_needed()
        assert not on_first_screen(page, ".headline .progress-text")  # scrolled past the figures
        assert on_first_screen(page, "#donate-h")
        page.screenshot(path=str(screens / f"first-screen-drive-{label}-scrolled.png"))
    else:
        # One column: the give box before the story, the story before the chapters' board.
        assert give["y"] < story["y"] < page.locator(".board").bounding_box()["y"]
    page.screenshot(path=str(screens / f"drive-{label}-full.png"), full_page=True)
    context.close()


@pytest.mark.parametrize("label", ["phone", "desktop"])
def test_a_chapter_page_leads_with_the_chapters_own_goal_and_give_box(
    live_app, live_server, browser, label, screens
):
    seed(live_app)
    width, height = VIEWPORTS[label]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.goto(f"{live_server.url}/drives/mo-2026/st-louis")
    page.screenshot(path=str(screens / f"first-screen-chapter-{label}.png"))

    headline = flat(page.inner_text(".headline"))
    assert headline.index("St. Louis's goal") < headline.index("$205.00 raised of $500.00 goal")
    assert "The goal is met" not in headline
    assert "The whole drive: $1,600.00 raised of $1,600.00 goal (100%)" in headline
    bar = page.get_by_role("progressbar", name="St. Louis: 41% of the goal")
    assert bar.get_attribute("value") == "41"
    assert on_first_screen(page, ".headline .progress-text")
    assert on_first_screen(page, "#donate-h")
    assert page.inner_text("#donate-h") == "Give with St. Louis"
    context.close()
