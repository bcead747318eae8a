"""Security checks of issue 7 that are about the web boundary: CSRF on every state-changing
route, production cookies and headers on every kind of page, password hashing, and logs that
never carry a secret or a donor's email.

The role × route access table is in test_access.py; login throttling in test_accounts.py
(test_an_attacker_rotating_addresses_cannot_lock_the_owner_out); sign-in sessions in
test_sessions.py; the database outage in
test_faults.py. docs/security.md maps each threat to its test.
"""

from __future__ import annotations

import io
import logging
import os
import re
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlmodel import SQLModel

from relief import auth, drives
from relief.models import Gift, MemberPage, SignInSession, User, utcnow
from tests import stripe_objects as so
from tests.conftest import make_app
from tests.factories import make_coalition, make_gift
from tests.integration.test_access import objects_of
from tests.treasury_helpers import PASSWORD, SignedIn, csrf_token, data, make_user

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
#: The routes without the session's CSRF token: Stripe's webhook (Stripe cannot hold our
#: token; its signature authenticates) and the donate form (its token is its page's, so that
#: the page needs no session: test_a_cross_site_donate_post_is_refused_even_with_the_pages_token).
CSRF_EXEMPT = {
    "webhook.stripe_webhook",
    "donate.donate",
    "donate.member_donate",
    "account.digest_stop",
}
#: The routes that take no CSRF token at all (the donate form is walked: its own token). The
#: digest's unsubscribe link is its own authority (signed; it can only stop the digest) and
#: mail clients post it in one click (RFC 8058): test_digest.py forges one and is refused.
WITHOUT_A_TOKEN = {"webhook.stripe_webhook", "account.digest_stop"}
#: Tables whose rows a refused request may still change: the rate-limit counters count every
#: attempt, refused or not.
COUNTERS = {"rate_limit_counter"}


def everything_stored(app) -> dict[str, list]:
    """Every row of every table (the test database is small), to prove nothing was written."""
    with app.extensions["relief.engine"].connect() as connection:
        return {
            table.name: sorted(map(repr, connection.execute(select(table)).all()))
            for table in SQLModel.metadata.sorted_tables
            if table.name not in COUNTERS
        }


def url_arguments(objects: dict, public_id: str) -> dict:
    """A value for every URL variable a state-changing route may have. A route with a variable
    not listed here fails the CSRF test, so a new route cannot slip past it untested."""
    return {
        "chapter": "st-louis",
        "slug": "mo-2026",
        "batch_id": objects["batch"],
        "line_id": objects["line"],
        "gift_id": objects["gift"],
        "remittance_id": objects["remittance"],
        "report_id": objects["report"],
        "public_id": public_id,
        "session_id": objects["sign_in_session"],
        "job_id": objects["job"],
        "user_id": objects["account"],
        "pledge_id": objects["pledge"],
        "token": "0" * 64,
        "event_id": 1,
        "member_id": objects["member"],
        "name": "ana-b",
    }


def state_changing_rules(app):
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods & STATE_CHANGING):
            yield rule, method


def test_a_process_whose_apps_all_run_without_rate_limits_still_answers_limited_routes(
    tmp_path, sqlite_template
):
    """The limiter is one per process. In a process where no app had enabled rate limits
    (``bash .ci/test -k hostile`` runs such a file alone), the sign-in form answered 500
    instead of its sentence."""
    import shutil
    import subprocess
    import sys

    database = tmp_path / "relief.db"
    shutil.copy(sqlite_template, database)
    script = f"""
from relief import create_app
app = create_app({{"DATABASE_URL": "sqlite:///{database}", "SECRET_KEY": "k",
                  "RELIEF_ENV": "development", "RATELIMIT_ENABLED": False,
                  "WTF_CSRF_ENABLED": False}})
answer = app.test_client().post("/login", data={{"email": "a@b.org", "password": "x"}})
print(answer.status_code)
"""
    ran = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert ran.stdout.strip() == "401", ran.stderr[-2000:]  # "wrong email or password"


