"""The files a treasurer gives their accounting software: the double-entry journal, tied to the
dashboard to the cent, and the QuickBooks Online and Xero bank files in the layouts those
products document; the admin's chart of accounts."""

import csv
import io
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlmodel import select

from relief import drives, ledger
from relief.ledger import Figures
from relief.models import (
    AuditEvent,
    EntryKind,
    Gift,
    GiftMethod,
    GiftStatus,
    Payout,
    PayoutTransaction,
)
from relief.treasury import batches, dashboard, gifts, journal, remittances
from tests.factories import make_coalition, make_gift
from tests.integration.test_dates import NEW_YEARS_EVE, chicago, treasurer_of  # noqa: F401
from tests.treasury_helpers import SignedIn, data, make_user

MARCH = datetime(2026, 3, 10, 12, tzinfo=UTC)


def card_gift(session, drive, cents, chapter, at):
    """A card gift as the webhook leaves it: paid, with its gift entry."""
    part = drives.chapter_in_drive(session, drive, chapter)
    gift = Gift(
        drive_id=drive.id,
        chapter_id=part.id,
        amount_cents=cents,
        method=GiftMethod.CARD,
        status=GiftStatus.PAID,
        donor_email="card@example.org",
        received_at=at,
    )
    session.add(gift)
    session.flush()
    ledger.append(
        session,
        kind=EntryKind.GIFT,
        amount_cents=cents,
        drive_id=drive.id,
        chapter_id=part.id,
        gift_id=gift.id,
        effective_at=at,
    )
    return gift


def story(app):
    """St. Louis's March: a card gift with its fee, a partial refund and a lost dispute on
    another; a check batch; a gift sent directly to the partner; a remittance; a correction.
    And one April gift, outside the month."""
    with data(app) as session:
        drive = make_coalition(session)
        make_user(session, "t@stl.org", "st-louis")
        make_user(session, "t@kc.org", "kansas-city")
        make_user(session, "admin@mo.org", admin=True)
        chapter = drives.get_chapter(session, "st-louis")
        first = card_gift(session, drive, 10_000, "st-louis", MARCH)
        common = {"drive_id": drive.id, "chapter_id": first.chapter_id, "gift_id": first.id}
        ledger.append(session, kind=EntryKind.FEE, amount_cents=320, effective_at=MARCH, **common)
        ledger.append(
            session, kind=EntryKind.REFUND, amount_cents=-2_500, effective_at=MARCH, **common
        )
        second = card_gift(session, drive, 4_000, "st-louis", MARCH)
        ledger.append(
            session,
            kind=EntryKind.DISPUTE_WITHDRAWN,
            amount_cents=-4_000,
            drive_id=drive.id,
            chapter_id=second.chapter_id,
            gift_id=second.id,
            effective_at=MARCH,
        )
        # Stripe's dispute fee, as payout sync posts it: on the drive and chapter, no gift.
        ledger.append(
            session,
            kind=EntryKind.FEE,
            amount_cents=1_500,
            drive_id=drive.id,
            chapter_id=second.chapter_id,
            effective_at=MARCH,
            external_id="dispute-fee:txn_dispute",
            memo="Stripe's dispute fee",
        )
        batch = batches.open_batch(
            session,
            chapter,
            drive_id=drive.id,
            label="Potluck",
            expected_count=2,
            expected_total_cents=7_500,
            received_on=date(2026, 3, 12),
        )
        for amount in ("50", "25"):
            batches.add_line(
                session,
                chapter,
                batch.id,
                batches.LineInput(amount=amount, received=date(2026, 3, 12)),
            )
        batches.post_batch(session, chapter, batch.id)
        batches.set_custody(
            session, chapter, batch.id, held_by="Ana", deposited_on=date(2026, 3, 16)
        )
        # Stripe paid out the first gift, less its fee and refund (as payout sync stores it).
        paid = Payout(
            stripe_id="po_march",
            amount_cents=7_180,
            status="paid",
            arrival_date=date(2026, 3, 17),
            created=MARCH,
        )
        session.add(paid)
        session.flush()
        for txn_id, gross, fee in (("txn_charge", 10_000, 320), ("txn_refund", -2_500, 0)):
            session.add(
                PayoutTransaction(
                    stripe_id=txn_id,
                    payout_id=paid.id,
                    type="charge" if gross > 0 else "refund",
                    amount_cents=gross,
                    fee_cents=fee,
                    net_cents=gross - fee,
                    created=MARCH,
                    gift_id=first.id,
                    chapter_id=first.chapter_id,
                )
            )
        gifts.record_direct_gift(
            session,
            chapter,
            drive_id=drive.id,
            amount_cents=6_000,
            method=GiftMethod.CHECK,
            donor_name="",
            show_name=False,
            check_number="991",
            received_on=date(2026, 3, 14),
        )
        remittances.record_remittance(
            session,
            chapter,
            drive_id=drive.id,
            amount_cents=5_000,
            sent_on=date(2026, 3, 20),
            reference="check 1001",
        )
        check = make_gift(session, drive, 1_000, chapter="st-louis", received_at=MARCH)
        gifts.correct_gift(
            session, chapter, check.id, correct_amount_cents=1_200, reason="misread check"
        )
        make_gift(
            session,
            drive,
            777,
            chapter="st-louis",
            received_at=datetime(2026, 4, 2, 12, tzinfo=UTC),
        )
        session.commit()
    return SignedIn(app, "t@stl.org")


