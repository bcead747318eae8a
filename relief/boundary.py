"""The unit of work: one request, one webhook event or one CLI command, committed once, here.

Services only ``flush`` and raise domain errors; nothing below this module commits or rolls
back. For a request:

- a state-changing method (POST, PUT, PATCH, DELETE) or a view marked :func:`writes` is a
  *writer* unit from its first statement (``db.session``): on SQLite its transactions start
  ``BEGIN IMMEDIATE`` (a deferred transaction that reads and then writes fails with "database
  is locked" under concurrency, and the busy timeout cannot save it);
- after the view, an answer below 400 commits the unit and then runs its :func:`after_commit`
  callbacks; an answer of 400 or more, or an exception, is rolled back at teardown. A domain
  error that escapes a view becomes its sentence on the error page (``web.py``).

A CLI command (and a job outside any request, such as the fee reader's) runs its units with
:func:`command`. Long jobs keep each batch with :func:`checkpoint`; a view that refuses a form
and shows it again wraps the service call in :func:`attempt`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from flask import Flask, Response, current_app, g, request
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session

from relief import db
from relief.errors import DatabaseUnavailable

T = TypeVar("T")


def init_app(app: Flask) -> None:
    """Make every request to ``app`` a unit of work (its session is opened by its first
    statement, a writer's or a reader's as ``db.session`` decides)."""
    app.after_request(_close_unit)


def writes(view: Callable) -> Callable:
    """Mark a view whose GET writes (an export's audit line): its unit is a writer from the
    start. Put it under the route decorator, above any guard."""
    setattr(view, db.WRITES_MARK, True)
    return view


def _close_unit(response: Response) -> Response:
    if response.status_code >= 400:
        return response  # a refusal keeps nothing: teardown rolls the unit back
    if not db.unit_started():
        return response  # read nothing, wrote nothing (/healthz, a cached page)
    try:
        _commit()
    except Exception as error:  # noqa: BLE001 — answered by the app's own error handlers
        db.session().rollback()
        return current_app.make_response(current_app.handle_user_exception(error))
    return response


def _commit() -> None:
    if db.has_session():
        db.session().commit()
    callbacks = g.pop("relief_after_commit", [])
    for callback in callbacks:
        try:
            callback()
        except Exception:  # the unit is committed: a failed follow-up must not undo the answer
            current_app.logger.exception("after-commit work failed")


def after_commit(callback: Callable[[], object]) -> None:
    """Run ``callback`` once this unit has committed; never if it rolls back."""
    g.setdefault("relief_after_commit", []).append(callback)


def checkpoint() -> None:
    """Keep the work done so far: commit it now. The next statement opens a new transaction
    (a writer again, if the unit writes), so no lock is held in between."""
    db.session().commit()


@contextmanager
def attempt() -> Iterator[None]:
    """A savepoint: an exception raised inside rolls back only what was done inside, and
    propagates. The page shown after a refused form then reads no half-done work."""
    with db.session().begin_nested():
        yield


def retry_on_conflict(work: Callable[[], T]) -> T:
    """``work()``, run once more if it loses a unique-key race (two deliveries of one event
    inserting the same gift at once): the second run finds the winner's row."""
    try:
        with attempt():
            return work()
    except IntegrityError:
        with attempt():
            return work()


def retry_unit_on_conflict(work: Callable[[], T]) -> T:
    """:func:`retry_on_conflict` for work that is its unit's whole content (one webhook
    event): the first run takes no savepoint, as a lost race rolls back the unit itself, which
    held nothing else; the second run starts afresh. A second failure leaves the unit to be
    rolled back at teardown."""
    try:
        return work()
    except IntegrityError:
        db.session().rollback()
        return work()


def audit(action: str, detail: str = "", chapter=None) -> None:
    """This unit's audit line: who (the signed-in user, their address) did what. It commits
    with the unit, so an action rolled back leaves no line."""
    from flask_login import current_user

    from relief.treasury import audit as audit_log

    audit_log.record(
        db.session(),
        audit_log.Actor.of(current_user, request.remote_addr),
        action,
        detail,
        chapter if chapter is not None else g.get("chapter"),
    )


@contextmanager
def command(write: bool = True) -> Iterator[Session]:
    """A unit of work outside a request (a CLI command, a background job): the session is
    committed when the block ends, rolled back if it raises. While the block runs,
    ``db.session()`` and :func:`checkpoint` use this unit's session."""
    outer = g.pop("db_session", None)
    session = db.new_session(write)
    g.db_session = session
    try:
        yield session
        session.commit()
    except OperationalError as error:
        session.rollback()
        raise DatabaseUnavailable(db.explain(error)) from error
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
        g.pop("db_session", None)
        if outer is not None:
            g.db_session = outer
