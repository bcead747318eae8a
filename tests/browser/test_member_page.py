"""A visitor opens a member's page on a phone and gives there, dedicating the gift."""

import pytest
from sqlmodel import Session, select

from relief import drives
from relief.models import Gift, MemberPage, utcnow
from tests.factories import make_coalition

pytestmark = pytest.mark.browser


def test_a_member_page_on_a_phone_takes_a_dedicated_gift_that_credits_the_member(
    live_app, live_server, page, screens
):
    with live_app.app_context(), Session(live_app.extensions["relief.engine"]) as session:
        drive = make_coalition(session)
        session.add(
            MemberPage(
                drive_id=drive.id,
                chapter_id=drives.get_chapter(session, "st-louis").id,
                name="ana-b",
                display_name="Ana B.",
                email="ana@example.org",
                email_key="ana@example.org",
                story="My mother's hospital bills followed her for years.",
                goal_cents=50_000,
                approved_at=utcnow(),
            )
        )
        session.commit()
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/drives/mo-2026/p/ana-b")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing sideways
    assert "Ana B. is raising money" in page.inner_text("h1")
    assert "$0.00 raised of $500.00 goal" in page.inner_text("main")
    page.screenshot(path=str(screens / "member-page-phone.png"), full_page=True)

    page.get_by_text("$50", exact=True).click()
    page.fill("#email", "dana@example.org")
    page.click("summary:has-text('Dedicate this gift')")
    page.get_by_label("In memory of").check()
    page.fill("#honoree_name", "Rose Alvarez")
    page.get_by_role("button", name="Continue to test checkout").click()
    page.get_by_role("button", name="Pay $50.00 (test)").click()
    assert "in memory of Rose Alvarez" in page.inner_text("main")

    page.goto(f"{live_server.url}/drives/mo-2026/p/ana-b")
    assert "$50.00 raised of $500.00 goal" in page.inner_text("main")
    with live_app.app_context(), Session(live_app.extensions["relief.engine"]) as session:
        gift = session.exec(select(Gift)).one()
        member = session.exec(select(MemberPage)).one()
        assert gift.member_page_id == member.id and gift.chapter_id == member.chapter_id
