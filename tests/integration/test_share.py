"""Sharing a drive: its share card, Open Graph and Twitter Card tags, the share links, the
thank-you page's share text and the embed a listed site may frame."""

from __future__ import annotations

import io
import re
from html import unescape
from urllib.parse import unquote

from PIL import Image
from sqlmodel import select

from relief import drive_pages, money, share
from relief.models import AuditEvent
from tests.factories import make_coalition, make_gift


def card_of(client, path):
    response = client.get(path)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == "image/png"
    return response, Image.open(io.BytesIO(response.get_data()))


def meta(html: str) -> dict[str, str]:
    """The page's <meta property|name=… content=…> tags, by name."""
    found = {}
    for tag in re.findall(r"<meta [^>]*>", html):
        name = re.search(r'(?:property|name)="([^"]+)"', tag)
        content = re.search(r'content="([^"]*)"', tag)
        if name and content:
            found[name.group(1)] = unescape(content.group(1))
    return found


def test_the_share_card_is_1200_by_630_and_draws_the_apis_figures(session, client):
    drive = make_coalition(session)
    make_gift(session, drive, 60_000, chapter="mid-missouri")
    make_gift(session, drive, 12_345, chapter="st-louis")

    response, image = card_of(client, "/drives/mo-2026/card.png")
    assert image.size == (1200, 630)
    assert image.format == "PNG"
    assert "Set-Cookie" not in response.headers

    api = client.get("/api/drives/mo-2026").get_json()
    text = share.card_text(drive_pages.drive_view(session, "mo-2026"))
    assert text.title == api["title"] == "Missouri Medical Debt Jubilee"
    assert text.raised == f"{money.format(api['raised_cents'])} raised" == "$723.45 raised"
    assert text.goal == f"of {money.format(api['goal_cents'])} goal" == "of $1,600.00 goal"
    assert text.relief == (
        f"About {money.format_whole(api['projected_relief_cents'])} of medical debt relieved"
    )
    assert text.percent == "45% of the goal"
    assert text.bar_percent == 45


def test_a_chapters_card_shows_the_chapters_part(session, client):
    drive = make_coalition(session)
    make_gift(session, drive, 20_000, chapter="st-louis")
    make_gift(session, drive, 90_000, chapter="kansas-city")

    _response, image = card_of(client, "/drives/mo-2026/st-louis/card.png")
    assert image.size == (1200, 630)
    api = client.get("/api/drives/mo-2026").get_json()
    st_louis = next(c for c in api["chapters"] if c["slug"] == "st-louis")
    text = share.card_text(drive_pages.drive_view(session, "mo-2026", "st-louis"))
    assert text.chapter == "St. Louis chapter"
    assert text.raised == f"{money.format(st_louis['raised_cents'])} raised" == "$200.00 raised"
    assert text.goal == ""  # no sub-goal: no goal to be a share of
    assert "by the whole drive" in text.relief
    assert money.format_whole(api["projected_relief_cents"]) in text.relief
    assert client.get("/drives/mo-2026/nowhere/card.png").status_code == 404
    assert client.get("/drives/nothing/card.png").status_code == 404


def test_the_card_changes_after_a_gift_and_not_otherwise(session, client):
    drive = make_coalition(session)
    make_gift(session, drive, 10_000)
    first, _ = card_of(client, "/drives/mo-2026/card.png")
    again, _ = card_of(client, "/drives/mo-2026/card.png")
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.get_data() == first.get_data()
    assert again.headers["Cache-Control"] == client.get("/drives/mo-2026").headers["Cache-Control"]
    unchanged = client.get(
        "/drives/mo-2026/card.png", headers={"If-None-Match": first.headers["ETag"]}
    )
    assert unchanged.status_code == 304 and not unchanged.get_data()

    make_gift(session, drive, 2_500)

    after, _ = card_of(client, "/drives/mo-2026/card.png")
    assert after.headers["ETag"] != first.headers["ETag"]
    assert after.get_data() != first.get_data()
    stale = client.get("/drives/mo-2026/card.png", headers={"If-None-Match": first.headers["ETag"]})
    assert stale.status_code == 200


def test_a_long_title_and_huge_figures_stay_on_the_card(session, client):
    drive = make_coalition(session, goal_cents=money.MAX_CENTS)
    drive.title = ("The Greater Saint Louis and Mid-Missouri " * 5).strip()[:200]
    session.add(drive)
    session.commit()
    for _ in range(9):
        make_gift(session, drive, money.MAX_CENTS)  # $10,000,000 each, the most a gift is
    make_gift(session, drive, 999_999_900)
    _response, image = card_of(client, "/drives/mo-2026/card.png")
    assert image.size == (1200, 630)
    text = share.card_text(drive_pages.drive_view(session, "mo-2026"))
    assert text.raised == "$99,999,999.00 raised"
    # Nothing is drawn in the right margin: the longest lines were fitted or wrapped.
    margin = image.crop((1200 - share.MARGIN + 4, 20, 1200, 630)).convert("L")
    assert margin.getextrema()[0] > 200, "ink in the right margin"


