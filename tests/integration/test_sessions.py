"""Sign-in sessions kept on the server (issue 14, item 1): signing out ends the session, so a
copied cookie is refused; a session is bound to the address the app sees, never to a
forwarding header a client sends; the account's own page lists and ends sessions; a password
change, a reset or an admin ends them too; every end is an audit line."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlmodel import Session, select

from relief.models import AuditEvent, SignInSession
from tests.conftest import make_app
from tests.factories import make_coalition
from tests.treasury_helpers import PASSWORD, csrf_token, data, make_user

TREASURY = "/treasurer/st-louis/"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Safari/604.1"


class Browser:
    """A test client that is one browser at one address (every request says so)."""

    def __init__(self, app, address="198.51.100.7", user_agent=BROWSER, headers=None):
        self.client = app.test_client()
        self.environ = {"REMOTE_ADDR": address, "HTTP_USER_AGENT": user_agent}
        self.headers = headers or {}

    def get(self, url):
        return self.client.get(url, environ_base=self.environ, headers=self.headers)

    def post(self, url, form=None, token_from=None):
        page = self.get(token_from or url)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text)
        assert token, f"no CSRF token on {token_from or url} ({page.status_code})"
        return self.client.post(
            url,
            data={"csrf_token": token.group(1), **(form or {})},
            environ_base=self.environ,
            headers=self.headers,
        )

    def sign_in(self, email="t@stl.org", password=PASSWORD):
        response = self.post("/login", {"email": email, "password": password})
        assert response.status_code == 302, response.text[:300]
        return self

    def signed_in(self) -> bool:
        status = self.get(TREASURY).status_code
        assert status in (200, 302), status
        return status == 200

    def copy_cookie_to(self, other: Browser) -> Browser:
        other.client.set_cookie("session", self.client.get_cookie("session").value)
        return other


def treasurer(app):
    with data(app) as session:
        make_coalition(session)
        make_user(session, "t@stl.org", "st-louis")


def audit_actions(app):
    with Session(app.extensions["relief.engine"]) as s:
        return [(e.action, e.detail) for e in s.exec(select(AuditEvent).order_by(AuditEvent.id))]


def sessions(app):
    with Session(app.extensions["relief.engine"]) as s:
        return list(s.exec(select(SignInSession).order_by(SignInSession.id)))


def test_a_copied_cookie_is_refused_once_its_owner_signs_out(app):
    treasurer(app)
    owner = Browser(app).sign_in()
    thief = owner.copy_cookie_to(Browser(app))  # same address and browser: the worst case
    assert thief.signed_in()
    assert owner.post("/logout", token_from=TREASURY).status_code == 302
    assert not owner.signed_in()
    assert not thief.signed_in()
    [ended] = sessions(app)
    assert ended.ended_at is not None
    assert ("logout", "signed out; the session ended") in audit_actions(app)


def test_the_cookie_holds_a_token_whose_hash_alone_is_stored(app):
    treasurer(app)
    owner = Browser(app).sign_in()
    [row] = sessions(app)
    cookie = owner.client.get_cookie("session").value
    assert row.token_hash not in cookie
    assert row.address == "198.51.100.7" and row.user_agent == BROWSER


def test_a_copied_cookie_with_the_victims_forwarded_for_header_is_refused(app):
    """Without a trusted proxy, X-Forwarded-For is whatever the client says: the session is
    bound to the socket's address, so naming the victim's address does not help."""
    treasurer(app)
    victim = Browser(app, address="198.51.100.7").sign_in()
    thief = victim.copy_cookie_to(
        Browser(app, address="203.0.113.9", headers={"X-Forwarded-For": "198.51.100.7"})
    )
    assert not thief.signed_in()
    assert victim.signed_in()  # the victim is not signed out by the attempt


def test_behind_a_trusted_proxy_the_session_is_bound_to_the_address_the_proxy_saw(database_url):
    app = make_app(database_url, TRUSTED_PROXIES=1)
    try:
        treasurer(app)
        proxy = "10.0.0.2"
        victim = Browser(app, address=proxy, headers={"X-Forwarded-For": "198.51.100.7"})
        victim.sign_in()
        assert victim.signed_in()
        [row] = sessions(app)
        assert row.address == "198.51.100.7"
        # The thief sends the victim's address; the proxy appends the thief's own.
        thief = victim.copy_cookie_to(
            Browser(app, address=proxy, headers={"X-Forwarded-For": "198.51.100.7, 203.0.113.9"})
        )
        assert not thief.signed_in()
        assert victim.signed_in()
    finally:
        app.extensions["relief.engine"].dispose()


def test_a_session_is_bound_to_its_browser(app):
    treasurer(app)
    owner = Browser(app).sign_in()
    other_browser = owner.copy_cookie_to(Browser(app, user_agent=PHONE))
    assert not other_browser.signed_in()
    assert owner.signed_in()


def test_the_sessions_page_lists_live_sessions_and_ends_one_or_all_others(app):
    treasurer(app)
    laptop = Browser(app).sign_in()
    phone = Browser(app, address="192.0.2.44", user_agent=PHONE).sign_in()
    tablet = Browser(app, address="192.0.2.45", user_agent="Tablet/1.0").sign_in()
    page = laptop.get("/account/sessions")
    assert page.status_code == 200
    text = page.text
    assert "iPhone" in text and "192.0.2.44" in text and "Tablet/1.0" in text
    assert text.count("(this one)") == 1
    assert re.search(r"Firefox/140.0 <strong>\(this one\)</strong>", text)
    phone_id = next(row.id for row in sessions(app) if row.user_agent == PHONE)

    ended = laptop.post(f"/account/sessions/{phone_id}/end", token_from="/account/sessions")
    assert ended.status_code == 302
    assert not phone.signed_in()
    assert laptop.signed_in() and tablet.signed_in()
    assert "iPhone" not in laptop.get("/account/sessions").text
    # Ending it again, or a session id that is not this account's: the same 404.
    again = laptop.post(f"/account/sessions/{phone_id}/end", token_from="/account/sessions")
    assert again.status_code == 404

    others = laptop.post("/account/sessions/end-others", token_from="/account/sessions")
    assert others.status_code == 302
    assert not tablet.signed_in()
    assert laptop.signed_in()
    assert [row.ended_at is None for row in sessions(app)] == [True, False, False]
    actions = audit_actions(app)
    assert ("session.end", f"ended sign-in session {phone_id}") in actions
    assert ("session.end_others", "1 other sign-in sessions ended") in actions


def test_no_one_can_end_another_accounts_session(app):
    treasurer(app)
    with data(app) as session:
        make_user(session, "other@kc.org", "kansas-city")
    victim = Browser(app).sign_in()
    [victim_session] = sessions(app)
    other = Browser(app, address="192.0.2.9").sign_in("other@kc.org")
    refused = other.post(
        f"/account/sessions/{victim_session.id}/end", token_from="/account/sessions"
    )
    assert refused.status_code == 404
    assert victim.signed_in()


def test_ending_this_session_from_the_page_signs_out(app):
    treasurer(app)
    laptop = Browser(app).sign_in()
    [row] = sessions(app)
    out = laptop.post(f"/account/sessions/{row.id}/end", token_from="/account/sessions")
    assert out.status_code == 302 and out.headers["Location"] == "/login"
    assert not laptop.signed_in()


def test_changing_the_password_ends_every_other_session_and_keeps_this_one(app):
    treasurer(app)
    laptop = Browser(app).sign_in()
    phone = Browser(app, address="192.0.2.44", user_agent=PHONE).sign_in()
    new = "a new and longer passphrase"
    wrong = laptop.post(
        "/account/password",
        {"current_password": "not my password at all", "new_password": new, "repeat_password": new},
    )
    assert wrong.status_code == 400 and "current password is not right" in wrong.text
    assert phone.signed_in()
    changed = laptop.post(
        "/account/password",
        {"current_password": PASSWORD, "new_password": new, "repeat_password": new},
    )
    assert changed.status_code == 302
    assert laptop.signed_in()
    assert not phone.signed_in()
    assert ("user.change_password", "1 other sign-in sessions ended") in audit_actions(app)
    Browser(app, address="192.0.2.50").sign_in(password=new)


def test_a_short_or_mismatched_new_password_is_refused_with_a_sentence(app):
    treasurer(app)
    laptop = Browser(app).sign_in()
    short = laptop.post(
        "/account/password",
        {"current_password": PASSWORD, "new_password": "short", "repeat_password": "short"},
    )
    assert short.status_code == 400 and "at least 12 characters" in short.text
    mismatch = laptop.post(
        "/account/password",
        {
            "current_password": PASSWORD,
            "new_password": "one long passphrase",
            "repeat_password": "another long one",
        },
    )
    assert mismatch.status_code == 400 and "not the same" in mismatch.text
    Browser(app, address="192.0.2.50").sign_in()  # the old password still works


def test_an_admin_signs_an_account_out_everywhere_from_the_command_line(app, runner):
    treasurer(app)
    laptop = Browser(app).sign_in()
    phone = Browser(app, address="192.0.2.44", user_agent=PHONE).sign_in()
    result = runner.invoke(args=["user", "sign-out", "T@stl.org"])
    assert result.exit_code == 0, result.output
    assert "t@stl.org: 2 sessions signed out." in result.output
    assert not laptop.signed_in() and not phone.signed_in()
    assert ("user.sign_out", "t@stl.org: 2 sign-in sessions ended") in audit_actions(app)
    missing = runner.invoke(args=["user", "sign-out", "nobody@x.org"])
    assert missing.exit_code == 1 and "no account for nobody@x.org" in missing.output


def test_reset_password_ends_every_session_and_says_how_many(app, runner):
    treasurer(app)
    laptop = Browser(app).sign_in()
    result = runner.invoke(
        args=["user", "reset-password", "t@stl.org", "--password-stdin"],
        input="a brand new long password\n",
    )
    assert result.exit_code == 0, result.output
    assert "1 session signed out" in result.output
    assert not laptop.signed_in()
    assert ("user.reset_password", "t@stl.org: 1 sign-in sessions ended") in audit_actions(app)


def test_last_seen_is_written_at_most_once_a_minute(app):
    treasurer(app)
    laptop = Browser(app).sign_in()
    engine = app.extensions["relief.engine"]
    with Session(engine) as s:
        row = s.exec(select(SignInSession)).one()
        an_hour_ago = row.last_seen_at - timedelta(hours=1)
        row.last_seen_at = an_hour_ago
        s.add(row)
        s.commit()
    assert laptop.signed_in()
    [row] = sessions(app)
    seen = row.last_seen_at
    assert seen - an_hour_ago > timedelta(minutes=59)
    assert laptop.signed_in()
    [row] = sessions(app)
    assert row.last_seen_at == seen  # within the minute: not written again


def test_a_session_older_than_its_lifetime_is_signed_out(app):
    treasurer(app)
    laptop = Browser(app).sign_in()
    with Session(app.extensions["relief.engine"]) as s:
        row = s.exec(select(SignInSession)).one()
        row.created_at -= timedelta(days=32)
        s.add(row)
        s.commit()
    assert not laptop.signed_in()


def test_signing_in_again_does_not_keep_the_session_from_before(app):
    """A cookie planted before sign-in (session fixation) is not the one signed in."""
    treasurer(app)
    planted = Browser(app)
    planted.get("/login")
    before = planted.client.get_cookie("session").value
    planted.sign_in()
    assert planted.client.get_cookie("session").value != before
    victim_copy = Browser(app)
    victim_copy.client.set_cookie("session", before)
    assert not victim_copy.signed_in()


def test_the_account_pages_need_a_signed_in_user(client):
    for url in ("/account/sessions", "/account/password"):
        response = client.get(url)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login?next=/account/")
    assert csrf_token(client)  # the sign-in page itself answers
