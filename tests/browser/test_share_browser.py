"""Sharing in Chromium: the share sheet and Copy link on a drive page, the thank-you page's
amount box, and a drive's embed framed by a listed site and refused by any other."""

from __future__ import annotations

import threading

import pytest
from sqlmodel import Session
from werkzeug.serving import make_server
from werkzeug.wrappers import Response

from relief import drives
from tests.factories import make_coalition, make_gift

pytestmark = pytest.mark.browser


def seed(app, **gift):
    with app.app_context(), Session(app.extensions["relief.engine"]) as session:
        drive = make_coalition(session)
        made = make_gift(session, drive, 2_500, chapter="st-louis", **gift)
        return made.public_id


def test_the_share_sheet_and_copy_link_share_the_page(
    live_app, live_server, page, context, screens
):
    seed(live_app)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    # A phone's share sheet, as Chromium on Android offers it (not in headless Linux).
    page.add_init_script(
        "navigator.share = (data) => { window.sharedData = data; return Promise.resolve(); };"
    )
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/drives/mo-2026/st-louis")
    url = f"{live_server.url}/drives/mo-2026/st-louis"

    page.get_by_role("button", name="Share…").click()
    shared = page.evaluate("window.sharedData")
    assert shared["url"] == url
    assert shared["title"] == "Missouri Medical Debt Jubilee"
    assert "Every $1 relieves about $100 of medical debt" in shared["text"]

    page.get_by_role("button", name="Copy link").click()
    status = page.locator("[data-share-status]")  # aria-live: read out when it changes
    status.filter(has_text="Link copied.").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == url
    assert status.get_attribute("aria-live") == "polite"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.locator("section.share").screenshot(path=str(screens / "share-phone.png"))


def test_without_a_share_sheet_the_button_stays_hidden_and_links_remain(
    live_app, live_server, page
):
    seed(live_app)
    page.goto(f"{live_server.url}/drives/mo-2026")
    assert page.evaluate("'share' in navigator") is False  # headless Chromium on Linux
    assert page.get_by_role("button", name="Share…").count() == 0  # hidden: not in the tree
    for name in ("Text message", "WhatsApp", "Email"):
        assert page.get_by_role("link", name=name).is_visible()


def test_ticking_the_amount_box_changes_the_shared_message_at_once(
    live_app, live_server, page, screens
):
    public_id = seed(live_app, donor_name="Dana Donor", donor_email="dana@example.org")
    page.goto(f"{live_server.url}/gifts/{public_id}")
    message = page.locator("[data-share-message]")
    assert message.inner_text() == "I just helped relieve about $2,500 of medical debt."
    assert page.get_by_role("button", name="Update the message").count() == 0  # script did it
    page.get_by_label("Include how much I gave").check()
    assert message.inner_text() == (
        "I just gave $25.00 and helped relieve about $2,500 of medical debt."
    )
    whatsapp = page.get_by_role("link", name="WhatsApp").get_attribute("href")
    assert "I%20just%20gave%20%2425.00" in whatsapp
    assert "Dana" not in whatsapp and public_id not in whatsapp
    page.locator("#share-gift").locator("..").screenshot(path=str(screens / "share-gift.png"))
    page.get_by_label("Include how much I gave").uncheck()
    assert "25.00" not in page.get_by_role("link", name="WhatsApp").get_attribute("href")


class ParentSite:
    """Another site on loopback (another port: another origin) whose page frames the embed."""

    def __init__(self, embed_url: str):
        html = (
            "<!doctype html><title>News</title><h1>Local news</h1>"
            f'<iframe src="{embed_url}" title="The drive" width="360" height="300"></iframe>'
        )
        app = lambda environ, start: Response(html, mimetype="text/html")(environ, start)  # noqa: E731
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.origin = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.thread.join(timeout=10)


def embed_shown(page, parent_url) -> bool:
    page.goto(parent_url)
    page.wait_for_load_state("load")
    frame = next(frame for frame in page.frames if frame is not page.main_frame)
    return frame.url.endswith("/drives/mo-2026/embed") and frame.locator("a.button").count() == 1


def test_only_a_listed_site_shows_the_embed(live_app, live_server, page, screens):
    seed(live_app)
    with (
        ParentSite(f"{live_server.url}/drives/mo-2026/embed") as listed,
        ParentSite(f"{live_server.url}/drives/mo-2026/embed") as unlisted,
    ):
        with live_app.app_context(), Session(live_app.extensions["relief.engine"]) as session:
            drive = drives.get_drive(session, "mo-2026")
            # Written straight to the row: an organizer may list only https sites, and these
            # loopback test sites are http.
            drive.embed_origins = listed.origin
            session.add(drive)
            session.commit()
        assert embed_shown(page, listed.origin)
        frame = page.frame_locator("iframe")
        give = frame.get_by_role("link", name="Give")
        assert give.get_attribute("target") == "_blank"
        assert give.get_attribute("href") == f"{live_server.url}/drives/mo-2026#donate"
        assert "$25.00" in frame.locator("body").inner_text()
        page.screenshot(path=str(screens / "embed-listed.png"))

        assert not embed_shown(page, unlisted.origin)  # Chromium refuses to show it
        page.screenshot(path=str(screens / "embed-unlisted.png"))
