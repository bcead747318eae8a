"""The durable job outbox, in the app's own database.

A job is a row written in the same unit of work as the change that causes it
(:func:`enqueue`), so it exists if and only if that change committed: a rolled-back request
leaves none, and a process that dies right after the commit loses none. Each job has a unique
key (``fee:gift:12``, ``receipt:gift:12``): enqueueing the same key again does nothing, so a
webhook delivered twice makes one job.

Workers (``relief/outbox/worker.py``) :func:`claim` due jobs (fee jobs a hundred at a time,
:func:`claim_batch`) — ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so workers never wait for each other; on SQLite the claiming unit is a writer
(``BEGIN IMMEDIATE``), so one claims at a time — run each, and :func:`finish` it: done,
queued again after a backoff, or failed after :data:`MAX_ATTEMPTS`. A claim is a lease: a job
whose worker died is claimed again once ``locked_until`` has passed.

No library fits this (see docs/architecture.md, "The outbox"): the queues on PyPI keep their
jobs in PostgreSQL only (procrastinate, pgqueuer, chancy) or in a store of their own (huey,
RQ, dramatiq), so a job could not be written in our SQLAlchemy transaction on both databases.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, func, select

from relief.errors import NotFound
from relief.models import Job, JobStatus, table_of, utcnow

#: Runs of one job before it is failed and shown to the admin.
MAX_ATTEMPTS = 20
#: The first retry waits this long; each next one twice as long, up to :data:`LONGEST_WAIT`
#: (twenty attempts span about a day: an outage of hours delays mail and loses none).
FIRST_WAIT = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=2)
#: How long a claim holds before another worker may take the job over (its worker died).
DEFAULT_LEASE = timedelta(minutes=5)


class PermanentFailure(Exception):
    """A job that can never succeed as it is (an address the mail server refuses for good):
    failed at once, not retried."""


class Kept(Exception):
    """An email that cannot be sent here (no SMTP server is configured): kept in the outbox
    for the admin to read, and sent when retried once one is."""


@dataclass(frozen=True)
class Due:
    """A job to write: its kind, its unique key and what it carries."""

    kind: str
    key: str
    payload: dict | None = None


def enqueue(
    session: Session, kind: str, key: str, payload: dict | None = None, *, run_after=None
) -> bool:
    """Write a job in the caller's unit of work, once per ``key``; True if this call wrote it.
    One statement (``INSERT … ON CONFLICT DO NOTHING``): two units enqueueing the same key at
    once make one job."""
    return enqueue_all(session, [Due(kind, key, payload)], run_after=run_after) == 1


def enqueue_all(session: Session, jobs: list[Due], *, run_after=None) -> int:
    """:func:`enqueue` for several jobs, in one multi-row statement (a webhook's paid gift
    makes its receipt and fee jobs together); how many were written. Jobs are written in the
    order given."""
    if not jobs:
        return 0
    now = utcnow()
    connection = session.connection()
    written = connection.execute(
        _enqueue_statement(connection.dialect.name),
        [
            {
                "kind": job.kind,
                "key": job.key[:255],
                "payload": json.dumps(job.payload or {}, sort_keys=True),
                "status": JobStatus.QUEUED.value,
                "attempts": 0,
                "run_after": run_after or now,
                "created_at": now,
                "updated_at": now,
            }
            for job in jobs
        ],
    ).all()
    return len(written)


@functools.cache
def _enqueue_statement(dialect: str):
    """The job's insert, built once per database (building it cost a webhook more than
    running it): ``INSERT … ON CONFLICT (key) DO NOTHING RETURNING id``."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    table = table_of(Job)
    return insert(table).on_conflict_do_nothing(index_elements=["key"]).returning(table.c.id)


def _claimable(now: datetime, kinds: tuple[str, ...] | None):
    due = or_(
        and_(col(Job.status) == JobStatus.QUEUED, col(Job.run_after) <= now),
        and_(col(Job.status) == JobStatus.RUNNING, col(Job.locked_until) < now),
    )
    return due if kinds is None else and_(due, col(Job.kind).in_(kinds))


@dataclass(frozen=True)
class Claimed:
    """A job a worker holds: what to run, and the token that proves the claim is still its."""

    id: int
    kind: str
    key: str
    payload: dict
    attempt: int
    claimed_by: str
    #: When the change that caused it committed (a fee job: when the payment's webhook came).
    created_at: datetime | None = None


def claim(
    session: Session,
    worker: str,
    *,
    now: datetime | None = None,
    lease: timedelta = DEFAULT_LEASE,
    kinds: tuple[str, ...] | None = None,
) -> Claimed | None:
    """The next due job, marked running for ``worker`` until the lease ends; None when none is
    due. Call it in a writer unit that commits right after (the claim is then visible)."""
    claimed = claim_batch(session, worker, 1, now=now, lease=lease, kinds=kinds)
    return claimed[0] if claimed else None