def test_drive_and_chapter_pages_carry_open_graph_and_twitter_tags(session, client):
    drive = make_coalition(session)
    make_gift(session, drive, 40_000, chapter="st-louis")

    tags = meta(client.get("/drives/mo-2026").get_data(as_text=True))
    text = share.card_text(drive_pages.drive_view(session, "mo-2026"))
    assert tags["og:title"] == "Missouri Medical Debt Jubilee"
    assert tags["og:url"] == "http://localhost/drives/mo-2026"
    assert "$400.00 raised of $1,600.00 goal" in tags["og:description"]
    assert "Every $1 relieves about $100 of medical debt" in tags["og:description"]
    assert tags["og:image"] == f"http://localhost/drives/mo-2026/card.png?v={text.version}"
    assert tags["og:image:width"] == "1200" and tags["og:image:height"] == "630"
    assert "$400.00 raised" in tags["og:image:alt"]
    assert tags["og:type"] == "website"
    assert tags["twitter:card"] == "summary_large_image"
    assert tags["twitter:image"] == tags["og:image"]

    chapter = meta(client.get("/drives/mo-2026/st-louis").get_data(as_text=True))
    assert chapter["og:url"] == "http://localhost/drives/mo-2026/st-louis"
    assert chapter["og:image"].startswith("http://localhost/drives/mo-2026/st-louis/card.png?v=")
    assert "St. Louis" in chapter["og:title"]

    # The version follows the figures: a chat that kept the old picture fetches the new one.
    make_gift(session, drive, 1_000)
    later = meta(client.get("/drives/mo-2026").get_data(as_text=True))
    assert later["og:image"] != tags["og:image"]


def test_the_public_url_setting_makes_the_tags_absolute_on_it(database_url):
    from sqlmodel import Session

    from tests.conftest import make_app

    app = make_app(database_url, RELIEF_PUBLIC_URL="https://give.example.org/")
    with Session(app.extensions["relief.engine"]) as session:
        make_coalition(session)
    tags = meta(app.test_client().get("/drives/mo-2026").get_data(as_text=True))
    assert tags["og:url"] == "https://give.example.org/drives/mo-2026"
    assert tags["og:image"].startswith("https://give.example.org/drives/mo-2026/card.png?v=")
    app.extensions["relief.engine"].dispose()


def test_embed_is_reserved_as_a_chapter_slug(session):
    import pytest

    from relief import drives
    from relief.errors import InvalidInput

    with pytest.raises(InvalidInput, match="cannot be a chapter slug"):
        drives.create_chapter(session, "embed", "Embed", "MO")


def share_links(html: str) -> dict[str, str]:
    return {
        kind: unescape(href)
        for kind, href in re.findall(r'<a data-share-link="(\w+)" href="([^"]+)"', html)
    }


def test_the_drive_page_shares_by_text_whatsapp_email_and_qr_without_script(session, client):
    make_coalition(session)
    html = client.get("/drives/mo-2026/st-louis").get_data(as_text=True)
    links = share_links(html)
    url = "http://localhost/drives/mo-2026/st-louis"
    said = "Missouri Medical Debt Jubilee: Every $1 relieves about $100 of medical debt"
    assert links["sms"].startswith("sms:?&body=")
    assert unquote(links["sms"]) == f"sms:?&body={said} (an estimate). {url}"
    assert unquote(links["whatsapp"]) == f"https://wa.me/?text={said} (an estimate). {url}"
    assert unquote(links["email"]).endswith(f"{said} (an estimate).\n\n{url}")
    assert 'src="/drives/mo-2026/st-louis/qr.svg"' in html
    assert f'value="{url}" readonly' in html
    # The share sheet and Copy link need the script: hidden until it finds them in the browser.
    assert re.search(r"<button [^>]*data-share-native hidden>", html)
    assert re.search(r"<button [^>]*data-share-copy [^>]*hidden>", html)
    assert 'aria-live="polite"' in html
    assert '<script src="/static/share.js" defer></script>' in html


def test_the_thank_you_page_shares_the_impact_and_the_amount_only_when_chosen(session, client):
    drive = make_coalition(session)
    gift = make_gift(
        session,
        drive,
        2_500,
        chapter="st-louis",
        donor_name="Dana Donor",
        donor_email="dana@example.org",
        show_name=True,
    )
    page = client.get(f"/gifts/{gift.public_id}")
    html = page.get_data(as_text=True)
    box = html[html.index('id="share-gift"') :]
    links = share_links(box)
    impact = "I just helped relieve about $2,500 of medical debt."
    assert (
        unquote(links["whatsapp"])
        == f"https://wa.me/?text={impact} http://localhost/drives/mo-2026"
    )
    assert impact in box
    for private in ("$25.00", "Dana", "dana@example.org", gift.public_id):
        assert all(private not in unquote(href) for href in links.values()), private
    assert 'data-share-url="http://localhost/drives/mo-2026"' in box

    chosen = client.get(f"/gifts/{gift.public_id}?amount=1").get_data(as_text=True)
    links = share_links(chosen[chosen.index('id="share-gift"') :])
    assert unquote(links["sms"]).startswith(
        "sms:?&body=I just gave $25.00 and helped relieve about $2,500 of medical debt."
    )
    assert "Dana" not in unquote(links["sms"])


