"""A run of Stripe events processed together (relief/payments/batch.py, paid Checkout Sessions
recorded in bulk) ends exactly where the webhook's one event per unit of work ends: the same
gifts, entries (their fingerprint chain included), running sums, jobs, parked events and
answers, on both databases.

Each example draws a stream of events — new gifts for known and unknown drives, in the
drive's currency and not, on a member's page, by an erased donor, dated in a closed month;
payments of our own pending gifts (by their session or by their public id, twice for one
gift, in test mode, with an honour card); bank debits paid later; expired sessions; a refund
that comes before its gift; redeliveries — and delivers it to two fresh databases set up
alike: one event per unit through ``webhooks.process``, and in units of drawn sizes through
``batch.process_all``. ``RELIEF_BATCH_EXAMPLES=n`` draws more streams;
``RELIEF_BATCH_SHRINK=0`` reports the first failing stream as drawn (shrinking takes minutes).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from relief import boundary, drives, ledger, privacy
from relief.models import Gift, GiftMethod, GiftStatus, MemberPage, MonthClose
from relief.payments import batch, webhooks
from tests import stripe_objects as so
from tests.conftest import make_app
from tests.factories import make_coalition

EXAMPLES = int(os.environ.get("RELIEF_BATCH_EXAMPLES", "12"))
SHRINK = os.environ.get("RELIEF_BATCH_SHRINK", "1") != "0"
NOW = int(time.time())
#: A moment in last month, which the St. Louis chapter has closed.
LAST_MONTH = int((datetime.now(UTC).replace(day=1) - timedelta(days=3)).timestamp())
PENDING = 6

#: What each kind of step delivers (see _events).
STEP = st.one_of(
    st.tuples(
        st.just("new"),
        st.sampled_from(["mo-2026", "mo-2026", "ks-2026", "nowhere"]),
        st.sampled_from([None, "st-louis", "kansas-city", "mid-missouri"]),
        st.sampled_from([None, None, "ana", "nobody"]),
        st.sampled_from(["usd", "usd", "usd", "eur"]),
        st.sampled_from(["dana@example.org", "dana@example.org", "gone@example.org", None]),
        st.sampled_from([NOW, NOW, LAST_MONTH]),
        st.integers(1, 50_000),
    ),
    st.tuples(
        st.just("pending"),
        st.integers(0, PENDING - 1),
        st.booleans(),  # by its stored session id (else a new session naming its public id)
        st.sampled_from(["usd", "usd", "eur"]),
        st.integers(1, 50_000),
        st.sampled_from([None, None, "ana"]),
    ),
    st.tuples(st.just("unpaid"), st.integers(0, PENDING - 1)),
    st.tuples(st.just("paid later"), st.integers(0, 40)),
    st.tuples(st.just("expired"), st.integers(0, PENDING - 1)),
    st.tuples(st.just("refund first"), st.integers(1, 5_000)),
    st.tuples(st.just("again"), st.integers(0, 40)),
)


def _events(steps: list[tuple]) -> list[bytes]:
    """The signed bodies a stream of steps sends, in order (the same bytes to both)."""
    bodies: list[bytes] = []
    unpaid: list[dict] = []
    refunded: list[tuple[str, int]] = []  # (payment intent, amount) refunded before its gift
    for number, step in enumerate(steps):
        kind = step[0]
        event_id = f"evt_run{number:05d}"
        if kind == "new":
            _, drive, chapter, member, currency, email, created, amount = step
            intent = f"pi_run{number:05d}"
            if refunded:
                intent, amount = refunded.pop(0)  # the gift its refund came before
            metadata = {"drive": drive}
            if chapter:
                metadata["chapter"] = chapter
            if member:
                metadata["member"] = member
            obj = so.checkout_session(
                amount_cents=amount,
                metadata=metadata,
                session_id=f"cs_run{number:05d}",
                payment_intent=intent,
                email=email or "",
            )
            obj.update(currency=currency, created=created)
            if email is None:
                obj["customer_details"]["email"] = None
            event = so.event("checkout.session.completed", obj, event_id)
        elif kind == "pending":
            _, which, stored, currency, amount, member = step
            metadata = {"drive": "mo-2026", "gift": f"pending{which}"}
            if member:
                metadata["member"] = member
            obj = so.checkout_session(
                amount_cents=amount,
                metadata=metadata,
                session_id=f"cs_pending{which}" if stored else f"cs_run{number:05d}",
                payment_intent=f"pi_run{number:05d}",
            )
            obj.update(currency=currency, created=NOW)
            event = so.event("checkout.session.completed", obj, event_id)
        elif kind == "unpaid":
            obj = so.checkout_session(
                amount_cents=2_500,
                metadata={"drive": "mo-2026", "gift": f"pending{step[1]}"},
                session_id=f"cs_run{number:05d}",
                payment_intent=f"pi_run{number:05d}",
                payment_status="unpaid",
            )
            obj["created"] = NOW
            unpaid.append(obj)
            event = so.event("checkout.session.completed", obj, event_id)
        elif kind == "paid later":
            if not unpaid:
                continue
            obj = dict(unpaid[step[1] % len(unpaid)], payment_status="paid")
            event = so.event("checkout.session.async_payment_succeeded", obj, event_id)
        elif kind == "expired":
            obj = so.checkout_session(
                amount_cents=2_500,
                metadata={"drive": "mo-2026", "gift": f"pending{step[1]}"},
                session_id=f"cs_pending{step[1]}",
                payment_status="unpaid",
            )
            obj["status"] = "expired"
            event = so.event("checkout.session.expired", obj, event_id)
        elif kind == "refund first":
            intent = f"pi_early{number:05d}"
            refunded.append((intent, step[1]))
            charge = so.charge(
                charge_id=f"ch_early{number:05d}",
                payment_intent=intent,
                amount_cents=step[1],
                amount_refunded=step[1],
            )
            event = so.event("charge.refunded", charge, event_id)
        else:  # again: a redelivery of an earlier event, the same bytes
            if not bodies:
                continue
            bodies.append(bodies[step[1] % len(bodies)])
            continue
        event["created"] = NOW
        bodies.append(so.body(event))
    return bodies


def _set_up(app) -> None:
    """The same coalition in each database: two drives (in dollars), a member's page, six
    pending gifts of ours, an erased donor, and a closed month."""
    with app.app_context(), boundary.command() as session:
        drive = make_coalition(session)
        kansas = drives.create_drive(
            session,
            slug="ks-2026",
            title="Kansas City's own drive",
            goal_cents=100_000,
            chapter_slugs=["kansas-city"],
        )
        assert kansas.id is not None and drive.id is not None
        st_louis = drives.chapter_in_drive(session, drive, "st-louis")
        kansas_city = drives.chapter_in_drive(session, drive, "kansas-city")
        assert st_louis is not None and kansas_city is not None
        session.add(
            MemberPage(
                drive_id=drive.id,
                chapter_id=kansas_city.id,
                name="ana",
                display_name="Ana",
                email="ana@example.org",
                email_key="ana@example.org",
            )
        )
        session.add(
            MonthClose(
                chapter_id=st_louis.id,
                month=ledger.first_of_month(datetime.fromtimestamp(LAST_MONTH, UTC)),
            )
        )
        for which in range(PENDING):
            session.add(
                Gift(
                    public_id=f"pending{which}",
                    drive_id=drive.id,
                    chapter_id=st_louis.id if which % 2 else None,
                    amount_cents=1_000 + which,
                    covered_fee_cents=30 if which == 1 else 0,
                    method=GiftMethod.CARD,
                    status=GiftStatus.PENDING,
                    donor_email=None if which == 2 else f"donor{which}@example.org",
                    stripe_session_id=f"cs_pending{which}" if which < 4 else None,
                    test_mode=which == 3,
                    card_email="friend@example.org" if which == 4 else None,
                    ref="flyer" if which == 5 else None,
                )
            )
        # A check from a donor who later asked to be forgotten.
        drives.record_offline_gift(
            session,
            drive,
            4_000,
            method=GiftMethod.CHECK,
            donor_email="gone@example.org",
            received_at=datetime.fromtimestamp(NOW, UTC),
        )
        session.flush()
        privacy.erase(session, "gone@example.org")


#: Columns that say when a row was written, not what it says.
_WRITTEN_AT = {"created_at", "updated_at", "recorded_at", "parked_at", "run_after"}
_TABLES = {
    "gift": "id",
    "entry": "id",
    "total": "drive_id, chapter_id",
    "month_total": "chapter_id, drive_id, month, kind",
    "daily_total": "drive_id, day",
    "received_total": "drive_id, day, online, chapter_id",
    "link_total": "drive_id, chapter_id, ref, utm_source",
    "job": "id",
    "parked_event": "event_id",
    "stripe_event": "id",
}


def _state(app, outcomes: list[dict]) -> dict:
    """Every row the events wrote, and their answers, with each gift's random public id
    replaced by its row id (the one thing two databases draw differently)."""
    engine = app.extensions["relief.engine"]
    with engine.connect() as connection:
        public = dict(connection.execute(text("SELECT public_id, id FROM gift")).all())
        tables = {}
        for table, order in _TABLES.items():
            columns = [
                column["name"]
                for column in inspect(connection).get_columns(table)
                if column["name"] not in _WRITTEN_AT
                and not (table == "stripe_event" and column["name"] == "received_at")
            ]
            rows = connection.execute(
                text(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}")
            ).all()
            tables[table] = [dict(zip(columns, row, strict=True)) for row in rows]
        with Session(engine) as session:
            verified = {
                slug: ledger.verify(session, drives.get_drive(session, slug))
                for slug in ("mo-2026", "ks-2026")
            }
    pattern = re.compile("|".join(re.escape(key) for key in sorted(public, key=len, reverse=True)))
    text_of = json.dumps({"tables": tables, "outcomes": outcomes}, default=str, sort_keys=True)
    return {
        "state": json.loads(pattern.sub(lambda m: f"<gift {public[m.group()]}>", text_of)),
        "verified": verified,
    }


def _one_by_one(app, bodies: list[bytes]) -> list[dict]:
    outcomes = []
    with app.app_context():
        for payload in bodies:
            with boundary.command() as session:
                outcome = webhooks.process(session, json.loads(payload), payload, whole_unit=True)
            outcomes.append(outcome.as_json())
    return outcomes


def _in_runs(app, bodies: list[bytes], sizes: list[int]) -> list[dict]:
    outcomes = []
    start = 0
    with app.app_context():
        for size in sizes + [len(bodies)]:
            unit = bodies[start : start + size]
            start += size
            if not unit:
                continue
            with boundary.command() as session:
                done = batch.process_all(session, [(json.loads(body), body) for body in unit])
            outcomes += [outcome.as_json() for outcome in done]
    return outcomes


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_databases(request, tmp_path):
    """Makes fresh migrated databases on one backend, as many as asked."""
    made: list[str] = []
    count = iter(range(10_000))

    def make() -> str:
        number = next(count)
        if request.param == "sqlite":
            path = tmp_path / f"relief{number}.db"
            shutil.copy(request.getfixturevalue("sqlite_template"), path)
            return f"sqlite:///{path}"
        admin = request.getfixturevalue("postgres_template")
        name = f"relief_batch_{os.getpid()}_{number}"
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE relief_template'))
        made.append(name)
        server = request.getfixturevalue("postgres_server")
        return make_url(server).set(database=name).render_as_string(hide_password=False)

    yield make
    if made:
        admin = request.getfixturevalue("postgres_template")
        with admin.connect() as connection:
            for name in made:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _app(url: str):
    return make_app(url, SECRET_KEY="batch-parity", STRIPE_WEBHOOK_SECRET=so.WEBHOOK_SECRET)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    phases=list(Phase) if SHRINK else [Phase.explicit, Phase.generate],
)
@given(
    steps=st.lists(STEP, min_size=1, max_size=40),
    sizes=st.lists(st.integers(1, 30), max_size=6),
)
def test_a_run_of_events_ends_where_one_by_one_ends(fresh_databases, steps, sizes):
    bodies = _events(steps)
    one, many = _app(fresh_databases()), _app(fresh_databases())
    try:
        for app in (one, many):
            _set_up(app)
        expected = _state(one, _one_by_one(one, bodies))
        got = _state(many, _in_runs(many, bodies, sizes))
    finally:
        for app in (one, many):
            app.extensions["relief.engine"].dispose()
    assert got["verified"] == expected["verified"] == {"mo-2026": [], "ks-2026": []}
    assert got["state"]["outcomes"] == expected["state"]["outcomes"]
    for table in _TABLES:
        assert got["state"]["tables"][table] == expected["state"]["tables"][table], table


def test_a_hundred_paid_sessions_are_recorded_in_a_few_statements(fresh_databases):
    """What the bulk record is for: a hundred new gifts in a dozen statements or so, not
    fifteen each; every one paid, in the ledger, with its receipt and fee jobs."""
    from sqlalchemy import event as sql_event

    app = _app(fresh_databases())
    _set_up(app)
    bodies = [
        so.body(
            so.event(
                "checkout.session.completed",
                so.checkout_session(
                    amount_cents=2_500, metadata={"drive": "mo-2026", "chapter": "st-louis"}
                ),
            )
        )
        for _ in range(100)
    ]
    statements: list[str] = []
    engine = app.extensions["relief.engine"]
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    try:
        with app.app_context():
            sql_event.listen(engine, "before_cursor_execute", listener)
            with boundary.command() as session:
                done = batch.process_all(session, [(json.loads(body), body) for body in bodies])
            sql_event.remove(engine, "before_cursor_execute", listener)
            assert [outcome.messages[0].endswith(" paid") for outcome in done] == [True] * 100
            with Session(engine) as session:
                totals = ledger.totals(session, drives.get_drive(session, "mo-2026"))
                assert ledger.verify(session, drives.get_drive(session, "mo-2026")) == []
        # The set-up's check of $40 and the hundred gifts of $25.
        assert totals.figures.raised_cents == 4_000 + 250_000
        assert totals.figures.gift_count == 1 + 100
        assert len(statements) <= 25, statements
        with engine.connect() as connection:
            jobs = connection.execute(text("SELECT kind, count(*) FROM job GROUP BY kind")).all()
        assert dict(jobs) == {"mail": 100, "fee": 100}
    finally:
        engine.dispose()
