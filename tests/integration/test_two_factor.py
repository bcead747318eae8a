"""Optional two-factor sign-in (issue 15): enrol by scanning a QR code and confirming a code,
recovery codes shown once and each used once, the code asked after the password, wrong codes
slowed like wrong passwords, a code never accepted twice, and RELIEF_REQUIRE_2FA making
treasurers and admins enrol at their next sign-in. On SQLite and PostgreSQL."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from sqlmodel import select

from relief.models import AuditEvent, RecoveryCode, User
from tests.conftest import make_app
from tests.factories import make_coalition
from tests.treasury_helpers import PASSWORD, csrf_token, data, make_user

_SECRET = re.compile(r"<code data-totp-secret>([A-Z2-7]+)</code>")
_CODES = re.compile(r"<li><code>([0-9a-f]{8}-[0-9a-f]{8})</code></li>")


@pytest.fixture
def app(database_url):
    app = make_app(database_url)
    with data(app) as session:
        make_coalition(session)
        make_user(session, "t@stl.org", "st-louis")
    yield app
    app.extensions["relief.engine"].dispose()


def password_step(client, email="t@stl.org", password=PASSWORD):
    return client.post(
        "/login", data={"csrf_token": csrf_token(client), "email": email, "password": password}
    )


def code_step(client, code):
    return client.post("/login/code", data={"csrf_token": csrf_token(client), "code": code})


def enrol(client) -> tuple[str, list[str]]:
    """Scan (read the key beside the QR code), confirm a code: the secret and recovery codes."""
    page = client.get("/account/two-factor")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'src="data:image/svg+xml' in html  # the QR code, nothing fetched
    secret = _SECRET.search(html).group(1)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    wrong = client.post("/account/two-factor", data={"csrf_token": token, "code": "000000"})
    assert wrong.status_code == 400 and "That code is not right" in wrong.get_data(as_text=True)
    done = client.post(
        "/account/two-factor", data={"csrf_token": token, "code": pyotp.TOTP(secret).now()}
    )
    assert done.status_code == 200
    codes = _CODES.findall(done.get_data(as_text=True))
    assert len(codes) == 10
    return secret, codes


def next_code(secret: str) -> str:
    """The code of the next 30-second step (the enrolment used this step's: a code is
    never accepted twice; the next step's is within the drift allowed)."""
    return pyotp.TOTP(secret).at(time.time() + 30)


def signed_in(client) -> bool:
    return client.get("/treasurer/").status_code == 200


def test_enrolled_sign_in_asks_the_code_after_the_password(app):
    client = app.test_client()
    assert password_step(client).status_code == 302
    secret, codes = enrol(client)
    with data(app) as session:
        user = session.exec(select(User).where(User.email == "t@stl.org")).one()
        assert user.totp_secret == secret
        stored = session.exec(select(RecoveryCode.code_hash)).all()
        assert len(stored) == 10 and not set(codes) & set(stored)  # hashed, never the codes
    client.post("/logout", data={"csrf_token": csrf_token(client, "/treasurer/")})
    fresh = app.test_client()
    answer = password_step(fresh)
    assert answer.status_code == 302 and answer.headers["Location"] == "/login/code"
    assert not signed_in(fresh)  # the password alone signs no one in
    wrong = code_step(fresh, "123456")
    assert wrong.status_code == 401
    assert "That code is not right" in wrong.get_data(as_text=True)
    code = next_code(secret)
    assert code_step(fresh, code).status_code == 302
    assert signed_in(fresh)
    # The same code again, from another browser after the password: refused (used once).
    other = app.test_client()
    password_step(other)
    assert code_step(other, code).status_code == 401
    with data(app) as session:
        lines = [(e.action, e.detail) for e in session.exec(select(AuditEvent))]
    assert ("user.two_factor", "two-factor sign-in on; 10 new recovery codes") in lines
    assert ("login", "signed in with a code") in lines
    assert ("login.failed", "wrong second-factor code") in lines


def test_a_recovery_code_works_once(app):
    client = app.test_client()
    password_step(client)
    _secret, codes = enrol(client)
    first = app.test_client()
    password_step(first)
    answer = code_step(first, codes[3].upper())
    assert answer.status_code == 302 and signed_in(first)
    second = app.test_client()
    password_step(second)
    again = code_step(second, codes[3])
    assert again.status_code == 401 and not signed_in(second)
    assert code_step(second, codes[4]).status_code == 302


def test_wrong_codes_are_throttled_like_wrong_passwords(app):
    client = app.test_client()
    password_step(client)
    secret, _codes = enrol(client)
    guesser = app.test_client()
    password_step(guesser)
    answers = [code_step(guesser, f"{n:06d}").status_code for n in range(5)]
    assert answers == [401, 401, 401, 401, 429]
    # Throttled: even the right code is not checked now.
    refused = code_step(guesser, next_code(secret))
    assert refused.status_code == 429
    assert "Too many wrong codes for this account from here" in refused.get_data(as_text=True)
    assert not signed_in(guesser)


def test_the_code_step_without_the_password_step_goes_back_to_sign_in(app):
    client = app.test_client()
    answer = client.post("/login/code", data={"csrf_token": csrf_token(client), "code": "1"})
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/login")


def test_a_reset_link_does_not_skip_the_code(app):
    from relief import accounts

    client = app.test_client()
    password_step(client)
    secret, _ = enrol(client)
    with data(app) as session:
        accounts.request_reset(session, app.config["SECRET_KEY"], "t@stl.org")
        session.commit()
        from relief.models import AccountLink

        link = session.exec(select(AccountLink)).one()
        token = accounts.link_token(app.config["SECRET_KEY"], link)
    browser = app.test_client()
    answer = browser.post(
        f"/account/reset/{token}",
        data={
            "csrf_token": csrf_token(browser),
            "new_password": "a brand new long password",
            "repeat_password": "a brand new long password",
        },
    )
    assert answer.status_code == 302 and answer.headers["Location"] == "/login/code"
    assert not signed_in(browser)
    assert code_step(browser, next_code(secret)).status_code == 302
    assert signed_in(browser)


def test_required_two_factor_makes_treasurers_enrol_at_next_sign_in(database_url):
    app = make_app(database_url, RELIEF_REQUIRE_2FA=True)
    with data(app) as session:
        make_coalition(session)
        make_user(session, "t@stl.org", "st-louis")
        make_user(session, "o@stl.org", "st-louis", role="organizer")
    treasurer = app.test_client()
    password_step(treasurer)
    sent = treasurer.get("/treasurer/")
    assert sent.status_code == 302 and sent.headers["Location"] == "/account/two-factor"
    enrol(treasurer)
    assert signed_in(treasurer)
    organizer = app.test_client()
    password_step(organizer, "o@stl.org")
    assert organizer.get("/organize/").status_code == 200  # organizers are not bound
    app.extensions["relief.engine"].dispose()


def _form_token(client, url):
    html = client.get(url).get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def test_a_person_turns_their_own_two_factor_off_with_their_password(app):
    client = app.test_client()
    password_step(client)
    enrol(client)
    token = _form_token(client, "/account/two-factor")
    wrong = client.post("/account/two-factor/off", data={"csrf_token": token, "password": "nope"})
    assert wrong.status_code == 400
    assert "Your password is not right." in wrong.get_data(as_text=True)
    with data(app) as session:
        assert session.exec(select(User.totp_secret).where(User.email == "t@stl.org")).one()
    off = client.post("/account/two-factor/off", data={"csrf_token": token, "password": PASSWORD})
    assert off.status_code == 302
    with data(app) as session:
        user = session.exec(select(User).where(User.email == "t@stl.org")).one()
        assert user.totp_secret is None
        assert session.exec(select(RecoveryCode)).all() == []  # the old codes open nothing
        assert session.exec(
            select(AuditEvent).where(AuditEvent.action == "user.two_factor_off")
        ).one()
    again = app.test_client()
    assert password_step(again).headers["Location"] != "/login/code"  # the password is enough
    assert signed_in(again)


def test_an_admin_turns_off_two_factor_for_a_person_who_lost_their_phone(database_url):
    app = make_app(database_url, RELIEF_REQUIRE_2FA=True)
    with data(app) as session:
        make_coalition(session)
        make_user(session, "t@stl.org", "st-louis")
        make_user(session, "admin@mo.org", admin=True)
    treasurer = app.test_client()
    password_step(treasurer)
    enrol(treasurer)
    assert signed_in(treasurer)
    # Required: the treasurer cannot turn it off, only set it up again.
    page = treasurer.get("/account/two-factor").get_data(as_text=True)
    assert "requires two-factor sign-in for treasurers and admins: it stays on" in page
    token = _form_token(treasurer, "/account/two-factor")
    refused = treasurer.post(
        "/account/two-factor/off", data={"csrf_token": token, "password": PASSWORD}
    )
    assert refused.status_code == 400 and "set it up again above" in refused.get_data(as_text=True)

    admin = app.test_client()
    password_step(admin, "admin@mo.org")
    enrol(admin)  # required of admins too; enrolling keeps them signed in
    with data(app) as session:
        target = session.exec(select(User).where(User.email == "t@stl.org")).one()
    listing = admin.get("/admin/accounts").get_data(as_text=True)
    assert "(two-factor on)" in listing
    token = _form_token(admin, "/admin/accounts")
    reset = admin.post(f"/admin/accounts/{target.id}/two-factor-off", data={"csrf_token": token})
    assert reset.status_code == 302
    assert not signed_in(treasurer)  # signed out everywhere
    with data(app) as session:
        assert session.exec(select(User.totp_secret).where(User.id == target.id)).one() is None
        line = session.exec(
            select(AuditEvent).where(AuditEvent.action == "user.two_factor_reset")
        ).one()
        assert line.actor_email == "admin@mo.org" and "t@stl.org" in line.detail
    # Next sign-in: the password, then setting it up again (required).
    fresh = app.test_client()
    password_step(fresh)
    assert fresh.get("/treasurer/").headers["Location"] == "/account/two-factor"
    app.extensions["relief.engine"].dispose()


def test_a_signed_in_person_can_ask_for_a_reset_while_two_factor_is_required(database_url):
    """The forgotten-password form is rate-limited; with RELIEF_REQUIRE_2FA it answered 503
    after the busy timeout on SQLite to a signed-in person (the 2FA check loaded the user,
    beginning the POST's writer unit, and the limiter's own connection waited for it)."""
    app = make_app(database_url, RELIEF_REQUIRE_2FA=True)
    with data(app) as session:
        make_coalition(session)
        make_user(session, "t@stl.org", "st-louis")
    client = app.test_client()
    password_step(client)
    enrol(client)
    token = csrf_token(client, "/account/forgot")
    started = time.monotonic()
    answer = client.post("/account/forgot", data={"csrf_token": token, "email": "t@stl.org"})
    assert answer.status_code == 200
    assert time.monotonic() - started < 5
    app.extensions["relief.engine"].dispose()
