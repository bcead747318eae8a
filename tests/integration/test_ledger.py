"""The ledger is the one source of every figure; the running totals must be provably its."""

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from relief import drives, ledger
from relief.errors import InvalidInput
from relief.models import EntryKind
from relief.reports import press
from tests.factories import make_coalition, make_gift


def test_three_chapters_raise_1600_and_relieve_about_160000(session):
    drive = make_coalition(session)
    make_gift(session, drive, 60_000, chapter="mid-missouri")
    make_gift(session, drive, 50_000, chapter="st-louis")
    make_gift(session, drive, 50_000, chapter="kansas-city")
    totals = ledger.totals(session, drive)
    assert totals.raised_cents == 160_000
    assert totals.projected_relief_cents == 16_000_000
    assert {p.slug: p.figures.raised_cents for p in totals.chapters} == {
        "mid-missouri": 60_000,
        "st-louis": 50_000,
        "kansas-city": 50_000,
    }
    assert totals.figures.gift_count == 3
    assert ledger.verify(session, drive) == []


def test_definitions_raised_net_and_relief_follow_every_kind_of_entry(session):
    drive = make_coalition(session)
    gift = make_gift(session, drive, 10_000, chapter="st-louis")
    common = {"drive_id": drive.id, "chapter_id": gift.chapter_id, "gift_id": gift.id}
    ledger.append(session, kind=EntryKind.FEE, amount_cents=250, **common)
    ledger.append(session, kind=EntryKind.REFUND, amount_cents=-2_000, **common)
    ledger.append(session, kind=EntryKind.DISPUTE_WITHDRAWN, amount_cents=-3_000, **common)
    ledger.append(session, kind=EntryKind.DISPUTE_REINSTATED, amount_cents=3_000, **common)
    ledger.append(session, kind=EntryKind.DISPUTE_WITHDRAWN, amount_cents=-1_000, **common)
    ledger.append(session, kind=EntryKind.CORRECTION, amount_cents=-500, memo="typo", **common)
    ledger.append(session, kind=EntryKind.REMITTANCE, amount_cents=4_000, drive_id=drive.id)
    session.commit()
    figures = ledger.totals(session, drive).figures
    assert figures.gifts_cents == 10_000
    assert figures.refunds_cents == 2_000
    assert figures.disputes_cents == 1_000
    assert figures.raised_cents == 10_000 - 2_000 - 1_000 - 500
    assert figures.net_cents == 6_500 - 250
    assert figures.remitted_cents == 4_000
    assert ledger.totals(session, drive).projected_relief_cents == 625_000
    assert ledger.verify(session, drive) == []


def test_an_entry_with_a_known_external_id_posts_once(session):
    drive = make_coalition(session)
    first = ledger.append(
        session, kind=EntryKind.GIFT, amount_cents=500, drive_id=drive.id, external_id="pi_123"
    )
    again = ledger.append(
        session, kind=EntryKind.GIFT, amount_cents=500, drive_id=drive.id, external_id="pi_123"
    )
    session.commit()
    assert first is not None and again is None
    assert ledger.totals(session, drive).raised_cents == 500


def test_zero_or_fractional_entries_are_refused(session):
    drive = make_coalition(session)
    for bad in (0, 1.5, True):
        with pytest.raises(InvalidInput):
            ledger.append(session, kind=EntryKind.GIFT, amount_cents=bad, drive_id=drive.id)


def test_running_totals_equal_a_replay_of_the_ledger_after_random_activity(session):
    drive = make_coalition(session)
    rng = random.Random(7)
    chapters = [None, "mid-missouri", "st-louis", "kansas-city"]
    start = datetime(2026, 11, 1, tzinfo=UTC)
    for _ in range(60):
        gift = make_gift(
            session,
            drive,
            rng.randint(1, 50_000),
            chapter=rng.choice(chapters),
            received_at=start + timedelta(hours=rng.randint(0, 500)),
        )
        kind = rng.choice(
            [
                EntryKind.FEE,
                EntryKind.REFUND,
                EntryKind.DISPUTE_WITHDRAWN,
                EntryKind.CORRECTION,
                None,
            ]
        )
        if kind is not None:
            sign = 1 if kind in (EntryKind.FEE, EntryKind.CORRECTION) else -1
            ledger.append(
                session,
                kind=kind,
                amount_cents=sign * rng.randint(1, 300),
                drive_id=drive.id,
                chapter_id=gift.chapter_id,
                gift_id=gift.id,
                effective_at=gift.received_at + timedelta(days=1),
            )
            session.commit()
    assert ledger.verify(session, drive) == []
    replay = ledger.recompute(session, drive)
    totals = ledger.totals(session, drive)
    assert totals.figures == replay.figures
    assert totals.fingerprint == replay.fingerprint
    assert sum(day[0] for day in replay.daily.values()) == totals.raised_cents


