"""The treasurer's monthly report, read back from the PDF as a treasurer would read it.

Every figure is compared to the cent with the dashboard's own service figures for the month;
the report must hold donor names but no donor email or message, and only the chapter's
treasurers (and admins) may fetch it.
"""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest

from relief import auth, drives, ledger, money
from relief.models import EntryKind, Gift, GiftMethod, GiftStatus, utcnow
from relief.reports import monthly
from relief.treasury import (
    batches,
    dashboard,
    frozen_months,
    gifts,
    payouts,
)
from tests.factories import make_coalition, make_gift, make_partner_report
from tests.integration.test_payouts import card_gift, payout, txn
from tests.read_back import pdf_text
from tests.stripe_fixtures import *  # noqa: F403
from tests.treasury_helpers import SignedIn, data, make_user

PRIVATE = ("bea.private@example.org", "PRIVATE NOTE: call me about matching", "unassigned@x.org")


def figures_on(text: str, label: str) -> list[str]:
    """The money amounts on the report's line that starts with ``label``."""
    for line in text.splitlines():
        if line.strip().startswith(label):
            return re.findall(r"-?\$[\d,]+\.\d\d", line)
    raise AssertionError(f"no line “{label}” in the report")


def month_start() -> datetime:
    now = utcnow()
    return datetime.combine(now.date().replace(day=1), time(0), UTC)


def this_month() -> str:
    return f"{utcnow():%Y-%m}"


def previous_month() -> str:
    return f"{month_start() - timedelta(days=1):%Y-%m}"


def a_month_of_st_louis(session):
    """St. Louis's month: two gifts (one with an email and a message), a card fee and a
    refund, a corrected cash gift, a posted batch not yet deposited, a remittance, a partner
    report and an unassigned gift — and a gift of the previous month, carried in as held."""
    drive = make_coalition(session)
    st_louis = drives.get_chapter(session, "st-louis")
    now = utcnow()
    make_gift(
        session,
        drive,
        12_345,
        chapter="st-louis",
        donor_name="Ana Lastmonth",
        received_at=month_start() - timedelta(hours=12),
    )
    bea = make_gift(
        session,
        drive,
        50_000,
        chapter="st-louis",
        donor_name="Bea Current",
        donor_email="bea.private@example.org",
        received_at=now,
    )
    bea.message = "PRIVATE NOTE: call me about matching"
    session.add(bea)
    cash = make_gift(
        session,
        drive,
        2_500,
        chapter="st-louis",
        donor_name="Cy Cashgiver",
        method=GiftMethod.CASH,
        received_at=now,
    )
    gifts.correct_gift(
        session, st_louis, cash.id, correct_amount_cents=2_000, reason="a $5 bill counted twice"
    )
    # As the Stripe webhook posts them: a card fee and a partial refund.
    ledger.append(
        session, kind=EntryKind.FEE, amount_cents=1_133, drive_id=drive.id, chapter_id=st_louis.id
    )
    ledger.append(
        session,
        kind=EntryKind.REFUND,
        amount_cents=-2_501,
        drive_id=drive.id,
        chapter_id=st_louis.id,
    )
    batch = batches.open_batch(
        session,
        st_louis,
        drive_id=drive.id,
        label="Potluck at St. Mark's",
        expected_count=2,
        expected_total_cents=3_000,
        held_by="Dana Holder",
    )
    for amount, name in (("10", "Eli Potluck"), ("20", "Fay Potluck")):
        batches.add_line(
            session,
            st_louis,
            batch.id,
            batches.LineInput(amount=amount, name=name, received=now.date()),
        )
    batches.post_batch(session, st_louis, batch.id)
    # Recorded by an admin: St. Louis is not the drive's host chapter.
    admin = auth.add_user(session, "reports@mo.org", "correct horse battery staple", admin=True)
    make_partner_report(
        session, st_louis, drive, admin, sent_cents=30_000, reference="CHK 1042",
        partner_reference="UMD-42", debt_abolished_cents=3_000_000, people_helped=42,
        region="St. Louis County", on=now.date(),
    )  # fmt: skip
    session.add(
        Gift(
            drive_id=None,
            chapter_id=st_louis.id,
            amount_cents=700,
            method=GiftMethod.CARD,
            status=GiftStatus.PAID,
            donor_name="Gus Unassigned",
            donor_email="unassigned@x.org",
            received_at=now,
        )
    )
    # Another chapter's money must not show.
    make_gift(session, drive, 99_900, chapter="kansas-city", donor_name="Kay Kansas")
    session.commit()
    return drive, st_louis


