"""The ledger at scale: sums beyond 32 bits, and verification while gifts keep arriving."""

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


def test_verify_is_exact_while_a_gift_is_being_written(app, session):
    """A treasurer runs `flask ledger verify` while donations arrive: a gift committed in the
    middle of the replay must not show up as a difference."""
    from sqlalchemy import event
    from sqlmodel import Session

    from relief.db import make_engine
    from relief.models import Drive
    from tests.factories import make_gift

    drive = make_coalition(session)
    for amount in (500, 1_500):
        make_gift(session, drive, amount, chapter="st-louis")
    engine = app.extensions["relief.engine"]
    written = []

    @event.listens_for(engine, "before_cursor_execute")
    def a_gift_arrives_meanwhile(_conn, _cursor, statement, *_args):
        if not written and "FROM entry" in statement and "ORDER BY entry.id" in statement:
            donor = make_engine(app.config["DATABASE_URL"])
            with Session(donor, expire_on_commit=False) as elsewhere:
                written.append(make_gift(elsewhere, elsewhere.get(Drive, drive.id), 700))
            donor.dispose()

    with Session(engine, expire_on_commit=False) as treasurer:
        assert ledger.verify(treasurer, treasurer.get(Drive, drive.id)) == []
    event.remove(engine, "before_cursor_execute", a_gift_arrives_meanwhile)
    assert written, "the gift was written during the replay"
    assert ledger.verify(session, drive) == []
    assert ledger.totals(session, drive).raised_cents == 2_700
