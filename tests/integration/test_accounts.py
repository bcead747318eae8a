"""Accounts as a coalition admin creates them on the command line, and signing in and out."""

import re
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from relief import sign_in_throttle
from relief.models import AuditEvent, Membership, SignInFailure, User
from tests.factories import make_coalition
from tests.treasury_helpers import PASSWORD, SignedIn, csrf_token, data, make_user


def invoke(runner, *args, input=None):
    return runner.invoke(args=list(args), input=input, catch_exceptions=False)


def rows(app, model):
    with Session(app.extensions["relief.engine"]) as s:
        return list(s.exec(select(model)))


def test_user_add_prompts_twice_and_grants_the_role(app, runner):
    with data(app) as session:
        make_coalition(session)
    result = invoke(
        runner,
        "user",
        "add",
        "Treasurer@STL.org",
        "--chapter",
        "st-louis",
        "--role",
        "treasurer",
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    assert "treasurer@stl.org is now treasurer of st-louis" in result.output
    [user] = rows(app, User)
    assert user.email == "treasurer@stl.org"
    assert user.password_hash.startswith("scrypt:") and PASSWORD not in user.password_hash
    [membership] = rows(app, Membership)
    assert membership.role.value == "treasurer"
    assert [e.action for e in rows(app, AuditEvent)] == ["user.add"]


def test_user_add_refuses_mismatched_prompts_short_passwords_and_unknown_chapters(app, runner):
    with data(app) as session:
        make_coalition(session)
    mismatch = invoke(
        runner,
        "user",
        "add",
        "a@b.org",
        "--chapter",
        "st-louis",
        "--role",
        "treasurer",
        input=f"{PASSWORD}\nsomething else entirely\n{PASSWORD}\n{PASSWORD}\n",
    )
    assert "do not match" in mismatch.output  # click asks again, then succeeds
    short = invoke(
        runner,
        "user",
        "add",
        "c@d.org",
        "--chapter",
        "st-louis",
        "--role",
        "treasurer",
        "--password-stdin",
        input="short\n",
    )
    assert short.exit_code == 1 and "at least 12 characters" in short.output
    unknown = invoke(
        runner,
        "user",
        "add",
        "e@f.org",
        "--chapter",
        "nowhere",
        "--role",
        "treasurer",
        "--password-stdin",
        input=f"{PASSWORD}\n",
    )
    assert unknown.exit_code == 1 and "no chapter “nowhere”" in unknown.output
    no_role = invoke(
        runner,
        "user",
        "add",
        "g@h.org",
        "--chapter",
        "st-louis",
        "--password-stdin",
        input=f"{PASSWORD}\n",
    )
    assert no_role.exit_code == 1 and "--role" in no_role.output
    bad_email = invoke(
        runner, "user", "add", "not-an-email", "--admin", "--password-stdin", input=f"{PASSWORD}\n"
    )
    assert bad_email.exit_code == 1 and "is not an email address" in bad_email.output
    assert [u.email for u in rows(app, User)] == ["a@b.org"]


def test_a_second_chapter_keeps_the_password(app, runner):
    with data(app) as session:
        make_coalition(session)
        make_user(session, "t@mo.org", "st-louis")
    result = invoke(
        runner, "user", "add", "t@mo.org", "--chapter", "kansas-city", "--role", "treasurer"
    )
    assert result.exit_code == 0, result.output
    assert len(rows(app, Membership)) == 2
    SignedIn(app, "t@mo.org")  # the old password still works


def test_sign_in_and_out(app):
    with data(app) as session:
        make_coalition(session)
        make_user(session, "t@stl.org", "st-louis")
    client = app.test_client()
    assert client.get("/treasurer/st-louis/").status_code == 302
    wrong = client.post(
        "/login",
        data={
            "csrf_token": csrf_token(client),
            "email": "t@stl.org",
            "password": "wrong password here",
        },
    )
    assert wrong.status_code == 401
    assert "do not match" in wrong.get_data(as_text=True)
    right = client.post(
        "/login",
        data={
            "csrf_token": csrf_token(client),
            "email": "T@stl.org ",
            "password": PASSWORD,
            "next": "/treasurer/st-louis/",
        },
    )
    assert right.status_code == 302 and right.headers["Location"] == "/treasurer/st-louis/"
    cookie = right.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert client.get("/treasurer/st-louis/").status_code == 200
    # Sign-out is a POST with the CSRF token: a GET or a forged POST does nothing.
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400
    assert client.get("/treasurer/st-louis/").status_code == 200
    token = csrf_token(client, "/treasurer/")
    out = client.post("/logout", data={"csrf_token": token})
    assert out.status_code == 302, out.get_data(as_text=True)
    assert client.get("/treasurer/st-louis/").status_code == 302
    actions = [e.action for e in rows(app, AuditEvent)]
    assert actions == ["login.failed", "login", "logout"]


@pytest.mark.parametrize(
    "target", ["//evil.example/phish", "/\\evil.example", "https://evil.example/"]
)
def test_sign_in_never_redirects_off_site(app, target):
    with data(app) as session:
        make_coalition(session)
        make_user(session, "t@stl.org", "st-louis")
    client = app.test_client()
    response = client.post(
        "/login",
        data={
            "csrf_token": csrf_token(client),
            "email": "t@stl.org",
            "password": PASSWORD,
            "next": target,
        },
    )
    assert response.headers["Location"] == "/treasurer/"


def sign_in_from(client, address, password, email="t@stl.org"):
    return client.post(
        "/login",
        data={"csrf_token": csrf_token(client), "email": email, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


def test_an_attacker_rotating_addresses_cannot_lock_the_owner_out(app):
    """50 wrong guesses from 50 addresses: the owner, from an address that has not been
    failing, signs in with the right password; every address that guessed waits (its next
    password, even the right one, is not checked), and still does after the owner signs in."""
    with data(app) as session:
        make_coalition(session)
        make_user(session, "t@stl.org", "st-louis")
    attacker = app.test_client()
    attackers = [f"10.0.{n}.1" for n in range(50)]
    guesses = [sign_in_from(attacker, address, f"guess {n}") for n, address in enumerate(attackers)]
    assert [guess.status_code for guess in guesses] == [401] * 50
    assert "Wait 60 minutes before trying again from here" in guesses[-1].get_data(as_text=True)

    owner = app.test_client()
    signed_in = sign_in_from(owner, "192.0.2.10", PASSWORD)
    assert signed_in.status_code == 302
    treasury = owner.get("/treasurer/st-louis/", environ_base={"REMOTE_ADDR": "192.0.2.10"})
    assert treasury.status_code == 200

    for address in (attackers[0], attackers[-1]):
        again = sign_in_from(attacker, address, PASSWORD)  # even the right password
        assert again.status_code == 429
        assert "Try again in 60 minutes" in again.get_data(as_text=True)
        assert 3540 <= int(again.headers["Retry-After"]) <= 3600
    # Each failure is in the audit log; a refused attempt tested no password and adds nothing.
    failed = [e for e in rows(app, AuditEvent) if e.action == "login.failed"]
    assert len(failed) == 50 and {e.ip for e in failed} == set(attackers)


def test_one_address_guessing_waits_longer_after_each_wrong_password(app):
    with data(app) as session:
        make_coalition(session)
        make_user(session, "t@stl.org", "st-louis")
    client = app.test_client()
    typos = [sign_in_from(client, "10.9.9.9", f"typo {n}") for n in range(4)]
    assert [typo.status_code for typo in typos] == [401] * 4
    # Three typos are free; the fourth makes this address wait 2 seconds.
    assert "Wait" not in typos[2].get_data(as_text=True)
    assert "Wait 2 seconds before trying again" in typos[3].get_data(as_text=True)
    refused = sign_in_from(client, "10.9.9.9", PASSWORD)
    assert refused.status_code == 429
    assert re.search(r"Try again in [12] seconds?\.", refused.get_data(as_text=True))
    # Two seconds later the address may try again; the right password signs in and its
    # failures are forgotten.
    with data(app) as session:
        for failure in session.exec(select(SignInFailure)):
            failure.last_failed_at -= timedelta(seconds=3)
            session.add(failure)
        session.commit()
    assert sign_in_from(client, "10.9.9.9", PASSWORD).status_code == 302
    assert rows(app, SignInFailure) == []


def test_an_unknown_email_is_throttled_like_a_real_one(app):
    with data(app) as session:
        make_coalition(session)
    client = app.test_client()
    answers = [sign_in_from(client, "10.1.1.1", "x" * 12, email="nobody@x.org") for _ in range(5)]
    assert [answer.status_code for answer in answers] == [401, 401, 401, 401, 429]


def test_the_wait_doubles_from_the_fourth_failure_up_to_an_hour():
    assert [sign_in_throttle.wait_after(n).total_seconds() for n in range(1, 9)] == [
        0,
        0,
        0,
        2,
        4,
        8,
        16,
        32,
    ]
    assert sign_in_throttle.wait_after(14) == timedelta(seconds=2048)
    assert sign_in_throttle.wait_after(15) == timedelta(hours=1)
    assert sign_in_throttle.wait_after(10**6) == timedelta(hours=1)


def test_one_address_is_still_limited_across_accounts(app):
    """The per-address limit stays: 20 sign-ins a minute from one address, whichever emails."""
    client = app.test_client()
    token = csrf_token(client)
    statuses = [
        client.post(
            "/login",
            data={"csrf_token": token, "email": f"n{n}@x.org", "password": "guess guess guess"},
            environ_base={"REMOTE_ADDR": "10.2.2.2"},
        ).status_code
        for n in range(21)
    ]
    assert statuses == [401] * 20 + [429]


def test_reset_password_signs_the_account_out_everywhere(app, runner):
    with data(app) as session:
        make_coalition(session)
        make_user(session, "t@stl.org", "st-louis")
    signed_in = SignedIn(app, "t@stl.org")
    new_password = "a brand new long password"
    result = invoke(
        runner, "user", "reset-password", "t@stl.org", "--password-stdin", input=f"{new_password}\n"
    )
    assert result.exit_code == 0, result.output
    assert signed_in.get("/treasurer/st-louis/").status_code == 302
    SignedIn(app, "t@stl.org", password=new_password)
    missing = invoke(
        runner,
        "user",
        "reset-password",
        "nobody@x.org",
        "--password-stdin",
        input=f"{new_password}\n",
    )
    assert missing.exit_code == 1 and "no account for nobody@x.org" in missing.output


def test_removed_account_cannot_sign_in_and_loses_its_roles(app, runner):
    with data(app) as session:
        make_coalition(session)
        make_user(session, "t@stl.org", "st-louis")
    signed_in = SignedIn(app, "t@stl.org")
    assert invoke(runner, "user", "remove", "t@stl.org").exit_code == 0
    assert signed_in.get("/treasurer/st-louis/").status_code == 302
    client = app.test_client()
    response = client.post(
        "/login",
        data={"csrf_token": csrf_token(client), "email": "t@stl.org", "password": PASSWORD},
    )
    assert response.status_code == 401
    assert rows(app, Membership) == []
    again = invoke(runner, "user", "remove", "t@stl.org")
    assert again.exit_code == 1 and "no account" in again.output


def test_the_login_page_is_a_labelled_form_with_csrf(client):
    page = client.get("/login").get_data(as_text=True)
    assert re.search(r'<label for="email">Email</label>', page)
    assert 'autocomplete="current-password"' in page
    assert 'name="csrf_token"' in page


def test_behind_a_trusted_proxy_the_clients_address_is_throttled_and_audited(database_url):
    from tests.conftest import make_app

    app = make_app(database_url, TRUSTED_PROXIES=1)
    try:
        with data(app) as session:
            make_coalition(session)
            make_user(session, "t@stl.org", "st-louis")
        client = app.test_client()
        token = csrf_token(client)
        for n in range(3):
            client.post(
                "/login",
                data={"csrf_token": token, "email": f"nobody{n}@x.org", "password": "guess"},
                headers={"X-Forwarded-For": "203.0.113.7"},
            )
        assert {e.ip for e in rows(app, AuditEvent)} == {"203.0.113.7"}
    finally:
        app.extensions["relief.engine"].dispose()


def test_user_list_shows_every_account_and_role(app, runner):
    with data(app) as session:
        make_coalition(session)
        make_user(session, "t@mo.org", "st-louis")
        make_user(session, "admin@mo.org", admin=True)
        make_user(session, "gone@mo.org", "kansas-city", role="organizer")
    invoke(runner, "user", "add", "t@mo.org", "--chapter", "kansas-city", "--role", "organizer")
    invoke(runner, "user", "remove", "gone@mo.org")
    result = invoke(runner, "user", "list")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == "admin@mo.org: coalition admin"
    assert lines[1].startswith("gone@mo.org: removed ")
    assert lines[2] == "t@mo.org: organizer of kansas-city, treasurer of st-louis"
