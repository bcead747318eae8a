"""Stripe's API is slow (each answer takes 0.4 s) while a burst of gifts arrives: the webhooks
are answered at the speed of our database, not Stripe's, and every fee arrives afterwards,
read by outbox workers — under gunicorn with two sync workers, as in production."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from sqlmodel import Session

from relief import drives, ledger
from tests import stripe_objects as so
from tests.conftest import make_app
from tests.factories import make_coalition
from tests.processes.gunicorn import Gunicorn
from tests.processes.worker import WorkerProcess
from tests.stripe_fixtures import fake_stripe  # noqa: F401

EVENTS = 40
STRIPE_SECONDS = 0.4


def test_a_burst_of_gifts_is_answered_at_once_though_stripe_is_slow_and_every_fee_arrives(
    database_url,
    fake_stripe,  # noqa: F811
):
    app = make_app(database_url)
    engine = app.extensions["relief.engine"]
    with Session(engine, expire_on_commit=False) as session:
        make_coalition(session)
    fake_stripe.while_answering = lambda method, path: time.sleep(STRIPE_SECONDS)
    fake_stripe.fees.update({f"ch_of_pi_slow{n}": 30 + n for n in range(EVENTS)})
    payloads = [
        so.body(
            so.event(
                "checkout.session.completed",
                so.checkout_session(
                    amount_cents=1_000 + n,
                    metadata={"drive": "mo-2026", "chapter": "st-louis"},
                    payment_intent=f"pi_slow{n}",
                ),
            )
        )
        for n in range(EVENTS)
    ]
    env = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": "slow-stripe",
        "STRIPE_SECRET_KEY": "sk_test_slow",
        "STRIPE_WEBHOOK_SECRET": so.WEBHOOK_SECRET,
        "STRIPE_API_BASE": fake_stripe.url,
    }
    server = Gunicorn(env, workers=2).wait_ready()
    workers: list[WorkerProcess] = []
    try:

        def deliver(payload: bytes) -> int:
            return so.post_live(server.url, payload).status_code

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(deliver, payloads))
        answered_in = time.monotonic() - started
        assert statuses == [200] * EVENTS
        # Had each worker asked Stripe before taking the next webhook, 40 events on two
        # workers would take 40 × 0.4 s / 2 = 8 s.
        assert answered_in < EVENTS * STRIPE_SECONDS / 2 / 4, f"{answered_in:.1f} s"

        # The fees wait in the outbox for workers (started now, so that their start-up is not
        # timed with the answers). Fee reads wait on Stripe, not on the machine: four
        # workers read four at a time.
        workers.extend(WorkerProcess(env, "--only", "fee") for _ in range(4))
        pending = so.wait_for_fees(engine)
        assert pending == 0, f"{pending} fees never read"
    finally:
        server.stop()
        for worker in workers:
            worker.stop()
    with Session(engine) as session:
        drive = drives.get_drive(session, "mo-2026")
        totals = ledger.totals(session, drive)
        assert totals.figures.gift_count == EVENTS
        assert totals.raised_cents == sum(1_000 + n for n in range(EVENTS))
        assert totals.figures.fees_cents == sum(30 + n for n in range(EVENTS))  # each once
        assert ledger.verify(session, drive) == []
    engine.dispose()