def test_every_state_changing_route_refuses_a_post_without_its_csrf_token(app):
    """Walks app.url_map: every POST/PUT/PATCH/DELETE route but the declared exemption, posted
    with a full form but no token by a signed-in admin, answers 400 and writes nothing."""
    assert app.config.get("WTF_CSRF_ENABLED", True) and app.config.get(
        "WTF_CSRF_CHECK_DEFAULT", True
    )
    with data(app) as session:
        drive = make_coalition(session)
        objects = objects_of(session, drive, "st-louis")
        public_id = make_gift(session, drive, 2_500, chapter="st-louis").public_id
        make_user(session, "admin@mo.org", admin=True)
        member = MemberPage(  # an approved member's page, whose give box posts too
            drive_id=drive.id,
            chapter_id=drives.get_chapter(session, "st-louis").id,
            name="ana-b",
            display_name="Ana B.",
            email="ana@example.org",
            email_key="ana@example.org",
            story="Why I give.",
            goal_cents=10_000,
            approved_at=utcnow(),
        )
        session.add(member)
        session.commit()
        objects["member"] = member.id
    admin = SignedIn(app, "admin@mo.org")
    with data(app) as session:
        objects["sign_in_session"] = session.execute(select(SignInSession.id)).scalar_one()
    arguments = url_arguments(objects, public_id)
    before = everything_stored(app)
    form = {
        "email": "admin@mo.org",
        "password": PASSWORD,
        "amount_choice": "2500",
        "amount": "10",
        "drive": str(drive.id),
        "label": "x",
        "expected_count": "1",
        "expected_total": "10",
        "received": "2026-01-01",
        "method": "cash",
    }
    checked = []
    for rule, method in state_changing_rules(app):
        if rule.endpoint in WITHOUT_A_TOKEN:
            continue
        unknown = set(rule.arguments) - set(arguments)
        assert not unknown, f"{rule.rule}: add a value for {unknown} to url_arguments()"
        url = rule.build({name: arguments[name] for name in rule.arguments})[1]
        response = admin.client.open(url, method=method, data=form)
        assert response.status_code == 400, (
            f"{method} {url} without a CSRF token: {response.status_code}"
        )
        body = response.get_data(as_text=True)
        assert "CSRF" in body or "session expired" in body.lower(), f"{method} {url}: {body[:300]}"
        checked.append(rule.endpoint)
    assert everything_stored(app) == before
    # The walk saw the routes we know of (a sanity check that it walked anything at all).
    assert {
        "donate.donate",
        "treasurer.batch_import",
        "account.login",
        "admin.assign",
        "organizer.drive_edit",
        "organizer.chapter_goal",
        "account.end_session",
        "account.end_other_sessions",
        "account.change_password",
        "account.forgot_password",
        "account.accept_invitation",
        "account.reset_password",
        "admin.invite",
        "admin.account_role",
        "admin.account_remove",
        "admin.chapter_create",
    } <= set(checked)


def test_the_webhook_the_donate_form_and_the_digest_link_are_the_only_csrf_exemptions():
    from relief.forms import DonateForm, DonatePageToken
    from relief.web import csrf

    assert DonateForm.Meta.csrf_class is DonatePageToken  # the donate form checks its own

    app = make_app("sqlite://")
    exempt = {
        endpoint
        for endpoint, view in app.view_functions.items()
        if f"{view.__module__}.{view.__name__}" in csrf._exempt_views
    } | {bp for bp in csrf._exempt_blueprints}
    assert exempt == CSRF_EXEMPT


DONATION = {
    "amount_choice": "other",
    "custom_amount": "35",
    "frequency": "once",
    "donor_name": "Kept Name",
    "show_name": "show",
    "email": "kept@example.org",
}


def donate_token_of(client, path="/drives/mo-2026"):
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)[1]


