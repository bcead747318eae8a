"""Outbox workers as their own processes, stopped the hard way (SIGKILL) in the middle of their
work, and the polite way (SIGTERM): every fee posted once, every receipt sent once, nothing
lost — on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import threading
import time

from sqlmodel import Session, func, select

from relief import drives, ledger
from relief.models import Entry, EntryKind, Gift, Job, JobStatus
from tests import stripe_objects as so
from tests.conftest import make_app
from tests.factories import make_coalition
from tests.mailbox import Mailbox
from tests.processes.worker import WorkerProcess, burst
from tests.stripe_fixtures import fake_stripe  # noqa: F401

META = {"drive": "mo-2026", "chapter": "st-louis"}
GIFTS = 8
STRIPE_SECONDS = 0.3


def _env(database_url, fake_stripe, **more):  # noqa: F811
    return {
        "DATABASE_URL": database_url,
        "SECRET_KEY": "worker-stops",
        "STRIPE_SECRET_KEY": "sk_test_stops",
        "STRIPE_WEBHOOK_SECRET": so.WEBHOOK_SECRET,
        "STRIPE_API_BASE": fake_stripe.url,
        **more,
    }


def _app(env):
    config = {k: v for k, v in env.items() if k not in ("DATABASE_URL", "SECRET_KEY")}
    app = make_app(env["DATABASE_URL"], **config)
    with Session(app.extensions["relief.engine"], expire_on_commit=False) as session:
        make_coalition(session)
    return app


def _count(engine, query) -> int:
    with Session(engine) as session:
        return session.exec(query).one()


def _wait(condition, seconds=60.0, what="the worker"):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not get there in {seconds} s"
        time.sleep(0.05)


def test_a_worker_killed_mid_batch_loses_no_fee_and_posts_none_twice(
    database_url,
    fake_stripe,  # noqa: F811
):
    env = _env(database_url, fake_stripe)
    app = _app(env)
    engine = app.extensions["relief.engine"]
    fake_stripe.while_answering = lambda method, path: time.sleep(STRIPE_SECONDS)
    fake_stripe.fees.update({f"ch_of_pi_kill{n}": 30 + n for n in range(GIFTS)})
    client = app.test_client()
    for n in range(GIFTS):
        obj = so.checkout_session(
            amount_cents=1_000 + n, metadata=META, payment_intent=f"pi_kill{n}"
        )
        assert so.post_only(client, so.event("checkout.session.completed", obj)).status_code == 200
    posted = select(func.count()).select_from(Entry).where(Entry.kind == EntryKind.FEE)

    worker = WorkerProcess(env, "--only", "fee", "--lease", "2")
    try:
        _wait(lambda: _count(engine, posted) >= 2, what="the first fees")
        worker.kill()  # mid-batch: most likely waiting on Stripe for the next fee
    finally:
        worker.kill()
    assert _count(engine, posted) < GIFTS, "the worker finished before it was killed"
    time.sleep(2.2)  # the dead worker's lease ends
    result = burst(env, "--only", "fee")
    assert result.returncode == 0, result.stdout + result.stderr
    assert _count(engine, posted) == GIFTS
    assert _count(engine, select(func.count()).select_from(Gift).where(Gift.fee_pending)) == 0
    with Session(engine) as session:
        drive = drives.get_drive(session, "mo-2026")
        assert ledger.totals(session, drive).figures.fees_cents == sum(30 + n for n in range(GIFTS))
        assert ledger.verify(session, drive) == []
        fee_jobs = session.exec(select(Job).where(Job.kind == "fee")).all()
        assert {job.status for job in fee_jobs} == {JobStatus.DONE} and len(fee_jobs) == GIFTS
    engine.dispose()


def test_a_worker_killed_mid_send_then_the_next_one_sends_the_receipt_once(
    database_url,
    fake_stripe,  # noqa: F811
):
    mailbox = Mailbox().start()
    env = _env(
        database_url,
        fake_stripe,
        RELIEF_SMTP_URL=mailbox.url,
        RELIEF_MAIL_FROM="Relief coalition <receipts@relief.example.org>",
    )
    app = _app(env)
    client = app.test_client()
    obj = so.checkout_session(amount_cents=2_500, metadata=META, payment_intent="pi_mid_send")
    evt = so.event("checkout.session.completed", obj)
    so.deliver(client, evt)
    so.deliver(client, evt)  # Stripe's retry: still one receipt job
    mailbox.stall = True
    worker = WorkerProcess(env, "--only", "mail", "--lease", "2")
    try:
        assert mailbox.stalled.wait(60), "the worker never started sending"
        worker.kill()  # in the middle of the SMTP conversation
    finally:
        worker.kill()
        mailbox.release.set()
    mailbox.stall = False
    assert mailbox.messages == []
    time.sleep(2.2)  # the dead worker's lease ends
    result = burst(env, "--only", "mail")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Ran 1 job: 1 done" in result.stdout
    assert len(mailbox.to("donor@example.org")) == 1
    assert burst(env).stdout.strip().startswith("Ran 0 jobs")
    assert len(mailbox.messages) == 1
    mailbox.stop()
    app.extensions["relief.engine"].dispose()


def test_sigterm_lets_the_worker_finish_the_job_in_hand(
    database_url,
    fake_stripe,  # noqa: F811
):
    env = _env(database_url, fake_stripe)
    app = _app(env)
    engine = app.extensions["relief.engine"]
    asked = []
    fake_stripe.while_answering = lambda method, path: (asked.append(path), time.sleep(1.0))
    fake_stripe.fees["ch_of_pi_term"] = 77
    obj = so.checkout_session(amount_cents=3_000, metadata=META, payment_intent="pi_term")
    so.post_only(app.test_client(), so.event("checkout.session.completed", obj))
    worker = WorkerProcess(env, "--only", "fee")
    try:
        _wait(lambda: asked, what="the fee lookup")
        code = worker.stop()  # while Stripe is answering
    finally:
        worker.kill()
    assert code == 0
    with Session(engine) as session:
        job = session.exec(select(Job).where(Job.kind == "fee")).one()
        assert job.status is JobStatus.DONE
        assert session.exec(select(Gift)).one().fee_pending is False
    engine.dispose()


def test_one_worker_records_a_gift_while_a_fee_read_waits_on_stripe(
    database_url,
    fake_stripe,  # noqa: F811
):
    """One `flask worker`, as the README and .ci/serve run it, with Stripe's events kept (the
    default): it records them in a thread of its own, so while a fee read waits on a slow
    Stripe API, the next donor's gift still shows at once."""
    env = _env(database_url, fake_stripe, RELIEF_WEBHOOKS="kept")
    app = _app(env)
    engine = app.extensions["relief.engine"]
    release, asked = threading.Event(), []

    def slow_stripe(method, path):
        asked.append(path)
        release.wait(30)

    fake_stripe.while_answering = slow_stripe
    fake_stripe.default_fee = 59
    client = app.test_client()
    gifts = select(func.count()).select_from(Gift)

    def paid(intent):
        obj = so.checkout_session(amount_cents=2_500, metadata=META, payment_intent=intent)
        answer = so.post_only(client, so.event("checkout.session.completed", obj))
        assert answer.get_json()["queued"] is True

    paid("pi_first")
    worker = WorkerProcess(env)
    try:
        _wait(lambda: bool(asked), what="the first gift's fee read")
        assert _count(engine, gifts) == 1
        paid("pi_second")
        _wait(lambda: _count(engine, gifts) == 2, seconds=10, what="the second gift")
        assert not release.is_set() and len(asked) == 1  # the fee read still waits
        release.set()
        fees = select(func.count()).select_from(Entry).where(Entry.kind == EntryKind.FEE)
        _wait(lambda: _count(engine, fees) == 2, what="both fees")
    finally:
        release.set()
        assert worker.stop() == 0
    with Session(engine) as session:
        assert ledger.verify(session, drives.get_drive(session, "mo-2026")) == []
