"""Two app instances (two gunicorn servers, two sync workers each) on one PostgreSQL receive N
distinct signed checkout.session.completed events, each delivered to both at the same moment:
every event counts once, every total is exact, and no lock or deadlock is left behind."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import Session, func, select

from relief import drives, ledger
from relief.models import Gift, StripeEvent
from tests import stripe_objects as so
from tests.conftest import make_app
from tests.factories import make_coalition
from tests.processes.gunicorn import Gunicorn
from tests.processes.worker import WorkerProcess
from tests.stripe_fixtures import fake_stripe  # noqa: F401

#: 1,000 as the issue asks: ~10 s here (2 cores); lower it with the variable.
EVENTS = int(os.environ.get("RELIEF_CONCURRENCY_EVENTS", "1000"))
CHAPTERS = ("st-louis", "kansas-city", "mid-missouri", None)


@pytest.fixture
def postgres_url(postgres_server, postgres_template):
    name = f"relief_concurrency_{os.getpid()}"
    with postgres_template.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE relief_template'))
    yield make_url(postgres_server).set(database=name).render_as_string(hide_password=False)
    with postgres_template.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _left_behind(engine) -> tuple[int, int, int]:
    """Locks other sessions hold on the test database, sessions idle in a transaction, and
    deadlocks so far."""
    with engine.connect() as connection:
        locks = connection.execute(
            text(
                "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                "WHERE d.datname = current_database() AND l.pid <> pg_backend_pid()"
            )
        ).scalar_one()
        stuck = connection.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state LIKE 'idle in transaction%'"
            )
        ).scalar_one()
        deadlocks = connection.execute(
            text("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        ).scalar_one()
    return locks, stuck, deadlocks


def test_two_instances_receiving_every_event_twice_at_once_count_each_once(
    postgres_url,
    fake_stripe,  # noqa: F811
):
    app = make_app(postgres_url)
    engine = app.extensions["relief.engine"]
    with Session(engine, expire_on_commit=False) as session:
        drive = make_coalition(session)
    env = {
        "DATABASE_URL": postgres_url,
        "SECRET_KEY": "concurrency",
        "STRIPE_SECRET_KEY": "sk_test_concurrency",
        "STRIPE_WEBHOOK_SECRET": so.WEBHOOK_SECRET,
        "STRIPE_API_BASE": fake_stripe.url,
    }
    servers = [Gunicorn(env, workers=2) for _ in range(2)]
    # One outbox worker beside each instance, as .ci/serve runs them.
    workers = [WorkerProcess(env, "--only", "fee") for _ in range(2)]
    expected_cents = 0
    payloads = []
    for number in range(EVENTS):
        amount = 500 + number  # distinct amounts: a lost or doubled one shows in the sum
        chapter = CHAPTERS[number % len(CHAPTERS)]
        metadata = {"drive": "mo-2026", **({"chapter": chapter} if chapter else {})}
        obj = so.checkout_session(amount_cents=amount, metadata=metadata)
        payloads.append(so.body(so.event("checkout.session.completed", obj)))
        expected_cents += amount
    try:
        for server in servers:
            server.wait_ready()
        sessions = [requests.Session() for _ in range(16)]

        def deliver(job):
            index, payload = job
            server = servers[index % 2]
            response = so.post_live(server.url, payload, sessions[index % len(sessions)])
            return response.status_code, response.json().get("duplicate")

        # Both deliveries of an event are next to each other in the queue, so 16 threads send
        # them to the two instances at the same moment.
        jobs = [(2 * n + copy, payloads[n]) for n in range(EVENTS) for copy in (0, 1)]
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=16) as pool:
            answers = list(pool.map(deliver, jobs))
        elapsed = time.monotonic() - started
        print(f"{EVENTS} events × 2 deliveries in {elapsed:.1f} s")
        assert all(status == 200 for status, _ in answers), {a for a in answers if a[0] != 200}
        assert sum(duplicate is False for _, duplicate in answers) == EVENTS
        assert sum(duplicate is True for _, duplicate in answers) == EVENTS
        # Each fee is a job the outbox workers read after its webhook has answered, so they
        # may still be posting fees: wait for that work to end before looking for anything
        # left behind.
        pending = so.wait_for_fees(engine, seconds=300)
        assert pending == 0, f"{pending} gifts still wait for their fee"
        # Nothing left holding a lock or a transaction. The outbox workers still poll for
        # jobs, and a poll holds its locks while its statement runs and is "idle in
        # transaction" between its BEGIN and its statement (full runs caught each once: 4
        # locks; 0 locks and 1 such session): what is left behind stays, so wait for a
        # moment with neither.
        deadline = time.monotonic() + 10
        while True:
            locks, stuck, deadlocks = _left_behind(engine)
            if (locks, stuck) == (0, 0) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert (locks, stuck, deadlocks) == (0, 0, 0)
    finally:
        for server in servers:
            server.stop()
        for worker in workers:
            worker.stop()
    with Session(engine) as session:
        drive = drives.get_drive(session, "mo-2026")
        assert session.exec(select(func.count()).select_from(Gift)).one() == EVENTS
        assert session.exec(select(func.count()).select_from(StripeEvent)).one() == EVENTS
        totals = ledger.totals(session, drive)
        assert totals.raised_cents == expected_cents
        assert totals.figures.gift_count == EVENTS
        assert (
            sum(part.figures.raised_cents for part in totals.chapters)
            + (totals.unattributed.raised_cents)
            == expected_cents
        )
        assert ledger.verify(session, drive) == []
    engine.dispose()