def gifts_in(app) -> int:
    with data(app) as session:
        return len(session.execute(select(Gift.id)).all())


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "same-site", "Origin": "https://give.localhost"},
        {"Origin": "https://evil.example"},  # a browser that sends no Sec-Fetch-Site
        {"Origin": "null"},  # a sandboxed frame
    ],
)
def test_a_cross_site_donate_post_is_refused_even_with_the_pages_token(app, headers):
    """The donate form's token is on the public page for anyone to read; what a forging site
    cannot hide is where its request comes from."""
    with data(app) as session:
        make_coalition(session)
    client = app.test_client()
    token = donate_token_of(client)
    refused = client.post(
        "/drives/mo-2026/donate", data={**DONATION, "csrf_token": token}, headers=headers
    )
    assert refused.status_code == 400
    assert "sent from another site, so nothing was recorded" in refused.get_data(as_text=True)
    assert gifts_in(app) == 0

    same_site = client.post(
        "/drives/mo-2026/donate",
        data={**DONATION, "csrf_token": token},
        headers={"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"},
    )
    assert same_site.status_code == 303 and gifts_in(app) == 1
    assert "Set-Cookie" not in same_site.headers  # no session was ever needed


@pytest.mark.parametrize("token_of", ["expired", "forged", "another page's", "missing"])
def test_a_donate_form_with_a_bad_token_is_refused_with_what_was_typed_kept(app, token_of):
    from relief.forms import DonatePage, donate_token
    from relief.models import utcnow

    with data(app) as session:
        make_coalition(session)
    client = app.test_client()
    good = donate_token_of(client)
    page = DonatePage("mo-2026", None)
    token = {
        "expired": donate_token(app.secret_key, page, utcnow().date() - timedelta(days=2)),
        "forged": donate_token("not-our-secret-key", page, utcnow().date()),
        "another page's": donate_token_of(client, "/drives/mo-2026/st-louis"),
        "missing": "",
    }[token_of]
    assert token != good
    refused = client.post(
        "/drives/mo-2026/donate",
        data={**DONATION, "csrf_token": token},
        headers={"Sec-Fetch-Site": "same-origin"},
    )
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400 and gifts_in(app) == 0
    sentence = "expired" if token_of == "expired" else "security token (CSRF)"
    assert sentence in html and "nothing was recorded" in html
    assert 'value="Kept Name"' in html and 'value="kept@example.org"' in html
    assert 'value="35"' in html
    # The page shown again carries a good token: sending it again goes through.
    again = client.post(
        "/drives/mo-2026/donate",
        data={
            **DONATION,
            "csrf_token": re.search(r'name="csrf_token" [^>]*value="([^"]+)"', html)[1],
        },
        headers={"Sec-Fetch-Site": "same-origin"},
    )
    assert again.status_code == 303 and gifts_in(app) == 1


def test_a_donate_token_of_yesterday_is_still_good():
    from datetime import date

    from relief.forms import DonatePage, donate_token, donate_token_error

    page, today = DonatePage("mo-2026", "st-louis"), date(2026, 12, 2)
    for shown in (today, today - timedelta(days=1)):
        assert donate_token_error("k", page, donate_token("k", page, shown), today) is None
    stale = donate_token("k", page, today - timedelta(days=2))
    assert "expired" in donate_token_error("k", page, stale, today)


# --- production settings: cookies, headers ------------------------------------------------

PRODUCTION_ENV = {
    "RELIEF_ENV": "production",
    "SECRET_KEY": "prod-secret-key-0123456789abcdef",
    "STRIPE_SECRET_KEY": "sk_test_production_key_4242",
    "STRIPE_WEBHOOK_SECRET": so.WEBHOOK_SECRET,
}


HTTPS = "https://relief.example"


def sign_in_over_https(app, email):
    """Sign in as a browser does on the production site (Secure cookies, a same-origin
    Referer, which Flask-WTF requires over HTTPS)."""
    client = app.test_client()
    page = client.get(f"{HTTPS}/login")
    token = re.search(
        r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True)
    )
    signed_in = client.post(
        f"{HTTPS}/login",
        data={"csrf_token": token.group(1), "email": email, "password": PASSWORD},
        headers={"Referer": f"{HTTPS}/login"},
    )
    assert signed_in.status_code == 302, signed_in.get_data(as_text=True)[:300]
    return client, page, signed_in


@pytest.fixture
def production_app(database_url, monkeypatch):
    for name, value in PRODUCTION_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DATABASE_URL", database_url)
    from relief import create_app

    app = create_app()  # settings from the environment only, as in production
    assert app.config["RELIEF_ENV"] == "production" and not app.testing
    yield app
    app.extensions["relief.engine"].dispose()


