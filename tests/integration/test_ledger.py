"""The ledger is the one source of every figure; the running totals must be provably its."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from relief import ledger
from relief.errors import InvalidInput
from relief.models import EntryKind
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


def test_bulk_gifts_keep_the_same_totals_and_fingerprint_as_the_replay(session):
    from relief.models import GiftMethod, GiftStatus, utcnow

    drive = make_coalition(session)
    make_gift(session, drive, 700, chapter="st-louis")
    rows = [
        {
            "drive_id": drive.id,
            "chapter_id": None if i % 3 == 0 else 1,
            "amount_cents": 100 + i,
            "currency": "USD",
            "method": GiftMethod.TEST,
            "status": GiftStatus.PAID,
            "received_at": utcnow() - timedelta(hours=i),
        }
        for i in range(250)
    ]
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
