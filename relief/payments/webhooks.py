"""Stripe events, processed exactly once: claim the event id, dispatch by type, park what
refers to a gift we do not know yet and replay it when the gift arrives.

Real webhooks (verified first with :func:`verify_event`, the Stripe implementation's check,
re-exported here so the webhook view needs nothing else) and the test-mode checkout both come
through :func:`process`.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass, field

from sqlalchemy import bindparam
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, select

from relief.models import ParkedEvent, StripeEvent, utcnow
from relief.payments import fulfilment, reversals
from relief.payments.fulfilment import Handled
from relief.payments.stripe_gateway import BadSignature, verify_event

__all__ = ["BadSignature", "Outcome", "claim", "dispatch", "process", "replay", "verify_event"]

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What processing one event did (the webhook's JSON answer)."""

    event_id: str
    type: str
    duplicate: bool = False
    messages: list[str] = field(default_factory=list)
    #: Gifts whose fee is still to be read from Stripe (after the commit, best effort).
    fee_pending: list[int] = field(default_factory=list)
    parked: bool = False

    def as_json(self) -> dict:
        return {
            "event": self.event_id,
            "type": self.type,
            "duplicate": self.duplicate,
            "parked": self.parked,
            "result": self.messages,
        }


@functools.cache
def _claim_statement(dialect: str):
    upsert = pg_insert if dialect == "postgresql" else sqlite_insert
    table = StripeEvent.__table__
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


def dispatch(session: Session, event: dict) -> Handled:
    """One small handler per event type; each brings our rows up to the object's state."""
    obj = event["data"]["object"]
    match event["type"]:
        case "checkout.session.completed" | "checkout.session.async_payment_succeeded":
            return fulfilment.checkout_session(session, obj)
        case "checkout.session.async_payment_failed":
            return fulfilment.checkout_session(session, obj, payment_failed=True)
        case "checkout.session.expired":
            return fulfilment.checkout_expired(session, obj)
        case "invoice.paid":
            return fulfilment.invoice_paid(session, obj)
        case "customer.subscription.deleted":
            return fulfilment.subscription_deleted(session, obj)
        case "charge.refunded":
            return reversals.charge_refunded(session, obj)
        case "refund.updated" | "refund.failed":
            return reversals.refund_changed(session, obj)
        case (
            "charge.dispute.created"
            | "charge.dispute.funds_withdrawn"
            | "charge.dispute.funds_reinstated"
            | "charge.dispute.closed"
            | "charge.dispute.updated"
        ):
            return reversals.dispute(session, obj, event["type"])
        case _:
            return Handled(f"{event['type']} ignored")


def process(session: Session, event: dict) -> Outcome:
    """Process a verified event once, inside the caller's writer unit of work (the webhook's
    request, or the test checkout's), which commits. Idempotent per Stripe event id."""
    outcome = Outcome(event_id=str(event["id"]), type=str(event["type"]))
    if not claim(session, outcome.event_id, outcome.type):
        outcome.duplicate = True
        outcome.messages.append("already processed")
        return outcome
    _run(session, event, outcome)
    return outcome


def _run(session: Session, event: dict, outcome: Outcome) -> None:
    handled = dispatch(session, event)
    outcome.messages.append(handled.message)
    outcome.fee_pending.extend(handled.fee_pending)
    if handled.waits_for:
        _park(session, event, handled.waits_for)
        if event["id"] == outcome.event_id:
            outcome.parked = True
        return
    _replay(session, handled.became_known, outcome)


@functools.cache
def _any_parked_for(count: int):
    """Is any event parked for one of ``count`` ids? Built once per count (an expanding IN
    would be compiled again on every call)."""
    ids = [bindparam(f"id{number}") for number in range(count)]
    return select(ParkedEvent.id).where(ParkedEvent.waits_for.in_(ids)).limit(1)


def _replay(session: Session, ids, outcome: Outcome) -> None:
    if not ids:
        return
    ids = tuple(ids)
    waiting = (
        session.connection()
        .execute(_any_parked_for(len(ids)), {f"id{n}": value for n, value in enumerate(ids)})
        .first()
    )
    if waiting is None:
        return  # the usual answer, in one small query
    for parked in session.exec(
        select(ParkedEvent).where(ParkedEvent.waits_for.in_(ids)).order_by(ParkedEvent.id)
    ).all():
        # Its id is claimed already; the parked row is only a queue, not history.
        session.delete(parked)
        session.flush()
        outcome.messages.append(f"replaying {parked.event_id}")
        _run(session, json.loads(parked.payload), outcome)


def replay(session: Session, ids) -> int:
    """Apply the parked events waiting for any of these Stripe ids (now known); returns how
    many ran. For callers that learn ids outside an event (fee sync)."""
    outcome = Outcome(event_id="", type="replay")
    _replay(session, ids, outcome)
    return sum(message.startswith("replaying ") for message in outcome.messages)


def _park(session: Session, event: dict, waits_for: str) -> None:
    existing = session.exec(select(ParkedEvent).where(ParkedEvent.event_id == event["id"])).first()
    if existing is None:
        session.add(
            ParkedEvent(event_id=event["id"], waits_for=waits_for, payload=json.dumps(event))
        )
        session.flush()
    log.info("parked %s (%s) until %s is known", event["id"], event["type"], waits_for)