def test_production_session_cookies_are_secure_httponly_and_samesite(production_app):
    with data(production_app) as session:
        make_coalition(session)
        make_user(session, "t@stl.org", "st-louis")
    client, page, signed_in = sign_in_over_https(production_app, "t@stl.org")
    cookies = signed_in.headers.getlist("Set-Cookie") + page.headers.getlist("Set-Cookie")
    # Deletions (Flask-Login clearing an unused remember cookie) carry nothing; skip them.
    cookies = [cookie for cookie in cookies if "Max-Age=0" not in cookie]
    assert any(cookie.startswith("session=") for cookie in cookies), cookies
    for cookie in cookies:
        attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
        assert {"secure", "httponly"} <= attributes, cookie
        assert re.search(r"SameSite=(Lax|Strict)", cookie), cookie
    # No "remember me" is offered; if it ever is, its cookie is as protected.
    assert production_app.config["REMEMBER_COOKIE_SECURE"] is True
    assert production_app.config["REMEMBER_COOKIE_HTTPONLY"] is True


def _strict(policy: str) -> None:
    directives = dict(
        (part.strip().split(" ", 1) + [""])[:2] for part in policy.split(";") if part.strip()
    )
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "base-uri" in directives and "form-action" in directives
    for weak in ("'unsafe-inline'", "'unsafe-eval'", "*", "http:", "data: 'unsafe"):
        assert weak not in policy.replace("data:", ""), policy


def _every_kind_of_page(app, test_mode_app=None):
    """(name, client, url) for a public page, the API, the donate form refused, a gift page,
    the press PDF, the public ledger (page, CSV, API) and verify.py, the receipt PDF, the
    treasurer's dashboard and CSV, a 404."""
    with data(app) as session:
        drive = make_coalition(session)
        gift = make_gift(session, drive, 2_500, chapter="st-louis")
        make_user(session, "t@stl.org", "st-louis")
    return [
        ("public", "/drives/mo-2026"),
        ("chapter page", "/drives/mo-2026/st-louis"),
        ("api", "/api/drives/mo-2026"),
        ("gift page", f"/gifts/{gift.public_id}"),
        ("press pdf", "/drives/mo-2026/report.pdf"),
        ("public ledger", "/drives/mo-2026/ledger"),
        ("public ledger csv", "/drives/mo-2026/ledger.csv"),
        ("public ledger api", "/api/drives/mo-2026/entries"),
        ("verifier", "/verify.py"),
        ("receipt pdf", f"/gifts/{gift.public_id}/receipt.pdf"),
        ("treasurer", "/treasurer/st-louis/"),
        ("treasurer csv", "/treasurer/st-louis/donors.csv"),
        ("login", "/login"),
        ("not found", "/no-such-page"),
    ]


def test_every_page_type_has_a_strict_csp_and_frame_referrer_protection_and_hsts_in_production(
    production_app,
):
    pages = _every_kind_of_page(production_app)
    treasurer, _, _ = sign_in_over_https(production_app, "t@stl.org")
    for name, url in pages:
        client = treasurer if name.startswith("treasurer") else production_app.test_client()
        response = client.get(HTTPS + url)
        assert response.status_code in (200, 404), f"{name}: {response.status_code}"
        headers = response.headers
        _strict(headers["Content-Security-Policy"])
        assert headers["X-Frame-Options"] == "DENY", name
        assert headers["X-Content-Type-Options"] == "nosniff", name
        assert headers["Referrer-Policy"] in ("strict-origin-when-cross-origin", "no-referrer")
        hsts = headers.get("Strict-Transport-Security", "")
        assert (
            re.match(r"max-age=(\d+)", hsts) and int(hsts.split("=")[1].split(";")[0]) >= 15552000
        ), name
    # The donate form refused (400) and its page still carry the policy.
    refused = production_app.test_client().post(HTTPS + "/drives/mo-2026/donate", data={})
    _strict(refused.headers["Content-Security-Policy"])


