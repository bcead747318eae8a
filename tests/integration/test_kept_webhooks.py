"""RELIEF_WEBHOOKS=kept: the webhook keeps each signed event and answers "queued"; the worker
records kept events in runs (relief/payments/drain.py). What a treasurer and Stripe would
check: nothing is recorded before the worker runs, everything after it, each event once
however often Stripe sent it; an event that keeps failing ends on the admin's list of held
events instead of blocking the others; a worker stopped mid-run loses no event."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, func, select

from relief import boundary, drives, ledger
from relief.config import ConfigError, from_environment
from relief.models import Gift, GiftStatus, KeptEvent, ParkedEvent, utcnow
from relief.outbox.worker import Worker
from relief.payments import drain, fulfilment, webhooks
from tests import stripe_objects as so
from tests.conftest import make_app
from tests.factories import make_coalition


@pytest.fixture
def kept_app(database_url):
    app = make_app(database_url, RELIEF_WEBHOOKS="kept", STRIPE_WEBHOOK_SECRET=so.WEBHOOK_SECRET)
    with app.app_context(), boundary.command() as session:
        make_coalition(session)
    yield app
    app.extensions["relief.engine"].dispose()


def _paid(session_id: str, amount_cents: int = 2_500) -> dict:
    return so.event(
        "checkout.session.completed",
        so.checkout_session(
            amount_cents=amount_cents,
            metadata={"drive": "mo-2026", "chapter": "st-louis"},
            session_id=session_id,
            payment_intent=f"pi_{session_id}",
        ),
    )


def _gifts(app) -> dict[str, GiftStatus]:
    with Session(app.extensions["relief.engine"]) as session:
        return {
            gift.stripe_session_id: gift.status
            for gift in session.exec(select(Gift).where(Gift.stripe_session_id.is_not(None)))
        }


def _count(app, model) -> int:
    with Session(app.extensions["relief.engine"]) as session:
        return session.exec(select(func.count()).select_from(model)).one()


def _raised(app) -> int:
    with Session(app.extensions["relief.engine"]) as session:
        drive = drives.get_drive(session, "mo-2026")
        assert ledger.verify(session, drive) == []
        return ledger.totals(session, drive).figures.raised_cents


def test_kept_events_are_answered_queued_and_recorded_once_by_the_worker(kept_app):
    client = kept_app.test_client()
    first, second = _paid("cs_kept_a"), _paid("cs_kept_b", 4_000)
    refund = so.event(
        "charge.refunded",
        so.charge(
            charge_id="ch_kept_a",
            payment_intent="pi_cs_kept_a",
            amount_cents=2_500,
            amount_refunded=1_000,
        ),
    )
    answers = [so.post_only(client, event) for event in (first, first, refund, second)]
    assert [answer.status_code for answer in answers] == [200] * 4
    assert all(answer.get_json()["queued"] for answer in answers)
    assert answers[0].get_json()["event"] == first["id"]
    assert _gifts(kept_app) == {}  # nothing recorded before the worker runs
    assert _count(kept_app, KeptEvent) == 4

    ended = Worker(kept_app).burst()

    assert _count(kept_app, KeptEvent) == 0
    assert _gifts(kept_app) == {"cs_kept_a": GiftStatus.PAID, "cs_kept_b": GiftStatus.PAID}
    assert _raised(kept_app) == 2_500 - 1_000 + 4_000  # the refund came after its gift
    assert ended  # the receipts and fee reads the gifts made due ran too
    # A redelivery later is answered, kept and found a duplicate by the worker.
    assert so.post_only(client, first).get_json()["queued"]
    Worker(kept_app).burst()
    assert _raised(kept_app) == 5_500
    assert _count(kept_app, KeptEvent) == 0


def test_an_event_that_keeps_failing_is_held_and_the_others_are_recorded(kept_app, monkeypatch):
    real = fulfilment.checkout_expired

    def failing(session, obj):
        if obj["id"] == "cs_poison":
            raise RuntimeError("a bug met this event")
        return real(session, obj)

    monkeypatch.setattr(fulfilment, "checkout_expired", failing)
    client = kept_app.test_client()
    expired = so.checkout_session(
        amount_cents=9_900,
        metadata={"drive": "mo-2026"},
        session_id="cs_poison",
        payment_status="unpaid",
    )
    poison = so.event("checkout.session.expired", expired)
    for event in (_paid("cs_fine_1"), poison, _paid("cs_fine_2")):
        so.post_only(client, event)
    now = utcnow()
    with kept_app.app_context():
        assert drain.drain_once(now) == 3
    assert set(_gifts(kept_app)) == {"cs_fine_1", "cs_fine_2"}
    with Session(kept_app.extensions["relief.engine"]) as session:
        waiting = session.exec(select(KeptEvent)).one()
        assert (waiting.attempts, waiting.error) == (1, "RuntimeError")
        assert waiting.run_after > now  # not taken again at once
    with kept_app.app_context():
        assert drain.drain_once(now) == 0
        for hours in range(1, drain.MAX_ATTEMPTS + 2):
            drain.drain_once(now + timedelta(hours=hours * 24))
    assert _count(kept_app, KeptEvent) == 0
    with Session(kept_app.extensions["relief.engine"]) as session:
        held = session.exec(select(ParkedEvent)).one()
        assert held.reason is not None
        assert f"failed to process this event {drain.MAX_ATTEMPTS} times" in held.reason
        assert webhooks.held_count(session) == 1
    assert _raised(kept_app) == 5_000

    # Once the cause is fixed, the admin runs it again: it is processed, no longer held.
    monkeypatch.setattr(fulfilment, "checkout_expired", real)
    with kept_app.app_context(), boundary.command() as session:
        outcome = webhooks.run_held(session, held.event_id)
    assert outcome.messages == ["session cs_poison expired; nothing pending"]
    assert _count(kept_app, ParkedEvent) == 0


def test_a_worker_stopped_mid_run_loses_no_event(kept_app, monkeypatch):
    from relief.payments import batch

    client = kept_app.test_client()
    for number in range(5):
        so.post_only(client, _paid(f"cs_stop_{number}"))

    def stopped(*_args, **_kwargs):
        raise KeyboardInterrupt  # the worker killed after the gifts went in, before commit

    monkeypatch.setattr(batch, "enqueue_all", stopped)
    with kept_app.app_context(), pytest.raises(KeyboardInterrupt):
        drain.drain_once()
    assert _gifts(kept_app) == {}
    assert _count(kept_app, KeptEvent) == 5
    monkeypatch.undo()

    Worker(kept_app).burst()
    assert len(_gifts(kept_app)) == 5
    assert _raised(kept_app) == 5 * 2_500
    assert _count(kept_app, KeptEvent) == 0


def test_the_setting_is_checked(tmp_path):
    assert from_environment(str(tmp_path), {})["RELIEF_WEBHOOKS"] == "kept"
    assert from_environment(str(tmp_path), {"RELIEF_WEBHOOKS": "Kept"})["RELIEF_WEBHOOKS"] == "kept"
    chosen = from_environment(str(tmp_path), {"RELIEF_WEBHOOKS": " inline"})
    assert chosen["RELIEF_WEBHOOKS"] == "inline"
    with pytest.raises(ConfigError, match="RELIEF_WEBHOOKS must be inline or kept"):
        from_environment(str(tmp_path), {"RELIEF_WEBHOOKS": "later"})


def test_two_workers_draining_at_once_record_every_event_once(kept_app):
    """On PostgreSQL each takes events the other does not hold (SKIP LOCKED); on SQLite they
    take turns. Either way every gift is recorded once and the ledger proves."""
    import threading

    client = kept_app.test_client()
    events = [_paid(f"cs_two_{number}", 1_000 + number) for number in range(120)]
    for event in events + events[:30]:  # a quarter delivered twice
        so.post_only(client, event)
    failures: list[BaseException] = []

    def drainer() -> None:
        try:
            with kept_app.app_context():
                while drain.drain_once():
                    pass
        except BaseException as error:  # noqa: BLE001 — reported by the test
            failures.append(error)

    threads = [threading.Thread(target=drainer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert failures == []
    assert len(_gifts(kept_app)) == 120
    assert _raised(kept_app) == sum(1_000 + number for number in range(120))
    assert _count(kept_app, KeptEvent) == 0


def test_the_admin_sees_events_waiting_for_the_worker_and_is_warned_when_none_runs(kept_app):
    """Kept events are invisible on the drive pages until the worker records them: the
    admin's outbox page says how many wait and since when, and warns once the oldest waits
    longer than a running worker takes (no worker, or one without the app's settings)."""
    from tests.treasury_helpers import SignedIn, make_user

    with kept_app.app_context(), boundary.command() as session:
        make_user(session, "admin@mo.org", admin=True)
    admin = SignedIn(kept_app, "admin@mo.org")
    assert "Stripe event" not in admin.get("/admin/outbox").get_data(as_text=True)

    client = kept_app.test_client()
    for number in (1, 2):
        assert so.post_only(client, _paid(f"cs_waiting{number}")).get_json()["queued"]
    page = admin.get("/admin/outbox").get_data(as_text=True)
    assert "<strong>2</strong> Stripe events wait" in page
    assert "is <code>flask --app app worker</code> running" not in page

    with Session(kept_app.extensions["relief.engine"]) as session:
        for one in session.exec(select(KeptEvent)):
            one.received_at = utcnow() - drain.STALLED_AFTER - timedelta(seconds=5)
            session.add(one)
        session.commit()
    page = admin.get("/admin/outbox").get_data(as_text=True)
    assert "<strong>2</strong> Stripe events wait" in page
    assert "is <code>flask --app app worker</code> running" in page

    Worker(kept_app).burst()
    assert "Stripe event" not in admin.get("/admin/outbox").get_data(as_text=True)
    assert set(_gifts(kept_app)) == {"cs_waiting1", "cs_waiting2"}


def test_the_workers_recording_thread_outlives_a_failure(kept_app, monkeypatch, caplog):
    """`flask worker` records kept events in a thread of its own: a run that raises (a bug,
    not the database) is logged and the thread goes on, so later events are still recorded."""
    import threading

    stop = threading.Event()
    calls = []
    real_drain = Worker.drain

    def drain_failing_once(self, now=None):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug in one run")
        drained = real_drain(self, now)
        stop.set()
        return drained

    monkeypatch.setattr(Worker, "drain", drain_failing_once)
    assert so.post_only(kept_app.test_client(), _paid("cs_after_a_bug")).get_json()["queued"]
    Worker(kept_app, poll_seconds=0.05).drain_until(stop)
    assert len(calls) == 2
    assert "recording Stripe events failed" in caplog.text
    assert set(_gifts(kept_app)) == {"cs_after_a_bug"}
