"""Issue 13's walk: a host chapter's month, in Chromium, with every figure compared to the cent.

The coalition counts days in America/Chicago. The drive "Jubilee" has a host chapter
(Mid-Missouri, which holds the gifts to the whole drive) and a second chapter (St. Louis).
Step by step, as the people involved would do it:

1. a donor gives $250 to the whole drive by card at 8:30 pm Chicago on last month's last day
   (already this month in UTC): Stripe's signed webhook, its fee read by the worker;
2. another gives $80 by card to St. Louis, ten days into last month;
3. the host's treasurer enters a deposit slip of two checks ($100, $60) from an event two
   days ago: the slip's date, not today's;
4. $100 of the whole-drive gift is refunded today — a month later, on its own date;
5. a second refund of $50 fails: its events arrive shuffled (``refund.failed`` before the
   ``charge.refunded`` it cancels) and one twice;
6. the host remits $200 to the relief partner;
7. the host's treasurer records the partner's report of the purchase that money paid for;
8. and corrects it (the partner's letter had a typo);
9. last month is closed (by the coalition admin: payouts and the bank are not part of this
   walk, so the checklist is not all done and the admin gives a reason).

After each step a small reference (``Books``: every entry's kind, chapter, month and cents)
says what each surface must show, and the test reads each surface as its reader does: the
public drive page, ``GET /api/drives/<slug>``, the host treasurer's dashboard (the drive's
row and every month's), both CSVs, each month's treasurer's report PDF and the press PDF
(read back with pdftotext). Screenshots and the PDFs (as PNGs at 60 dpi) go to
``$RELIEF_SCREENS_DIR`` for a person to look at.
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from relief import drives, money
from tests import stripe_objects as so
from tests.browser.conftest import LiveServer
from tests.browser.test_treasurer_browser import PHONE
from tests.conftest import make_app
from tests.read_back import pdf_text
from tests.stripe_fixtures import fake_stripe  # noqa: F401
from tests.treasury_helpers import PASSWORD, data, make_user

CHICAGO = ZoneInfo("America/Chicago")
DRIVE = "jubilee"
HOST, SECOND = "mid-missouri", "st-louis"
HOST_TREASURER = "treasurer@mid-mo.example.org"
ADMIN = "admin@coalition.example.org"
#: The ledger CSV's kinds, as the dashboard's columns count them (a refund is negative there).
CSV_KINDS = {
    "gift": ("gift", 1),
    "fee": ("fee", 1),
    "refund": ("refund", -1),
    "dispute_withdrawn": ("dispute", -1),
    "dispute_reinstated": ("dispute", -1),
    "correction": ("correction", 1),
    "remittance": ("remittance", 1),
}
COLUMNS = ("gift", "fee", "refund", "dispute", "correction", "net", "remittance", "held")


@pytest.fixture
def today() -> date:
    """Today in Chicago, where the walk's app counts days (``this_month`` and ``last_month``
    follow it), read once as the test starts."""
    return datetime.now(CHICAGO).date()


def chicago(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), CHICAGO)


def cents(text: str) -> int:
    """ "$1,234.56", "-$7.55", "−$7.55" or "-7.55" as cents."""
    cleaned = text.strip().replace("\u2212", "-").replace("$", "").replace(",", "")
    whole = Decimal(cleaned) * 100
    assert whole == int(whole), text
    return int(whole)


def shown(amount: int) -> str:
    return money.format(amount)


@dataclass
class Books:
    """The reference: every entry of the drive as (kind, owning chapter, month, cents), with
    refunds, fees and remittances positive as the dashboard shows them."""

    entries: list[tuple[str, str, date, int]] = field(default_factory=list)
    gifts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    whole_drive: int = 0  # raised by the gifts to the whole drive (in the host's books)
    report: tuple[int, int, int] | None = None  # debt, people, remitted

    def add(self, kind: str, chapter: str, day: date, amount: int) -> None:
        self.entries.append((kind, chapter, day.replace(day=1), amount))

    def sums(self, chapter: str | None = None, month: date | None = None) -> dict[str, int]:
        out = dict.fromkeys(COLUMNS, 0)
        for kind, owner, in_month, amount in self.entries:
            if chapter in (None, owner) and month in (None, in_month):
                out[kind] += amount
        out["net"] = out["gift"] - out["refund"] - out["dispute"] + out["correction"] - out["fee"]
        out["held"] = out["net"] - out["remittance"]
        return out

    def raised(self, chapter: str | None = None) -> int:
        s = self.sums(chapter)
        return s["gift"] - s["refund"] - s["dispute"] + s["correction"]

    def months(self, chapter: str) -> list[date]:
        return sorted({m for _, owner, m, _ in self.entries if owner == chapter})


@pytest.fixture
def walk(sqlite_url, fake_stripe):  # noqa: F811
    app = make_app(
        sqlite_url,
        STRIPE_SECRET_KEY="sk_test_relief",
        STRIPE_WEBHOOK_SECRET=so.WEBHOOK_SECRET,
        STRIPE_API_BASE=fake_stripe.url,
        RELIEF_TIMEZONE="America/Chicago",
    )
    with LiveServer(app) as server:
        yield server


def sign_in(browser, base, email):
    context = browser.new_context(viewport=PHONE, accept_downloads=True)
    page = context.new_page()
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    return context, page


class Walk:
    def __init__(self, server, fake, browser, screens, starts_on):
        self.app, self.base, self.fake = server.app, server.url, fake
        self.browser, self.screens = browser, screens
        self.books = Books()
        self.step = 0
        self.table: list[dict] = []  # the figures each step read, for the report
        with data(self.app) as session:
            drives.create_chapter(session, HOST, "Mid-Missouri", "MO")
            drives.create_chapter(session, SECOND, "St. Louis", "MO")
            drive = drives.create_drive(
                session,
                slug=DRIVE,
                title="Missouri Jubilee",
                goal_cents=500_000,
                chapter_slugs=[SECOND, HOST],
                host_slug=HOST,
                starts_on=starts_on,
            )
            session.commit()
            self.drive_id = drive.id
            make_user(session, HOST_TREASURER, HOST)
            make_user(session, ADMIN, admin=True)
        self.context, self.page = sign_in(browser, self.base, HOST_TREASURER)

    # --- doors ---------------------------------------------------------------------------------

    def deliver(self, evt: dict) -> None:
        """Stripe's POST of the signed event over HTTP, then the worker's fee jobs."""
        response = so.post_live(self.base, so.body(evt))
        assert response.status_code == 200, (evt["type"], response.text[:500])
        so.run_fee_jobs(self.app)

    def card_gift(self, intent, amount, fee, paid_at, name, chapter=None):
        self.fake.fees[f"ch_of_{intent}"] = fee
        metadata = {"drive": DRIVE, **({"chapter": chapter} if chapter else {})}
        obj = so.checkout_session(
            amount_cents=amount,
            metadata=metadata,
            payment_intent=intent,
            email=f"{intent}@example.org",
            name=name,
        )
        obj["created"] = int(paid_at.timestamp())
        self.deliver(so.event("checkout.session.completed", obj))
        owner = chapter or HOST
        day = paid_at.astimezone(CHICAGO).date()
        self.books.add("gift", owner, day, amount)
        self.books.add("fee", owner, day, fee)
        self.books.gifts[owner] += 1
        if chapter is None:
            self.books.whole_drive += amount

    def go(self, section):
        menu = self.page.get_by_role("navigation", name="Mid-Missouri treasury")
        menu.get_by_role("link", name=section, exact=True).click()

    def download(self, url: str) -> bytes:
        response = self.context.request.get(self.base + url)
        assert response.status == 200, (url, response.status)
        return response.body()

    def shoot(self, page, name):
        page.screenshot(path=str(self.screens / f"{self.step:02d}-{name}.png"), full_page=True)

    def keep_pdf(self, pdf: bytes, name: str) -> None:
        path = self.screens / f"{self.step:02d}-{name}.pdf"
        path.write_bytes(pdf)
        subprocess.run(
            ["pdftoppm", "-r", "60", "-png", str(path), str(path.with_suffix(""))],
            check=True,
            capture_output=True,
        )

    # --- every surface, against the books ------------------------------------------------------

    def check(self, name: str) -> None:
        self.step += 1
        b = self.books
        drive, host = b.sums(), b.sums(HOST)
        row = {
            "step": name,
            "raised": b.raised(),
            "net": drive["net"],
            "host net": host["net"],
            "host held": host["held"],
        }

        # The public drive page, as a visitor opens it (a fresh browser: no cached copy).
        visitor = self.browser.new_context(viewport=PHONE)
        page = visitor.new_page()
        page.goto(f"{self.base}/drives/{DRIVE}")
        progress = page.locator(".progress-text strong").first
        expect(progress).to_have_text(shown(b.raised()))
        if b.whole_drive:
            expect(page.get_by_text("to the whole drive, held by Mid-Missouri")).to_contain_text(
                shown(b.whole_drive)
            )
        if b.report is not None:
            debt, people, _ = b.report
            reported = page.locator(".actual-relief")
            expect(reported).to_contain_text(money.format_whole(debt))
            expect(reported).to_contain_text(f"{people} people")
        self.shoot(page, "drive-page")
        visitor.close()

        # The API: the drive's figures, and its chapters' books adding up to it exactly.
        api = json.loads(self.download(f"/api/drives/{DRIVE}"))
        assert (api["raised_cents"], api["net_cents"], api["donation_count"]) == (
            b.raised(),
            drive["net"],
            sum(b.gifts.values()),
        ), name
        parts = {p["slug"]: p for p in api["chapters"]}
        for slug in (HOST, SECOND):
            assert (parts[slug]["raised_cents"], parts[slug]["donation_count"]) == (
                b.raised(slug),
                b.gifts[slug],
            ), (name, slug)
        assert parts[HOST]["host"] is True
        whole = parts[HOST]["whole_drive_raised_cents"]
        assert whole == b.whole_drive, name
        assert sum(p["raised_cents"] for p in api["chapters"]) == api["raised_cents"]
        actual = api["actual_relief"]
        if b.report is None:
            assert actual is None, name
        else:
            assert (
                actual["debt_abolished_cents"],
                actual["people_helped"],
                actual["remitted_cents"],
            ) == b.report, name
        row["api raised"] = api["raised_cents"]
        row["api host"] = parts[HOST]["raised_cents"]
        row["api host whole-drive"] = whole
        row["api St. Louis"] = parts[SECOND]["raised_cents"]

        # The host treasurer's dashboard: the headline, the drive's row and each month's row.
        page = self.page
        page.goto(f"{self.base}/treasurer/{HOST}/")
        expect(page.locator('[data-figure="net"]')).to_have_text(shown(host["net"]))
        expect(page.locator('[data-figure="held"]')).to_have_text(shown(host["held"]))
        cells = page.locator(f'tr[data-drive="{DRIVE}"] td.num').all_inner_texts()
        assert dict(zip(COLUMNS, map(cents, cells), strict=True)) == host, (name, cells)
        months_shown = {}
        for month_row in page.locator("section[aria-labelledby=months-title] tbody tr").all():
            link = month_row.get_by_role("link").get_attribute("href")
            key = re.search(r"reports/(\d{4}-\d{2})\.pdf", link or "")
            assert key, link
            values = month_row.locator("td.num").all_inner_texts()
            months_shown[date.fromisoformat(f"{key.group(1)}-01")] = dict(
                zip(COLUMNS, map(cents, values), strict=True)
            )
        expected_months = {m: b.sums(HOST, m) for m in b.months(HOST)}
        assert months_shown == expected_months, name
        self.shoot(page, "host-dashboard")
        row["dashboard net"] = cents(page.locator('[data-figure="net"]').inner_text())

        # Both CSVs, downloaded as the exports screen downloads them.
        ledger_rows = list(
            csv.DictReader(
                io.StringIO(
                    self.download(f"/treasurer/{HOST}/ledger.csv?drive={self.drive_id}").decode()
                )
            )
        )
        per_kind: dict[str, int] = defaultdict(int)
        per_month: dict[tuple[str, date], int] = defaultdict(int)
        for line in ledger_rows:
            kind, sign = CSV_KINDS[line["kind"]]
            per_kind[kind] += sign * cents(line["amount"])
            month = date.fromisoformat(line["effective_date"]).replace(day=1)
            per_month[(kind, month)] += sign * cents(line["amount"])
        assert {k: per_kind[k] for k in COLUMNS[:5] + ("remittance",)} == {
            k: host[k] for k in COLUMNS[:5] + ("remittance",)
        }, name
        assert {k: v for k, v in per_month.items() if v} == {
            (kind, m): amount
            for m in b.months(HOST)
            for kind, amount in b.sums(HOST, m).items()
            if amount and kind not in ("net", "held")
        }, name
        donors = list(
            csv.DictReader(
                io.StringIO(
                    self.download(f"/treasurer/{HOST}/donors.csv?drive={self.drive_id}").decode()
                )
            )
        )
        donors_net = sum(cents(line["net"]) for line in donors)
        assert donors_net == host["net"], name
        row["ledger.csv net"] = (
            per_kind["gift"]
            - per_kind["refund"]
            - per_kind["dispute"]
            + per_kind["correction"]
            - per_kind["fee"]
        )
        row["donors.csv net"] = donors_net

        # Each month's treasurer's report, read back from the PDF.
        for month in b.months(HOST):
            pdf = self.download(f"/treasurer/{HOST}/reports/{month:%Y-%m}.pdf")
            self.keep_pdf(pdf, f"monthly-{month:%Y-%m}")
            text = pdf_text(pdf)
            figures = b.sums(HOST, month)
            for label, kind in (
                ("Gross gifts", "gift"),
                ("Fees", "fee"),
                ("Refunds", "refund"),
                ("Net", "net"),
                ("Remitted to the partner", "remittance"),
            ):
                line = re.search(rf"^\s*{label}\s+(\S+)", text, re.M)
                assert line, (label, text[:2000])
                assert cents(line.group(1)) == figures[kind], (name, month, label, line.group(0))
            held_before = sum(b.sums(HOST, m)["held"] for m in b.months(HOST) if m < month)
            for label, amount in (
                ("Held at the start of the month", held_before),
                ("Held at the end of the month", held_before + figures["held"]),
            ):
                line = re.search(rf"^\s*{label}\s+(\S+)", text, re.M)
                assert line and cents(line.group(1)) == amount, (name, month, label, line)
            row[f"report {month:%b} net"] = cents(
                re.search(r"^\s*Net\s+(\S+)", text, re.M).group(1)
            )

        # The press PDF.
        press = self.download(f"/drives/{DRIVE}/report.pdf")
        self.keep_pdf(press, "press")
        text = pdf_text(press, layout=False)
        assert f"has raised {shown(b.raised())}" in " ".join(text.split()), name
        assert f"= {shown(drive['net'])} net" in " ".join(text.split()), name
        # Each chapter's part: the host's line and the whole drive's, which names the host
        # (the API counts those gifts in the host's entry), add up to the API's host entry.
        layout = pdf_text(press)
        part = {
            key: cents(amounts[0])
            for line in layout.splitlines()
            for key in ("Mid-Missouri", "St. Louis", "Whole drive")
            if line.strip().startswith(key) and (amounts := re.findall(r"-?\$[\d,]+\.\d\d", line))
        }
        assert part.get("Whole drive", 0) == whole, (name, part)
        assert part["Mid-Missouri"] + part.get("Whole drive", 0) == b.raised(HOST), (name, part)
        assert part["St. Louis"] == b.raised(SECOND), (name, part)
        if whole:
            assert "held by Mid-Missouri" in " ".join(layout.split()), name
        if b.report is not None:
            debt, people, remitted = b.report
            assert (
                f"the {shown(remitted)} sent to it so far relieved {shown(debt)} of medical "
                f"debt for {people} people"
            ) in " ".join(text.split()), name
        row["press raised"] = b.raised()
        self.table.append(row)


@pytest.mark.browser
def test_a_host_chapters_month_agrees_to_the_cent_everywhere(
    walk,
    fake_stripe,  # noqa: F811
    browser,
    screens,
    today,
    this_month,
    last_month,
):
    w = Walk(walk, fake_stripe, browser, screens, starts_on=last_month)
    b, page = w.books, w.page
    last_day = this_month - timedelta(days=1)

    # 1. 8:30 pm in Chicago on last month's last day: already this month in UTC.
    w.card_gift("pi_walk_whole", 25_000, 755, chicago(last_day, 20, 30), "Wren Whole")
    w.check("whole-drive gift")
    # The host's treasurer finds it among the chapter's gifts, in last month.
    w.go("Gifts")
    wren = page.locator("tr", has_text="Wren Whole")
    expect(wren).to_contain_text("$250.00")
    expect(wren).to_contain_text(last_day.isoformat())
    w.shoot(page, "host-gifts")

    # 2. A gift to the second chapter.
    w.card_gift(
        "pi_walk_stl", 8_000, 262, chicago(last_month + timedelta(days=9), 12), "Sam", SECOND
    )
    w.check("St. Louis gift")

    # 3. The event's checks, two days ago, entered today from the deposit slip.
    slip_day = today - timedelta(days=2)
    w.go("Deposit batches")
    page.get_by_label("Event or slip name").fill("Chili supper checks")
    page.get_by_label("Deposit slip number").fill("DS-0413")
    page.get_by_label("Number of gifts on the slip").fill("2")
    page.get_by_label("Total on the slip ($)").fill("160.00")
    page.get_by_label("Date the money came in").fill(slip_day.isoformat())
    page.get_by_role("button", name="Start the batch").click()
    expect(page.get_by_role("heading", name="Chili supper checks")).to_be_visible()
    for amount, number, name in (("100", "5101", "Ida Chili"), ("60", "5102", "Jo Chili")):
        page.get_by_label("Amount ($)").fill(amount)
        page.get_by_label("Check number").fill(number)
        # The form proposes the slip's date for each check.
        expect(page.get_by_label("Date received")).to_have_value(slip_day.isoformat())
        page.get_by_label("Donor's name").fill(name)
        page.get_by_role("button", name="Add this gift").click()
        expect(page.get_by_role("status").filter(has_text=f"Added ${amount}")).to_be_visible()
    page.get_by_role("button", name="Post 2 gifts to the ledger").click()
    expect(page.get_by_text("Posted 2 gifts, $160.00, to the ledger.")).to_be_visible()
    for amount in (10_000, 6_000):
        b.add("gift", HOST, slip_day, amount)
        b.gifts[HOST] += 1
    w.check("check batch")

    # 4. A month later, $100 of the whole-drive gift is refunded: dated today.
    charge_id = "ch_of_pi_walk_whole"

    def refund(refund_id, amount, status):
        return so.refund(
            refund_id=refund_id,
            charge_id=charge_id,
            payment_intent="pi_walk_whole",
            amount_cents=amount,
            status=status,
        )

    def refunded(total):
        return so.charge(
            charge_id=charge_id,
            payment_intent="pi_walk_whole",
            amount_cents=25_000,
            amount_refunded=total,
        )

    w.deliver(so.event("refund.created", refund("re_walk_1", 10_000, "succeeded")))
    w.deliver(so.event("charge.refunded", refunded(10_000)))
    b.add("refund", HOST, today, 10_000)
    b.whole_drive -= 10_000
    w.check("refund a month later")

    # 5. A second refund, $50, fails. Its events arrive out of order — the failure before the
    #    charge.refunded that counts it — and Stripe sends one of them twice.
    failed = so.event("refund.failed", refund("re_walk_2", 5_000, "failed"))
    counted = so.event("charge.refunded", refunded(15_000))
    for evt in (
        failed,
        counted,
        so.event("refund.created", refund("re_walk_2", 5_000, "pending")),
        counted,
        so.event("refund.updated", refund("re_walk_2", 5_000, "failed")),
    ):
        w.deliver(evt)
    w.check("failed refund")

    # 6. The host remits $200 to the relief partner.
    w.go("Remittances")
    page.get_by_label("Amount sent ($)").fill("200.00")
    page.get_by_label("Date sent").fill(today.isoformat())
    page.get_by_label("Check number, wire or ACH reference").fill("CHK 7001")
    page.get_by_role("button", name="Record the remittance").click()
    expect(page.get_by_text("Recorded the remittance of $200.00.")).to_be_visible()
    b.add("remittance", HOST, today, 20_000)
    w.check("remittance")

    # 7. The partner's report of the purchase that $200 paid for.
    w.go("Partner reports")
    page.get_by_label("The partner's reference").fill("UMD-JUB-1")
    page.get_by_label("Medical debt abolished ($)").fill("20000")
    page.get_by_label("Number helped").fill("18")
    page.get_by_label("Region").fill("Boone County")
    page.get_by_label("Date of the report").fill(today.isoformat())
    page.get_by_label("ref CHK 7001").check()
    page.get_by_role("button", name="Record the report").click()
    expect(page.get_by_text("Recorded the partner's report UMD-JUB-1.")).to_be_visible()
    b.report = (2_000_000, 18, 20_000)
    w.check("partner report")

    # 8. The letter had a typo: $24,000 for 21 people.
    w.go("Partner reports")
    page.get_by_role("link", name="Correct or withdraw…").click()
    correct = page.locator("form", has=page.get_by_role("button", name="Record the correction"))
    correct.get_by_label("Medical debt abolished ($)").fill("24000")
    correct.get_by_label("Number helped").fill("21")
    correct.get_by_label("Reason").fill("The partner's letter had a typo")
    correct.get_by_role("button", name="Record the correction").click()
    expect(page.get_by_text("Corrected the partner's report UMD-JUB-1.")).to_be_visible()
    w.shoot(page, "partner-report-corrected")
    b.report = (2_400_000, 21, 20_000)
    w.check("partner report corrected")

    # 9. Last month closed by the coalition admin (payouts and the bank are not in this walk).
    admin_context, admin = sign_in(browser, w.base, ADMIN)
    admin.goto(f"{w.base}/treasurer/{HOST}/")
    admin.get_by_label("Month", exact=True).select_option(last_month.isoformat())
    admin.get_by_label("I have checked this month").check()
    admin.get_by_label("Reason to close it").fill("Walk-through: payouts are not part of it.")
    admin.get_by_role("button", name="Close the month").click()
    month_name = last_month.strftime("%B %Y")
    expect(admin.get_by_text(f"{month_name} is closed.")).to_be_visible()
    admin_context.close()
    w.check("month closed")
    after = pdf_text(w.download(f"/treasurer/{HOST}/reports/{last_month:%Y-%m}.pdf"))
    assert "this report is frozen as it stood then" in " ".join(after.split())
    w.context.close()

    (screens / "figures.json").write_text(json.dumps(w.table, indent=1, default=str))