def test_test_checkout_and_donate_pages_have_the_strict_csp_in_test_mode(app):
    """The test checkout exists only without a Stripe key, so it is checked on the test app."""
    with data(app) as session:
        make_coalition(session)
    client = app.test_client()
    token = csrf_token(client, "/drives/mo-2026")
    started = client.post(
        "/drives/mo-2026/donate",
        data={"csrf_token": token, "amount_choice": "2500", "email": "csp@example.org"},
    )
    assert started.status_code == 303
    checkout = client.get(started.headers["Location"])
    assert checkout.status_code == 200
    _strict(checkout.headers["Content-Security-Policy"])
    assert "Strict-Transport-Security" not in checkout.headers  # HSTS only in production


def test_passwords_are_hashed_with_scrypt(app):
    with data(app) as session:
        make_coalition(session)
        user = make_user(session, "t@stl.org", "st-louis")
        stored = session.get(User, user.id).password_hash
    assert stored.startswith("scrypt:"), stored[:20]
    assert PASSWORD not in stored
    # werkzeug's scrypt parameters: n=2**15, r=8, p=1 at least.
    n, r, p = (int(part) for part in stored.split("$")[0].split(":")[1:])
    assert n >= 2**15 and r >= 8 and p >= 1
    assert auth.hash_password(PASSWORD) != stored  # salted


# --- logs ---------------------------------------------------------------------------------

DONOR_EMAIL = "secret.donor+logs@example.org"


