"""The outbox's worker: ``flask --app app worker`` (until SIGTERM or Ctrl-C, finishing the job
in hand) and ``flask --app app worker --burst`` (every due job, then exit: cron and tests).

Each job takes three steps, none holding a lock across the slow part: claim it (a writer unit
that commits at once; fee jobs up to a hundred at once, read with one Stripe request), run it
(its handler opens units of its own around Stripe's API or the SMTP conversation), record how
it ended (a unit of its own, counted only while the claim is still this worker's). A worker
killed at any point leaves the job running under a lease that expires; then any worker claims
it again. What ran before the kill is done at most once more:
a fee is posted once (the gift's ``fee_pending`` and the entry's external id guard it); an
email cut off before the mail server accepted it is sent once. Only a kill in the
milliseconds between the server's "250 accepted" and our commit could send it twice (the copy
has the same Message-ID, so mail clients show one).
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from relief import boundary, mail, outbox
from relief.errors import DomainError
from relief.models import JobStatus, utcnow
from relief.payments import drain, fee_reader, refund_reader
from relief.payments.choice import for_app
from relief.payments.gateway import GatewayError
from relief.treasury import digest

log = logging.getLogger(__name__)
#: How often a running worker looks whether the day's digests are due.
DIGEST_CHECK_SECONDS = 60


def _read_fees(app: Flask, jobs: list[outbox.Claimed]) -> dict[int, str | Exception]:
    gift_of = {job.id: int(job.payload["gift_id"]) for job in jobs if "gift_id" in job.payload}
    webhook_at = {gift_of[job.id]: job.created_at for job in jobs if job.id in gift_of}
    results = fee_reader.read_fees(for_app(app), webhook_at)
    missing = KeyError("gift_id")
    return {job.id: results[gift_of[job.id]] if job.id in gift_of else missing for job in jobs}


def _read_refund(app: Flask, claimed: outbox.Claimed) -> str:
    payload = claimed.payload
    return refund_reader.read_refund(
        for_app(app), int(payload["gift_id"]), str(payload["refund_id"])
    )


def _send_mail(app: Flask, claimed: outbox.Claimed) -> str:
    sending = app.config.get("SMTP") is not None
    with boundary.command(write=False) as session:
        # A kept email needs no PDF: the admin reads its text; the retry attaches it.
        message = mail.compose(
            session, claimed.key, claimed.payload, app.config, utcnow(), attach=sending
        )
    if message is None:
        return "not sent: no address (none was given, or the donor was erased)"
    if not sending:
        if app.config["RELIEF_ENV"] == "development":
            log.warning(
                "email kept, not sent (RELIEF_SMTP_URL is not set): %s to %s\n%s",
                message["Subject"],
                message["To"],
                mail.text_of(message),
            )
        raise outbox.Kept(
            "Not sent: no mail server is set (RELIEF_SMTP_URL). Kept here; retry it once one is."
        )
    mail.send(message, app.config["SMTP"])
    return f"sent to the mail server ({message['Subject']})"


#: What runs each kind of job; a handler raises to fail the run (see :func:`_outcome`).
HANDLERS: dict[str, Callable[[Flask, outbox.Claimed], str]] = {
    "refund-amount": _read_refund,
    "mail": _send_mail,
}
#: Kinds run many jobs at once, and how many: the handler answers each job's sentence or the
#: exception that failed it, by job id (one raising fails them all).
BATCH_HANDLERS: dict[
    str, tuple[int, Callable[[Flask, list[outbox.Claimed]], dict[int, str | Exception]]]
] = {
    "fee": (fee_reader.BATCH_SIZE, _read_fees),
}
KINDS = sorted({*HANDLERS, *BATCH_HANDLERS})
#: ``--only`` this: the worker records kept Stripe events (RELIEF_WEBHOOKS=kept) and runs no job.
STRIPE_EVENTS = "stripe-events"
#: How a run may end short of success, told on the job (anything else is logged too).
EXPECTED_FAILURES = (
    outbox.Kept,
    outbox.PermanentFailure,
    mail.MailError,
    GatewayError,
    DomainError,
    KeyError,
)


def _outcome(
    claimed: outbox.Claimed, result: str | Exception
) -> tuple[str, str | None, bool, str | None]:
    """How a run ended: the message, and the error, permanence and kept note for
    :func:`outbox.finish`."""
    if isinstance(result, str):
        return result, None, False, None
    if isinstance(result, outbox.Kept):
        return str(result), None, False, str(result)
    if isinstance(result, outbox.PermanentFailure):
        return str(result), str(result), True, None
    if isinstance(result, mail.MailError | GatewayError | DomainError):
        return str(result), str(result), False, None
    if isinstance(result, KeyError):
        message = f"Relief cannot run this job: {result!r} is missing."
        return message, message, True, None
    message = f"{type(result).__name__}: {str(result)[:500]}"
    return message, message, False, None


@dataclass(frozen=True)
class Ran:
    key: str
    #: How it ended; None when the claim had been lost meanwhile (another worker's word counts).
    status: JobStatus | None
    message: str

    def line(self) -> str:
        status = self.status.value if self.status else "taken over by another worker"
        return f"{self.key}: {status} — {self.message}"


class Worker:
    def __init__(
        self,
        app: Flask,
        *,
        lease: timedelta = outbox.DEFAULT_LEASE,
        poll_seconds: float = 1.0,
        kinds: tuple[str, ...] | None = None,
        batch_pause: float = 0.0,
    ):
        self.app = app
        #: After a batch not full, wait this long (seconds) before the next claim, so the
        #: next batch has more in it (one list request for more fees under load).
        self.batch_pause = batch_pause
        self.last_batch_partial = False
        self.lease = lease
        self.poll_seconds = poll_seconds
        self.kinds = kinds
        #: The kinds of jobs it runs (None: all); empty for a drainer of kept events only.
        self.job_kinds = None if kinds is None else tuple(k for k in kinds if k != STRIPE_EVENTS)
        self.name = f"{socket.gethostname()[:32]}:{os.getpid()}:{secrets.token_hex(4)}"

    def run_next(self, now: datetime | None = None) -> list[Ran]:
        """Claim the next due job — and, for a kind read in batches (fees), up to a hundred
        due jobs of its kind — run them, record how each ended; empty when nothing is due."""
        if self.job_kinds == ():
            return []  # a drainer of kept Stripe events only
        with self.app.app_context():
            with boundary.command() as session:
                first = outbox.claim(
                    session, self.name, now=now, lease=self.lease, kinds=self.job_kinds
                )
                if first is None:
                    return []
                jobs = [first]
                if first.kind in BATCH_HANDLERS:
                    size = BATCH_HANDLERS[first.kind][0]
                    jobs += outbox.claim_batch(
                        session, self.name, size - 1, now=now, lease=self.lease, kinds=(first.kind,)
                    )
            self.last_batch_partial = first.kind in BATCH_HANDLERS and len(jobs) < size
            results: dict[int, str | Exception]
            try:
                if first.kind in BATCH_HANDLERS:
                    results = BATCH_HANDLERS[first.kind][1](self.app, jobs)
                else:
                    results = {first.id: HANDLERS[first.kind](self.app, first)}
            except Exception as failure:  # noqa: BLE001 — recorded on the jobs, retried later
                if not isinstance(failure, EXPECTED_FAILURES):
                    log.exception("job %s failed", first.key)
                results = dict.fromkeys((job.id for job in jobs), failure)
            ran = []
            # One unit records every end: a worker killed before it leaves them all to the
            # lease (what ran is guarded against running twice; see the module's words).
            ends = {job.id: _outcome(job, results[job.id]) for job in jobs}
            with boundary.command() as session:
                succeeded = [job for job in jobs if ends[job.id][1:] == (None, False, None)]
                done = outbox.finish_done(session, succeeded, now=now)
                for job in jobs:
                    message, error, permanent, kept = ends[job.id]
                    if job in succeeded:
                        status = JobStatus.DONE if job.id in done else None
                    else:
                        status = outbox.finish(
                            session, job, error=error, permanent=permanent, kept=kept, now=now
                        )
                    if error and status is JobStatus.QUEUED:
                        message += (
                            f" (attempt {job.attempt} of {outbox.MAX_ATTEMPTS}; retried later)"
                        )
                    ran.append(Ran(job.key, status, message))
        return ran

    def drain(self, now: datetime | None = None) -> int:
        """Record the next kept Stripe events (RELIEF_WEBHOOKS=kept), up to a hundred; how
        many. A worker given ``--only`` kinds of jobs leaves them to the others, unless one
        of those is :data:`STRIPE_EVENTS`."""
        if self.kinds is not None and STRIPE_EVENTS not in self.kinds:
            return 0
        with self.app.app_context():
            return drain.drain_once(now)

    def burst(self, now: datetime | None = None, echo=None) -> Counter:
        """Record every kept Stripe event, run every job due now, then return how each
        ended."""
        ended: Counter = Counter()
        while drained := self.drain(now):
            if echo is not None:
                echo(f"recorded {drained} kept Stripe event{'s' if drained != 1 else ''}")
        while ran := self.run_next(now):
            for one in ran:
                ended[one.status] += 1
                if echo is not None:
                    echo(one.line())
        return ended

    def queue_digests(self, now: datetime | None = None) -> int:
        """Queue today's digests once the coalition's clock reaches RELIEF_DIGEST_HOUR."""
        hour = self.app.config.get("RELIEF_DIGEST_HOUR", digest.DEFAULT_HOUR)
        with self.app.app_context():
            with boundary.command() as session:
                return digest.queue_due(session, now or utcnow(), hour)

    def run_until(self, stop: threading.Event, echo=None) -> None:
        """Run jobs as they fall due until ``stop`` is set; the job in hand is finished.
        Kept Stripe events are recorded meanwhile by a thread of their own
        (:meth:`drain_until`), so a slow job (Stripe's API, a mail server) never holds up a
        gift. Once a minute it also queues the day's digests (a job per person and day, so
        every worker may do it)."""
        drainer = None
        if self.kinds is None or STRIPE_EVENTS in self.kinds:
            drainer = threading.Thread(
                target=self.drain_until, args=(stop,), name="stripe-events", daemon=True
            )
            drainer.start()
        try:
            if self.job_kinds != ():
                self._run_jobs_until(stop, echo)
            else:
                stop.wait()
        finally:
            stop.set()  # a loop that failed stops the other too: the process exits
            if drainer is not None:
                drainer.join()

    def drain_until(self, stop: threading.Event) -> None:
        """Record kept Stripe events as they arrive until ``stop`` is set; the run in hand
        is finished (a run cut short loses nothing: none of it is committed)."""
        while not stop.is_set():
            try:
                drained = self.drain()
            except DomainError as error:  # the database is down: wait, try again
                log.warning("recording Stripe events waits: %s", error)
                drained = 0
            except Exception:  # noqa: BLE001 — the thread must outlive a bug: events stay kept
                log.exception("recording Stripe events failed; trying again")
                drained = 0
            if not drained:
                stop.wait(self.poll_seconds)
            elif drained < drain.BATCH_SIZE and self.batch_pause:
                # Kept events arrive one by one: a short wait fills the next run, where
                # draining at once would take them a few at a time, each run holding
                # SQLite's one writer lock the webhook's answers wait for.
                stop.wait(self.batch_pause)

    def _run_jobs_until(self, stop: threading.Event, echo=None) -> None:
        next_digest_check = 0.0
        while not stop.is_set():
            try:
                if time.monotonic() >= next_digest_check:
                    self.queue_digests()
                    next_digest_check = time.monotonic() + DIGEST_CHECK_SECONDS
                ran = self.run_next()
            except DomainError as error:  # the database is down: wait, try again
                log.warning("worker waiting: %s", error)
                ran = []
            if not ran:
                stop.wait(self.poll_seconds)
                continue
            if echo is not None:
                for one in ran:
                    echo(one.line())
            if self.last_batch_partial and self.batch_pause:
                stop.wait(self.batch_pause)


def summary(ended: Counter) -> str:
    total = sum(ended.values())
    parts = [
        f"{ended[JobStatus.DONE]} done",
        f"{ended[JobStatus.KEPT]} kept (no mail server)",
        f"{ended[JobStatus.QUEUED]} to retry later",
        f"{ended[JobStatus.FAILED]} failed",
    ]
    return f"Ran {total} job{'s' if total != 1 else ''}: " + ", ".join(parts) + "."


@click.command("worker")
@click.option("--burst", is_flag=True, help="Run every job due now, then exit (cron, tests).")
@click.option(
    "--lease",
    type=click.IntRange(min=1),
    default=int(outbox.DEFAULT_LEASE.total_seconds()),
    show_default=True,
    help="Seconds a claimed job stays this worker's; after that, if it died, another takes it.",
)
@click.option(
    "--poll",
    type=click.FloatRange(min=0.05),
    default=1.0,
    show_default=True,
    help="Seconds to wait before looking again when no job is due.",
)
@click.option(
    "--only",
    type=click.Choice([*KINDS, STRIPE_EVENTS]),
    multiple=True,
    help="Run only jobs of this kind (repeatable): e.g. a worker of its own for fee reads; "
    f"{STRIPE_EVENTS}: record the Stripe events the webhook kept (RELIEF_WEBHOOKS=kept).",
)
@click.option(
    "--batch-pause",
    type=click.FloatRange(min=0),
    default=0.5,
    show_default=True,
    help="Seconds to wait after a batch of fee reads or of kept Stripe events that was not "
    "full (fuller batches ask Stripe less often, and hold the database less, under load).",
)
@with_appcontext
def worker_command(burst, lease, poll, only, batch_pause):
    """Run the outbox's jobs: fee reads and emails."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    worker = Worker(
        app,
        lease=timedelta(seconds=lease),
        poll_seconds=poll,
        kinds=tuple(only) or None,
        batch_pause=batch_pause,
    )
    if burst:
        try:
            worker.queue_digests()  # cron's worker sends the day's digests too
            ended = worker.burst(echo=click.echo)
        except DomainError as error:
            raise click.ClickException(error.message) from None
        click.echo(summary(ended))
        return
    stop = threading.Event()
    for stopping in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stopping, lambda *_: stop.set())
    click.echo(f"Worker {worker.name} running (SIGTERM or Ctrl-C stops it after the job in hand).")
    worker.run_until(stop, echo=click.echo)
    click.echo("Worker stopped.")
