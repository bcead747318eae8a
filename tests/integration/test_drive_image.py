"""An organizer gives a drive its photo: Pillow re-encodes it (no EXIF left: camera, place,
time), it is kept in the database and served under a URL named by its content, cached for a
year, with no cookie; anything that is not a photo is refused with a sentence; a new photo is a
new URL and a new ETag for the drive's page. A chapter cannot take a slug the drive's own
pages use (``image``)."""

from __future__ import annotations

import re
from io import BytesIO

import pytest
from PIL import Image
from sqlmodel import func, select

from relief.models import DriveImage
from tests.factories import make_coalition
from tests.treasury_helpers import SignedIn, data, make_user

PAGE = "/organize/st-louis/drives/mo-2026/"
UPLOAD = "/organize/st-louis/drives/mo-2026/image"
#: Where a phone put its owner: the EXIF a photo carries out of the camera.
SECRET_PLACE = "Ana's kitchen, 12 Elm St"


def photo(width=2400, height=1600, colour=(11, 110, 79), fmt="JPEG") -> bytes:
    """A photo as a phone saves it: large, with EXIF naming the camera, its owner and place."""
    image = Image.new("RGB", (width, height), colour)
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x013B] = "Ana B."  # Artist
    exif[0x010E] = SECRET_PLACE  # ImageDescription
    exif[0x0112] = 1  # Orientation
    out = BytesIO()
    image.save(out, fmt, exif=exif.tobytes())
    return out.getvalue()


def noisy_photo() -> bytes:
    """A photo whose bytes are spread over the whole file (one colour compresses to nothing)."""
    out = BytesIO()
    Image.effect_noise((800, 600), 64).convert("RGB").save(out, "JPEG")
    assert len(out.getvalue()) > 40_000
    return out.getvalue()


@pytest.fixture
def organizer(app):
    with data(app) as session:
        make_coalition(session)
        make_user(session, "o@stl.org", "st-louis", role="organizer")
    return SignedIn(app, "o@stl.org")


def upload(
    organizer, content: bytes | None, alt="Volunteers at the St. Louis launch", name="p.jpg"
):
    fields = {"image_alt": alt}
    if content is not None:
        fields["image"] = (BytesIO(content), name)
    return organizer.post(UPLOAD, data=fields, content_type="multipart/form-data")


def image_urls(html: str) -> list[str]:
    return re.findall(r'<img class="drive-image" src="([^"]+)"', html)


def text_of(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


def test_an_uploaded_photo_is_served_without_its_exif_at_an_immutable_url(app, organizer):
    original = photo()
    assert SECRET_PLACE.encode() in original  # the test's photo does carry it
    assert upload(organizer, original).status_code == 302

    visitor = app.test_client()
    page = visitor.get("/drives/mo-2026")
    [url] = image_urls(page.get_data(as_text=True))
    assert re.fullmatch(r"/drives/mo-2026/image/[0-9a-f]{32}\.jpg", url)
    assert 'alt="Volunteers at the St. Louis launch"' in page.get_data(as_text=True)
    assert "-800.jpg 800w" in page.get_data(as_text=True)  # the phone's smaller version

    served = visitor.get(url)
    assert served.status_code == 200 and served.mimetype == "image/jpeg"
    assert served.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "Set-Cookie" not in served.headers
    assert SECRET_PLACE.encode() not in served.data and b"PhoneMaker" not in served.data
    read_back = Image.open(BytesIO(served.data))
    assert read_back.format == "JPEG" and "exif" not in read_back.info
    assert dict(read_back.getexif()) == {}
    assert read_back.size == (1600, 1067)  # made 1,600 pixels wide, its shape kept

    small = Image.open(BytesIO(visitor.get(url.replace(".jpg", "-800.jpg")).data))
    assert small.size == (800, 533) and dict(small.getexif()) == {}
    # The chapter's page shows it too.
    assert image_urls(visitor.get("/drives/mo-2026/st-louis").get_data(as_text=True)) == [url]


def test_a_file_that_is_not_a_photo_is_refused_with_a_sentence_and_nothing_stored(app, organizer):
    for content, name in (
        (b"%PDF-1.7 not a photo", "flyer.pdf"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "broken.png"),  # a PNG's start, then nothing
        (noisy_photo()[:20_000], "cut-short.jpg"),  # a download that stopped half-way
    ):
        response = upload(organizer, content, alt="The launch", name=name)
        assert response.status_code == 400, name
        assert "This file is not a photo Relief can read" in text_of(response), name
        assert 'value="The launch"' in response.get_data(as_text=True)  # kept as typed
    tiny = upload(organizer, photo(200, 100), alt="The launch")
    assert tiny.status_code == 400 and "at least 400 pixels wide" in text_of(tiny)
    no_alt = upload(organizer, photo(), alt="")
    assert no_alt.status_code == 400 and "Say what the photo shows." in text_of(no_alt)
    # A file over 10 MB gets a sentence (the route alone takes up to 12 MiB), beyond that the
    # 413 page says what to do.
    too_big = upload(organizer, photo()[:-2] + b"\0" * (10 * 1024 * 1024) + b"\xff\xd9")
    assert too_big.status_code == 400 and "images may be at most 10 MB" in text_of(too_big)
    huge = upload(organizer, b"\0" * (13 * 1024 * 1024))
    assert huge.status_code == 413 and "at most 12 MB), so nothing was saved" in text_of(huge)
    with data(app) as session:
        assert session.exec(select(func.count()).select_from(DriveImage)).one() == 0
    assert image_urls(app.test_client().get("/drives/mo-2026").get_data(as_text=True)) == []


def test_a_new_photo_is_a_new_url_and_a_new_etag_for_the_page(app, organizer):
    visitor = app.test_client()
    assert upload(organizer, photo(colour=(200, 40, 40))).status_code == 302
    first_page = visitor.get("/drives/mo-2026")
    [first] = image_urls(first_page.get_data(as_text=True))
    etag = first_page.headers["ETag"]
    assert visitor.get("/drives/mo-2026", headers={"If-None-Match": etag}).status_code == 304

    assert upload(organizer, photo(colour=(20, 40, 200))).status_code == 302
    second_page = visitor.get("/drives/mo-2026", headers={"If-None-Match": etag})
    assert second_page.status_code == 200 and second_page.headers["ETag"] != etag
    [second] = image_urls(second_page.get_data(as_text=True))
    assert second != first
    assert visitor.get(first).status_code == 404  # the old photo is gone from the database
    assert visitor.get(second).status_code == 200

    # Only the description: the same photo, the page says what it shows now.
    assert upload(organizer, None, alt="The mayor signs the pledge").status_code == 302
    page = visitor.get("/drives/mo-2026").get_data(as_text=True)
    assert image_urls(page) == [second] and 'alt="The mayor signs the pledge"' in page

    assert organizer.post(UPLOAD + "/remove").status_code == 302
    assert image_urls(visitor.get("/drives/mo-2026").get_data(as_text=True)) == []
    assert visitor.get(second).status_code == 404


def test_no_chapter_can_take_a_slug_the_drives_own_pages_use(app):
    from relief import drives
    from relief.errors import InvalidInput

    with data(app) as session:
        for word in ("image", "ledger"):
            with pytest.raises(InvalidInput, match=f"“{word}” cannot be a chapter slug"):
                drives.create_chapter(session, word, "A chapter")
