"""Members' own fundraising pages (issue 17): a member signs up on the drive page, gets a
one-time link by email (a real SMTP server on loopback), writes a story and a goal; an
organizer of their chapter approves it; gifts on it — through the test checkout or a signed
Stripe webhook naming the page in its metadata — credit the member and their chapter on the
page, the leaderboard, the chapter's total and the API; hidden, it is a 404 at once and off
the leaderboard; another chapter's organizer can neither approve nor hide it. On SQLite and
PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from relief import drives, members
from relief.config import smtp_settings
from relief.errors import InvalidInput
from relief.models import AuditEvent, Gift, MemberPage, utcnow
from tests import stripe_objects as so
from tests.conftest import make_app
from tests.factories import make_coalition
from tests.integration.test_donate import csrf_token, give, text_of
from tests.integration.test_outbox_mail import burst
from tests.mailbox import parts
from tests.stripe_fixtures import *  # noqa: F403
from tests.treasury_helpers import SignedIn, data, make_user

ANA = "ana.member@example.org"
STORY = "My mother's hospital bills followed her for years. Help me wipe out someone else's."


@pytest.fixture
def app(database_url, mailbox):
    app = make_app(
        database_url,
        SMTP=smtp_settings(mailbox.url),
        MAIL_FROM="Relief <receipts@relief.example.org>",
        RELIEF_PUBLIC_URL="https://relief.example.org",
    )
    with Session(app.extensions["relief.engine"], expire_on_commit=False) as session:
        make_coalition(session)
        make_user(session, "o@stl.org", "st-louis", role="organizer")
        make_user(session, "o@kc.org", "kansas-city", role="organizer")
        session.commit()
    yield app
    app.extensions["relief.engine"].dispose()


def sign_up(client, email=ANA, chapter="st-louis", name="Ana B."):
    path = "/drives/mo-2026/p/join"
    return client.post(
        path,
        data={
            "csrf_token": csrf_token(client, path),
            "display_name": name,
            "email": email,
            "chapter": chapter,
        },
    )


def link_in(message) -> str:
    return re.search(r"https://relief\.example\.org(/members/link/\S+)", parts(message)["text"])[1]


def write_page(client, link, name="ana-b", story=STORY, goal="500"):
    return client.post(
        link,
        data={"csrf_token": csrf_token(client, link), "name": name, "story": story, "goal": goal},
    )


def page_id(app) -> int:
    with data(app) as session:
        return session.exec(select(MemberPage.id)).one()


def api(client) -> dict:
    return client.get("/api/drives/mo-2026").get_json()


def test_a_member_signs_up_is_approved_and_a_gift_on_their_page_credits_them_and_their_chapter(
    app, mailbox
):
    client = app.test_client()
    assert "Raise money with your own page" in text_of(client.get("/drives/mo-2026"))

    # Sign up: one email, to the member, with a one-time link.
    answer = sign_up(client)
    assert answer.status_code == 200 and "Check your email" in text_of(answer)
    burst(app)
    assert len(mailbox.messages) == 1 and ANA in mailbox.messages[0]["To"]
    link = link_in(mailbox.messages[0])

    # A bad address is refused with a sentence, what was typed kept.
    refused = write_page(client, link, name="P age!")
    assert refused.status_code == 400 and "lowercase letters" in text_of(refused)
    assert STORY.split(".")[0] in refused.get_data(as_text=True).replace("&#39;", "'")
    saved = write_page(client, link)
    assert saved.status_code == 200 and "approve" in text_of(saved)
    assert client.get(link).status_code == 410  # used once

    # Pending: not public yet, nowhere.
    assert client.get("/drives/mo-2026/p/ana-b").status_code == 404
    assert "Ana B." not in text_of(client.get("/drives/mo-2026"))

    # Another chapter's organizer can neither approve nor hide it.
    member = page_id(app)
    other = SignedIn(app, "o@kc.org")
    for action in ("approve", "hide"):
        for chapter in ("st-louis", "kansas-city"):
            url = f"/organize/{chapter}/members/{member}/{action}"
            assert other.post(url, data={"reason": "no"}).status_code == 404, url
    assert client.get("/drives/mo-2026/p/ana-b").status_code == 404

    organizer = SignedIn(app, "o@stl.org")
    listed = text_of(organizer.get("/organize/st-louis/members"))
    assert "Ana B." in listed and "Waiting for approval (1)" in listed and ANA not in listed
    assert organizer.post(f"/organize/st-louis/members/{member}/approve").status_code == 302

    page = client.get("/drives/mo-2026/p/ana-b")
    assert page.status_code == 200
    shown = text_of(page)
    assert "Ana B." in shown and STORY in shown.replace("&#39;", "'")
    assert "$0.00 raised of $500.00 goal" in shown
    assert ANA not in page.get_data(as_text=True)

    # A test-mode gift on the member's page.
    checkout = give(client, path="/drives/mo-2026/p/ana-b", amount_choice="2500")
    assert checkout.status_code == 303, text_of(checkout)[:500]
    public_id = checkout.headers["Location"].split("?")[0].rsplit("/", 1)[1]
    paid = client.post(
        f"/test-checkout/{public_id}/pay",
        data={"csrf_token": csrf_token(client, checkout.headers["Location"])},
    )
    assert paid.status_code == 303

    assert "$25.00 raised of $500.00 goal" in text_of(client.get("/drives/mo-2026/p/ana-b"))
    board = text_of(client.get("/drives/mo-2026")).split("Members raising money")[1]
    assert "Ana B." in board.split("Recent supporters")[0]
    figures = api(client)
    assert figures["members"] == [
        {
            "name": "ana-b",
            "display_name": "Ana B.",
            "chapter": "St. Louis",
            "raised_cents": 2500,
            "goal_cents": 50_000,
        }
    ]
    st_louis = next(part for part in figures["chapters"] if part["slug"] == "st-louis")
    assert st_louis["raised_cents"] == 2500
    assert ANA not in client.get("/api/drives/mo-2026").get_data(as_text=True)
    assert "$25.00" in text_of(organizer.get("/organize/st-louis/members"))

    # Hidden: a 404 at once, off the leaderboard and the API; the money stays the chapter's.
    refused = organizer.post(f"/organize/st-louis/members/{member}/hide", data={"reason": ""})
    assert refused.status_code == 400 and "reason is required" in text_of(refused)
    assert client.get("/drives/mo-2026/p/ana-b").status_code == 200
    hidden = organizer.post(
        f"/organize/st-louis/members/{member}/hide", data={"reason": "Not a member"}
    )
    assert hidden.status_code == 302
    assert client.get("/drives/mo-2026/p/ana-b").status_code == 404
    assert "Ana B." not in text_of(client.get("/drives/mo-2026"))
    figures = api(client)
    assert figures["members"] == []
    assert next(p for p in figures["chapters"] if p["slug"] == "st-louis")["raised_cents"] == 2500
    with data(app) as session:
        actions = [line.action for line in session.exec(select(AuditEvent))]
    assert "member.approve" in actions and "member.hide" in actions


def test_the_member_edits_their_page_later_through_a_new_link(app, mailbox):
    client = app.test_client()
    sign_up(client)
    burst(app)
    write_page(client, link_in(mailbox.messages[0]))
    SignedIn(app, "o@stl.org").post(f"/organize/st-louis/members/{page_id(app)}/approve")
    mailbox.messages.clear()

    assert sign_up(client, email=ANA.upper()).status_code == 200  # the same member again
    burst(app)
    assert len(mailbox.messages) == 1
    link = link_in(mailbox.messages[0])
    assert STORY.split(".")[0] in client.get(link).get_data(as_text=True).replace("&#39;", "'")
    assert write_page(client, link, story="A new story.", goal="750").status_code == 200
    shown = text_of(client.get("/drives/mo-2026/p/ana-b"))
    assert "A new story." in shown and "of $750.00 goal" in shown
    with data(app) as session:
        assert len(session.exec(select(MemberPage)).all()) == 1


def test_a_webhook_paid_gift_credits_the_member_its_metadata_names(stripe_session, stripe_client):
    make_coalition(stripe_session)
    page = members.sign_up(
        stripe_session,
        "mo-2026",
        display_name="Ana B.",
        email=ANA,
        chapter_slug="kansas-city",
        secret="s",
        now=utcnow(),
    )
    page.name, page.story, page.goal_cents, page.approved_at = "ana-b", STORY, 10_000, utcnow()
    stripe_session.commit()

    _, evt = paid_session(5000, {"drive": "mo-2026", "member": "ana-b"})
    assert so.deliver(stripe_client, evt).status_code == 200
    stripe_session.rollback()
    gift = stripe_session.exec(select(Gift)).one()
    assert gift.member_page_id == page.id
    figures = stripe_client.get("/api/drives/mo-2026").get_json()
    assert figures["members"][0]["raised_cents"] == 5000
    kansas_city = next(p for p in figures["chapters"] if p["slug"] == "kansas-city")
    assert kansas_city["raised_cents"] == 5000
    assert "$50.00 raised of $100.00 goal" in text_of(stripe_client.get("/drives/mo-2026/p/ana-b"))


def paid_session(amount_cents, metadata):
    obj = so.checkout_session(amount_cents=amount_cents, metadata=metadata)
    return obj, so.event("checkout.session.completed", obj)


def test_p_is_no_chapters_slug_and_join_no_members_address(session):
    with pytest.raises(InvalidInput):
        drives.create_chapter(session, "p", "P")
    with pytest.raises(InvalidInput):
        members.check_name("join")


def test_sign_ups_are_rate_limited_per_address(database_url, mailbox):
    app = make_app(database_url, RATELIMIT_ENABLED=True, MAIL_FROM="Relief <r@relief.example.org>")
    with Session(app.extensions["relief.engine"], expire_on_commit=False) as session:
        make_coalition(session)
    try:
        answers = [sign_up(app.test_client()).status_code for _ in range(4)]
        assert answers == [200, 200, 200, 429]
    finally:
        app.extensions["relief.engine"].dispose()


def test_the_admins_outbox_hides_a_members_one_time_link(database_url):
    """An admin reading the kept email (no mail server) cannot write a member's page."""
    app = make_app(database_url, MAIL_FROM="Relief <r@relief.example.org>")
    with Session(app.extensions["relief.engine"], expire_on_commit=False) as session:
        make_coalition(session)
        make_user(session, "admin@mo.org", admin=True)
    try:
        sign_up(app.test_client())
        burst(app)
        page = SignedIn(app, "admin@mo.org").get("/admin/outbox").get_data(as_text=True)
        assert "Your page on Missouri Medical Debt Jubilee" in page
        assert "(the one-time link: hidden here)" in page and "/members/link/" not in page
    finally:
        app.extensions["relief.engine"].dispose()


def test_a_members_link_expires_after_24_hours(app, mailbox):
    client = app.test_client()
    sign_up(client)
    burst(app)
    token = link_in(mailbox.messages[0]).rsplit("/", 1)[1]
    with data(app) as session:
        members.editing(session, token, utcnow() + timedelta(hours=23))  # still good
        with pytest.raises(InvalidInput, match="expired"):
            members.editing(session, token, utcnow() + timedelta(hours=25))


def test_a_member_who_signs_up_in_spanish_gets_the_link_in_spanish(app, mailbox):
    client = app.test_client()
    client.get("/language/es?next=/drives/mo-2026")  # the switcher's choice sticks
    assert sign_up(client).status_code == 200
    burst(app)
    (mail,) = mailbox.messages
    assert mail["Subject"] == "Su página en Missouri Medical Debt Jubilee"
    text, html = parts(mail)["text"], parts(mail)["html"]
    assert '<html lang="es">' in html
    assert '<a href="https://relief.example.org/members/link/' in html
    for body in (text, html):
        assert "Hola, Ana B.:" in body and "deuda médica" in body
        assert "Hello" not in body
    assert client.get(link_in(mail)).status_code == 200  # the link still works
