"""Finding our gift for a Stripe object, and the gift's life in the ledger.

A gift's status follows its money: pending → (processing →) paid → refunded / disputed (and
back to paid when a dispute is won). It is recomputed from the gift's ledger entries, never
stored on a whim, so any order of events ends in the same state.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from sqlalchemy import bindparam, func, insert
from sqlmodel import Session, col, select

from relief import ledger
from relief.db import is_postgres
from relief.models import Entry, EntryKind, Gift, GiftStatus, email_key, table_of, utcnow

#: States in which money has arrived (a refund or dispute can apply).
MONEY_RECEIVED = frozenset({GiftStatus.PAID, GiftStatus.REFUNDED, GiftStatus.DISPUTED})


def at(timestamp: int | None) -> datetime:
    """Stripe's Unix time as an aware UTC datetime (now when absent)."""
    if not timestamp:
        return utcnow()
    return datetime.fromtimestamp(int(timestamp), UTC)


def stripe_id(value) -> str | None:
    """An id from a field Stripe sends either as an id or as an expanded object."""
    if value is None:
        return None
    if isinstance(value, dict):
        return value.get("id")
    return str(value)


@functools.cache
def _gift_id_by(column: str):
    """``SELECT id FROM gift WHERE <column> = :value``, built once (building costs more than
    running it)."""
    return (
        select(Gift.id)
        .where(getattr(Gift, column) == bindparam("value"))
        .order_by(col(Gift.id))
        .limit(1)
    )


def _one(session: Session, column: str, value: str, *, lock: bool = True) -> Gift | None:
    """The gift whose ``column`` (an indexed Stripe id or the public id) is ``value``."""
    if not isinstance(value, str):
        # Stripe's ids and metadata values are strings: anything else is a malformed event.
        raise TypeError(f"a gift is looked up by a string, not {type(value).__name__}")
    session.flush()  # a gift added in this transaction must be found too
    gift_id = session.connection().execute(_gift_id_by(column), {"value": value}).scalar()
    if gift_id is None:
        return None  # the usual answer for a payment we did not start: no ORM load
    # On PostgreSQL, two events about one gift in two workers: the second waits, re-reads.
    return session.get(Gift, gift_id, with_for_update=lock and is_postgres(session))


def by_public_id(session: Session, public_id: str | None, *, lock: bool = True) -> Gift | None:
    """The gift with this public id; locked for the transaction unless only read."""
    return _one(session, "public_id", public_id, lock=lock) if public_id else None


def by_session(session: Session, session_id: str | None) -> Gift | None:
    return _one(session, "stripe_session_id", session_id) if session_id else None


def by_invoice(session: Session, invoice_id: str | None) -> Gift | None:
    return _one(session, "stripe_invoice_id", invoice_id) if invoice_id else None


def by_payment(session: Session, payment_intent_id: str | None, charge_id: str | None):
    """The gift paid by this charge or payment intent (whichever we know)."""
    if charge_id:
        gift = _one(session, "stripe_charge_id", charge_id)
        if gift is not None:
            return gift
    if payment_intent_id:
        gift = _one(session, "stripe_payment_intent_id", payment_intent_id)
        if gift is not None:
            if charge_id and gift.stripe_charge_id is None:
                gift.stripe_charge_id = charge_id
            return gift
    return None


def first_of_subscription(session: Session, subscription_id: str | None) -> Gift | None:
    if not subscription_id:
        return None
    return session.exec(
        select(Gift).where(Gift.stripe_subscription_id == subscription_id).order_by(col(Gift.id))
    ).first()


def post(
    session: Session,
    gift: Gift,
    kind: EntryKind,
    amount_cents: int,
    external_id: str,
    *,
    effective_at: datetime | None = None,
    memo: str = "",
    reverses_id: int | None = None,
) -> ledger.Posted | None:
    """One ledger entry for this gift, once per ``external_id``. A gift without a drive (its
    session named an unknown drive) is still in the ledger, counted in no drive's totals."""
    return ledger.append(
        session,
        kind=kind,
        amount_cents=amount_cents,
        currency=gift.currency,
        drive_id=gift.drive_id,
        chapter_id=gift.chapter_id,
        gift_id=gift.id,
        effective_at=effective_at,
        external_id=external_id,
        reverses_id=reverses_id,
        memo=memo,
    )