def dashboard_month(session, chapter, key):
    view = dashboard.dashboard(session, chapter)
    return view, next(row for row in view.months if row.key == key)


def test_every_figure_matches_the_dashboard_to_the_cent(app):
    with data(app) as session:
        drive, st_louis = a_month_of_st_louis(session)
        view, month = dashboard_month(session, st_louis, this_month())
        _, before = dashboard_month(session, st_louis, previous_month())
        make_user(session, "t@stl.org", "st-louis")
    response = SignedIn(app, "t@stl.org").get(f"/treasurer/st-louis/reports/{this_month()}.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    text = pdf_text(response.data)
    cur = drive.currency
    f = month.figures
    expected = {
        "Gross gifts": f.gifts_cents,
        "Fees": f.fees_cents,
        "Refunds": f.refunds_cents,
        "Disputes": f.disputes_cents,
        "Corrections": f.corrections_cents,
        "Net": f.net_cents,
        "Remitted to the partner": f.remitted_cents,
        "Change in held": month.held_cents,
        "Held at the start of the month": before.held_cents,
        # This month is the newest: what is held at its end is what the dashboard holds now.
        "Held at the end of the month": view.total.held_cents,
    }
    # Each line: the month, then the year to date (one drive, so no "All drives" column).
    same_year = previous_month()[:4] == this_month()[:4]
    carried = before.figures if same_year else ledger.Figures()
    for label, cents in expected.items():
        assert figures_on(text, label)[0] == money.format(cents, cur), label
    year = {
        "Gross gifts": f.gifts_cents + carried.gifts_cents,
        "Net": f.net_cents + carried.net_cents,
        "Held at the start of the month": 0 if same_year else before.held_cents,
        "Held at the end of the month": view.total.held_cents,
    }
    for label, cents in year.items():
        assert figures_on(text, label)[1] == money.format(cents, cur), f"{label}, year to date"
    assert f"Year to date ({this_month()[:4]})" in text
    # The figures are the scenario's, not just equal to each other.
    assert f.gifts_cents == 50_000 + 2_500 + 3_000
    assert (f.fees_cents, f.refunds_cents, f.corrections_cents) == (1_133, 2_501, -500)
    assert before.held_cents == 12_345
    assert view.total.held_cents == 12_345 + f.net_cents - 30_000
    flat = re.sub(r"\s+", " ", text)
    assert "number of gifts 4" in flat  # Bea, Cy and the batch's two; not last month's Ana
    assert "Potluck at St. Mark's" in flat and "Dana Holder" in flat and "not yet" in flat
    assert "2 · $30.00 2 · $30.00" in flat  # stated and entered
    assert "CHK 1042" in flat and "$300.00" in flat
    assert "a $5 bill counted twice" in flat and "Cy Cashgiver" in flat and "-$5.00" in flat
    assert "$30,000.00" in flat and "42 people" in flat and "St. Louis County" in flat
    assert "1 gift not assigned to a drive" in flat and "Gus Unassigned" in flat
    assert "posted but not deposited; Dana Holder holds the money" in flat
    assert "No Stripe payout carrying St. Louis's gifts arrived in" in flat


def test_a_gift_of_the_previous_month_is_not_this_months_activity(session):
    _, st_louis = a_month_of_st_louis(session)
    now = utcnow()
    this = monthly.build(session, st_louis, this_month(), now=now)
    last = monthly.build(session, st_louis, previous_month(), now=now)
    assert this.total.month.gift_count == 4
    assert last.total.month.gift_count == 1 and last.total.month.gifts_cents == 12_345
    assert last.month_complete and not this.month_complete
    # What one month ends with, the next starts with.
    assert this.total.held_at_start_cents == last.total.held_at_end_cents == 12_345
    assert not last.corrections and not last.remittances and not last.batches
    from relief.reports import render

    text = pdf_text(render.monthly_pdf(last))
    assert figures_on(text, "Gross gifts")[0] == "$123.45"
    assert "Ana Lastmonth" not in text and "Bea Current" not in text
    assert "No remittance was sent" in text and "No gift was corrected" in text


def test_the_pdf_has_donor_names_but_no_email_or_message(app):
    with data(app) as session:
        a_month_of_st_louis(session)
        make_user(session, "t@stl.org", "st-louis")
    client = SignedIn(app, "t@stl.org")
    pdf = client.get(f"/treasurer/st-louis/reports/{this_month()}.pdf").data
    text = pdf_text(pdf)
    for private in PRIVATE:
        assert private not in text
        assert private.encode() not in pdf  # nor in the file's metadata or tags
    assert "Kay Kansas" not in text and "$999.00" not in text
    pages = text.split("\f")
    assert all(
        "contains donor names; not for publication" in page for page in pages if page.strip()
    )


def test_only_the_chapters_treasurer_and_admins_get_it(app):
    with data(app) as session:
        a_month_of_st_louis(session)
        make_user(session, "t@stl.org", "st-louis")
        make_user(session, "t@kc.org", "kansas-city")
        make_user(session, "admin@mo.org", admin=True)
    url = f"/treasurer/st-louis/reports/{this_month()}.pdf"
    signed_out = app.test_client().get(url)
    assert signed_out.status_code == 302 and "/login" in signed_out.headers["Location"]
    other = SignedIn(app, "t@kc.org").get(url)
    assert other.status_code == 404 and "St. Louis" not in other.get_data(as_text=True)
    assert SignedIn(app, "admin@mo.org").get(url).status_code == 200
    own = SignedIn(app, "t@stl.org").get(url)
    assert own.status_code == 200
    assert own.headers["Content-Disposition"] == (
        f'inline; filename="st-louis-treasurer-report-{this_month()}.pdf"'
    )
    assert own.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("month", "status", "sentence"),
    [
        ("2026-13", 400, "is not a month: write it as YYYY-MM"),
        ("march", 400, "is not a month: write it as YYYY-MM"),
        ("1999-12", 400, "is not a month"),
        ("2999-01", 404, "January 2999 has not begun"),
    ],
)
def test_a_bad_month_gets_a_sentence(app, month, status, sentence):
    with data(app) as session:
        make_coalition(session)
        make_user(session, "t@stl.org", "st-louis")
    response = SignedIn(app, "t@stl.org").get(f"/treasurer/st-louis/reports/{month}.pdf")
    assert response.status_code == status
    assert sentence in response.get_data(as_text=True)