def read_csv(response):
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/csv"
    text = response.get_data(as_text=True)
    return list(csv.reader(io.StringIO(text)))


def cents(text):
    return int(Decimal(text or "0") * 100)


def on_the_dashboard(app, month=None):
    """The dashboard's figures for a month ("2026-03"), or every month added up."""
    with data(app) as session:
        chapter = drives.get_chapter(session, "st-louis")
        rows = {row.key: row.figures for row in dashboard.by_month(session, chapter)}
        return rows[month] if month else Figures.sum(rows.values())


def march_on_the_dashboard(app):
    return on_the_dashboard(app, "2026-03")


def balances(lines):
    """Each reference's and each account's debits − credits, checking every line on the way."""
    by_reference = defaultdict(int)
    by_account = defaultdict(int)
    for _day, account, debit, credit, _memo, reference in lines:
        assert bool(debit) != bool(credit), "each line is a debit or a credit"
        by_reference[reference] += cents(debit) - cents(credit)
        by_account[account] += cents(debit) - cents(credit)
    assert all(balance == 0 for balance in by_reference.values()), by_reference
    assert sum(cents(line[2]) for line in lines) == sum(cents(line[3]) for line in lines)
    return by_reference, by_account


MONEY_ACCOUNTS = (
    "1000 Checking account",
    "1010 Undeposited funds (cash and checks)",
    "1020 Stripe clearing",
    "1030 Gifts sent directly to the relief partner",
)


def assert_ties(by_account, figures):
    assert -by_account["4010 Individual contributions"] == (
        figures.gifts_cents + figures.corrections_cents
    )
    assert by_account["4090 Refunds of contributions"] == figures.refunds_cents
    assert by_account["4095 Disputed contributions (chargebacks)"] == figures.disputes_cents
    assert by_account["6110 Payment processing fees"] == figures.fees_cents
    assert by_account["7010 Grants to the relief partner"] == figures.remitted_cents
    assert sum(by_account[name] for name in MONEY_ACCOUNTS) == figures.held_cents