def test_no_secret_password_or_donor_email_reaches_the_logs(database_url, caplog, monkeypatch):
    """A donation, its webhook, a failed sign-in and a treasurer export, with every logger at
    DEBUG (the app's, SQLAlchemy's, Stripe's, werkzeug's): no donor email, no password and no
    secret in any record. The access log (gunicorn's format records the request line and the
    referrer) is checked through the URLs these requests and their redirects carry."""
    from tests.fake_stripe import FakeStripe

    fake = FakeStripe().start()
    secrets = {
        "SECRET_KEY": "log-secret-key-9f8e7d6c5b4a",
        "STRIPE_SECRET_KEY": "sk_test_log_secret_51Hx",
        "STRIPE_WEBHOOK_SECRET": so.WEBHOOK_SECRET,
    }
    app = make_app(database_url, STRIPE_API_BASE=fake.url, **secrets)
    caplog.set_level(logging.DEBUG)
    for name in ("stripe", "werkzeug", "relief", "flask_limiter"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    # SQL statements as `echo=True` logs them (INFO): the engine hides their parameters.
    # (echo="debug" also logs result rows; that is a developer's switch, never production's.)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)
    urls = []
    try:
        with data(app) as session:
            make_coalition(session)
            make_user(session, "t@stl.org", "st-louis")
        client = app.test_client()
        token = csrf_token(client, "/drives/mo-2026")
        given = client.post(
            "/drives/mo-2026/donate",
            data={
                "csrf_token": token,
                "amount_choice": "2500",
                "email": DONOR_EMAIL,
                "donor_name": "Logan Private",
            },
        )
        assert given.status_code == 303
        urls.append(given.headers["Location"])
        with data(app) as session:
            from relief.models import Gift

            gift = session.exec(select(Gift)).scalars().one()
        obj = so.checkout_session(
            amount_cents=2500,
            metadata={"drive": "mo-2026", "chapter": "st-louis", "gift": gift.public_id},
            email=DONOR_EMAIL,
        )
        assert so.deliver(client, so.event("checkout.session.completed", obj)).status_code == 200
        failed = app.test_client()
        refused = failed.post(
            "/login",
            data={
                "csrf_token": csrf_token(failed),
                "email": "t@stl.org",
                "password": "wrong " + PASSWORD,
            },
        )
        assert refused.status_code == 401
        treasurer = SignedIn(app, "t@stl.org")
        export = treasurer.get("/treasurer/st-louis/donors.csv")
        assert DONOR_EMAIL in export.get_data(as_text=True)  # the export itself has it
        urls.append(export.request.url)
    finally:
        fake.stop()
        app.extensions["relief.engine"].dispose()
        for name in ("sqlalchemy.engine", "stripe", "werkzeug", "relief", "flask_limiter"):
            logging.getLogger(name).setLevel(logging.NOTSET)
    logged = "\n".join(
        [record.getMessage() for record in caplog.records]
        + [caplog.text]
        + urls  # what an access log would write as the request line or referrer
    )
    assert len(caplog.records) > 20, "the loggers were not captured"
    forbidden = [DONOR_EMAIL, "Logan Private", PASSWORD, *secrets.values()]
    for value in forbidden:
        assert value not in logged, f"{value!r} was logged"
        assert value.replace("@", "%40") not in logged


# --- small 500s (issue 14, item 8) ------------------------------------------------------------

TOO_BIG = str(10**23)


def test_a_csv_cell_over_128_kib_is_refused_with_a_sentence_in_bank_and_batch_imports(app):
    """Python's csv module refuses a cell over 131,072 characters (csv.Error): a sentence."""
    with data(app) as session:
        make_coalition(session)
        make_user(session, "t@stl.org", "st-louis")
    treasurer = SignedIn(app, "t@stl.org")
    opened = treasurer.post(
        "/treasurer/st-louis/batches",
        {"drive": "1", "label": "Potluck", "expected_count": "1", "expected_total": "5"},
    )
    assert opened.status_code == 302
    huge = "x" * (128 * 1024 + 1)
    uploads = {
        "/treasurer/st-louis/bank": f"Date,Description,Amount\n2026-01-02,{huge},5.00\n",
        opened.headers["Location"] + "/import": (
            f"amount,name,anonymous,method,check_number,received\n5,{huge},no,check,,2026-01-02\n"
        ),
    }
    before = everything_stored(app)
    for url, text in uploads.items():
        response = treasurer.post(
            url,
            {"file": (io.BytesIO(text.encode()), "huge.csv")},
            content_type="multipart/form-data",
        )
        page = response.get_data(as_text=True)
        assert response.status_code == 400, url
        assert "Line 2 of the file has a cell longer than 128 KiB" in page, url
    assert everything_stored(app) == before


def test_huge_or_malformed_numbers_in_the_address_are_a_sentence_or_a_404_never_a_500(app):
    """SQLite cannot be asked about an integer over 2^63 - 1 (OverflowError: a 500); PostgreSQL
    refused it as data. Every paging parameter and every ``<int:…>`` in a route."""
    with data(app) as session:
        make_coalition(session)
        make_user(session, "admin@coalition.org", admin=True)
    admin = SignedIn(app, "admin@coalition.org")
    paged = ("/treasurer/st-louis/gifts?before=", "/admin/audit?before=")
    for url in (*paged, "/organize/st-louis/supporters?page="):
        for value in (TOO_BIG, "-" + TOO_BIG, "0", "abc", "1.5", "9" * 5_000, "２"):
            response = admin.get(url + value)
            assert response.status_code == 400, (url, value[:30])
            assert "in the address must be a whole number from 1 to" in response.get_data(
                as_text=True
            )
        assert admin.get(url + "1").status_code == 200
    assert admin.get("/organize/st-louis/supporters?page=2000000").status_code == 400
    routes = [rule for rule in app.url_map.iter_rules() if "<int:" in rule.rule]
    assert len(routes) > 5
    for rule in routes:
        url = re.sub(r"<int:\w+>", TOO_BIG, rule.rule).replace("<chapter>", "st-louis")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            response = admin.get(url) if method == "GET" else admin.post(url)
            assert response.status_code == 404, (method, url)


#: Values of ?back= and ?next= that must never lead off the site; the attack's first. Browsers
#: drop tabs and newlines from a URL and read a backslash as a slash.
HOSTILE_TARGETS = [
    "/\t/evil.example/phish",
    "/\n/evil.example",
    "/\r\n/evil.example",
    "/a\r\nb",
    "/a\r\nSet-Cookie: x=1",
    "\t//evil.example",
    " //evil.example",
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/%09/evil.example",
    "/%0d%0a/evil.example",
    "/%2F/evil.example",
    "/%5Cevil.example",
    "/%2f%2fevil.example",
    "https://evil.example/",
    "javascript:alert(1)",
    "evil.example",
    "/\x00/evil.example",
    "/\u3000/evil.example",
    "/\u200b/evil.example",
]


def test_the_test_checkout_back_link_and_sign_in_next_are_only_ever_a_local_path(app):
    with data(app) as session:
        make_coalition(session)
        make_user(session, "t@stl.org", "st-louis")
    client = app.test_client()
    started = client.post(
        "/drives/mo-2026/donate",
        data={
            "csrf_token": csrf_token(client, "/drives/mo-2026"),
            "amount_choice": "2500",
            "email": "back@example.org",
        },
    )
    checkout = started.headers["Location"].split("?")[0]
    signed_in = SignedIn(app, "t@stl.org").client
    # The attack's own address, exactly as sent.
    attack = client.get(checkout + "?back=/%09/evil.example/phish").get_data(as_text=True)
    assert "evil.example" not in attack and 'href="/drives/mo-2026?resume=' in attack
    for target in HOSTILE_TARGETS:
        page = client.get(checkout, query_string={"back": target})
        assert page.status_code == 200, repr(target)
        text = page.get_data(as_text=True)
        assert "evil.example" not in text and "Set-Cookie" not in text, repr(target)
        assert 'href="/drives/mo-2026?resume=' in text, repr(target)
        again = signed_in.get("/login", query_string={"next": target})
        assert (again.status_code, again.headers["Location"]) == (302, "/treasurer/"), target
    # A path on the site is still followed.
    fine = client.get(checkout, query_string={"back": "/drives/mo-2026/st-louis?ref=x#donate"})
    assert 'href="/drives/mo-2026/st-louis?ref=x#donate"' in fine.get_data(as_text=True)
    kept = signed_in.get("/login", query_string={"next": "/treasurer/st-louis/gifts?before=3"})
    assert kept.headers["Location"] == "/treasurer/st-louis/gifts?before=3"


def _protected(response, name):
    _strict(response.headers["Content-Security-Policy"])
    assert response.headers["X-Frame-Options"] == "DENY", name
    assert response.headers["X-Content-Type-Options"] == "nosniff", name
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000"), name


def test_a_500_and_other_error_pages_carry_the_security_headers(production_app, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from relief import boundary

    def broken_view():
        raise RuntimeError("a bug")

    teardown_fails = {"now": False}

    def broken_teardown(_error):
        if teardown_fails["now"]:
            raise RuntimeError("a bug while closing the request")

    production_app.add_url_rule("/broken", view_func=broken_view)
    production_app.teardown_request(broken_teardown)
    client = production_app.test_client()

    # A bug in a view: our error page, with a sentence.
    failed = client.get(HTTPS + "/broken")
    assert failed.status_code == 500
    assert "Something went wrong on our side" in failed.get_data(as_text=True)
    _protected(failed, "500")
    # The commit failing after the view answered: the database error page.
    with monkeypatch.context() as patch:

        def commit_fails():
            raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

        patch.setattr(boundary, "_commit", commit_fails)
        # (The list of drives reads the database: /healthz has no unit to commit.)
        unavailable = client.get(HTTPS + "/")
    assert unavailable.status_code == 503
    assert "We cannot reach our database" in unavailable.get_data(as_text=True)
    _protected(unavailable, "503 from the commit")
    # A bug after the answer was made (in teardown), which Flask's error pages never see.
    teardown_fails["now"] = True
    late = client.get(HTTPS + "/healthz")
    assert late.status_code == 500
    assert "Something went wrong on our side" in late.get_data(as_text=True)
    _protected(late, "500 from teardown")
    teardown_fails["now"] = False
    for name, response in (
        ("404", client.get(HTTPS + "/no-such-page")),
        ("405", client.put(HTTPS + "/login")),
        ("400", client.get(HTTPS + "/admin/audit?before=x")),
    ):
        _protected(response, name)


def test_ledger_verify_on_a_database_without_a_schema_is_a_sentence(database_url):
    from sqlalchemy import create_engine, text

    if database_url.startswith("sqlite"):
        os.remove(database_url.removeprefix("sqlite:///"))
    else:
        engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    app = make_app(database_url)
    try:
        result = app.test_cli_runner().invoke(args=["ledger", "verify"])
    finally:
        app.extensions["relief.engine"].dispose()
    assert result.exit_code == 1
    assert "The database has no schema yet: run  flask --app app db upgrade" in result.output
    assert "Traceback" not in result.output and result.exception.__class__ is SystemExit
