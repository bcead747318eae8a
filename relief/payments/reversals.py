"""Money leaving again: refunds and disputes, brought up to the state of Stripe's objects.
Each posting has an external id, so the same money is never taken out (or put back) twice,
however many events about it arrive, in whatever order.

**Refunds** are tracked per Stripe refund object (:class:`~relief.models.StripeRefund`), from
``refund.created``, ``refund.updated``, ``refund.failed`` and the refunds a ``charge.refunded``
lists. A gift's refunds in the ledger are always brought to

    the refunds whose status counts (pending, requires_action, succeeded)
    + what the charge's cumulative ``amount_refunded`` states beyond every refund object known

Each counting refund is posted once (``refund:<re_…>``), dated at its own ``created``; one
that fails or is canceled puts exactly its money back, once (``refund-failed:<re_…>``). Failed
and canceled are final, so a stale "succeeded" arriving later changes nothing. The second
line is the provisional part: since API version 2022-11-15 a charge no longer lists its
refunds, so a ``charge.refunded`` may arrive before the refund's own event. What it states
beyond the refunds we know is posted at once (``refund-unexplained:…``) and settled, to the
cent, as the refund objects arrive; a refund object that failed still explains the figure that
counted it. The highest cumulative figure ever stated is kept, so a stale copy lowers nothing.
Stripe refunds no more than a charge, so refunds that add up to more mean one was made after
an earlier one failed whose failure has not arrived yet: at most the gift is taken out, the
excess put back provisionally, and the failure settles it when it comes. Every fact only ever
grows (a new refund, a final status, a higher figure), which is why any
order and any repetition of the events end in the same books.

**Disputes** follow :data:`DISPUTE_STATUSES`, every status Stripe documents; a status not in
it is held for a person, never guessed.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from relief import money
from relief.models import Entry, EntryKind, Gift, StripeRefund, utcnow
from relief.outbox import due
from relief.payments import records
from relief.payments.fulfilment import Handled
from relief.payments.gateway import RefundInAccount
from relief.payments.screening import Hold

#: A refund in these states has taken (or is taking) the money out.
REFUND_COUNTS = ("succeeded", "pending", "requires_action")
#: Final: the money came back (failed) or never left (canceled).
REFUND_UNDONE = ("failed", "canceled")
#: Which status wins when two events disagree: a final state over a live one; among live
#: ones, succeeded over the states before it.
_REFUND_RANK = {"pending": 0, "requires_action": 0, "succeeded": 1, "failed": 2, "canceled": 2}
UNEXPLAINED = "refund-unexplained:"

log = logging.getLogger(__name__)


def _gift_for(session: Session, obj: dict, charge_id: str | None):
    intent_id = records.stripe_id(obj.get("payment_intent"))
    if intent_id is None and charge_id is None:
        raise Hold(
            f"{obj.get('object') or 'The object'} {obj.get('id')} names neither a charge nor a "
            "payment intent, so Relief cannot tell which gift it is about. Nothing was posted."
        )
    gift = records.by_payment(session, intent_id, charge_id)
    if gift is None or gift.status not in records.MONEY_RECEIVED:
        return None, (intent_id or charge_id)
    return gift, None


# --- refunds ------------------------------------------------------------------------------------


def charge_refunded(session: Session, charge: dict, at: datetime | None = None) -> Handled:
    """charge.refunded: the refunds it lists (if any) are recorded as refund objects, and its
    cumulative ``amount_refunded`` is kept if higher than any before; then the gift's refunds
    are brought up to date (:func:`_settle`)."""
    gift, waits_for = _gift_for(session, charge, charge["id"])
    if gift is None:
        return Handled(f"charge {charge['id']}: gift not known yet", waits_for=waits_for)
    if gift.stripe_charge_id is None:
        gift.stripe_charge_id = charge["id"]
    # A charge in another currency than its gift's (Adaptive Pricing) states its refunds in
    # that currency: not a figure of the gift's. Its refund objects are converted one by one.
    stated = 0 if _foreign(charge, gift) else int(charge.get("amount_refunded") or 0)
    if stated > gift.amount_cents:
        raise Hold(
            f"Stripe says {_money(stated, gift)} was refunded on charge {charge['id']}, more "
            f"than its gift #{gift.id} of {_money(gift.amount_cents, gift)}. Nothing was posted."
        )
    for refund in (charge.get("refunds") or {}).get("data") or []:
        _track(session, gift, refund, at)
    gift.stripe_refunded_cents = max(gift.stripe_refunded_cents, stated)
    moved = _settle(session, gift, at)
    return Handled(f"charge {charge['id']}: {_moved(moved, gift)}", gift)


def refund_changed(session: Session, refund: dict, at: datetime | None = None) -> Handled:
    """refund.created / refund.updated / refund.failed: the refund object's state, then the
    gift's refunds brought up to date (:func:`_settle`)."""
    gift, waits_for = _gift_for(session, refund, records.stripe_id(refund.get("charge")))
    if gift is None:
        return Handled(f"refund {refund['id']}: gift not known yet", waits_for=waits_for)
    status = _track(session, gift, refund, at)
    moved = _settle(session, gift, at)
    return Handled(f"refund {refund['id']} is {status}: {_moved(moved, gift)}", gift)


