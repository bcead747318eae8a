"""Exports a treasurer opens in a spreadsheet, and the audit log an admin reads."""

import csv
import io
from datetime import UTC, date, datetime

from sqlmodel import select

from relief.models import AuditEvent, Gift
from relief.treasury.exports import neutralise
from tests.factories import make_coalition, make_gift
from tests.treasury_helpers import SignedIn, data, make_user


def setup(app):
    with data(app) as session:
        drive = make_coalition(session)
        make_user(session, "t@stl.org", "st-louis")
        make_user(session, "admin@mo.org", admin=True)
        make_gift(
            session,
            drive,
            2_500,
            chapter="st-louis",
            donor_name='=HYPERLINK("http://evil","click")',
            donor_email="+1@example.org",
            check_number="@SUM(A1)",
            received_at=datetime(2026, 3, 3, 12, tzinfo=UTC),
        )
        make_gift(
            session,
            drive,
            10_000,
            chapter="st-louis",
            donor_name="Ann Lee",
            show_name=True,
            received_at=datetime(2026, 4, 9, 12, tzinfo=UTC),
        )
        make_gift(session, drive, 77_700, chapter="kansas-city", donor_name="KC Donor")
    return SignedIn(app, "t@stl.org")


def read_csv(response):
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.is_streamed
    assert "attachment" in response.headers["Content-Disposition"]
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_donor_csv_has_the_columns_a_spreadsheet_user_expects_and_only_this_chapter(app):
    treasurer = setup(app)
    rows = read_csv(treasurer.get("/treasurer/st-louis/donors.csv"))
    assert [row["donor"] for row in rows] == [
        '\'=HYPERLINK("http://evil","click")',
        "Ann Lee",
    ]
    first, second = rows
    assert first["email"] == "'+1@example.org" and first["check_number"] == "'@SUM(A1)"
    assert second == {
        **second,
        "date": "2026-04-09",
        "amount": "100.00",
        "fee": "0.00",
        "net": "100.00",
        "method": "check",
        "chapter": "st-louis",
        "drive": "mo-2026",
        "public_name": "yes",
        "direct_to_partner": "no",
    }
    for column in ("stripe_payment_intent", "stripe_charge", "stripe_session"):
        assert column in second


def test_exports_filter_by_date_range_and_drive(app):
    treasurer = setup(app)
    april = read_csv(
        treasurer.get("/treasurer/st-louis/donors.csv?since=2026-04-01&until=2026-04-30&drive=1")
    )
    assert [row["donor"] for row in april] == ["Ann Lee"]
    march = read_csv(treasurer.get("/treasurer/st-louis/ledger.csv?until=2026-03-31"))
    assert [(row["kind"], row["amount"]) for row in march] == [("gift", "25.00")]
    bad = treasurer.get("/treasurer/st-louis/ledger.csv?since=2026-05-01&until=2026-04-01")
    assert bad.status_code == 400 and "after" in bad.get_data(as_text=True)
    assert treasurer.get("/treasurer/st-louis/ledger.csv?drive=999").status_code == 400


def test_ledger_csv_lists_every_entry_with_signed_amounts(app):
    treasurer = setup(app)
    with data(app) as session:
        gift_id = session.exec(select(Gift.id).where(Gift.donor_name == "Ann Lee")).one()
    treasurer.post(
        f"/treasurer/st-louis/gifts/{gift_id}/correct",
        {"correct_amount": "90", "reason": "-bank said $90"},
    )
    rows = read_csv(treasurer.get("/treasurer/st-louis/ledger.csv"))
    assert [(row["kind"], row["amount"]) for row in rows] == [
        ("gift", "25.00"),
        ("gift", "100.00"),
        ("correction", "-10.00"),  # our own numbers stay numbers
    ]
    assert rows[2]["memo"] == "correction: -bank said $90"  # starts with "c": left alone
    donors = read_csv(treasurer.get("/treasurer/st-louis/donors.csv"))
    assert (donors[1]["adjustments"], donors[1]["net"]) == ("-10.00", "90.00")


def test_neutralise_prefixes_every_formula_start():
    for text in ("=1+1", "+1", "-1", "@x", "\tx", "\rx"):
        assert neutralise(text) == "'" + text
    assert neutralise("Ann") == "Ann" and neutralise(None) == ""


def test_every_treasurer_action_is_in_the_audit_log_only_admins_read(app):
    treasurer = setup(app)
    treasurer.post(
        "/treasurer/st-louis/remittances",
        {"drive": "1", "amount": "50", "sent_on": date.today().isoformat(), "reference": "ck 9"},
    )
    treasurer.get("/treasurer/st-louis/donors.csv?drive=1")
    with data(app) as session:
        events = session.exec(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [e.action for e in events] == [
        "login",
        "remittance.record",
        "export.donors",
    ]
    remittance = events[1]
    assert remittance.actor_email == "t@stl.org" and remittance.ip == "127.0.0.1"
    assert "$50.00" in remittance.detail and remittance.chapter_id is not None
    assert treasurer.get("/admin/audit").status_code == 404
    admin = SignedIn(app, "admin@mo.org")
    page = admin.get("/admin/audit").get_data(as_text=True)
    assert "remittance.record" in page and "t@stl.org" in page and "127.0.0.1" in page
    assert page.index("export.donors") < page.index("remittance.record")  # newest first


def test_the_exports_cursors_are_planned_for_every_row_on_postgresql(session):
    """The exports stream through server-side cursors, which PostgreSQL plans for their first
    tenth unless told otherwise: at 1,000,000 gifts a day's ledger file then walked every
    entry in id order (150 ms) rather than read the day by its index and sort (8 ms;
    docs/performance.md, change 36). Every connection of the app plans them for all rows."""
    import pytest

    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("SQLite has no server-side cursors")
    shown = session.connection().exec_driver_sql("SHOW cursor_tuple_fraction").scalar()
    assert float(shown) == 1.0
