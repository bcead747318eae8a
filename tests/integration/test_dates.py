"""The coalition's time zone (RELIEF_TIMEZONE) and the date the money moved: every day and
month a person sees, and every day and month the ledger keeps, are the coalition's."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from alembic import command
from sqlmodel import select

from relief import donor_access, drives, ledger, matches
from relief.config import ConfigError, from_environment
from relief.db import alembic_config, upgrade
from relief.ledger import months
from relief.models import (
    DailyTotal,
    Entry,
    GiftMethod,
    MatchCounts,
    MonthClose,
    MonthTotal,
    ReceivedTotal,
    email_key,
)
from relief.reports import monthly, render, year_end
from relief.treasury import frozen_months
from tests.conftest import make_app
from tests.factories import make_coalition, make_gift
from tests.read_back import pdf_text
from tests.treasury_helpers import SignedIn, data, make_user

CHICAGO = "America/Chicago"
#: 8:30 pm Central on New Year's Eve: 02:30 UTC on January 1.
NEW_YEARS_EVE = datetime(2027, 1, 1, 2, 30, tzinfo=UTC)


@pytest.fixture
def chicago(database_url):
    app = make_app(database_url, RELIEF_TIMEZONE=CHICAGO)
    yield app
    app.extensions["relief.engine"].dispose()
    months.set_zone("UTC")  # as every other test's app has it


def squeeze(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def treasurer_of(app) -> SignedIn:
    with data(app) as session:
        make_coalition(session)
        make_user(session, "t@stl.org", "st-louis")
    return SignedIn(app, "t@stl.org")


def acme_matches(session, drive, starts_on: date, ends_on: date) -> None:
    """Acme Health matches every gift to the drive 1:1 from ``starts_on`` to ``ends_on``, up
    to $10,000 (St. Louis's organizer records the pledge)."""
    matches.create_pledge(
        session,
        drives.get_chapter(session, "st-louis"),
        drive,
        matches.PledgeTerms(
            sponsor_name="Acme Health",
            ratio="1:1",
            cap_cents=1_000_000,
            starts_on=starts_on,
            ends_on=ends_on,
            counts=MatchCounts.ALL,
        ),
    )


def test_a_bad_time_zone_name_stops_start_up_with_a_sentence(tmp_path):
    with pytest.raises(ConfigError) as refused:
        from_environment(str(tmp_path), {"RELIEF_TIMEZONE": "America/Chicgo"})
    assert "RELIEF_TIMEZONE must be an IANA time zone name such as America/Chicago" in str(
        refused.value
    )
    assert "'America/Chicgo'" in str(refused.value)
    assert from_environment(str(tmp_path), {})["RELIEF_TIMEZONE"] == "UTC"


def test_a_new_years_eve_gift_in_chicago_is_a_december_gift_everywhere(chicago):
    treasurer = treasurer_of(chicago)
    with data(chicago) as session:
        drive = drives.get_drive(session, "mo-2026")
        gift = make_gift(
            session,
            drive,
            4_200,
            chapter="st-louis",
            donor_name="Eve N.",
            method=GiftMethod.CHECK,
            received_at=NEW_YEARS_EVE,
        )
        # The ledger keeps it in December 31's day and December's month.
        assert [(r.day, r.raised_cents) for r in session.exec(select(DailyTotal))] == [
            (date(2026, 12, 31), 4_200)
        ]
        assert {r.month for r in session.exec(select(MonthTotal))} == {date(2026, 12, 1)}

    dashboard = treasurer.get("/treasurer/st-louis/").get_data(as_text=True)
    assert "Dec 2026" in dashboard and "Jan 2027" not in dashboard
    assert "America/Chicago" in dashboard

    report = squeeze(pdf_text(treasurer.get("/treasurer/st-louis/reports/2026-12.pdf").data))
    assert "$42.00" in report
    assert "calendar months in the coalition's time zone (America/Chicago)" in report

    ledger_csv = treasurer.get("/treasurer/st-louis/ledger.csv").get_data(as_text=True)
    assert ",2026-12-31," in ledger_csv.splitlines()[1]
    donors_csv = treasurer.get("/treasurer/st-louis/donors.csv").get_data(as_text=True)
    assert donors_csv.splitlines()[1].startswith("2026-12-31,")
    # The "to" day of an export is the coalition's whole day.
    only_eve = treasurer.get("/treasurer/st-louis/ledger.csv?since=2026-12-31&until=2026-12-31")
    assert len(only_eve.get_data(as_text=True).splitlines()) == 2

    receipt = squeeze(
        pdf_text(chicago.test_client().get(f"/gifts/{gift.public_id}/receipt.pdf").data)
    )
    assert "Date December 31, 2026" in receipt
    assert "Dates and times are in America/Chicago" in receipt
    assert "January 1, 2027" not in receipt

    verified = chicago.test_cli_runner().invoke(args=["ledger", "verify"])
    assert verified.exit_code == 0 and "mo-2026: exact" in verified.output


def test_a_match_ending_on_new_years_eve_matches_the_evening_gift_and_not_new_years_day(
    chicago,
):
    """A sponsor matches December's gifts: the Missourian who gives at 8:30 pm on December 31
    (already January 1 in UTC) is matched; one who gives at half past midnight is not."""
    with data(chicago) as session:
        drive = make_coalition(session, starts_on=date(2026, 12, 1), ends_on=date(2027, 1, 31))
        acme_matches(session, drive, date(2026, 12, 1), date(2026, 12, 31))
        for cents, received in (
            (4_200, NEW_YEARS_EVE),  # 8:30 pm Central, December 31
            (1_000, NEW_YEARS_EVE + timedelta(hours=4)),  # 0:30 am Central, January 1
            (300, datetime(2026, 12, 1, 6, 0, tzinfo=UTC)),  # 0:00 am Central, December 1
            (50, datetime(2026, 12, 1, 5, 59, tzinfo=UTC)),  # 11:59 pm Central, November 30
        ):
            make_gift(session, drive, cents, chapter="st-louis", received_at=received)
        session.commit()
        (standing,) = matches.standings(session, drive)
    assert standing.matched_cents == 4_200 + 300
    shown = chicago.test_client().get("/api/drives/mo-2026").get_json()["matches"]
    assert [m["matched_cents"] for m in shown] == [4_500]


def _last_sunday(before: date) -> date:
    back = (before.weekday() + 1) % 7 or 7  # a Sunday strictly before today
    return before - timedelta(days=back)


def test_a_sunday_batch_entered_on_tuesday_is_dated_sunday_and_deposited_from_sunday_on(app):
    treasurer = treasurer_of(app)
    sunday = _last_sunday(ledger.today())
    response = treasurer.post(
        "/treasurer/st-louis/batches",
        {
            "drive": "1",
            "label": "Sunday potluck",
            "received": sunday.isoformat(),
            "expected_count": "2",
            "expected_total": "35",
            "held_by": "Dana",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    batch = response.headers["Location"]
    page = treasurer.get(batch).get_data(as_text=True)
    # Each check's date received starts as the slip's date, not the day it is typed.
    line_date = re.search(r'<input[^>]*name="received"[^>]*>', page)
    assert line_date and f'value="{sunday.isoformat()}"' in line_date[0]
    added = treasurer.post(
        batch + "/lines", {"amount": "10", "method": "check", "received": sunday.isoformat()}
    )
    assert added.status_code == 302
    # A CSV row without a date is the slip's date too.
    imported = treasurer.post(
        batch + "/import",
        {"file": (io.BytesIO(b"amount,received\n25,\n"), "gifts.csv")},
        content_type="multipart/form-data",
    )
    assert imported.status_code == 302, imported.get_data(as_text=True)
    assert treasurer.post(batch + "/post").status_code == 302
    with data(app) as session:
        days = {ledger.local_day(e.effective_at) for e in session.exec(select(Entry))}
    assert days == {sunday}

    def deposit(day: date):
        return treasurer.post(batch + "/custody", {"held_by": "Dana", "deposited_on": day})

    saturday = sunday - timedelta(days=1)
    refused = deposit(saturday.isoformat())
    assert refused.status_code == 400
    assert f"The deposit date may be {sunday.isoformat()} or any day after it." in refused.get_data(
        as_text=True
    )
    assert deposit(sunday.isoformat()).status_code == 302


def test_a_correction_moves_a_gift_to_the_day_it_was_received(chicago):
    treasurer = treasurer_of(chicago)
    typed_on = ledger.today() - timedelta(days=1)
    real_day = typed_on - timedelta(days=40)  # in another month
    with data(chicago) as session:
        drive = drives.get_drive(session, "mo-2026")
        gift = make_gift(
            session,
            drive,
            2_500,
            chapter="st-louis",
            donor_name="Cy Cash",
            method=GiftMethod.CASH,
            received_at=ledger.noon(typed_on),
        )
    page = treasurer.get(f"/treasurer/st-louis/gifts/{gift.id}").get_data(as_text=True)
    assert f'value="{typed_on.isoformat()}"' in page  # the date field starts at its day
    moved = treasurer.post(
        f"/treasurer/st-louis/gifts/{gift.id}/correct",
        {"correct_amount": "25.00", "received": real_day.isoformat(), "reason": "slip date"},
    )
    assert moved.status_code == 302, moved.get_data(as_text=True)
    with data(chicago) as session:
        corrections = session.exec(
            select(Entry).where(Entry.gift_id == gift.id, Entry.kind == "correction")
        ).all()
        assert [(c.amount_cents, ledger.local_day(c.effective_at)) for c in corrections] == [
            (-2_500, typed_on),
            (2_500, real_day),
        ]
        rows = [(r.month, r.amount_cents) for r in session.exec(select(MonthTotal))]
    # Typed-on month: the gift and its reversal (net zero); the real month: the gift.
    assert sum(c for m, c in rows if m == ledger.first_of_month(real_day)) == 2_500
    assert sum(c for m, c in rows if m == ledger.first_of_month(typed_on)) == 0
    page = squeeze(treasurer.get(f"/treasurer/st-louis/gifts/{gift.id}").get_data(as_text=True))
    assert real_day.isoformat() in page and typed_on.isoformat() in page
    receipt = squeeze(
        pdf_text(chicago.test_client().get(f"/gifts/{gift.public_id}/receipt.pdf").data)
    )
    day_text = f"{real_day:%B} {real_day.day}, {real_day.year}"
    assert f"Date {day_text}" in receipt
    assert f"{day_text} $25.00" in receipt and "-$25.00" in receipt
    assert "Amount now $25.00" in receipt
    verified = chicago.test_cli_runner().invoke(args=["ledger", "verify"])
    assert "mo-2026: exact" in verified.output
    # The donors' CSV lists it on the day it was received (in order among that day's gifts),
    # in that day's range only.
    with data(chicago) as session:
        make_gift(
            session,
            drives.get_drive(session, "mo-2026"),
            1_000,
            chapter="st-louis",
            donor_name="Di Check",
            received_at=ledger.noon(real_day),
        )

    def donors(since, until):
        url = f"/treasurer/st-louis/donors.csv?since={since.isoformat()}&until={until.isoformat()}"
        rows = csv.DictReader(io.StringIO(treasurer.get(url).get_data(as_text=True)))
        return [(row["donor"], row["date"], row["net"]) for row in rows]

    on_the_day = [
        ("Cy Cash", real_day.isoformat(), "25.00"),
        ("Di Check", real_day.isoformat(), "10.00"),
    ]
    assert donors(real_day, real_day) == on_the_day
    assert donors(typed_on, typed_on) == []
    assert donors(real_day - timedelta(days=1), typed_on) == on_the_day


def test_a_check_moved_months_back_into_last_year_is_on_last_years_statement(app):
    """A check typed in today, found to have come last September: last year's giving
    statement has it (on September 1), this year's has not, however far the move."""
    this_year = ledger.today().year
    real_day = date(this_year - 1, 9, 1)
    with data(app) as session:
        drive = make_coalition(session, starts_on=date(this_year - 1, 1, 1))
        make_user(session, "t@stl.org", "st-louis")
        gift = make_gift(
            session,
            drive,
            12_000,
            chapter="st-louis",
            donor_name="Ed Check",
            donor_email="ed@example.org",
            received_at=ledger.noon(ledger.today()),
        )
    moved = SignedIn(app, "t@stl.org").post(
        f"/treasurer/st-louis/gifts/{gift.id}/correct",
        {"correct_amount": "120.00", "received": real_day.isoformat(), "reason": "last year's"},
    )
    assert moved.status_code == 302, moved.get_data(as_text=True)
    key = email_key("ed@example.org")
    with data(app) as session:
        assert year_end.donor_keys(session, this_year - 1) == [key]
        assert year_end.donor_keys(session, this_year) == []
        anchor = year_end.anchor_gift(session, key, this_year - 1)
        assert anchor is not None and anchor.id == gift.id
        # The donor's own page ("Find my gifts") dates it there, and offers that year's statement.
        mine = donor_access.page(session, key)
        assert [ledger.local_day(g.received_on) for g in mine.gifts] == [real_day]
        assert mine.years == (this_year - 1,)


def test_a_match_counts_a_corrected_gift_on_the_day_it_was_really_received(chicago):
    """This month's match: a check typed as received three days before the month began but
    really received on its first day is matched once its date is corrected; one typed on the
    first day but really received before the month is matched no more."""
    first = ledger.today().replace(day=1)
    before = first - timedelta(days=3)
    with data(chicago) as session:
        drive = make_coalition(
            session, starts_on=first - timedelta(days=60), ends_on=first + timedelta(days=60)
        )
        make_user(session, "t@stl.org", "st-louis")
        acme_matches(
            session, drive, first, (first + timedelta(days=31)).replace(day=1) - timedelta(days=1)
        )
        session.commit()
        late = make_gift(session, drive, 4_000, chapter="st-louis", received_at=ledger.noon(before))
        early = make_gift(session, drive, 700, chapter="st-louis", received_at=ledger.noon(first))

    treasurer = SignedIn(chicago, "t@stl.org")

    def matched() -> int:
        shown = chicago.test_client().get("/api/drives/mo-2026").get_json()["matches"]
        return shown[0]["matched_cents"]

    assert matched() == 700
    for gift, real_day, dollars in ((late, first, "40.00"), (early, before, "7.00")):
        moved = treasurer.post(
            f"/treasurer/st-louis/gifts/{gift.id}/correct",
            {"correct_amount": dollars, "received": real_day.isoformat(), "reason": "slip date"},
        )
        assert moved.status_code == 302, moved.get_data(as_text=True)
    assert matched() == 4_000
    # Moved back where it was typed: counted there again (the last move is the one that holds).
    moved = treasurer.post(
        f"/treasurer/st-louis/gifts/{late.id}/correct",
        {"correct_amount": "40.00", "received": before.isoformat(), "reason": "it was the 28th"},
    )
    assert moved.status_code == 302, moved.get_data(as_text=True)
    assert matched() == 0


def test_a_closed_month_is_the_coalitions_month(chicago):
    """November 30, 8 pm in Chicago is December 1 in UTC: with November closed in Chicago it
    is a late entry, booked on December 1 (Chicago) with its own date beside it."""
    with data(chicago) as session:
        drive = make_coalition(session)
        st_louis = drives.get_chapter(session, "st-louis")
        session.add(MonthClose(chapter_id=st_louis.id, month=date(2026, 11, 1)))
        session.commit()
        late = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # Nov 30, 20:00 Central
        make_gift(session, drive, 1_500, chapter="st-louis", donor_name="Lu", received_at=late)
        entry = session.exec(select(Entry)).one()
        assert entry.effective_at == datetime(2026, 12, 1, 6, 0, tzinfo=UTC)  # Dec 1, 00:00 CST
        assert ledger.local_day(entry.dated_at) == date(2026, 11, 30)
        assert {r.month for r in session.exec(select(MonthTotal))} == {date(2026, 12, 1)}
        found = frozen_months.late_entries(session, st_louis, date(2026, 12, 1))
        assert [(x.dated, x.entry.amount_cents) for x in found] == [(date(2026, 11, 30), 1_500)]
        report = monthly.build(session, st_louis, "2026-12", now=datetime.now(UTC))
        text = squeeze(pdf_text(render.monthly_pdf(report)))
    assert "dated Nov 30, 2026" in text and "$15.00" in text


def test_the_migration_keys_existing_sums_in_the_coalitions_zone(database_url):
    app = make_app(database_url)
    with data(app) as session:
        drive = make_coalition(session)
        make_gift(session, drive, 4_200, chapter="st-louis", received_at=NEW_YEARS_EVE)
        assert {r.month for r in session.exec(select(MonthTotal))} == {date(2027, 1, 1)}
    app.extensions["relief.engine"].dispose()
    command.downgrade(alembic_config(database_url), "0015_partner_reports")
    upgrade(database_url, timezone=CHICAGO)

    with pytest.raises(ConfigError) as refused:
        make_app(database_url)  # still UTC: the sums are in Chicago's days now
    assert "kept in the time zone America/Chicago, but RELIEF_TIMEZONE is UTC" in str(refused.value)
    chicago = make_app(database_url, RELIEF_TIMEZONE=CHICAGO)
    with data(chicago) as session:
        assert {r.month for r in session.exec(select(MonthTotal))} == {date(2026, 12, 1)}
        assert {r.day for r in session.exec(select(DailyTotal))} == {date(2026, 12, 31)}
        assert {r.day for r in session.exec(select(ReceivedTotal))} == {date(2026, 12, 31)}
    verified = chicago.test_cli_runner().invoke(args=["ledger", "verify"])
    assert verified.exit_code == 0 and "mo-2026: exact" in verified.output
    chicago.extensions["relief.engine"].dispose()
    months.set_zone("UTC")


def test_changing_the_zone_needs_a_rekey_that_never_moves_money_across_a_closed_month(
    database_url,
):
    app = make_app(database_url)
    with data(app) as session:
        drive = make_coalition(session)
        make_gift(session, drive, 4_200, chapter="st-louis", received_at=NEW_YEARS_EVE)
    with pytest.raises(ConfigError) as refused:
        make_app(database_url, RELIEF_TIMEZONE=CHICAGO)
    assert "flask --app app ledger rekey --timezone America/Chicago" in str(refused.value)

    # January (UTC) closed: re-keying would take the gift out of it.
    with data(app) as session:
        st_louis = drives.get_chapter(session, "st-louis")
        session.add(MonthClose(chapter_id=st_louis.id, month=date(2027, 1, 1)))
        session.commit()
    runner = make_app(database_url).test_cli_runner()
    kept = runner.invoke(args=["ledger", "rekey", "--timezone", CHICAGO])
    assert kept.exit_code != 0
    assert "would move money into or out of closed months" in kept.output
    assert "January 2027" in kept.output
    with data(app) as session:
        session.delete(session.get(MonthClose, (st_louis.id, date(2027, 1, 1))))
        session.commit()
    bad = runner.invoke(args=["ledger", "rekey", "--timezone", "Chicago"])
    assert bad.exit_code != 0 and "--timezone must be an IANA time zone name" in bad.output
    done = runner.invoke(args=["ledger", "rekey", "--timezone", CHICAGO])
    assert done.exit_code == 0, done.output
    chicago = make_app(database_url, RELIEF_TIMEZONE=CHICAGO)
    with data(chicago) as session:
        assert {r.month for r in session.exec(select(MonthTotal))} == {date(2026, 12, 1)}
        assert {r.day for r in session.exec(select(ReceivedTotal))} == {date(2026, 12, 31)}
    assert "mo-2026: exact" in chicago.test_cli_runner().invoke(args=["ledger", "verify"]).output
    chicago.extensions["relief.engine"].dispose()
    months.set_zone("UTC")


def test_a_gift_moved_into_a_closed_month_keeps_the_day_it_was_received(chicago):
    """Found by the random stories (date_correction into a closed month, then an amount
    correction). The move's entry lands in the next open month, but the gift was received on
    the day the treasurer gave: the gift page and its receipt say that day, and correcting the
    amount afterwards (the form as it shows) changes the amount today and moves nothing."""
    treasurer = treasurer_of(chicago)
    typed_on = ledger.today()
    real_day = ledger.first_of_month(typed_on) - timedelta(days=20)  # last month, closed
    with data(chicago) as session:
        drive = drives.get_drive(session, "mo-2026")
        st_louis = drives.get_chapter(session, "st-louis")
        gift = make_gift(
            session,
            drive,
            2_500,
            chapter="st-louis",
            donor_name="Cy Cash",
            check_number="1001",
            received_at=ledger.noon(typed_on),
        )
        session.add(MonthClose(chapter_id=st_louis.id, month=ledger.first_of_month(real_day)))
        session.commit()
    moved = treasurer.post(
        f"/treasurer/st-louis/gifts/{gift.id}/correct",
        {"correct_amount": "25.00", "received": real_day.isoformat(), "reason": "slip date"},
    )
    assert moved.status_code == 302, moved.get_data(as_text=True)

    page = treasurer.get(f"/treasurer/st-louis/gifts/{gift.id}").get_data(as_text=True)
    assert f'value="{real_day.isoformat()}"' in page  # not the first of the open month
    receipt = squeeze(
        pdf_text(chicago.test_client().get(f"/gifts/{gift.public_id}/receipt.pdf").data)
    )
    assert f"Date {real_day:%B} {real_day.day}, {real_day.year}" in receipt

    corrected = treasurer.post(
        f"/treasurer/st-louis/gifts/{gift.id}/correct",
        {"correct_amount": "30.00", "received": real_day.isoformat(), "reason": "the check"},
    )
    assert corrected.status_code == 302, corrected.get_data(as_text=True)
    with data(chicago) as session:
        corrections = session.exec(
            select(Entry).where(Entry.gift_id == gift.id, Entry.kind == "correction")
        ).all()
        # The move (reversal today, the gift on the first open day after its closed month),
        # then +$5.00 today: one change of amount, no second move.
        assert [c.amount_cents for c in corrections] == [-2_500, 2_500, 500]
        assert ledger.local_day(corrections[-1].effective_at) == typed_on


def test_a_new_drive_starts_on_the_coalitions_today_not_utcs(database_url):
    """`drive add` without a start date, and the organizer's new-drive form, propose the
    coalition's today. A zone whose date differs from UTC's right now (twelve hours behind
    before noon UTC, fourteen ahead after) makes the difference visible at any hour."""
    now = datetime.now(UTC)
    zone = "Etc/GMT+12" if now.hour < 12 else "Pacific/Kiritimati"
    app = make_app(database_url, RELIEF_TIMEZONE=zone)
    try:
        local_today = ledger.today()
        assert local_today != now.date()
        with data(app) as session:
            drives.create_chapter(session, "st-louis", "St. Louis", "MO")
            session.commit()
            make_user(session, "org@stl.org", "st-louis", role="organizer")
        added = app.test_cli_runner().invoke(
            args=[
                "drive",
                "add",
                "zone-2026",
                "--title",
                "Zone",
                "--goal",
                "100",
                "--chapters",
                "st-louis",
            ]
        )
        assert added.exit_code == 0, added.output
        with data(app) as session:
            assert drives.get_drive(session, "zone-2026").starts_on == local_today
        form = SignedIn(app, "org@stl.org").get("/organize/st-louis/drives/new")
        assert form.status_code == 200, form.status_code
        assert f'value="{local_today.isoformat()}"' in form.get_data(as_text=True)
    finally:
        app.extensions["relief.engine"].dispose()
        months.set_zone("UTC")