def _track(session: Session, gift: Gift, refund: dict, at: datetime | None) -> str:
    """Bring our row of this refund object up to what Stripe says; returns its status now."""
    status = refund.get("status")
    if status not in _REFUND_RANK:
        raise Hold(
            f"Refund {refund['id']} has the status {status or '(none)'!r}, which Relief does not "
            "know; nothing was posted. Look the refund up in Stripe's dashboard."
        )
    row = session.exec(select(StripeRefund).where(StripeRefund.stripe_id == refund["id"])).first()
    if _foreign(refund, gift):
        if row is not None:
            amount = row.amount_cents  # converted when it was first known
        elif (converted := _in_gift_currency(refund.get("balance_transaction"), gift)) is not None:
            amount = converted
        else:
            # What left the account is read from its balance transaction by the outbox's
            # worker (refund_reader), which then posts it; nothing is posted meanwhile.
            due.refund_amount(session, records.saved_id(gift), refund["id"])
            return f"in {str(refund['currency']).upper()}: its amount in {gift.currency} is read"
    else:
        amount = int(refund["amount"])
    if amount > gift.amount_cents:
        raise Hold(
            f"Refund {refund['id']} of {_money(amount, gift)} is more than its gift "
            f"#{gift.id} of {_money(gift.amount_cents, gift)}. Nothing was posted."
        )
    told_at = at or utcnow()
    if row is None:
        row = StripeRefund(
            stripe_id=refund["id"],
            gift_id=records.saved_id(gift),
            amount_cents=amount,
            currency=gift.currency,
            status=status,
            created=records.at(refund.get("created")) if refund.get("created") else told_at,
            updated_at=told_at,
        )
        session.add(row)
    elif row.gift_id != gift.id or row.amount_cents != amount:
        raise Hold(
            f"Refund {refund['id']} is now for {_money(amount, gift)} on gift #{gift.id}; Relief "
            f"recorded it for {_money(row.amount_cents, gift)} on gift #{row.gift_id}. "
            "Nothing was posted."
        )
    elif _REFUND_RANK[status] > _REFUND_RANK[row.status]:
        row.status, row.updated_at = status, told_at
    session.flush()
    return row.status


def refund_converted(session: Session, gift_id: int, found: RefundInAccount) -> str | None:
    """A refund in another currency, as its balance transaction says it left the account
    (``refund_reader``): tracked and posted in the gift's currency, at its own time; None
    (nothing posted) when the account's currency is not the gift's either. Flushes."""
    gift = session.get(Gift, gift_id)
    if gift is None or found.currency.upper() != gift.currency:
        return None
    refund = {
        "id": found.refund_id,
        "status": found.status,
        "amount": found.amount_cents,
        "created": int(found.created.timestamp()),
    }
    status = _track(session, gift, refund, None)
    moved = _settle(session, gift, None)
    return f"refund {found.refund_id} is {status}, {_money(found.amount_cents, gift)}: " + _moved(
        moved, gift
    )


def _foreign(obj: dict, gift: Gift) -> bool:
    """Is the Stripe object's amount in another currency than the gift's?"""
    currency = obj.get("currency")
    return isinstance(currency, str) and bool(currency) and currency.upper() != gift.currency


def _in_gift_currency(txn: object, gift: Gift) -> int | None:
    """What an expanded balance transaction moved (positive), if it is in the gift's
    currency; else None."""
    if not isinstance(txn, dict) or str(txn.get("currency") or "").upper() != gift.currency:
        return None
    amount = txn.get("amount")
    return abs(int(amount)) if isinstance(amount, int) else None


