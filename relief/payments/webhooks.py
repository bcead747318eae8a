"""Stripe events, processed exactly once: claim the event id, screen it, dispatch by type, park
what refers to a gift we do not know yet and replay it when the gift arrives.

Real webhooks come through :func:`receive` (the signature checked first, by the Stripe
implementation's :func:`verify_event`), the test-mode checkout through :func:`process`.

A signed event is never refused for our own limits, and never a 500 (Stripe would retry it for
days): one that is not in the shape of Stripe's objects or goes beyond what it refers to is
*held*, parked with a reason (:class:`~relief.models.ParkedEvent`) for the coalition admin,
and answered 200. Only bodies that are not signed, not JSON or not an event are refused (400).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import String, bindparam, func
from sqlalchemy import insert as sql_insert
from sqlalchemy import select as sql_select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DataError
from sqlmodel import Session, SQLModel, col, select

from relief.errors import DomainError, NotFound
from relief.models import KeptEvent, ParkedEvent, StripeEvent, utcnow
from relief.payments import fulfilment, records, reversals, screening
from relief.payments.fulfilment import Handled
from relief.payments.screening import Hold
from relief.payments.stripe_gateway import BadSignature, Unreadable, verify_event

__all__ = [
    "BadSignature",
    "Outcome",
    "Parked",
    "claim",
    "dispatch",
    "held_count",
    "parked_events",
    "process",
    "receive",
    "replay",
    "verify_event",
]

log = logging.getLogger(__name__)

#: What a handler raises on a signed event that screening let through yet is not what it
#: reads after all (DataError: a value the database refuses; DomainError: the ledger's own
#: refusal). The event is held rather than answered 500. Not IntegrityError (a lost race,
#: retried) nor OperationalError (the database is down: 503, and Stripe retries).
_UNREADABLE = (
    KeyError,
    TypeError,
    AttributeError,
    ValueError,
    IndexError,
    OverflowError,
    DataError,
    DomainError,
)


@dataclass
class Outcome:
    """What processing one event did (the webhook's JSON answer)."""

    event_id: str
    type: str
    duplicate: bool = False
    messages: list[str] = field(default_factory=list)
    parked: bool = False
    #: Kept for the worker to process (RELIEF_WEBHOOKS=kept), not processed yet.
    queued: bool = False

    def as_json(self) -> dict:
        return {
            "event": self.event_id,
            "type": self.type,
            "duplicate": self.duplicate,
            "parked": self.parked,
            "queued": self.queued,
            "result": self.messages,
        }


@functools.cache
def _claim_statement(dialect: str):
    upsert = pg_insert if dialect == "postgresql" else sqlite_insert
    table = SQLModel.metadata.tables[StripeEvent.__tablename__]
    return upsert(table).on_conflict_do_nothing(index_elements=["id"]).returning(table.c.id)


def claim(session: Session, event_id: str, event_type: str) -> bool:
    """Insert the event id; False if it was processed (or is being processed) already.

    The database decides, in one statement: ``INSERT … ON CONFLICT DO NOTHING``. On PostgreSQL
    a second worker's insert waits for the first one's transaction and then sees the row; on
    SQLite the unit of work holds the write lock from its start (``BEGIN IMMEDIATE``).
    """
    connection = session.connection()
    inserted = connection.execute(
        _claim_statement(connection.dialect.name),
        {"id": event_id, "type": event_type[:100], "received_at": utcnow()},
    ).first()
    return inserted is not None


def claim_all(session: Session, events: list[tuple[str, str]]) -> set[str]:
    """:func:`claim` for several (id, type) at once, in one statement: the ids this call
    claimed (an id given twice is claimed once)."""
    if not events:
        return set()
    connection = session.connection()
    now = utcnow()
    return set(
        connection.execute(
            _claim_statement(connection.dialect.name),
            [{"id": key, "type": kind[:100], "received_at": now} for key, kind in events],
        ).scalars()
    )


def dispatch(session: Session, event: dict) -> Handled:
    """One small handler per event type; each brings our rows up to the object's state.
    The event has been screened (:func:`screening.screen`)."""
    match event["type"]:
        case "checkout.session.completed" | "checkout.session.async_payment_succeeded":
            return fulfilment.checkout_session(session, _object(event))
        case "checkout.session.async_payment_failed":
            return fulfilment.checkout_session(session, _object(event), payment_failed=True)
        case "checkout.session.expired":
            return fulfilment.checkout_expired(session, _object(event))
        case "invoice.paid":
            return fulfilment.invoice_paid(session, _object(event), _time(event))
        case "invoice.payment_failed":
            return fulfilment.invoice_payment_failed(session, _object(event), _time(event))
        case "customer.subscription.updated":
            return fulfilment.subscription_updated(session, _object(event), _time(event))
        case "customer.subscription.deleted":
            return fulfilment.subscription_deleted(session, _object(event), _time(event))
        case "charge.refunded":
            return reversals.charge_refunded(session, _object(event), _time(event))
        case "refund.created" | "refund.updated" | "refund.failed" | "charge.refund.updated":
            return reversals.refund_changed(session, _object(event), _time(event))
        case (
            "charge.dispute.created"
            | "charge.dispute.funds_withdrawn"
            | "charge.dispute.funds_reinstated"
            | "charge.dispute.closed"
            | "charge.dispute.updated"
        ):
            return reversals.dispute(session, _object(event), event["type"], _time(event))
        case _:
            return Handled(f"{event['type'][:100]} ignored")


def _object(event: dict) -> dict:
    return event["data"]["object"]


def _time(event: dict) -> datetime | None:
    """When Stripe created the event (the time of what it reports), if it says."""
    created = event.get("created")
    return records.at(created) if created else None


def receive(session: Session, payload: bytes, signature: str | None, secret: str) -> Outcome:
    """The webhook's work: check the signature on the raw bytes, then process the event once,
    inside the caller's writer unit of work. Raises BadSignature (nothing kept) when the body
    is not a Stripe event signed with ``secret``; a signed body too deeply nested to read is
    held as it came."""
    try:
        event = verify_event(payload, signature, secret)
    except Unreadable as error:
        key = _body_key(payload)
        outcome = Outcome(event_id=key, type="(unreadable)")
        if not claim(session, key, outcome.type):
            outcome.duplicate = True
            outcome.messages.append("already processed")
            return outcome
        _hold(session, key, None, str(error), outcome, payload.decode("utf-8"))
        return outcome
    return process(session, event, payload, whole_unit=True)


def keep(session: Session, payload: bytes, signature: str | None, secret: str) -> Outcome:
    """The webhook's work when events are kept (RELIEF_WEBHOOKS=kept): check the signature
    on the raw bytes and keep the event as signed, in one statement, for the worker to
    process in arrival order (relief/payments/drain.py). Raises BadSignature as
    :func:`receive` does; a signed body too deeply nested to read is held at once."""
    try:
        event = verify_event(payload, signature, secret)
    except Unreadable:
        return receive(session, payload, signature, secret)
    now = utcnow()
    session.connection().execute(
        _keep_statement(),
        {"payload": payload.decode("utf-8"), "received_at": now, "run_after": now, "attempts": 0},
    )
    kind = event["type"]
    return Outcome(
        event_id=str(event["id"])[:255],
        type=kind[:100] if isinstance(kind, str) else "(no type)",
        queued=True,
        messages=["kept; the worker records it"],
    )


@functools.cache
def _keep_statement():
    return sql_insert(SQLModel.metadata.tables[KeptEvent.__tablename__])


def hold_unprocessed(session: Session, event: dict, payload: bytes, reason: str) -> Outcome:
    """Hold a kept event that failed to process every time it was tried, with the reason,
    for a person (inside the caller's unit); nothing of it is posted."""
    event_id = event.get("id")
    key = event_id if isinstance(event_id, str) and screening.is_id(event_id) else None
    key = key or _body_key(payload)
    outcome = Outcome(event_id=key, type=_type_of(event))
    if not claim(session, key, outcome.type):
        outcome.duplicate = True
        outcome.messages.append("already processed")
        return outcome
    _hold(session, key, event, reason, outcome, payload.decode("utf-8"))
    return outcome


def process(
    session: Session, event: dict, payload: bytes | None = None, *, whole_unit: bool = False
) -> Outcome:
    """Process a verified event once, inside the caller's writer unit of work (the webhook's
    request, or the test checkout's), which commits. Idempotent per Stripe event id (or, for
    an event without a usable id, per signed body). ``payload`` is the body as signed, kept
    as it is when the event is parked. ``whole_unit``: the event is its unit's only work (the
    webhook's), so an event held may roll the unit back (see :func:`_run`)."""
    event_id = event.get("id")
    if isinstance(event_id, str) and screening.is_id(event_id):
        key = event_id
    else:
        key = _body_key(payload if payload is not None else json.dumps(event).encode())
    event_type = event.get("type")
    outcome = Outcome(
        event_id=key, type=event_type[:100] if isinstance(event_type, str) else "(no type)"
    )
    # Screening reads only the event, so it goes before the claim: on SQLite the claim takes
    # the write lock every other writer waits for, and the lock is held for less.
    screened = screen(event)
    if not claim(session, outcome.event_id, outcome.type):
        outcome.duplicate = True
        outcome.messages.append("already processed")
        return outcome
    text = None if payload is None else payload.decode("utf-8")
    _run(session, key, event, outcome, text, whole_unit=whole_unit, screened=screened)
    return outcome


def process_claimed(
    session: Session,
    event: dict,
    payload: bytes | None,
    screened: screening.Screened | Exception,
) -> Outcome:
    """:func:`process` for an event whose id is claimed already and that was screened
    (:func:`screen`); in a savepoint of the caller's unit (relief/payments/batch.py)."""
    outcome = Outcome(event_id=event["id"], type=event["type"][:100])
    text = None if payload is None else payload.decode("utf-8")
    _run(session, outcome.event_id, event, outcome, text, screened=screened)
    return outcome


def screen(event: dict) -> screening.Screened | Exception:
    """The event screened, or what screening raised (raised again where it is held)."""
    try:
        return screening.screen(event)
    except (Hold, *_UNREADABLE) as error:
        return error


def _body_key(payload: bytes) -> str:
    """The claim of a signed body without a usable event id: Stripe redelivers the same bytes."""
    return "body:" + hashlib.sha256(payload).hexdigest()


def _run(
    session: Session,
    key: str,
    event: dict,
    outcome: Outcome,
    payload: str | None = None,
    *,
    whole_unit: bool = False,
    screened: screening.Screened | Exception | None = None,
) -> None:
    # A held event leaves nothing half-done. Its work runs in a savepoint (a replayed one held
    # while its gift arrives undoes only itself), or, when it is its unit's only work
    # (``whole_unit``), in the unit itself: a hold then rolls the unit back and claims the
    # event again (SAVEPOINT and RELEASE are two of a webhook's statements otherwise).
    try:
        with nullcontext() if whole_unit else session.begin_nested():
            if screened is None:
                screened = screening.screen(event)
            elif isinstance(screened, Exception):
                raise screened
            handled = dispatch(session, screened.event)
    except Hold as hold:
        _hold_undone(session, key, event, hold.reason, outcome, payload, whole_unit)
        return
    except _UNREADABLE as error:
        # Only the id, type and error's name are logged: never a value of the body.
        log.warning("could not read %s (%s): %s", key, outcome.type, type(error).__name__)
        reason = (
            f"Relief could not read this event ({type(error).__name__}): it is not in the "
            "shape of a Stripe object."
        )
        _hold_undone(session, key, event, reason, outcome, payload, whole_unit)
        return
    if screened.shortened:
        _keep_whole(session, key, event, payload, screened.shortened, outcome)
    outcome.messages.append(handled.message)
    if handled.waits_for:
        _park(session, key, event, payload, waits_for=handled.waits_for)
        if key == outcome.event_id:
            outcome.parked = True
        return
    _replay(session, handled.became_known, outcome)


@functools.cache
def _any_parked_for(count: int):
    """Is any event parked for one of ``count`` ids? Built once per count (an expanding IN
    would be compiled again on every call)."""
    ids = [bindparam(f"id{number}", type_=String()) for number in range(count)]
    return select(ParkedEvent.id).where(col(ParkedEvent.waits_for).in_(ids)).limit(1)


def _replay(session: Session, known: Iterable[str], outcome: Outcome) -> None:
    ids = tuple(known)
    if not ids:
        return
    waiting = (
        session.connection()
        .execute(_any_parked_for(len(ids)), {f"id{n}": value for n, value in enumerate(ids)})
        .first()
    )
    if waiting is None:
        return  # the usual answer, in one small query
    for parked in session.exec(
        select(ParkedEvent).where(col(ParkedEvent.waits_for).in_(ids)).order_by(col(ParkedEvent.id))
    ).all():
        # Its id is claimed already; the parked row is only a queue, not history.
        session.delete(parked)
        session.flush()
        outcome.messages.append(f"replaying {parked.event_id}")
        _run(session, parked.event_id, json.loads(parked.payload), outcome, parked.payload)


def replay(session: Session, ids: Iterable[str]) -> int:
    """Apply the parked events waiting for any of these Stripe ids (now known); returns how
    many ran. For callers that learn ids outside an event (fee sync)."""
    outcome = Outcome(event_id="", type="replay")
    _replay(session, ids, outcome)
    return sum(message.startswith("replaying ") for message in outcome.messages)


def run_held(session: Session, event_id: str) -> Outcome:
    """Run a held event again (a coalition admin, once its cause is gone: say, the dispute
    that made a second one too large was won), inside the caller's writer unit of work. Its
    id stays claimed; it is taken off the list and processed as it came, so it is held again,
    with its reason, if the cause remains. NotFound unless the event is held."""
    held = session.exec(
        select(ParkedEvent).where(
            ParkedEvent.event_id == event_id, col(ParkedEvent.reason).is_not(None)
        )
    ).first()
    if held is None:
        raise NotFound(f"No Stripe event {event_id[:80]} is held.")
    stored = session.get(StripeEvent, event_id)
    outcome = Outcome(event_id=event_id, type=stored.type if stored else "(held)")
    try:
        event = json.loads(held.payload)
    except (ValueError, RecursionError):
        outcome.parked = True
        outcome.messages.append(f"held: {held.reason}")
        return outcome  # a body Relief cannot read stays held as it is
    session.delete(held)
    session.flush()
    _run(session, event_id, event, outcome, held.payload)
    return outcome


def _park(
    session: Session,
    key: str,
    event: dict | None,
    payload: str | None,
    *,
    waits_for: str | None = None,
    reason: str | None = None,
) -> None:
    existing = session.exec(select(ParkedEvent).where(ParkedEvent.event_id == key)).first()
    if existing is None:
        session.add(
            ParkedEvent(
                event_id=key,
                waits_for=waits_for,
                reason=reason,
                payload=payload if payload is not None else json.dumps(event),
            )
        )
        session.flush()
    if waits_for:
        log.info("parked %s (%s) until %s is known", key, _type_of(event), waits_for)


def _hold_undone(
    session: Session,
    key: str,
    event: dict,
    reason: str,
    outcome: Outcome,
    payload: str | None,
    whole_unit: bool,
) -> None:
    """Hold an event whose work was undone: its savepoint rolled back already, or (run
    without one) the whole unit rolled back here and the event claimed again."""
    if whole_unit:
        session.rollback()
        if not claim(session, key, outcome.type):
            # Another delivery of it claimed it meanwhile: that one holds it.
            outcome.duplicate = True
            outcome.messages.append("already processed")
            return
    _hold(session, key, event, reason, outcome, payload)


def _hold(
    session: Session,
    key: str,
    event: dict | None,
    reason: str,
    outcome: Outcome,
    payload: str | None,
) -> None:
    """Keep the event for a person, with the reason; nothing of it is posted."""
    _park(session, key, event, payload, reason=reason)
    if key == outcome.event_id:
        outcome.parked = True
    outcome.messages.append(f"held: {reason}")
    # The reason names fields, ids and amounts, never a donor's data.
    log.warning("held %s (%s): %s", key, _type_of(event), reason)


def _keep_whole(
    session: Session,
    key: str,
    event: dict,
    payload: str | None,
    shortened: tuple[str, ...],
    outcome: Outcome,
) -> None:
    """A value was cut to fit its column: the event as signed stays on its claim's row."""
    stored = session.get(StripeEvent, key)
    if stored is not None and stored.payload is None:
        stored.payload = payload if payload is not None else json.dumps(event)
    outcome.messages.append(f"shortened to fit: {', '.join(shortened)}; the full event is kept")


def _type_of(event: dict | None) -> str:
    kind = event.get("type") if event is not None else None
    return kind[:100] if isinstance(kind, str) else "(no type)"


@dataclass(frozen=True)
class Parked:
    """A parked event as the coalition admin's list shows it (without its payload)."""

    event_id: str
    event_type: str
    reason: str | None
    waits_for: str | None
    parked_at: datetime


def parked_events(session: Session, limit: int = 200) -> list[Parked]:
    """Parked events for the coalition admin, newest first: those held with a reason, and
    those still waiting for their gift."""
    parked = SQLModel.metadata.tables[ParkedEvent.__tablename__]
    events = SQLModel.metadata.tables[StripeEvent.__tablename__]
    rows = session.connection().execute(
        # Not the payloads: up to a megabyte each, and not shown.
        sql_select(
            parked.c.event_id,
            events.c.type,
            parked.c.reason,
            parked.c.waits_for,
            parked.c.parked_at,
        )
        .join_from(parked, events, events.c.id == parked.c.event_id)
        .order_by(parked.c.id.desc())
        .limit(limit)
    )
    return [Parked(*row) for row in rows]


def held_count(session: Session) -> int:
    """How many events are held for a person (not merely waiting for their gift)."""
    return session.exec(
        select(func.count()).select_from(ParkedEvent).where(col(ParkedEvent.reason).is_not(None))
    ).one()
