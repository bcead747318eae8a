"""An organizer on a phone gives the drive its photo from the drive's screen: a file that is
not a photo is refused with a sentence beside the form, the description kept; a real photo
shows at the top of the public page, loaded by the browser."""

from __future__ import annotations

from io import BytesIO

import pytest
from PIL import Image

from tests.browser.test_organizer import sign_in
from tests.factories import make_coalition
from tests.treasury_helpers import data, make_user


@pytest.mark.browser
def test_an_organizer_uploads_the_drives_photo_from_a_phone(
    live_app, live_server, browser, screens
):
    base = live_server.url
    with data(live_app) as session:
        make_coalition(session)
        make_user(session, "organizer@stl.example.org", "st-louis", role="organizer")
    out = BytesIO()
    Image.new("RGB", (1200, 800), (200, 120, 40)).save(out, "JPEG")

    context, page = sign_in(browser, base, "organizer@stl.example.org", "/organize/")
    page.goto(f"{base}/organize/st-louis/drives/mo-2026/")
    photo = page.get_by_label("Photo (JPEG, PNG or WebP, at most 10 MB)")
    alt = page.get_by_label("What the photo shows (for people who cannot see it)")
    photo.set_input_files(
        {"name": "flyer.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.7 a flyer"}
    )
    alt.fill("Volunteers at the St. Louis launch")
    page.get_by_role("button", name="Upload the photo").click()
    assert "This file is not a photo Relief can read" in page.inner_text("#photo")
    assert alt.input_value() == "Volunteers at the St. Louis launch"

    photo.set_input_files(
        {"name": "launch.jpg", "mimeType": "image/jpeg", "buffer": out.getvalue()}
    )
    page.get_by_role("button", name="Upload the photo").click()
    assert "The photo is on the drive's page now." in page.inner_text("main")
    page.locator("#photo").screenshot(path=str(screens / "organizer-drive-photo-phone.png"))

    page.goto(f"{base}/drives/mo-2026")
    image = page.get_by_role("img", name="Volunteers at the St. Louis launch")
    assert image.evaluate("i => i.complete && i.naturalWidth > 0")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    context.close()
