"""Accounts run from the browser (issue 15): a coalition admin invites a person by email, who
sets a password through a one-time link and is signed in; a forgotten password is reset by
email; an admin changes roles, removes accounts and creates chapters — each change in the
audit log. The emails are read back from a real SMTP server on loopback. On SQLite and
PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, col, select

from relief.config import smtp_settings
from relief.models import AccountLink, AuditEvent, Membership, SignInSession, User
from relief.outbox.worker import Worker
from tests.conftest import make_app
from tests.factories import make_coalition
from tests.mailbox import parts
from tests.treasury_helpers import PASSWORD, SignedIn, csrf_token, data, make_user

FROM = "Relief coalition <accounts@relief.example.org>"
NEW_PASSWORD = "a brand new long password"
_LINK = re.compile(r"https://relief\.example\.org(/account/(?:welcome|reset)/[0-9a-f]{64})")


@pytest.fixture
def app(database_url, mailbox):
    app = make_app(
        database_url,
        SMTP=smtp_settings(mailbox.url),
        MAIL_FROM=FROM,
        RELIEF_PUBLIC_URL="https://relief.example.org",
    )
    with Session(app.extensions["relief.engine"], expire_on_commit=False) as session:
        make_coalition(session)
        make_user(session, "admin@mo.org", admin=True)
    yield app
    app.extensions["relief.engine"].dispose()


def link_in(message) -> str:
    """The one-time link's path, as the email's text and HTML both give it."""
    shown = parts(message)
    found = _LINK.search(shown["text"])
    assert found, shown["text"]
    assert f'href="https://relief.example.org{found.group(1)}"' in shown["html"]
    return found.group(1)


def actions(app) -> list[tuple[str, str]]:
    with data(app) as session:
        return [
            (e.action, e.detail) for e in session.exec(select(AuditEvent).order_by(AuditEvent.id))
        ]


def invite(admin, email="new@stl.org", role="treasurer", chapters=("st-louis",)):
    return admin.post(
        "/admin/accounts/invite", {"email": email, "role": role, "chapters": list(chapters)}
    )


def set_password(client, path, password=NEW_PASSWORD, repeat=None):
    return client.post(
        path,
        data={
            "csrf_token": csrf_token(client),
            "new_password": password,
            "repeat_password": repeat or password,
        },
    )


def test_an_invitation_sets_a_password_once_and_signs_the_person_in(app, mailbox):
    admin = SignedIn(app, "admin@mo.org")
    answer = invite(admin)
    assert answer.status_code == 302
    listing = admin.get("/admin/accounts").get_data(as_text=True)
    assert "new@stl.org" in listing and "invited; no password yet" in listing
    # Nothing signs in before the link is used.
    client = app.test_client()
    refused = client.post(
        "/login",
        data={"csrf_token": csrf_token(client), "email": "new@stl.org", "password": "!"},
    )
    assert refused.status_code == 401
    Worker(app).burst()
    [message] = mailbox.to("new@stl.org")
    assert str(message["Subject"]) == "You are invited to Relief coalition on Relief"
    text = parts(message)["text"]
    assert "admin@mo.org invites you" in text and "treasurer of st-louis" in text
    path = link_in(message)
    # The token is in no row: the link's row keeps its hash, the job only the link's id.
    with data(app) as session:
        [link] = session.exec(select(AccountLink)).all()
        assert path.rsplit("/", 1)[1] not in repr(link)
    page = client.get(path)
    assert page.status_code == 200 and "new@stl.org" in page.get_data(as_text=True)
    # A password too short is refused with the rule, and the link still works.
    short = set_password(client, path, "short")
    assert short.status_code == 400
    assert "at least 12 characters" in short.get_data(as_text=True)
    done = set_password(client, path)
    assert done.status_code == 302 and done.headers["Location"] == "/treasurer/"
    dashboard = client.get("/treasurer/")
    assert dashboard.status_code == 200 and "new@stl.org" in dashboard.get_data(as_text=True)
    assert "St. Louis" in dashboard.get_data(as_text=True)
    # Used once: the same link refuses with a sentence, and changes nothing.
    again = app.test_client()
    used = again.get(path)
    assert used.status_code == 410
    assert "already used" in used.get_data(as_text=True)
    assert set_password(again, path, "another password here").status_code == 410
    assert SignedIn(app, "new@stl.org", NEW_PASSWORD)
    logged = actions(app)
    assert ("user.invite", "new@stl.org: treasurer of st-louis; link #1 valid 7 days") in logged
    assert ("user.accept_invitation", "new@stl.org: password set, signed in") in logged


def test_an_expired_invitation_is_refused_with_a_sentence(app, mailbox):
    admin = SignedIn(app, "admin@mo.org")
    invite(admin)
    Worker(app).burst()
    path = link_in(mailbox.to("new@stl.org")[0])
    with data(app) as session:
        link = session.exec(select(AccountLink)).one()
        link.expires_at = link.created_at - timedelta(seconds=1)
        session.add(link)
        session.commit()
    client = app.test_client()
    page = client.get(path)
    assert page.status_code == 410
    assert "This link has expired. Ask your coalition admin to invite you again." in (
        page.get_data(as_text=True)
    )
    assert set_password(client, path).status_code == 410
    with data(app) as session:
        assert (
            session.exec(select(User).where(User.email == "new@stl.org")).one().password_hash == "!"
        )


def test_a_made_up_link_is_refused(app):
    page = app.test_client().get("/account/welcome/" + "ab" * 32)
    assert page.status_code == 410
    assert "This link is not valid." in page.get_data(as_text=True)


def test_inviting_an_active_account_or_a_bad_address_says_why_and_sends_nothing(app, mailbox):
    admin = SignedIn(app, "admin@mo.org")
    make = invite(admin, email="admin@mo.org")
    assert make.status_code == 409
    assert "admin@mo.org already has an account" in make.get_data(as_text=True)
    bad = invite(admin, email="not-an-address")
    assert bad.status_code == 400
    none = invite(admin, chapters=())
    assert none.status_code == 400
    assert "Choose at least one chapter" in none.get_data(as_text=True)
    Worker(app).burst()
    assert mailbox.messages == []
    with data(app) as session:
        assert session.exec(select(AccountLink)).all() == []


def test_the_admin_changes_roles_removes_an_account_and_creates_a_chapter(app):
    with data(app) as session:
        make_user(session, "t@stl.org", "st-louis")
        target = session.exec(select(User).where(User.email == "t@stl.org")).one().id
    treasurer = SignedIn(app, "t@stl.org")
    admin = SignedIn(app, "admin@mo.org")
    made = admin.post(
        "/admin/chapters", {"slug": "springfield", "name": "Springfield", "region": "MO"}
    )
    assert made.status_code == 302
    assert "Springfield (springfield)" in admin.get("/admin/accounts").get_data(as_text=True)
    role = admin.post(
        f"/admin/accounts/{target}/role", {"chapter": "springfield", "role": "organizer"}
    )
    assert role.status_code == 302
    assert treasurer.get("/organize/springfield/").status_code == 200
    taken = admin.post(f"/admin/accounts/{target}/role", {"chapter": "st-louis", "role": "none"})
    assert taken.status_code == 302
    assert treasurer.get("/treasurer/st-louis/").status_code == 404
    twice = admin.post(f"/admin/accounts/{target}/role", {"chapter": "st-louis", "role": "none"})
    assert twice.status_code == 409 and "has no role in st-louis" in twice.get_data(as_text=True)
    removed = admin.post(f"/admin/accounts/{target}/remove")
    assert removed.status_code == 302
    # Its sessions ended: the signed-in browser is sent to sign in.
    gone = treasurer.get("/treasurer/")
    assert gone.status_code == 302 and "/login" in gone.headers["Location"]
    with data(app) as session:
        assert session.exec(select(Membership).where(Membership.user_id == target)).all() == []
        live = session.exec(
            select(SignInSession).where(
                SignInSession.user_id == target, col(SignInSession.ended_at).is_(None)
            )
        ).all()
        assert live == []
    logged = [action for action, _ in actions(app)]
    assert {"chapter.create", "user.role", "user.remove"} <= set(logged)
    # An admin cannot remove themself.
    with data(app) as session:
        me = session.exec(select(User).where(User.email == "admin@mo.org")).one().id
    own = admin.post(f"/admin/accounts/{me}/remove")
    assert own.status_code == 400 and "cannot remove your own account" in own.get_data(as_text=True)


def forgot(client, email):
    return client.post(
        "/account/forgot",
        data={"csrf_token": csrf_token(client, "/account/forgot"), "email": email},
    )


def test_a_reset_link_changes_the_password_once_and_ends_other_sessions(app, mailbox):
    with data(app) as session:
        make_user(session, "t@stl.org", "st-louis")
    elsewhere = SignedIn(app, "t@stl.org")
    client = app.test_client()
    login_page = client.get("/login").get_data(as_text=True)
    assert "Forgot password?" in login_page and "Ask your coalition admin" not in login_page
    known = forgot(client, "t@stl.org")
    unknown = forgot(client, "nobody@stl.org")
    assert known.status_code == unknown.status_code == 200
    said = "If an account has that address, we have emailed it a link"
    assert said in known.get_data(as_text=True) and said in unknown.get_data(as_text=True)
    Worker(app).burst()
    assert mailbox.to("nobody@stl.org") == []
    [message] = mailbox.messages
    assert str(message["Subject"]) == "Reset your Relief password"
    path = link_in(message)
    assert urlsplit(path).path.startswith("/account/reset/")
    done = set_password(client, path)
    assert done.status_code == 302
    # The other browser is signed out; the old password no longer works, the new one does.
    assert elsewhere.get("/treasurer/").status_code == 302
    old = app.test_client()
    assert (
        old.post(
            "/login",
            data={"csrf_token": csrf_token(old), "email": "t@stl.org", "password": PASSWORD},
        ).status_code
        == 401
    )
    assert SignedIn(app, "t@stl.org", NEW_PASSWORD)
    used = app.test_client().get(path)
    assert used.status_code == 410 and "already used" in used.get_data(as_text=True)
    assert ("user.reset_password", "t@stl.org: by emailed link; 1 sessions ended") in actions(app)


def test_a_reset_link_expires_after_30_minutes(app, mailbox):
    with data(app) as session:
        make_user(session, "t@stl.org", "st-louis")
    forgot(app.test_client(), "t@stl.org")
    Worker(app).burst()
    path = link_in(mailbox.messages[0])
    with data(app) as session:
        link = session.exec(select(AccountLink)).one()
        assert link.expires_at - link.created_at == timedelta(minutes=30)
        link.expires_at = link.created_at
        session.add(link)
        session.commit()
    page = app.test_client().get(path)
    assert page.status_code == 410
    assert "This link has expired. Ask for a new one" in page.get_data(as_text=True)


def test_asking_for_resets_is_rate_limited(app):
    client = app.test_client()
    answers = [forgot(client, "nobody@stl.org").status_code for _ in range(6)]
    assert answers == [200] * 5 + [429]


def test_the_admins_outbox_hides_the_one_time_link(database_url, mailbox):
    app = make_app(database_url, MAIL_FROM=FROM, RELIEF_PUBLIC_URL="https://relief.example.org")
    with Session(app.extensions["relief.engine"], expire_on_commit=False) as session:
        make_coalition(session)
        make_user(session, "admin@mo.org", admin=True)
    admin = SignedIn(app, "admin@mo.org")
    invite(admin)
    Worker(app).burst()  # no mail server: kept for the admin
    page = admin.get("/admin/outbox").get_data(as_text=True)
    assert "You are invited to Relief coalition on Relief" in page
    assert "(the one-time link: hidden here)" in page
    assert "/account/welcome/" not in page
    app.extensions["relief.engine"].dispose()


def test_an_invitation_says_until_when_on_the_coalitions_clocks(database_url, mailbox):
    app = make_app(
        database_url,
        SMTP=smtp_settings(mailbox.url),
        MAIL_FROM=FROM,
        RELIEF_PUBLIC_URL="https://relief.example.org",
        RELIEF_TIMEZONE="America/Chicago",
    )
    with Session(app.extensions["relief.engine"], expire_on_commit=False) as session:
        make_coalition(session)
        make_user(session, "admin@mo.org", admin=True)
    invite(SignedIn(app, "admin@mo.org"))
    Worker(app).burst()
    [message] = mailbox.to("new@stl.org")
    with data(app) as session:
        [link] = session.exec(select(AccountLink)).all()
    expires = link.expires_at.astimezone(ZoneInfo("America/Chicago"))
    said = f"{expires:%B} {expires.day}, {expires.year}, {expires:%H:%M} {expires.tzname()}"
    assert f"the link works once, until {said})" in " ".join(parts(message)["text"].split())
    app.extensions["relief.engine"].dispose()
