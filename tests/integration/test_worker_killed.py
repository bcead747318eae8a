"""A gunicorn worker SIGKILLed while it holds a webhook's transaction open (event claimed,
gift and ledger entry written but not committed), then Stripe's retry of the same signed
event: exactly one gift, every total exact — on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import os
import signal
import threading
import time

import requests
from sqlmodel import Session, func, select

from relief import drives, ledger
from relief.models import Entry, Gift, Job, StripeEvent
from tests import stripe_objects as so
from tests.conftest import make_app
from tests.factories import make_coalition
from tests.processes.gunicorn import Gunicorn
from tests.stripe_fixtures import fake_stripe  # noqa: F401


def test_a_worker_killed_mid_webhook_then_stripes_retry_counts_the_gift_once(
    database_url,
    fake_stripe,  # noqa: F811
    tmp_path,
):
    app = make_app(database_url)
    engine = app.extensions["relief.engine"]
    with Session(engine, expire_on_commit=False) as session:
        make_coalition(session)
    obj = so.checkout_session(
        amount_cents=4_200, metadata={"drive": "mo-2026", "chapter": "st-louis"}
    )
    payload = so.body(so.event("checkout.session.completed", obj))
    server = Gunicorn(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "kill-test",
            "STRIPE_SECRET_KEY": "sk_test_kill",
            "STRIPE_WEBHOOK_SECRET": so.WEBHOOK_SECRET,
            "STRIPE_API_BASE": fake_stripe.url,
            "RELIEF_TEST_PAUSE_DIR": str(tmp_path),
        },
        app="tests.processes.pausing_app:app",
    ).wait_ready()
    try:
        first: dict = {}

        def deliver_first():
            try:
                first["response"] = so.post_live(server.url, payload)
            except requests.ConnectionError as error:  # the worker died under it
                first["error"] = error

        thread = threading.Thread(target=deliver_first)
        thread.start()
        marker = tmp_path / "paused"
        deadline = time.monotonic() + 30
        while not (marker.exists() and marker.read_text()):
            assert time.monotonic() < deadline, "the handler never paused"
            time.sleep(0.05)
        os.kill(int(marker.read_text()), signal.SIGKILL)
        thread.join(30)
        assert "error" in first or first["response"].status_code >= 500
        # Nothing of the killed request survived.
        with Session(engine) as session:
            assert session.exec(select(func.count()).select_from(Gift)).one() == 0
            assert session.exec(select(func.count()).select_from(StripeEvent)).one() == 0
            # Nor its jobs (the fee read and the receipt were written in its unit).
            assert session.exec(select(func.count()).select_from(Job)).one() == 0
        # Stripe retries (gunicorn's master has started a new worker meanwhile).
        deadline = time.monotonic() + 30
        while True:
            try:
                retry = so.post_live(server.url, payload)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert retry.status_code == 200 and retry.json()["duplicate"] is False
        again = so.post_live(server.url, payload)
        assert again.status_code == 200 and again.json()["duplicate"] is True
    finally:
        server.stop()
    with Session(engine) as session:
        drive = drives.get_drive(session, "mo-2026")
        assert session.exec(select(func.count()).select_from(Gift)).one() == 1
        assert (
            session.exec(select(func.count()).select_from(Entry).where(Entry.kind == "gift")).one()
            == 1
        )
        assert ledger.totals(session, drive).raised_cents == 4_200
        assert ledger.verify(session, drive) == []
        gift_id = session.exec(select(Gift.id)).one()
        assert sorted(session.exec(select(Job.key))) == [
            f"fee:gift:{gift_id}",
            f"receipt:gift:{gift_id}",
        ]
    engine.dispose()
