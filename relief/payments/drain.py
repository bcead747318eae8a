"""The drainer of kept Stripe events (``RELIEF_WEBHOOKS=kept``): the worker takes the oldest
kept events, up to a hundred, and records them in one unit of work with
:func:`batch.process_all` (paid Checkout Sessions in bulk, the rest one by one, in arrival
order), deleting them in the same unit. A worker stopped mid-run leaves every one of them
kept, and the next run records them; each is claimed when it is processed, so a redelivery
kept twice is recorded once.

An event that fails (a bug, not the database: that stops the run and the worker waits) is
tried alone, so the others are recorded; it stays kept and is tried again later, waiting
twice as long each time, and after :data:`MAX_ATTEMPTS` it is held for a person (the admin's
list of held events), never lost.

On PostgreSQL several workers drain at once, each taking events no other holds (``FOR UPDATE
SKIP LOCKED``); on SQLite the unit is the database's one writer.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, func, select

from relief import boundary
from relief.db import is_postgres
from relief.models import KeptEvent, utcnow
from relief.payments import batch, webhooks

log = logging.getLogger(__name__)

#: Kept events recorded in one unit of work.
BATCH_SIZE = 100
#: Failed runs of one event before it is held for a person.
MAX_ATTEMPTS = 8
FIRST_WAIT = timedelta(seconds=30)
#: A kept event older than this means no worker is recording them: the admin is warned
#: (a running worker records each within a second or two, even under load).
STALLED_AFTER = timedelta(minutes=1)


@dataclass(frozen=True)
class Backlog:
    """The kept events not recorded yet, for the admin's outbox page."""

    waiting: int
    #: When the oldest of them reached the webhook (None when none waits).
    oldest_at: datetime | None
    #: Of them, those that failed at least once and wait for their next try.
    retrying: int

    def stalled(self, now: datetime) -> bool:
        """Whether the oldest waits longer than a running worker would let it."""
        return self.oldest_at is not None and now - self.oldest_at > STALLED_AFTER


def backlog(session: Session) -> Backlog:
    """How many kept events wait for the worker, since when (one query)."""
    waiting, oldest_at, retrying = session.exec(
        select(
            func.count(),
            func.min(KeptEvent.received_at),
            func.count().filter(col(KeptEvent.attempts) > 0),
        ).select_from(KeptEvent)
    ).one()
    return Backlog(waiting=waiting, oldest_at=oldest_at, retrying=retrying)


def drain_once(now: datetime | None = None) -> int:
    """Record the oldest kept events that are due, up to :data:`BATCH_SIZE`, in one unit of
    work (inside an app context); how many were taken."""
    now = now or utcnow()
    with boundary.command(write=False) as session:
        # Asked first without the writer's lock (SQLite has one, which the webhook's answers
        # wait for): usually nothing is due.
        if (
            session.exec(select(KeptEvent.id).where(col(KeptEvent.run_after) <= now)).first()
            is None
        ):
            return 0
    with boundary.command() as session:
        kept = _take(session, now)
        if not kept:
            return 0
        events = [(json.loads(one.payload), one.payload.encode()) for one in kept]
        try:
            with session.begin_nested():
                batch.process_all(session, events)
        except OperationalError:
            raise  # the database, not the events: the worker waits and tries again
        except Exception:  # noqa: BLE001 — one event's failure must not stop the others
            log.exception("a run of %d kept events failed; trying each alone", len(kept))
            _one_by_one(session, kept, events, now)
            return len(kept)
        for one in kept:
            session.delete(one)
    return len(kept)


def _take(session: Session, now: datetime) -> list[KeptEvent]:
    query = (
        select(KeptEvent)
        .where(col(KeptEvent.run_after) <= now)
        .order_by(col(KeptEvent.id))
        .limit(BATCH_SIZE)
    )
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    return list(session.exec(query).all())


def _one_by_one(
    session: Session, kept: list[KeptEvent], events: list[tuple[dict, bytes]], now: datetime
) -> None:
    """Each event of a failed run in a savepoint of its own: those that succeed are recorded
    and deleted; one that fails again waits, or after MAX_ATTEMPTS is held."""
    for one, (event, payload) in zip(kept, events, strict=True):
        try:
            with session.begin_nested():
                batch.process_all(session, [(event, payload)])
        except OperationalError:
            raise
        except Exception as error:  # noqa: BLE001 — kept, tried later, then held
            one.attempts += 1
            one.error = type(error).__name__[:500]
            if one.attempts < MAX_ATTEMPTS:
                one.run_after = now + FIRST_WAIT * 2 ** (one.attempts - 1)
                log.warning("kept event %s failed (%s); tried again later", one.id, one.error)
                continue
            webhooks.hold_unprocessed(
                session,
                event,
                payload,
                f"Relief failed to process this event {one.attempts} times ({one.error}). "
                "Nothing of it was posted; run it again once the cause is fixed.",
            )
        session.delete(one)