def _paid_rows(drive, count: int, *, chapter_id=lambda i: None, apart=timedelta(hours=1)):
    """``count`` paid test gifts for ``ledger.append_gifts_in_bulk``: the i-th of 100 + i
    cents, received i × ``apart`` ago, some through a flyer's link or a radio spot's."""
    from relief.models import GiftMethod, GiftStatus, utcnow

    return [
        {
            "drive_id": drive.id,
            "chapter_id": chapter_id(i),
            "amount_cents": 100 + i,
            "currency": "USD",
            "method": GiftMethod.TEST,
            "status": GiftStatus.PAID,
            "received_at": utcnow() - i * apart,
            "ref": "flyer" if i % 4 == 0 else None,
            "utm_source": "radio" if i % 5 == 0 else None,
        }
        for i in range(count)
    ]


def test_bulk_gifts_keep_the_same_totals_and_fingerprint_as_the_replay(session):
    drive = make_coalition(session)
    make_gift(session, drive, 700, chapter="st-louis")
    rows = _paid_rows(drive, 250, chapter_id=lambda i: None if i % 3 == 0 else 1)
    assert ledger.append_gifts_in_bulk(session, drive, rows) == 250
    session.commit()
    make_gift(session, drive, 300)
    assert ledger.verify(session, drive) == []
    assert ledger.totals(session, drive).figures.gift_count == 252


def test_fingerprint_changes_with_every_entry(session):
    drive = make_coalition(session)
    seen = {ledger.totals(session, drive).fingerprint}
    for amount in (500, 500, 700):
        make_gift(session, drive, amount)
        seen.add(ledger.totals(session, drive).fingerprint)
    assert len(seen) == 4


def _random_activity(session, drive, seed=11, gifts=40):
    rng = random.Random(seed)
    chapters = [None, "mid-missouri", "st-louis", "kansas-city"]
    start = datetime(2026, 9, 20, tzinfo=UTC)  # across three months
    for _ in range(gifts):
        gift = make_gift(
            session,
            drive,
            rng.randint(1, 50_000),
            chapter=rng.choice(chapters),
            received_at=start + timedelta(hours=rng.randint(0, 1500)),
        )
        if gift.chapter_id and rng.random() < 0.5:
            ledger.append(
                session,
                kind=rng.choice([EntryKind.FEE, EntryKind.REFUND, EntryKind.CORRECTION]),
                amount_cents=rng.choice([1, -1]) * rng.randint(1, 300),
                drive_id=drive.id,
                chapter_id=gift.chapter_id,
                gift_id=gift.id,
                effective_at=gift.received_at + timedelta(days=rng.randint(0, 20)),
            )
            session.commit()


def _entries_by_month(session, chapter_id):
    """The month figures of the chapter's books summed straight from the entries, the slow
    way: its own entries, and those of no chapter in a drive it hosts."""
    from relief.models import Drive, Entry

    hosted = set(session.exec(select(Drive.id).where(Drive.host_chapter_id == chapter_id)))
    grouped = {}
    for entry in session.exec(select(Entry).where(Entry.drive_id.is_not(None))):
        if entry.chapter_id != chapter_id and not (
            entry.chapter_id is None and entry.drive_id in hosted
        ):
            continue
        key = ledger.first_of_month(entry.effective_at).strftime("%Y-%m")
        grouped[key] = grouped.get(key, ledger.Figures()).plus(entry.kind, entry.amount_cents)
    return grouped


def test_a_chapters_month_figures_come_from_month_totals_equal_to_its_entries(session):
    from relief import drives
    from relief.treasury import dashboard

    drive = make_coalition(session)
    _random_activity(session, drive)
    assert ledger.verify(session, drive) == []
    for slug in ("mid-missouri", "st-louis", "kansas-city"):
        chapter = drives.get_chapter(session, slug)
        shown = {row.key: row.figures for row in dashboard.by_month(session, chapter)}
        assert shown == _entries_by_month(session, chapter.id)
        assert len(shown) >= 2  # the activity spans months


def test_verify_notices_a_month_total_that_differs_from_the_entries(session):
    from relief.models import MonthTotal

    drive = make_coalition(session)
    make_gift(session, drive, 2_500, chapter="st-louis")
    row = session.exec(select(MonthTotal)).one()
    row.amount_cents += 1
    session.commit()
    assert ledger.verify(session, drive) == ["chapters' month totals differ from the ledger"]


