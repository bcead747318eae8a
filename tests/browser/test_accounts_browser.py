"""Accounts run from the browser, in Chromium (issue 15): an admin invites a treasurer; the
invitation is read back from a real SMTP server on loopback; the treasurer opens its link,
sets a password, is signed in, turns on two-factor sign-in, signs out, and signs in again with
the password and a code from the app. On SQLite and PostgreSQL."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from playwright.sync_api import expect

from relief.config import smtp_settings
from relief.outbox.worker import Worker
from tests.browser.conftest import LiveServer
from tests.conftest import make_app
from tests.factories import make_coalition
from tests.mailbox import parts
from tests.treasury_helpers import PASSWORD, data, make_user

NEW_PASSWORD = "my own long passphrase"


@pytest.mark.browser
def test_an_invited_treasurer_sets_a_password_and_signs_in_with_two_factor(
    database_url, mailbox, browser, screens
):
    app = make_app(
        database_url, SMTP=smtp_settings(mailbox.url), MAIL_FROM="Relief <a@relief.example.org>"
    )
    with data(app) as session:
        make_coalition(session)
        make_user(session, "admin@mo.org", admin=True)
    with LiveServer(app) as server:
        base = server.url
        app.config["RELIEF_PUBLIC_URL"] = base
        admin = browser.new_context().new_page()
        admin.goto(f"{base}/login")
        admin.get_by_label("Email").fill("admin@mo.org")
        admin.get_by_label("Password").fill(PASSWORD)
        admin.get_by_role("button", name="Sign in").click()
        admin.get_by_role("link", name="Accounts and chapters").click()
        admin.get_by_label("Email", exact=True).fill("dana@stl.example.org")
        admin.get_by_label("Role", exact=True).first.select_option("treasurer")
        admin.get_by_label("In the chapters").select_option("st-louis")
        admin.get_by_role("button", name="Send the invitation").click()
        expect(admin.get_by_text("dana@stl.example.org is invited")).to_be_visible()
        admin.screenshot(path=str(screens / "admin-accounts.png"), full_page=True)

        Worker(app).burst()
        [message] = mailbox.to("dana@stl.example.org")
        link = re.search(
            rf"{re.escape(base)}/account/welcome/[0-9a-f]{{64}}", parts(message)["text"]
        )
        assert link, parts(message)["text"]

        page = browser.new_context().new_page()
        page.goto(link.group(0))
        page.get_by_label("New password (at least 12 characters)").fill(NEW_PASSWORD)
        page.get_by_label("New password again").fill(NEW_PASSWORD)
        page.get_by_role("button", name="Set my password and sign in").click()
        expect(page.get_by_text("Your password is set: you are signed in.")).to_be_visible()

        page.goto(f"{base}/account/two-factor")
        expect(page.get_by_role("img", name="QR code for your authenticator app")).to_be_visible()
        page.screenshot(path=str(screens / "two-factor-enrol.png"), full_page=True)
        secret = page.locator("[data-totp-secret]").inner_text()
        page.get_by_label("Code").fill(pyotp.TOTP(secret).now())
        page.get_by_role("button", name="Turn on two-factor sign-in").click()
        expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_text("You are signed out.")).to_be_visible()

        page.get_by_label("Email").fill("dana@stl.example.org")
        page.get_by_label("Password").fill(NEW_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Your code")).to_be_visible()
        # The next step's code: the one used to enrol is never accepted again.
        page.get_by_label("Code").fill(pyotp.TOTP(secret).at(time.time() + 30))
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("link", name="St. Louis")).to_be_visible()