def claim_batch(
    session: Session,
    worker: str,
    limit: int,
    *,
    now: datetime | None = None,
    lease: timedelta = DEFAULT_LEASE,
    kinds: tuple[str, ...] | None = None,
) -> list[Claimed]:
    """Up to ``limit`` due jobs, oldest first, each marked running for ``worker`` until the
    lease ends (the fee reader asks Stripe once for a hundred fees). Each is finished on its
    own; a worker that dies leaves them all to be claimed again after the lease."""
    now = now or utcnow()
    query = select(Job).where(_claimable(now, kinds)).order_by(col(Job.run_after), col(Job.id))
    if session.get_bind().dialect.name == "postgresql":
        # Another worker's claim in flight is skipped, not waited for.
        query = query.with_for_update(skip_locked=True)
    jobs = list(session.exec(query.limit(limit)))
    claimed = []
    for job in jobs:
        job.status = JobStatus.RUNNING
        job.attempts += 1
        job.claimed_by = worker[:64]
        job.locked_until = now + lease
        job.updated_at = now
    session.flush()
    for job in jobs:
        assert job.id is not None
        claimed.append(
            Claimed(
                job.id,
                job.kind,
                job.key,
                json.loads(job.payload),
                job.attempts,
                worker[:64],
                job.created_at,
            )
        )
    return claimed


def backoff(attempt: int) -> timedelta:
    """How long to wait after the ``attempt``-th run failed."""
    return min(FIRST_WAIT * 2 ** (attempt - 1), LONGEST_WAIT)


def finish(
    session: Session,
    claimed: Claimed,
    *,
    error: str | None = None,
    permanent: bool = False,
    kept: str | None = None,
    now: datetime | None = None,
) -> JobStatus | None:
    """Record how ``claimed``'s run ended; None if the claim was lost meanwhile (its lease
    ended and another worker took the job: that worker's word counts)."""
    now = now or utcnow()
    if kept is not None:
        status, run_after, note = JobStatus.KEPT, None, kept
    elif error is None:
        status, run_after, note = JobStatus.DONE, None, None
    elif permanent or claimed.attempt >= MAX_ATTEMPTS:
        status, run_after, note = JobStatus.FAILED, None, error
    else:
        status, run_after, note = JobStatus.QUEUED, now + backoff(claimed.attempt), error
    values: dict = {
        "status": status,
        "claimed_by": None,
        "locked_until": None,
        "last_error": note[:1000] if note else None,
        "updated_at": now,
    }
    if run_after is not None:
        values["run_after"] = run_after
    if status in (JobStatus.DONE, JobStatus.FAILED, JobStatus.KEPT):
        values["finished_at"] = now
    changed = session.exec(
        update(Job)
        .where(col(Job.id) == claimed.id, col(Job.status) == JobStatus.RUNNING)
        .where(col(Job.claimed_by) == claimed.claimed_by)
        .values(**values)
    ).rowcount
    return status if changed else None


def finish_done(
    session: Session, claimed: list[Claimed], *, now: datetime | None = None
) -> set[int]:
    """Record these runs as done, in one statement (a batch of fee reads); the ids of those
    whose claim still held (see :func:`finish`)."""
    if not claimed:
        return set()
    now = now or utcnow()
    done: set[int] = set()
    for worker in {one.claimed_by for one in claimed}:
        done.update(
            session.exec(
                update(Job)
                .where(col(Job.id).in_([one.id for one in claimed if one.claimed_by == worker]))
                .where(col(Job.status) == JobStatus.RUNNING, col(Job.claimed_by) == worker)
                .values(
                    status=JobStatus.DONE,
                    claimed_by=None,
                    locked_until=None,
                    last_error=None,
                    updated_at=now,
                    finished_at=now,
                )
                .returning(col(Job.id))
            ).scalars()
        )
    return done


def retry(session: Session, job_id: int, *, now: datetime | None = None) -> Job:
    """Run a failed or kept job again now (the admin's retry button), with fresh attempts.
    NotFound for a job that is queued, running or done."""
    job = session.get(Job, job_id)
    if job is None or job.status not in (JobStatus.FAILED, JobStatus.KEPT):
        raise NotFound("There is no failed or kept job with that number.")
    requeue(job, now)
    session.flush()
    return job


def requeue(job: Job, now: datetime | None = None) -> None:
    """Make ``job`` due now with fresh attempts, unless a worker holds it."""
    if job.status == JobStatus.RUNNING:
        return
    now = now or utcnow()
    job.status = JobStatus.QUEUED
    job.attempts = 0
    job.run_after = now
    job.finished_at = None
    job.updated_at = now


def by_key(session: Session, key: str) -> Job | None:
    return session.exec(select(Job).where(Job.key == key)).first()


#: The admin's list: what needs a person first.
LISTING_ORDER = (
    JobStatus.FAILED,
    JobStatus.KEPT,
    JobStatus.RUNNING,
    JobStatus.QUEUED,
    JobStatus.DONE,
)


def listing(session: Session, status: JobStatus, limit: int = 200) -> list[Job]:
    """Jobs in one status, most recently changed first."""
    return list(
        session.exec(
            select(Job)
            .where(col(Job.status) == status)
            .order_by(col(Job.updated_at).desc(), col(Job.id).desc())
            .limit(limit)
        )
    )


def counts(session: Session) -> dict[JobStatus, int]:
    rows = session.exec(select(Job.status, func.count()).group_by(col(Job.status))).all()
    found = {JobStatus(status): number for status, number in rows}
    return {status: found.get(status, 0) for status in LISTING_ORDER}