def test_the_dashboard_links_each_months_report(app):
    with data(app) as session:
        a_month_of_st_louis(session)
        make_user(session, "t@stl.org", "st-louis")
    client = SignedIn(app, "t@stl.org")
    page = client.get("/treasurer/st-louis/").get_data(as_text=True)
    for key in (this_month(), previous_month()):
        link = f'href="/treasurer/st-louis/reports/{key}.pdf"'
        assert link in page
        assert client.get(f"/treasurer/st-louis/reports/{key}.pdf").status_code == 200


def test_fetching_the_report_is_in_the_audit_log(app):
    with data(app) as session:
        a_month_of_st_louis(session)
        make_user(session, "t@stl.org", "st-louis")
        make_user(session, "admin@mo.org", admin=True)
    SignedIn(app, "t@stl.org").get(f"/treasurer/st-louis/reports/{this_month()}.pdf?paper=a4")
    log = SignedIn(app, "admin@mo.org").get("/admin/audit").get_data(as_text=True)
    assert "report.month" in log and f"{this_month()} (a4)" in log and "t@stl.org" in log


def test_cli_writes_the_monthly_report(app, runner, tmp_path):
    with data(app) as session:
        a_month_of_st_louis(session)
    out = tmp_path / "stl.pdf"
    result = runner.invoke(args=["report", "month", "st-louis", this_month(), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "not for publication" in result.output
    text = pdf_text(out.read_bytes())
    assert "St. Louis" in text and "CHK 1042" in text
    bad = runner.invoke(args=["report", "month", "nowhere", this_month(), "-o", str(out)])
    assert bad.exit_code != 0 and "There is no chapter “nowhere”" in bad.output
    bad = runner.invoke(args=["report", "month", "st-louis", "2026/03", "-o", str(out)])
    assert bad.exit_code != 0 and "YYYY-MM" in bad.output


def test_letter_or_a4_tagged_with_embedded_fonts_and_page_numbers(app, tmp_path):
    with data(app) as session:
        a_month_of_st_louis(session)
        make_user(session, "t@stl.org", "st-louis")
    client = SignedIn(app, "t@stl.org")
    url = f"/treasurer/st-louis/reports/{this_month()}.pdf"
    sizes = {"": "612 x 792 pts (letter)", "?paper=a4": "595.276 x 841.89 pts (A4)"}
    for query, size in sizes.items():
        pdf = client.get(url + query).data
        path = tmp_path / "info.pdf"
        path.write_bytes(pdf)
        info = subprocess.run(["pdfinfo", str(path)], check=True, capture_output=True, text=True)
        assert "Tagged:          yes" in info.stdout and size in info.stdout
        assert "Title:           St. Louis — treasurer's report for" in info.stdout
        fonts = subprocess.run(["pdffonts", str(path)], check=True, capture_output=True, text=True)
        rows = fonts.stdout.splitlines()[2:]
        assert rows and all("DejaVu" in row and row.split()[-5] == "yes" for row in rows)
        pages = int(re.search(r"Pages:\s+(\d+)", info.stdout)[1])
        assert f"Page {pages} of {pages}" in pdf_text(pdf)
    bad = client.get(url + "?paper=tabloid")
    assert bad.status_code == 400 and "letter or a4" in bad.get_data(as_text=True)


def test_the_months_payouts_carry_the_payouts_screens_reconciliation(
    stripe_app, stripe_session, fake_stripe
):
    """Synced from the fake Stripe over real HTTP: a payout arriving this month that differs
    (a charge nobody's gift explains), a manual one, and last month's, which is not listed."""
    drive = make_coalition(stripe_session)
    card_gift(stripe_session, drive, 2_500, 85, "ch_stl")
    card_gift(stripe_session, drive, 4_000, 118, "ch_kc", chapter="kansas-city")
    lines = [
        txn("txn_stl", 2_500, 85, "ch_stl"),
        txn("txn_kc", 4_000, 118, "ch_kc"),
        txn("txn_stranger", 1_000, 59, "ch_stranger"),
    ]
    fake_stripe.payout_transactions["po_month"] = lines
    today = int(month_start().timestamp()) + 3_600  # the month's first day, whatever today is
    before = int((month_start() - timedelta(days=3)).timestamp())
    fake_stripe.payout_transactions["po_last"] = [txn("txn_old", 700, 50, "ch_stl")]
    fake_stripe.payouts = [
        payout("po_manual", 12_300, automatic=False, created=today, arrival=today),
        payout("po_month", sum(t["net"] for t in lines), created=today, arrival=today),
        payout("po_last", 650, created=before, arrival=before),
    ]
    assert stripe_app.test_cli_runner().invoke(args=["stripe", "sync"]).exit_code == 0
    with data(stripe_app) as session:
        make_user(session, "t@stl.org", "st-louis")
        st_louis = drives.get_chapter(session, "st-louis")
        service = {v.payout.stripe_id: v for v in payouts.payouts_of(session, st_louis)}
    month_view, manual_view = service["po_month"], service["po_manual"]
    assert month_view.state == "differs" and manual_view.state == "manual"
    assert month_view.difference_cents == 1_000 - 59

    response = SignedIn(stripe_app, "t@stl.org").get(
        f"/treasurer/st-louis/reports/{this_month()}.pdf"
    )
    assert response.status_code == 200
    flat = re.sub(r"\s+", " ", pdf_text(response.data))
    cur = drive.currency
    expected, actual = (
        money.format(month_view.expected_cents, cur),
        money.format(month_view.actual_cents, cur),
    )
    assert (expected, actual) == ("$62.97", "$72.38")  # the scenario's, not just equal
    share = money.format(month_view.share_cents, cur)
    difference = money.format(month_view.difference_cents, cur)
    assert f"po_month {expected} {actual} {share} (1) differs by {difference}; 1 unmatched" in flat
    assert f"po_manual — {money.format(manual_view.actual_cents, cur)}" in flat
    assert "manual, not itemised" in flat
    assert "po_last" not in flat  # arrived last month


# --- A closed month is frozen ------------------------------------------------------------------


def _last_month_day(day: int):
    """A day of the previous month (the 28th at most, so every month has it)."""
    return (month_start() - timedelta(days=1)).date().replace(day=day)


def test_a_closed_month_reads_the_same_forever_and_late_gifts_are_listed_where_they_landed(app):
    """Close last month ("November"), then record gifts dated in it: November's report does not
    change by a character, and this month ("December") counts them and lists them with their
    own date."""
    november, december = previous_month(), this_month()
    with data(app) as session:
        drive = make_coalition(session)
        st_louis = drives.get_chapter(session, "st-louis")
        make_gift(
            session,
            drive,
            10_000,
            chapter="st-louis",
            donor_name="Ana November",
            received_at=datetime.combine(_last_month_day(10), time(15), UTC),
        )
        gifts.record_direct_gift(
            session,
            st_louis,
            drive_id=drive.id,
            amount_cents=5_000,
            method=GiftMethod.CHECK,
            donor_name="Dee Direct",
            show_name=False,
            check_number="101",
            received_on=_last_month_day(12),
            partner_reference="UMD-1",
        )
        session.commit()
        make_user(session, "t@stl.org", "st-louis")
    treasurer = SignedIn(app, "t@stl.org")
    closing = treasurer.post(
        "/treasurer/st-louis/months/close",
        {"month": f"{november}-01", "reconciled": "y"},
    )
    assert closing.status_code == 302
    url = "/treasurer/st-louis/reports/{}.pdf"
    at_closing = pdf_text(treasurer.get(url.format(november)).data)
    with data(app) as session:
        st_louis = drives.get_chapter(session, "st-louis")
        _, november_row = dashboard_month(session, st_louis, november)

    late_day = _last_month_day(28)
    with data(app) as session:
        drive = drives.get_drive(session, "mo-2026")
        st_louis = drives.get_chapter(session, "st-louis")
        gifts.record_direct_gift(
            session,
            st_louis,
            drive_id=drive.id,
            amount_cents=50_000,
            method=GiftMethod.CHECK,
            donor_name="Lee Late",
            show_name=False,
            check_number="102",
            received_on=late_day,
            partner_reference="UMD-2",
        )
        make_gift(
            session,
            drive,
            2_500,
            chapter="st-louis",
            donor_name="Mo Late",
            received_at=datetime.combine(late_day, time(15), UTC),
        )
        session.commit()

    # November's report is the one taken at closing, to the character.
    later = pdf_text(treasurer.get(url.format(november)).data)
    assert later == at_closing
    assert "Lee Late" not in later and "Dee Direct" in later
    assert figures_on(later, "Gross gifts")[0] == "$150.00"
    flat = re.sub(r"\s+", " ", later)
    assert "Closed on" in flat and "frozen" in flat
    with data(app) as session:
        st_louis = drives.get_chapter(session, "st-louis")
        closed = frozen_months.closed_month(session, st_louis, _last_month_day(1))
        assert closed.fingerprint[:16] in flat
        # The fingerprint still proves the books as they were: later entries do not touch it.
        assert frozen_months.books(session, st_louis, up_to=closed.last_entry_id).fingerprint == (
            closed.fingerprint
        )
        assert frozen_months.books(session, st_louis).fingerprint != closed.fingerprint
        # The dashboard's November row is the report's, before and after.
        _, november_now = dashboard_month(session, st_louis, november)
        _, december_row = dashboard_month(session, st_louis, december)
    assert november_now.figures == november_row.figures
    assert november_row.figures.gifts_cents == 15_000

    # December counts them, and lists them with the day they were dated.
    this = pdf_text(treasurer.get(url.format(december)).data)
    assert figures_on(this, "Gross gifts")[0] == "$525.00"
    assert december_row.figures.gifts_cents == 52_500
    assert december_row.figures.gift_count == 2
    flat = re.sub(r"\s+", " ", this)
    dated = f"dated {late_day:%b} {late_day.day}, {late_day.year}"
    label = month_start().date().replace(day=1) - timedelta(days=1)
    booked = f"booked after {label:%B %Y} closed"
    for name, amount in (("Lee Late", "$500.00"), ("Mo Late", "$25.00")):
        row = next(line for line in this.splitlines() if name in line)
        assert amount in row, row
    assert flat.count(dated) >= 2 and booked in flat


def test_a_snapshot_comes_back_from_its_json_unchanged(session):
    """What a closed month keeps is the whole report: every figure, list and date."""
    from relief.reports import snapshots
    from relief.reports.monthly_snapshot import MonthlySnapshot

    _, st_louis = a_month_of_st_louis(session)
    built = monthly.build(session, st_louis, this_month(), now=utcnow())
    assert built.batches and built.corrections and built.open_items.unassigned
    text = snapshots.to_json(built)
    assert snapshots.from_json(MonthlySnapshot, text) == built
    assert snapshots.to_json(snapshots.from_json(MonthlySnapshot, text)) == text
    assert "bea.private@example.org" not in text and "PRIVATE NOTE" not in text


def test_a_month_closed_before_snapshots_were_kept_is_read_from_the_ledger(session):
    from relief.models import MonthClose

    _, st_louis = a_month_of_st_louis(session)
    last = (month_start() - timedelta(days=1)).date().replace(day=1)
    session.add(MonthClose(chapter_id=st_louis.id, month=last))
    session.commit()
    report = monthly.build(session, st_louis, previous_month(), now=utcnow())
    assert report.closing is None and report.total.month.gifts_cents == 12_345


# Close status, bank reconciliation, year to date, the month's gifts, signatures ---------------


def _bank_line(session, chapter, day, cents, description):
    from relief.models import BankLine

    session.add(
        BankLine(
            chapter_id=chapter.id,
            posted_on=day,
            amount_cents=cents,
            description=description,
            fingerprint=f"{chapter.id}-{day}-{cents}-{description}",
        )
    )


def test_a_month_closed_over_its_checklist_says_so_with_the_reason_and_who_closed_it(session):
    from relief.reports import render

    _, st_louis = a_month_of_st_louis(session)
    last = (month_start() - timedelta(days=1)).date().replace(day=1)
    _bank_line(session, st_louis, last.replace(day=3), 4_200, "DEPOSIT BRANCH 12")
    admin = auth.add_user(session, "admin@mo.org", "correct horse battery staple", admin=True)
    session.commit()
    reason = "The bank lost the slip; the deposit is being traced with the branch."
    monthly.close(session, st_louis, last, admin, override_reason=reason)
    session.commit()

    text = pdf_text(render.monthly_pdf(monthly.build(session, st_louis, last, now=utcnow())))
    flat = re.sub(r"\s+", " ", text)
    assert "Close status" in flat
    assert re.search(r"Closed on .+ by admin@mo\.org, not reconciled\.", flat)
    assert f"The coalition admin's reason: “{reason}”" in flat
    assert "✗ Bank deposits of the month matched to a payout or a batch:" in flat
    assert "The bank deposit of $42.00 on" in flat and "matches no payout or batch" in flat
    assert "✓ Every Stripe payout" in flat or "✓" in flat  # the other checks are done
    assert "The checklist as it stood when the month was closed." in flat
    assert re.search(r"Prepared by\s+admin@mo\.org", flat) and "Approved by" in flat


def test_an_open_month_has_its_bank_reconciliation_year_to_date_gifts_and_lines_to_sign(session):
    from relief.reports import render

    drive, st_louis = a_month_of_st_louis(session)
    make_gift(
        session, drive, 4_000, chapter="st-louis", donor_name="Hal Shown", show_name=True,
        received_at=utcnow(),
    )  # fmt: skip
    _bank_line(session, st_louis, utcnow().date(), 3_000, "CASH DEPOSIT")
    session.commit()
    report = monthly.build(session, st_louis, this_month(), now=utcnow())
    text = pdf_text(render.monthly_pdf(report))
    flat = re.sub(r"\s+", " ", text)
    assert "Open: " in flat and "is not over" in flat
    # Bank: the $30 deposit against no payout and no deposited batch (Dana still holds it).
    assert figures_on(text, "Deposits on the bank statement") == ["$30.00"]
    assert figures_on(text, "Money received") == ["$0.00"]
    assert figures_on(text, "Difference") == ["$30.00"]
    assert "“CASH DEPOSIT”" in flat
    # The month's gifts are counted, not listed: the month's CSVs list them (Bea, Cy, Hal and
    # the batch's two; Gus's card gift is listed under "Open now" until a drive has it).
    assert report.gifts is None and report.gifts_in_csv
    assert "5 gifts received in" in flat
    assert "Hal Shown" not in flat and "Bea Current" not in flat and "Gus Unassigned" in flat
    assert "bea.private@example.org" not in text and "PRIVATE NOTE" not in text
    assert f"Year to date ({this_month()[:4]})" in text
    assert re.search(r"Prepared by\s+Date", flat) and re.search(r"Approved by\s+Date", flat)


def _ledger_lines(client, url: str) -> list[dict]:
    import csv
    import io

    response = client.get(url)
    assert response.status_code == 200, url
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_the_months_ledger_csv_the_report_names_adds_up_to_its_figures(app):
    """A treasurer who must account for every cent: the report counts the month's gifts and
    names the CSV that lists them; that CSV's lines add up to the report's figures (a month
    with a card fee, a refund and a correction)."""
    with data(app) as session:
        drive, _ = a_month_of_st_louis(session)
        make_user(session, "t@stl.org", "st-louis")
    client = SignedIn(app, "t@stl.org")
    text = pdf_text(client.get(f"/treasurer/st-louis/reports/{this_month()}.pdf").data)
    flat = re.sub(r"\s+", " ", text)
    named = re.search(r"/treasurer/st-louis/ledger\.csv\?month=(\d{4}-\d{2})", flat)
    assert named and named[1] == this_month()
    assert "/treasurer/st-louis/donors.csv?month=" + this_month() in flat
    lines = _ledger_lines(client, named[0])
    cents: dict[str, int] = {}
    for line in lines:
        cents[line["kind"]] = cents.get(line["kind"], 0) + int(Decimal(line["amount"]) * 100)
    cur = drive.currency
    on_report = {
        "Gross gifts": cents.get("gift", 0),
        "Fees": cents.get("fee", 0),
        "Refunds": -cents.get("refund", 0),
        "Corrections": cents.get("correction", 0),
        "Remitted to the partner": cents.get("remittance", 0),
    }
    for label, total in on_report.items():
        assert figures_on(text, label)[0] == money.format(total, cur), label
    # The scenario's own figures, so the sums are not merely equal to each other.
    assert (on_report["Fees"], on_report["Refunds"], on_report["Corrections"]) == (
        1_133,
        2_501,
        -500,
    )
    gift_lines = sum(line["kind"] == "gift" for line in lines)
    assert gift_lines == 4 and f"{gift_lines} gifts received in" in flat
    assert "number of gifts 4" in flat
    # The same month on the dashboard, to the cent.
    with data(app) as session:
        _, month = dashboard_month(session, drives.get_chapter(session, "st-louis"), this_month())
    assert month.figures.gifts_cents == on_report["Gross gifts"]
    assert month.figures.net_cents == (
        on_report["Gross gifts"] - on_report["Fees"] - on_report["Refunds"]
        + on_report["Corrections"]
    )  # fmt: skip


def test_the_monthly_reports_database_work_does_not_grow_with_the_months_gifts(session):
    """Flat database time: the report reads the month's sums (month_total), never the
    month's gifts one by one. Measured as the database sees it — SQLite's virtual machine
    steps, PostgreSQL's rows returned — and as the number of statements, at 50 and at 500
    gifts in the month."""
    drive, st_louis = a_month_of_st_louis(session)
    connection = session.connection()
    dbapi = connection.connection.dbapi_connection
    sqlite = connection.dialect.name == "sqlite"
    engine = connection.engine

    def measure() -> tuple[int, int]:
        from sqlalchemy import event

        statements, work = [], [0]

        def counted(conn, cursor, statement, parameters, context, executemany):
            statements.append(statement)
            if not sqlite and cursor.rowcount > 0:
                work[0] += cursor.rowcount

        def step() -> int:
            work[0] += 1
            return 0  # go on

        event.listen(engine, "after_cursor_execute", counted)
        if sqlite:
            dbapi.set_progress_handler(step, 10)
        try:
            monthly.build(session, st_louis, this_month(), now=utcnow())
        finally:
            event.remove(engine, "after_cursor_execute", counted)
            if sqlite:
                dbapi.set_progress_handler(None, 100)
        return len(statements), work[0]

    def add_gifts(count: int) -> None:
        for n in range(count):
            make_gift(
                session, drive, 1_000 + n, chapter="st-louis", donor_name=f"Donor {n}",
                show_name=True, received_at=utcnow(),
            )  # fmt: skip
        session.commit()

    add_gifts(50)
    few = measure()
    add_gifts(450)
    many = measure()
    assert many[0] == few[0], "the same statements, whatever the number of gifts"
    # A deeper index adds a few steps; reading the gifts would add hundreds.
    assert many[1] <= few[1] * 1.25 + 5, f"database work {few[1]} → {many[1]}"