def test_journal_balances_and_ties_to_the_dashboard_to_the_cent(app):
    treasurer = story(app)
    header, *lines = read_csv(treasurer.get("/treasurer/st-louis/journal.csv?month=2026-03"))
    assert header == ["date", "account", "debit", "credit", "memo", "reference"]
    assert all(line[0].startswith("2026-03-") for line in lines)
    assert "card@example.org" not in str(lines)
    by_reference, by_account = balances(lines)
    march = march_on_the_dashboard(app)
    assert_ties(by_account, march)
    assert (march.refunds_cents, march.disputes_cents, march.fees_cents) == (2_500, 4_000, 1_820)
    assert march.remitted_cents == 11_000
    # The direct gift passes through its own account: in and out again.
    assert by_account["1030 Gifts sent directly to the relief partner"] == 0
    # Stripe paid the first gift out, less its fee and refund: the clearing account keeps
    # only the dispute's fee, which Stripe takes from the balance (never from the bank);
    # the batch was deposited: undeposited funds keep only the $10 check gift.
    assert (
        by_account["1020 Stripe clearing"] == 10_000 - 320 - 2_500 + 4_000 - 4_000 - 7_180 - 1_500
    )
    assert by_account["1010 Undeposited funds (cash and checks)"] == 1_000
    assert by_account["1000 Checking account"] == -5_000 + 7_500 + 7_180
    assert by_reference["payout po_march"] == 0 and by_reference["batch 1"] == 0

    # Everything: the correction (dated the day it was made) and April's gift too.
    _, *lines = read_csv(treasurer.get("/treasurer/st-louis/journal.csv"))
    _, by_account = balances(lines)
    everything = on_the_dashboard(app)
    assert everything.corrections_cents == 200
    assert_ties(by_account, everything)
    correction = [line for line in lines if line[4].startswith("correction:")]
    assert [(line[1], line[2], line[3]) for line in correction] == [
        ("1010 Undeposited funds (cash and checks)", "2.00", ""),
        ("4010 Individual contributions", "", "2.00"),
    ]


def test_quickbooks_and_xero_files_in_their_documented_layouts_sum_to_the_money_held(app):
    treasurer = story(app)
    march = march_on_the_dashboard(app)

    header, *rows = read_csv(treasurer.get("/treasurer/st-louis/quickbooks.csv?month=2026-03"))
    assert header == ["Date", "Description", "Amount"]
    for day, description, amount in rows:
        assert datetime.strptime(day, "%m/%d/%Y").date().month == 3
        assert description and not any(c.isdigit() for c in description)
        assert Decimal(amount).as_tuple().exponent == -2
    assert sum(cents(amount) for *_, amount in rows) == march.held_cents
    assert ["03/10/2026", "Stripe processing fee", "-3.20"] in rows
    assert ["03/10/2026", "Refund to a donor", "-25.00"] in rows

    header, *rows = read_csv(treasurer.get("/treasurer/st-louis/xero.csv?month=2026-03"))
    assert header == ["Date", "Amount", "Payee", "Description", "Reference"]
    for day, amount, payee, description, reference in rows:
        assert datetime.strptime(day, "%m/%d/%Y").date().month == 3
        assert payee and description and reference.startswith("entry ")
    assert sum(cents(row[1]) for row in rows) == march.held_cents
    remitted = [row for row in rows if row[3] == "Remittance to the relief partner"]
    assert sorted(row[1] for row in remitted) == ["-50.00", "-60.00"]
    assert {row[2] for row in remitted} == {"Undue Medical Debt"}


def test_a_month_and_a_date_range_choose_the_same_entries_and_bad_periods_are_refused(app):
    treasurer = story(app)
    by_month = treasurer.get("/treasurer/st-louis/journal.csv?month=2026-03").get_data()
    by_dates = treasurer.get(
        "/treasurer/st-louis/journal.csv?since=2026-03-01&until=2026-03-31"
    ).get_data()
    assert by_month == by_dates
    everything = read_csv(treasurer.get("/treasurer/st-louis/journal.csv"))
    assert any(line[0] == "2026-04-02" for line in everything)
    both = treasurer.get("/treasurer/st-louis/xero.csv?month=2026-03&since=2026-03-01")
    assert both.status_code == 400
    assert "a month or a date range, not both" in both.get_data(as_text=True)
    bad = treasurer.get("/treasurer/st-louis/quickbooks.csv?month=2026-13")
    assert bad.status_code == 400
    assert "the month YYYY-MM" in bad.get_data(as_text=True)


