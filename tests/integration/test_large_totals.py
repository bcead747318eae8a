"""Running totals hold sums far beyond one gift: a drive can raise more than 32 bits of cents."""

from relief import drives, ledger
from relief.models import GiftMethod
from tests.factories import make_coalition


def test_a_drive_raising_over_21_million_dollars_keeps_exact_totals(session):
    drive = make_coalition(session)
    for _ in range(3):  # 3 × $10,000,000: past 2**31 cents, where a 32-bit INTEGER overflows
        drives.record_offline_gift(session, drive, 1_000_000_000, method=GiftMethod.CHECK)
    session.commit()

    totals = ledger.totals(session, drive)
    assert totals.raised_cents == 3_000_000_000
    assert ledger.daily_raised(session, drive.id)[-1].raised_cents == 3_000_000_000
    assert ledger.verify(session, drive) == []