def _settle(session: Session, gift: Gift, at: datetime | None) -> int:
    """Bring the gift's refunds in the ledger to what its refund objects and its charge's
    highest cumulative figure say (module docstring); flushes. Returns the cents that moved
    (positive: taken out)."""
    refunds = session.exec(
        select(StripeRefund)
        .where(StripeRefund.gift_id == gift.id)
        .order_by(col(StripeRefund.created), col(StripeRefund.id))
    ).all()
    counting = sum(r.amount_cents for r in refunds if r.status in REFUND_COUNTS)
    known = sum(r.amount_cents for r in refunds)
    unexplained = max(0, gift.stripe_refunded_cents - known)
    stated = counting + unexplained
    if stated > gift.amount_cents:
        # Stripe refunds no more than a charge, so a refund was made after an earlier one
        # failed, and that failure is still on its way. At most the gift is taken out: the
        # rest goes back provisionally until the failure arrives and settles it (below).
        log.warning(
            "refunds of gift %s state %s cents, more than its %s: an earlier refund's failure "
            "has not arrived yet",
            gift.id,
            stated,
            gift.amount_cents,
        )
    refunded = min(stated, gift.amount_cents)
    before = -records.sum_for(session, gift, EntryKind.REFUND)
    for refund in refunds:
        if refund.status in REFUND_COUNTS:
            records.post(
                session,
                gift,
                EntryKind.REFUND,
                -refund.amount_cents,
                f"refund:{refund.stripe_id}",
                effective_at=refund.created,
                memo=f"refund {refund.stripe_id}",
            )
        elif records.has_entry(session, f"refund:{refund.stripe_id}"):
            records.post(
                session,
                gift,
                EntryKind.REFUND,
                refund.amount_cents,
                f"refund-failed:{refund.stripe_id}",
                effective_at=refund.updated_at,
                memo=f"refund {refund.stripe_id} {refund.status}: money back",
            )
    # Whatever the refund objects do not explain: the provisional part, to the cent.
    difference = refunded - (-records.sum_for(session, gift, EntryKind.REFUND))
    if difference:
        if difference > 0:
            memo = (
                f"refunds the charge states ({gift.stripe_refunded_cents} cents) before their "
                "refund objects arrived"
            )
        elif stated > gift.amount_cents:
            memo = (
                f"refunds beyond the gift ({stated} cents) put back until an earlier refund's "
                "failure arrives"
            )
        else:
            memo = "provisional refund settled by its refund objects"
        posted = session.exec(
            select(func.count())
            .select_from(Entry)
            .where(
                Entry.gift_id == gift.id,
                col(Entry.external_id).startswith(f"{UNEXPLAINED}{gift.public_id}:"),
            )
        ).one()
        records.post(
            session,
            gift,
            EntryKind.REFUND,
            -difference,
            f"{UNEXPLAINED}{gift.public_id}:{posted + 1}",
            effective_at=at,
            memo=memo,
        )
    records.settle_status(session, gift)
    after = -records.sum_for(session, gift, EntryKind.REFUND)
    if after > before:
        # The donor hears once per refunded total reached (a redelivery reaches none).
        due.refund_notice(session, gift, after)
    return after - before


def _moved(cents: int, gift: Gift) -> str:
    if cents > 0:
        return f"gift {gift.public_id}: {cents} cents refunded"
    if cents < 0:
        return f"gift {gift.public_id}: {-cents} cents back"
    return f"gift {gift.public_id}: refunds already recorded"


# --- disputes -----------------------------------------------------------------------------------

#: Every dispute status Stripe documents (the SDK's Dispute.status), and what it means for
#: the money: "inquiry" moves none (a card network's question before any chargeback);
#: "withdrawn" keeps the disputed amount out of the drive (open, lost or under appeal);
#: "won" withdraws and puts it back; "prevented" (Visa's Rapid Dispute Resolution and
#: similar) stopped the chargeback with a refund, which takes the money out through its own
#: refund object, so the dispute itself nets to zero (posted as a withdrawal and its return,
#: so a stale "needs_response" arriving afterwards cannot take it out a second time).
DISPUTE_STATUSES = {
    "warning_needs_response": "inquiry",
    "warning_under_review": "inquiry",
    "warning_closed": "inquiry",
    "needs_response": "withdrawn",
    "under_review": "withdrawn",
    "appeal_needs_response": "withdrawn",
    "appeal_under_review": "withdrawn",
    "lost": "withdrawn",
    "won": "won",
    "prevented": "prevented",
}


