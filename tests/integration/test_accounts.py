"""Accounts as a coalition admin creates them on the command line, and signing in and out."""

import re

import pytest
from sqlmodel import Session, select

from relief.models import AuditEvent, Membership, User
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


def test_guessing_one_account_is_throttled_from_any_address(app):
    with data(app) as session:
        make_coalition(session)
        make_user(session, "t@stl.org", "st-louis")
    client = app.test_client()
    token = csrf_token(client)
    statuses = [
        client.post(
            "/login",
            data={"csrf_token": token, "email": "t@stl.org", "password": f"guess number {n}"},
            environ_base={"REMOTE_ADDR": f"10.0.0.{n}"},
        ).status_code
        for n in range(7)
    ]
    assert statuses == [401] * 5 + [429] * 2
    # Even the right password waits out the limit; another account is not affected.
    blocked = client.post(
        "/login", data={"csrf_token": token, "email": "t@stl.org", "password": PASSWORD}
    )
    assert blocked.status_code == 429
    assert "Too many attempts" in blocked.get_data(as_text=True)


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
