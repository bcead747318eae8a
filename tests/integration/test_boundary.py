"""The unit of work at the boundary: a request keeps all of its work or none of it.

A small blueprint stands in for a screen: each route writes a chapter (through the request's
session, as a service would) and then answers in one of the ways real views do.
"""

from __future__ import annotations

import fcntl
import os
import threading

import pytest
from flask import Blueprint, abort
from sqlalchemy import make_url, text
from sqlmodel import select

from relief import boundary, db
from relief.errors import InvalidInput
from relief.models import Chapter
from tests.conftest import make_app

probe = Blueprint("probe", __name__)
followed: list[str] = []


def _add(slug: str) -> None:
    db.session().add(Chapter(slug=slug, name=slug.title()))
    db.session().flush()  # as services do: flushed, not committed


@probe.post("/probe/ok")
def ok():
    _add("kept")
    boundary.after_commit(lambda: followed.append("after commit"))
    return "done"


@probe.post("/probe/refused")
def refused():
    _add("refused")
    boundary.after_commit(lambda: followed.append("never"))
    return "no", 400


@probe.post("/probe/raises")
def raises():
    _add("raised")
    raise InvalidInput("That will not do.")


@probe.post("/probe/aborts")
def aborts():
    _add("aborted")
    abort(404)


@probe.post("/probe/attempt")
def attempted():
    _add("before-attempt")
    try:
        with boundary.attempt():
            _add("inside-attempt")
            raise InvalidInput("refused inside")
    except InvalidInput:
        pass
    return "kept what came before"


@probe.post("/probe/checkpoint")
def checkpointed():
    _add("checkpointed")
    boundary.checkpoint()
    _add("after-checkpoint")
    return "failed after the checkpoint", 503


@probe.get("/probe/read")
def read_only():
    return ",".join(db.session().exec(select(Chapter.slug).order_by(Chapter.slug)).all())


@probe.get("/probe/writing-get")
@boundary.writes
def writing_get():
    _add("written-by-get")
    return "ok"


@pytest.fixture
def probe_app(database_url):
    app = make_app(database_url, WTF_CSRF_ENABLED=False)
    app.register_blueprint(probe)
    followed.clear()
    yield app
    app.extensions["relief.engine"].dispose()


def _slugs(app) -> list[str]:
    with app.app_context():
        with boundary.command(write=False) as session:
            return sorted(session.exec(select(Chapter.slug)).all())


def test_an_answer_below_400_commits_then_runs_what_follows(probe_app):
    assert probe_app.test_client().post("/probe/ok").status_code == 200
    assert _slugs(probe_app) == ["kept"]
    assert followed == ["after commit"]


@pytest.mark.parametrize("path", ["/probe/refused", "/probe/raises", "/probe/aborts"])
def test_a_refusal_keeps_nothing(probe_app, path):
    response = probe_app.test_client().post(path)
    assert response.status_code in (400, 404)
    assert _slugs(probe_app) == []
    assert followed == []


def test_a_domain_error_is_answered_with_its_sentence(probe_app):
    response = probe_app.test_client().post("/probe/raises")
    assert response.status_code == 400
    assert "That will not do." in response.get_data(as_text=True)


def test_an_attempt_rolls_back_only_its_own_work(probe_app):
    assert probe_app.test_client().post("/probe/attempt").status_code == 200
    assert _slugs(probe_app) == ["before-attempt"]


def test_a_checkpoint_keeps_the_work_before_it(probe_app):
    assert probe_app.test_client().post("/probe/checkpoint").status_code == 503
    assert _slugs(probe_app) == ["checkpointed"]


def test_a_get_marked_as_writing_commits(probe_app):
    client = probe_app.test_client()
    assert client.get("/probe/writing-get").status_code == 200
    assert client.get("/probe/read").get_data(as_text=True) == "written-by-get"


def test_a_command_keeps_its_work_or_none(probe_app):
    with probe_app.app_context():
        with boundary.command() as session:
            session.add(Chapter(slug="by-command", name="By command"))
        with pytest.raises(RuntimeError):
            with boundary.command() as session:
                session.add(Chapter(slug="failed-command", name="Failed"))
                session.flush()
                raise RuntimeError("the command failed")
    assert _slugs(probe_app) == ["by-command"]


def test_sqlite_writers_queue_on_a_lock_file_and_the_next_goes_on_when_one_ends(sqlite_url):
    """Writers wait for each other in the kernel (``flock`` on ``<database>-writer.lock``),
    which wakes the next at once, not in SQLite's busy handler, which sleeps longer and longer
    between tries and left a core idle under a stream of webhooks. The lock is held from a
    writer's first statement until it commits or rolls back; a reader never takes it."""
    app = make_app(sqlite_url)
    lock_file = f"{make_url(sqlite_url).database}-writer.lock"

    def held() -> bool:
        descriptor = os.open(lock_file, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(descriptor)  # gives back what it took
        return False

    with app.test_request_context("/", method="GET"):
        db.session().exec(select(Chapter.id)).all()
        assert not held()
        db.session().rollback()
    with app.test_request_context("/", method="POST"):
        assert not held()
        db.session().exec(select(Chapter.id)).all()
        assert held()
        db.session().commit()
        assert not held()
        db.session().exec(select(Chapter.id)).all()
        assert held()
        db.session().rollback()
        assert not held()

    events: list[str] = []

    def second_writer():
        with app.test_request_context("/", method="POST"):
            db.session().exec(select(Chapter.id)).all()
            events.append("the second writer began")
            db.session().commit()

    with app.test_request_context("/", method="POST"):
        db.session().exec(select(Chapter.id)).all()
        second = threading.Thread(target=second_writer)
        second.start()
        second.join(0.3)
        assert second.is_alive() and events == []  # waiting for the lock
        events.append("the first writer committed")
        db.session().commit()
    second.join(10)
    assert events == ["the first writer committed", "the second writer began"]
    assert not held()
    app.extensions["relief.engine"].dispose()


def test_a_writer_unit_takes_the_sqlite_write_lock_at_its_first_statement(sqlite_url):
    """Two writers must not both read and then race to write: the second waits at its start.
    A POST is a writer from its first statement, whoever makes it (a before-request hook's
    read included); a GET only reads, and takes no lock."""
    app = make_app(sqlite_url)
    engine = app.extensions["relief.engine"]
    with app.test_request_context("/", method="POST"):
        db.session().exec(select(Chapter.id)).all()  # a read only, yet the lock is taken
        with engine.connect() as other:
            other.exec_driver_sql("PRAGMA busy_timeout=50")
            with pytest.raises(Exception, match="locked"):
                other.execute(text("BEGIN IMMEDIATE"))
        db.session().rollback()
    with app.test_request_context("/", method="GET"):
        db.session().exec(select(Chapter.id)).all()
        with app.extensions["relief.writer_engine"].connect() as other:
            other.exec_driver_sql("PRAGMA busy_timeout=50")
            other.execute(text("SELECT 1"))  # began IMMEDIATE: nobody holds the lock
            other.rollback()
        db.session().rollback()
    engine.dispose()