def test_the_exports_page_offers_the_three_files_with_a_month_picker(app):
    treasurer = story(app)
    page = treasurer.get("/treasurer/st-louis/exports").get_data(as_text=True)
    assert 'type="month"' in page
    for url in ("journal.csv", "quickbooks.csv", "xero.csv"):
        assert f"/treasurer/st-louis/{url}" in page
    assert "Upload transactions" in page and "Import a statement" in page


def test_another_chapters_treasurer_gets_none_of_the_files(app):
    story(app)
    other = SignedIn(app, "t@kc.org")
    for url in ("journal.csv", "quickbooks.csv", "xero.csv"):
        assert other.get(f"/treasurer/st-louis/{url}").status_code in (403, 404)


def test_an_admin_renames_an_account_and_the_journal_uses_it_with_an_audit_line(app):
    treasurer = story(app)
    admin = SignedIn(app, "admin@mo.org")
    page = admin.get("/admin/chart")
    assert page.status_code == 200
    assert "4010" in page.get_data(as_text=True)
    form = {}
    for role, (number, name) in journal.DEFAULT_CHART.items():
        form[f"{role.value}_number"] = number
        form[f"{role.value}_name"] = name
    form["donations_number"] = "4000"
    form["donations_name"] = "Contributions – Jubilee"
    saved = admin.post("/admin/chart", data=form)
    assert saved.status_code == 302

    lines = read_csv(treasurer.get("/treasurer/st-louis/journal.csv?month=2026-03"))
    accounts = {line[1] for line in lines[1:]}
    assert "4000 Contributions – Jubilee" in accounts
    assert "4010 Individual contributions" not in accounts
    with data(app) as session:
        line = session.exec(select(AuditEvent).where(AuditEvent.action == "chart.edit")).one()
        assert "Contributions – Jubilee" in line.detail

    form["fees_name"] = ""
    refused = admin.post("/admin/chart", data=form)
    assert refused.status_code == 400
    assert "Every account needs a name" in refused.get_data(as_text=True)
    assert SignedIn(app, "t@stl.org").get("/admin/chart").status_code == 404


def test_a_new_years_eve_gift_in_chicago_is_december_in_every_accounting_file(chicago):  # noqa: F811
    treasurer = treasurer_of(chicago)
    with data(chicago) as session:
        drive = drives.get_drive(session, "mo-2026")
        make_gift(session, drive, 4_200, chapter="st-louis", received_at=NEW_YEARS_EVE)
    december = read_csv(treasurer.get("/treasurer/st-louis/journal.csv?month=2026-12"))
    assert [line[:4] for line in december[1:]] == [
        ["2026-12-31", "1010 Undeposited funds (cash and checks)", "42.00", ""],
        ["2026-12-31", "4010 Individual contributions", "", "42.00"],
    ]
    assert read_csv(treasurer.get("/treasurer/st-louis/journal.csv?month=2027-01"))[1:] == []
    assert read_csv(treasurer.get("/treasurer/st-louis/quickbooks.csv"))[1] == [
        "12/31/2026",
        "Donation",
        "42.00",
    ]
    assert read_csv(treasurer.get("/treasurer/st-louis/xero.csv?month=2026-12"))[1][:2] == [
        "12/31/2026",
        "42.00",
    ]


def test_a_period_longer_than_xero_imports_is_refused_with_a_sentence(app, monkeypatch):
    treasurer = story(app)
    march = read_csv(treasurer.get("/treasurer/st-louis/xero.csv?month=2026-03"))
    monkeypatch.setattr(journal, "XERO_MAX_LINES", len(march) - 1)
    assert treasurer.get("/treasurer/st-louis/xero.csv?month=2026-03").status_code == 200
    refused = treasurer.get("/treasurer/st-louis/xero.csv")
    assert refused.status_code == 400
    assert (
        f"Xero imports at most {len(march) - 1} lines from one file and this period has "
        "more: choose a shorter one"
    ) in refused.get_data(as_text=True)
