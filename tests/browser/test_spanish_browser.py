"""A visitor on a phone switches the drive's pages to Spanish and back, in Chromium."""

import pytest

from tests.browser.test_drive_page import seed_missouri, shoot

pytestmark = pytest.mark.browser


def test_the_switcher_turns_the_pages_to_spanish_and_back_on_a_phone(
    live_app, live_server, page, screens
):
    seed_missouri(live_app)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/drives/mo-2026")
    assert page.locator("html").get_attribute("lang") == "en"
    languages = page.get_by_role("navigation", name="Language")
    languages.get_by_role("link", name="Español").click()

    assert page.url == f"{live_server.url}/drives/mo-2026"
    assert page.locator("html").get_attribute("lang") == "es"
    assert "Anónimo" in page.locator(".supporters").inner_text()
    footer = page.locator("footer.site").inner_text()
    assert "Buscar mis donaciones" in footer and "deuda médica" in footer
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shoot(page, screens, "spanish-drive-phone")

    page.goto(f"{live_server.url}/drives/mo-2026/ledger")  # the choice sticks
    assert page.get_by_role("heading", level=1).inner_text() == "El registro"
    assert "$1,600.00" in page.locator(".stats").inner_text()  # es_US: a dollar reads as one
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shoot(page, screens, "spanish-ledger-phone")

    page.get_by_role("navigation", name="Idioma").get_by_role("link", name="English").click()
    assert page.get_by_role("heading", level=1).inner_text() == "The ledger"
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