def test_the_month_totals_migration_fills_them_from_the_entries_already_there(session):
    from alembic import command
    from sqlalchemy import text

    from relief.db import alembic_config
    from relief.models import MonthTotal

    drive = make_coalition(session)
    _random_activity(session, drive, seed=5, gifts=25)
    kept = {
        (r.chapter_id, r.drive_id, r.month, r.kind): (r.amount_cents, r.gift_count)
        for r in session.exec(select(MonthTotal))
    }
    session.close()
    url = session.get_bind().url.render_as_string(hide_password=False)
    command.downgrade(alembic_config(url), "0010")
    command.upgrade(alembic_config(url), "head")
    with Session(session.get_bind()) as fresh:
        filled = {
            (r.chapter_id, r.drive_id, r.month, r.kind): (r.amount_cents, r.gift_count)
            for r in fresh.exec(select(MonthTotal))
        }
        assert filled == kept and kept
        assert ledger.verify(fresh, drive) == []
        assert fresh.execute(text("SELECT count(*) FROM month_total")).scalar() == len(kept)


def test_verify_notices_a_received_total_that_differs_from_the_entries(session):
    from relief.models import ReceivedTotal

    drive = make_coalition(session)
    make_gift(session, drive, 2_500, chapter="st-louis")
    row = session.exec(select(ReceivedTotal)).one()
    assert row.net_cents == 2_500 and not row.online
    row.net_cents += 1
    session.commit()
    assert ledger.verify(session, drive) == [
        "the gifts' sums by day received differ from the ledger"
    ]


def test_the_received_totals_migration_fills_them_from_the_entries_already_there(session):
    """Match pledges read the gifts' nets by day received from ``received_total``: on a
    database that had gifts before it, the migration fills it from the ledger, refunds and
    corrections included, as the app keeps it from then on."""
    from alembic import command

    from relief.db import alembic_config
    from relief.models import ReceivedTotal

    drive = make_coalition(session)
    _random_activity(session, drive, seed=7, gifts=25)

    def received(of: Session) -> dict:
        return {
            (r.drive_id, r.day, r.online, r.chapter_id): r.net_cents
            for r in of.exec(select(ReceivedTotal))
            if r.net_cents
        }

    kept = received(session)
    assert len(kept) > 1 and sum(kept.values()) == ledger.totals(session, drive).raised_cents
    session.close()
    url = session.get_bind().url.render_as_string(hide_password=False)
    command.downgrade(alembic_config(url), "0032_report_queries")
    command.upgrade(alembic_config(url), "head")
    with Session(session.get_bind()) as fresh:
        assert received(fresh) == kept
        assert ledger.verify(fresh, drive) == []


def test_percent_of_goal_says_the_true_value_and_only_the_bar_stops_at_full(session, client):
    drive = make_coalition(session, goal_cents=100_000)
    st_louis = drives.chapter_in_drive(session, drive, "st-louis")
    drives.set_chapter_goal(session, drive, st_louis, 1_00)
    kansas_city = drives.chapter_in_drive(session, drive, "kansas-city")
    drives.set_chapter_goal(session, drive, kansas_city, 100_000)
    make_gift(session, drive, 1_847_83, chapter="st-louis")  # 184,783% of its $1 sub-goal
    make_gift(session, drive, 7_980, chapter="kansas-city")  # 7.98% of its $1,000 sub-goal

    totals = ledger.totals(session, drive)
    parts = {part.slug: part for part in totals.chapters}
    assert (totals.percent_of_goal, totals.bar_percent) == (193, 100)  # 192.763%
    assert (parts["st-louis"].percent_of_goal, parts["st-louis"].bar_percent) == (184_783, 100)
    assert (parts["kansas-city"].percent_of_goal, parts["kansas-city"].bar_percent) == (8, 8)

    page = client.get("/drives/mo-2026").get_data(as_text=True)
    whole = '<progress value="100" max="100" aria-label="Whole drive: 193% of the goal">193%<'
    assert whole in page
    assert '<progress value="100" max="100" aria-label="St. Louis: 184783% of its' in page
    assert '<progress value="8" max="100" aria-label="Kansas City: 8% of its' in page

    snapshot = press.build(session, drive.slug, datetime.now(UTC))
    assert (snapshot.percent_of_goal, snapshot.percent_text) == (193, "192.8%")
    lines = {line.slug: line.percent_text for line in snapshot.chapters}
    assert lines == {"mid-missouri": "—", "st-louis": "184,783.0%", "kansas-city": "8.0%"}