# --- Embedding ---------------------------------------------------------------------------------


def test_no_site_may_frame_the_embed_until_an_organizer_lists_one(app):
    from tests.treasury_helpers import data

    with data(app) as books:
        drive = make_coalition(books)
        make_gift(books, drive, 40_000)
    client = app.test_client()
    embed = client.get("/drives/mo-2026/embed")
    assert embed.status_code == 200
    assert "frame-ancestors 'none'" in embed.headers["Content-Security-Policy"]
    assert "Set-Cookie" not in embed.headers
    html = embed.get_data(as_text=True)
    assert "$400.00" in html and "of $1,600.00 goal" in html
    assert re.search(
        r'<a class="button" href="http://localhost/drives/mo-2026#donate" '
        r'target="_blank" rel="noopener">Give</a>',
        html,
    )
    assert "<form" not in html  # no giving inside someone else's frame


def test_an_organizer_lists_sites_and_only_they_may_frame_the_embed(app):
    from relief import drives
    from tests.treasury_helpers import SignedIn, data, make_user

    with data(app) as books:
        make_coalition(books)
        make_user(books, "o@stl.org", "st-louis", role="organizer")
    organizer = SignedIn(app, "o@stl.org")
    page = organizer.get("/organize/st-louis/drives/mo-2026/").get_data(as_text=True)
    assert "Embed on your site" in page
    assert (
        "&lt;iframe src=&#34;http://localhost/drives/mo-2026/embed&#34; title=&#34;Missouri" in page
    )
    assert "http://localhost/drives/mo-2026/st-louis/embed" in page

    client = app.test_client()
    before = client.get("/drives/mo-2026/st-louis/embed")
    saved = organizer.post(
        "/organize/st-louis/drives/mo-2026/embed",
        data={"origins": "https://News.Example.org/\r\nhttps://church.example.com:8443"},
    )
    assert saved.status_code == 302
    for path in ("/drives/mo-2026/embed", "/drives/mo-2026/st-louis/embed"):
        embed = client.get(path)
        policy = embed.headers["Content-Security-Policy"]
        assert "frame-ancestors https://news.example.org https://church.example.com:8443;" in policy
        assert "script-src 'self'" in policy  # the rest of the policy stays as strict
        assert "X-Frame-Options" not in embed.headers
        assert "Set-Cookie" not in embed.headers
    # The cached answer moved on with the drive's row: a new ETag.
    assert client.get("/drives/mo-2026/st-louis/embed").headers["ETag"] != before.headers["ETag"]
    # Every other page still refuses every frame.
    page = client.get("/drives/mo-2026")
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    with data(app) as books:
        assert drives.get_drive(books, "mo-2026").embed_origins == (
            "https://news.example.org\nhttps://church.example.com:8443"
        )
        assert "drive.embed_origins" in [row.action for row in books.exec(select(AuditEvent)).all()]


def test_a_bad_origin_is_refused_with_a_sentence_and_nothing_changes(app):
    from relief import drives
    from tests.treasury_helpers import SignedIn, data, make_user

    with data(app) as books:
        make_coalition(books)
        make_user(books, "o@stl.org", "st-louis", role="organizer")
    organizer = SignedIn(app, "o@stl.org")
    organizer.post(
        "/organize/st-louis/drives/mo-2026/embed", data={"origins": "https://ok.example.org"}
    )
    for typed in (
        "http://news.example.org",
        "https://news.example.org/page",
        "https://*.example.org",
        "news.example.org",
        "https://news.example.org; script-src *",
        "https://user@news.example.org",
        "https://ok.example.org 'unsafe-inline'",
    ):
        refused = organizer.post("/organize/st-louis/drives/mo-2026/embed", data={"origins": typed})
        assert refused.status_code == 400, typed
        body = unescape(refused.get_data(as_text=True))
        assert "is not a site's address: give each as https://example.org" in body, typed
        assert typed.split()[0] in body or typed[:80] in body  # what was typed is kept
    with data(app) as books:
        assert drives.get_drive(books, "mo-2026").embed_origins == "https://ok.example.org"
    policy = app.test_client().get("/drives/mo-2026/embed").headers["Content-Security-Policy"]
    assert "frame-ancestors https://ok.example.org;" in policy
