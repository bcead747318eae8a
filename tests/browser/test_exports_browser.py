"""The exports page, the chart of accounts and the attribution chart, in Chromium: a St. Louis
treasurer picks March with the month picker and downloads the journal, QuickBooks and Xero
files; an admin renames an account; the attribution chart and its table show the flyer's money
net of its refund."""

from __future__ import annotations

import csv
import io

import pytest
from playwright.sync_api import expect

from relief import drives, ledger
from relief.models import EntryKind
from tests.browser.test_treasurer_browser import DESKTOP, PHONE
from tests.integration.test_attribution import linked_gift
from tests.integration.test_journal import story
from tests.treasury_helpers import PASSWORD, data


def sign_in(browser, base, email, viewport):
    context = browser.new_context(viewport=viewport, accept_downloads=True)
    page = context.new_page()
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    return context, page


def downloaded(page, button):
    with page.expect_download() as info:
        page.get_by_role("button", name=button).click()
    return list(csv.reader(io.StringIO(open(info.value.path(), encoding="utf-8").read())))


@pytest.mark.browser
def test_treasurer_downloads_the_three_files_for_march_and_sees_the_attribution_chart(
    live_server, browser, screens
):
    app, base = live_server.app, live_server.url
    story(app)
    with data(app) as session:
        drive = drives.get_drive(session, "mo-2026")
        flyer = linked_gift(session, drive, 5_000, "st-louis", ref="flyer-a", utm_source="flyer")
        linked_gift(session, drive, 3_000, "st-louis", ref="instagram-bio", utm_source="instagram")
        ledger.append(
            session,
            kind=EntryKind.REFUND,
            amount_cents=-1_500,
            drive_id=drive.id,
            chapter_id=flyer.chapter_id,
            gift_id=flyer.id,
            effective_at=flyer.received_at,
        )
        session.commit()

    for label, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        context, page = sign_in(browser, base, "t@stl.org", viewport)
        page.goto(f"{base}/treasurer/st-louis/exports")
        page.get_by_label("Month").fill("2026-03")
        page.screenshot(path=str(screens / f"exports-{label}.png"), full_page=True)
        if label == "desktop":
            journal = downloaded(page, "Download journal CSV")
            assert journal[0] == ["date", "account", "debit", "credit", "memo", "reference"]
            assert all(line[0].startswith("2026-03-") for line in journal[1:])
            quickbooks = downloaded(page, "QuickBooks Online CSV")
            assert quickbooks[0] == ["Date", "Description", "Amount"]
            xero = downloaded(page, "Xero CSV")
            assert xero[0] == ["Date", "Amount", "Payee", "Description", "Reference"]
            assert len(xero) == len(quickbooks)

        page.get_by_role("navigation", name="St. Louis treasury").get_by_role(
            "link", name="Attribution"
        ).click()
        chart = page.locator('svg[data-chart="ref"]')
        expect(chart).to_be_visible()
        flyer_row = page.locator('table[data-table="ref"] tbody tr', has_text="flyer-a")
        expect(flyer_row).to_contain_text("$35.00")  # $50 given, $15 refunded
        # Nothing may be wider than the screen (a phone would scroll the whole page sideways).
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        page.screenshot(path=str(screens / f"attribution-{label}.png"), full_page=True)
        context.close()

    context, page = sign_in(browser, base, "admin@mo.org", DESKTOP)
    page.goto(f"{base}/admin/chart")
    page.get_by_label("Name: Gifts received, and corrections of them.").fill("Jubilee gifts")
    page.get_by_role("button", name="Save the chart").click()
    expect(page.get_by_text("The chart of accounts is saved (1 changed).")).to_be_visible()
    page.screenshot(path=str(screens / "admin-chart.png"), full_page=True)
    context.close()