def has_entry(session: Session, external_id: str) -> bool:
    return (
        session.exec(select(Entry.id).where(Entry.external_id == external_id)).first() is not None
    )


def sum_for(session: Session, gift: Gift, *kinds: EntryKind) -> int:
    return int(
        session.exec(
            select(func.coalesce(func.sum(Entry.amount_cents), 0)).where(
                Entry.gift_id == gift.id, col(Entry.kind).in_(kinds)
            )
        ).one()
    )


def settle_status(session: Session, gift: Gift) -> None:
    """Bring a received gift's status in line with its entries."""
    if gift.status not in MONEY_RECEIVED:
        return
    withheld = -sum_for(session, gift, EntryKind.DISPUTE_WITHDRAWN, EntryKind.DISPUTE_REINSTATED)
    refunded = -sum_for(session, gift, EntryKind.REFUND)
    if withheld > 0:
        gift.status = GiftStatus.DISPUTED
    elif refunded >= gift.amount_cents:
        gift.status = GiftStatus.REFUNDED
    else:
        gift.status = GiftStatus.PAID


def mark_paid(session: Session, gift: Gift, *, received_at: datetime) -> bool:
    """Record that the gift's money arrived: status paid and its gift entry, exactly once.

    Returns True when this call recorded it. The fee is filled in later from Stripe's balance
    transaction (``fee_pending``), so a slow or failing Stripe API never delays the gift.
    """
    if gift.status in MONEY_RECEIVED:
        return False
    set_paid(gift, received_at)
    session.flush()
    _post_gift(session, gift, received_at)
    return True


def insert_gift(session: Session, values: dict, *, paid_at: datetime | None = None) -> Gift:
    """A new gift with these column values, inserted in one statement (``INSERT … RETURNING``)
    and given back as the session's own Gift. A webhook's new gift so costs neither the
    model's constructor nor a unit-of-work flush (a fifth of its CPU, issue 18).

    ``paid_at``: its money arrived then; the gift goes in paid, with its gift entry
    (:func:`mark_paid` for a gift not in the database yet)."""
    gift = session.scalars(_insert_gift(), gift_row(values, paid_at)).one()
    if paid_at is not None:
        _post_gift(session, gift, paid_at)
    return gift


def set_paid(gift: Gift, received_at: datetime) -> None:
    """A gift's money arrived: paid then, its fee still to read (none in test mode)."""
    gift.status = GiftStatus.PAID
    gift.received_at = received_at
    gift.fee_pending = not gift.test_mode


def gift_row(values: dict, paid_at: datetime | None) -> dict:
    """A new gift's row as it is inserted: ``values`` and what follows from them (paid at
    ``paid_at``, unless None, as :func:`set_paid` makes a gift)."""
    row = {
        **values,
        # What models/privacy.py's before_insert hook does for the ORM's own inserts.
        "donor_email_key": email_key(values.get("donor_email")) or None,
    }
    if paid_at is not None:
        row.update(
            status=GiftStatus.PAID,
            received_at=paid_at,
            fee_pending=not values.get("test_mode", False),
        )
    return row


@functools.cache
def _insert_gift():
    """``INSERT INTO gift … RETURNING *``, read as a Gift of the session; built once."""
    table = table_of(Gift)
    return select(Gift).from_statement(insert(table).returning(*table.c))


def _post_gift(session: Session, gift: Gift, received_at: datetime) -> None:
    post(
        session,
        gift,
        EntryKind.GIFT,
        gift.amount_cents,
        f"gift:{gift.public_id}",
        effective_at=received_at,
        memo=gift_memo(gift.test_mode, gift.monthly),
    )


def gift_memo(test_mode: bool, monthly: bool) -> str:
    """The memo of a card gift's entry."""
    return ("test-mode " if test_mode else "") + ("monthly gift" if monthly else "gift")


def saved_id(gift: Gift) -> int:
    """The id of a gift that is in the database (flushed)."""
    if gift.id is None:
        raise ValueError("the gift is not flushed yet")
    return gift.id


def known_ids(gift: Gift) -> tuple[str, ...]:
    """The Stripe ids parked events may wait for."""
    return tuple(
        value
        for value in (
            gift.stripe_payment_intent_id,
            gift.stripe_charge_id,
            gift.stripe_invoice_id,
            gift.stripe_subscription_id,
            gift.stripe_session_id,
        )
        if value
    )
