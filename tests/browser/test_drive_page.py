"""A visitor opens a drive's page on a phone and on a desktop."""

import pytest
from sqlmodel import Session

from tests.factories import make_coalition, make_gift
from tests.read_back import qr_codes_in_png

pytestmark = pytest.mark.browser


def seed_missouri(app):
    with app.app_context(), Session(app.extensions["relief.engine"]) as session:
        drive = make_coalition(session)
        make_gift(
            session,
            drive,
            60_000,
            chapter="mid-missouri",
            donor_name="Ana B.",
            show_name=True,
            donor_email="ana@example.org",
        )
        make_gift(session, drive, 50_000, chapter="st-louis", donor_name="Private Person")
        make_gift(
            session, drive, 50_000, chapter="kansas-city", donor_name="Sam T.", show_name=True
        )


def shoot(page, screens, name):
    page.screenshot(path=str(screens / f"{name}.png"), full_page=True)


@pytest.mark.parametrize(
    ("width", "height", "label"), [(390, 844, "phone"), (1280, 900, "desktop")]
)
def test_drive_page_shows_raised_relief_and_each_chapter(
    live_app, live_server, page, width, height, label, screens
):
    seed_missouri(live_app)
    page.set_viewport_size({"width": width, "height": height})
    page.goto(f"{live_server.url}/")
    page.get_by_role("link", name="Missouri Medical Debt Jubilee").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Missouri Medical Debt Jubilee"
    headline = page.locator(".headline").inner_text()
    assert "$160,000" in headline and "$1,600.00 raised of $1,600.00 goal" in headline
    progress = page.get_by_role("progressbar", name="Whole drive: 100% of the goal")
    assert progress.get_attribute("value") == "100"
    board = page.locator(".leaderboard").inner_text()
    assert board.index("Mid-Missouri") < board.index("$600.00")
    supporters = page.locator(".supporters").inner_text()
    assert "Ana B." in supporters and "Anonymous" in supporters
    assert "Private Person" not in page.content() and "ana@example.org" not in page.content()
    # The code on the screen, decoded from the browser's own pixels, leads to this page.
    assert qr_codes_in_png(page.locator("img.qr").screenshot()) == [page.url]
    # No horizontal scrolling on a phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    shoot(page, screens, f"drive-{label}")

    page.get_by_role("link", name="St. Louis").first.click()
    assert "St. Louis's part" in page.locator(".chapter-focus").inner_text()
    shoot(page, screens, f"chapter-{label}")


def test_test_mode_is_marked_on_every_page(live_app, live_server, page):
    seed_missouri(live_app)
    for path in ("/", "/drives/mo-2026", "/drives/mo-2026/st-louis", "/drives/nowhere"):
        page.goto(live_server.url + path)
        assert "Test mode" in page.get_by_role("status").inner_text()