def dispute(session: Session, obj: dict, event_type: str, at: datetime | None = None) -> Handled:
    """charge.dispute.*: money withdrawn once when a dispute opens (inquiries withdraw none),
    put back once if it is won (or prevented: its refund carries the money), kept out if it
    is lost. Dated at the dispute's own times: the withdrawal at its ``created``, the return
    at its reinstating balance transaction (else the event's time)."""
    status = obj.get("status") or ""
    meaning = DISPUTE_STATUSES.get(status)
    if meaning is None:
        raise Hold(
            f"Dispute {obj['id']} has the status {status or '(none)'!r}, which Relief does not "
            "know; nothing was posted. Look the dispute up in Stripe's dashboard."
        )
    gift, waits_for = _gift_for(session, obj, records.stripe_id(obj.get("charge")))
    if gift is None:
        return Handled(f"dispute {obj['id']}: gift not known yet", waits_for=waits_for)
    reinstated = meaning in ("won", "prevented") or event_type == "charge.dispute.funds_reinstated"
    if meaning == "inquiry" and not reinstated:
        # An inquiry: the card network asks questions, no money moves.
        return Handled(f"dispute {obj['id']} is an inquiry ({status}); no money moved", gift)
    amount = _dispute_amount(session, obj, gift)
    if not records.has_entry(session, f"dispute-withdrawn:{obj['id']}"):
        _within_gift(session, gift, obj["id"], amount)
    records.post(
        session,
        gift,
        EntryKind.DISPUTE_WITHDRAWN,
        -amount,
        f"dispute-withdrawn:{obj['id']}",
        effective_at=records.at(obj.get("created")) if obj.get("created") else at,
        memo=f"dispute {obj['id']} ({obj.get('reason') or 'no reason given'})",
    )
    if meaning != "prevented":  # a prevented dispute took nothing: its refund tells
        due.dispute_notice(session, gift, obj["id"])
    if reinstated:
        records.post(
            session,
            gift,
            EntryKind.DISPUTE_REINSTATED,
            amount,
            f"dispute-reinstated:{obj['id']}",
            effective_at=_reinstated_at(obj) or at,
            memo=(
                f"dispute {obj['id']} prevented: its refund takes the money"
                if meaning == "prevented"
                else f"dispute {obj['id']} won"
            ),
        )
    records.settle_status(session, gift)
    return Handled(f"dispute {obj['id']} ({status}): gift {gift.status.value}", gift)


def _dispute_amount(session: Session, obj: dict, gift: Gift) -> int:
    """The disputed amount in the gift's currency. A dispute of a payment made in another
    currency is what its withdrawal's balance transaction took out of the account (or what
    was posted for it before); with neither in the gift's currency it is held, never posted
    as a number in the wrong currency."""
    if not _foreign(obj, gift):
        return int(obj["amount"])
    posted = session.exec(
        select(Entry.amount_cents).where(Entry.external_id == f"dispute-withdrawn:{obj['id']}")
    ).first()
    if posted is not None:
        return -posted
    for txn in obj.get("balance_transactions") or []:
        amount = _in_gift_currency(txn, gift)
        if amount is not None and isinstance(txn, dict) and txn["amount"] < 0:
            return amount
    raise Hold(
        f"Dispute {obj['id']} is in {str(obj['currency']).upper()} and gift #{gift.id} in "
        f"{gift.currency}, and no balance transaction of the dispute in {gift.currency} says "
        "what left the account. Nothing was posted: look the dispute up in Stripe's dashboard."
    )


def _reinstated_at(obj: dict) -> datetime | None:
    """When the dispute's money came back: its positive balance transaction's time."""
    for txn in obj.get("balance_transactions") or []:
        if isinstance(txn, dict) and (txn.get("amount") or 0) > 0 and txn.get("created"):
            return records.at(txn["created"])
    return None


def _within_gift(session: Session, gift: Gift, dispute_id: str, amount: int) -> None:
    """A new dispute withholds at most what the gift has left after other disputes (a charge
    is disputed once; a second dispute would take the same money out twice)."""
    withheld = -records.sum_for(
        session, gift, EntryKind.DISPUTE_WITHDRAWN, EntryKind.DISPUTE_REINSTATED
    )
    if amount > gift.amount_cents - withheld:
        others = f", of which disputes withhold {_money(withheld, gift)}" if withheld else ""
        raise Hold(
            f"Dispute {dispute_id} is for {_money(amount, gift)}, more than its gift "
            f"#{gift.id} of {_money(gift.amount_cents, gift)}{others}. Nothing was posted."
        )


def _money(cents: int, gift: Gift) -> str:
    return money.format(cents, gift.currency)