def test_many_entries_at_once_are_the_entries_and_sums_of_one_at_a_time(session):
    """Fees read a hundred at a time are posted with append_many: the same sums, month totals
    and entries as append called for each, each external id once (asked again, twice in one
    call, or posted one by one before), and one dated in its chapter's closed month lands in
    the next open month, as append puts it."""
    from relief.models import Entry, MonthClose, MonthTotal

    january = datetime(2026, 1, 20, tzinfo=UTC)
    one_by_one = make_coalition(session)
    at_once = drives.create_drive(
        session,
        slug="mo-2026-b",
        title="The same drive, its fees posted at once",
        story="",
        goal_cents=100_000,
        chapter_slugs=["mid-missouri", "st-louis", "kansas-city"],
        starts_on=january.date(),
    )
    session.commit()
    chapters = [None, "mid-missouri", "st-louis", "kansas-city"]
    fees = {}
    for drive in (one_by_one, at_once):
        gifts = [
            make_gift(
                session,
                drive,
                1_000 + n,
                chapter=chapters[n % 4],
                received_at=january + timedelta(days=n * 3),
            )
            for n in range(30)
        ]
        fees[drive.id] = [
            ledger.NewEntry(
                kind=EntryKind.FEE,
                amount_cents=30 + n,
                currency=drive.currency,
                drive_id=drive.id,
                chapter_id=gift.chapter_id,
                gift_id=gift.id,
                effective_at=gift.received_at,
                external_id=f"fee:txn_{drive.slug}_{n}",
                memo="processing fee",
            )
            for n, gift in enumerate(gifts)
        ]
    session.add(
        MonthClose(
            chapter_id=drives.get_chapter(session, "st-louis").id,
            month=january.replace(day=1).date(),
        )
    )
    session.commit()

    for entry in fees[one_by_one.id]:
        ledger.append(
            session, **{name: getattr(entry, name) for name in entry.__dataclass_fields__}
        )
    session.commit()
    first, rest = fees[at_once.id][:3], fees[at_once.id][3:]
    ledger.append(
        session, **{name: getattr(first[0], name) for name in first[0].__dataclass_fields__}
    )
    posted = ledger.append_many(session, [*first, *rest, rest[0]])
    session.commit()
    assert len(posted) == 29  # the one posted before, and the repeat, once
    assert ledger.append_many(session, fees[at_once.id]) == {}  # asked again: nothing new
    session.commit()

    def books(drive):
        totals = ledger.totals(session, drive)
        months = sorted(
            (row.chapter_id, row.month, row.kind, row.amount_cents, row.gift_count)
            for row in session.exec(select(MonthTotal).where(MonthTotal.drive_id == drive.id))
        )
        entries = sorted(
            (e.kind, e.amount_cents, e.chapter_id, e.effective_at, e.memo)
            for e in session.exec(select(Entry).where(Entry.drive_id == drive.id))
        )
        return totals.figures, totals.by_chapter_id, months, entries

    assert books(at_once) == books(one_by_one)
    moved = session.exec(
        select(Entry).where(Entry.external_id == "fee:txn_mo-2026-b_2")
    ).one()  # St. Louis's, dated January 26: January is closed
    assert moved.effective_at.replace(tzinfo=None) == datetime(2026, 2, 1)
    assert "in closed January 2026: moved to February 2026" in moved.memo
    assert ledger.verify(session, at_once) == [] and ledger.verify(session, one_by_one) == []


def test_a_bulk_load_into_a_young_postgresql_database_checks_each_entrys_gift_by_its_key(
    session,
):
    """Each entry's gift is checked (its foreign key) with a plan PostgreSQL makes from its
    statistics of the gift table. Told the table is empty, as in a young database before
    autovacuum's first look, it found ``id = $1`` as cheap in an index that holds ``id``
    last as in the primary key, scanned that whole index for every entry, and a load grew
    with the square of its gifts (100,000 demo gifts: 60 s, then 15). A load of 2,000 gifts
    reads that index for none of them."""
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("PostgreSQL's planner and its statistics")
    drive = make_coalition(session)
    session.commit()
    rows = _paid_rows(drive, 2_000, apart=timedelta(minutes=1))
    assert ledger.append_gifts_in_bulk(session, drive, rows) == 2_000
    scans = session.connection().exec_driver_sql(
        "SELECT pg_stat_get_xact_numscans('ix_gift_drive_status_received'::regclass),"
        " pg_stat_get_xact_numscans('pk_gift'::regclass)"
    )
    by_other_index, by_key = scans.one()
    assert by_other_index == 0 and by_key >= 2_000, (by_other_index, by_key)
    session.commit()
    assert ledger.verify(session, drive) == []
