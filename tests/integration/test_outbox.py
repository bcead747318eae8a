"""The outbox's own rules, on SQLite and PostgreSQL: one job per key, two workers never hold
the same job, a dead worker's job is taken over when its lease ends (and its late word does
not count), failures wait longer each time and end failed."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from relief import outbox
from relief.models import Job, JobStatus, utcnow


def writer(app) -> Session:
    return Session(app.extensions["relief.writer_engine"], expire_on_commit=False)


def test_the_same_key_twice_is_one_job(app):
    with writer(app) as session:
        assert outbox.enqueue(session, "fee", "fee:gift:1", {"gift_id": 1})
        assert not outbox.enqueue(session, "fee", "fee:gift:1", {"gift_id": 1})
        session.commit()
    with writer(app) as session:
        assert not outbox.enqueue(session, "fee", "fee:gift:1", {"gift_id": 1})
        session.commit()
        assert len(session.exec(select(Job)).all()) == 1


def test_two_workers_never_hold_the_same_job(app):
    with writer(app) as session:
        for number in (1, 2):
            outbox.enqueue(session, "fee", f"fee:gift:{number}")
        session.commit()
    with writer(app) as first:
        mine = outbox.claim(first, "first")
        if first.get_bind().dialect.name == "postgresql":
            # The first claim is not committed yet: the second worker skips its locked row
            # at once rather than waiting for it.
            with writer(app) as second:
                theirs = outbox.claim(second, "second")
                second.commit()
            first.commit()
        else:
            first.commit()  # SQLite: one writer at a time; the next claim sees this one
            with writer(app) as second:
                theirs = outbox.claim(second, "second")
                second.commit()
    assert mine is not None and theirs is not None
    assert {mine.key, theirs.key} == {"fee:gift:1", "fee:gift:2"}
    with writer(app) as third:
        assert outbox.claim(third, "third") is None  # both held


def test_a_dead_workers_job_is_taken_over_after_its_lease_and_its_late_word_is_ignored(app):
    with writer(app) as session:
        outbox.enqueue(session, "mail", "receipt:gift:7")
        session.commit()
    start = utcnow()
    with writer(app) as session:
        dead = outbox.claim(session, "dead", now=start, lease=timedelta(seconds=60))
        session.commit()
    with writer(app) as session:
        assert outbox.claim(session, "next", now=start + timedelta(seconds=59)) is None
        alive = outbox.claim(session, "next", now=start + timedelta(seconds=61))
        session.commit()
    assert dead is not None and alive is not None
    assert (alive.key, alive.attempt) == ("receipt:gift:7", 2)
    with writer(app) as session:
        assert outbox.finish(session, dead, now=start + timedelta(seconds=62)) is None
        assert outbox.finish(session, alive, now=start + timedelta(seconds=62)) is JobStatus.DONE
        session.commit()
        assert session.exec(select(Job)).one().status is JobStatus.DONE


def test_a_failing_job_waits_longer_each_time_then_fails_for_a_person(app):
    with writer(app) as session:
        outbox.enqueue(session, "fee", "fee:gift:9")
        session.commit()
    now = utcnow()
    waits = []
    for attempt in range(1, outbox.MAX_ATTEMPTS + 1):
        with writer(app) as session:
            claimed = outbox.claim(session, "w", now=now)
            assert claimed is not None and claimed.attempt == attempt
            status = outbox.finish(session, claimed, error="Stripe is down", now=now)
            session.commit()
            job = session.exec(select(Job)).one()
        if attempt < outbox.MAX_ATTEMPTS:
            assert status is JobStatus.QUEUED
            waits.append(job.run_after.replace(tzinfo=now.tzinfo) - now)
            now = job.run_after.replace(tzinfo=now.tzinfo)
        else:
            assert status is JobStatus.FAILED and job.last_error == "Stripe is down"
    assert waits[:4] == [timedelta(seconds=s) for s in (30, 60, 120, 240)]
    assert max(waits) == timedelta(hours=2)
    assert sum(waits, timedelta()) > timedelta(hours=23)  # an outage of hours loses nothing
    with writer(app) as session:
        assert outbox.claim(session, "w", now=now + timedelta(days=30)) is None
        outbox.retry(session, job.id)  # the admin's button: due now, fresh attempts
        session.commit()
        again = outbox.claim(session, "w")
        assert again is not None and again.attempt == 1
