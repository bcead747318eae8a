"""Money leaving again: refunds and disputes, brought up to the charge's or dispute's current
state. Each posting has an external id, so the same money is never taken out (or put back)
twice, however many events about it arrive, in whatever order.
"""

from __future__ import annotations

from sqlmodel import Session

from relief import money
from relief.models import EntryKind, Gift
from relief.outbox import due
from relief.payments import records
from relief.payments.fulfilment import Handled
from relief.payments.screening import Hold

REFUND_COUNTS = ("succeeded", "pending", "requires_action")
REFUND_UNDONE = ("failed", "canceled")


def _gift_for(session: Session, obj: dict, charge_id: str | None):
    intent_id = records.stripe_id(obj.get("payment_intent"))
    gift = records.by_payment(session, intent_id, charge_id)
    if gift is None or gift.status not in records.MONEY_RECEIVED:
        return None, (intent_id or charge_id)
    return gift, None


def charge_refunded(session: Session, charge: dict) -> Handled:
    """charge.refunded: ``amount_refunded`` is cumulative. Post the difference between it and
    what the ledger holds for this gift; per refund id when the charge lists its refunds and
    they explain the difference, else under the cumulative figure (so a redelivery, or a stale
    copy after a failed refund, posts nothing). Refunds beyond the gift are held."""
    gift, waits_for = _gift_for(session, charge, charge["id"])
    if gift is None:
        return Handled(f"charge {charge['id']}: gift not known yet", waits_for=waits_for)
    if gift.stripe_charge_id is None:
        gift.stripe_charge_id = charge["id"]
    target = int(charge.get("amount_refunded") or 0)
    if target > gift.amount_cents:
        raise Hold(
            f"Stripe says {_money(target, gift)} was refunded on charge {charge['id']}, more "
            f"than its gift #{gift.id} of {_money(gift.amount_cents, gift)}. Nothing was posted."
        )
    posted = -records.sum_for(session, gift, EntryKind.REFUND)
    difference = target - posted
    if difference <= 0:
        return Handled(f"charge {charge['id']}: refunds already recorded", gift)
    listed = [
        refund
        for refund in ((charge.get("refunds") or {}).get("data") or [])
        if refund.get("status") in REFUND_COUNTS
        and not records.has_entry(session, f"refund:{refund['id']}")
    ]
    at = records.at(charge.get("created"))
    if listed and sum(int(refund["amount"]) for refund in listed) == difference:
        for refund in sorted(listed, key=lambda r: (r.get("created") or 0, r["id"])):
            records.post(
                session,
                gift,
                EntryKind.REFUND,
                -int(refund["amount"]),
                f"refund:{refund['id']}",
                effective_at=records.at(refund.get("created")),
                memo="refund",
            )
    else:
        records.post(
            session,
            gift,
            EntryKind.REFUND,
            -difference,
            f"refund:{charge['id']}:{target}",
            effective_at=at,
            memo=f"refunds on {charge['id']} reach {target} cents",
        )
    due.refund_notice(session, gift, target)
    records.settle_status(session, gift)
    return Handled(f"gift {gift.public_id}: {difference} cents refunded", gift)


def refund_changed(session: Session, refund: dict) -> Handled:
    """refund.updated / refund.failed: a refund that failed puts its money back, once.

    Refunds that succeed are posted from charge.refunded (the charge's cumulative figure); a
    failed refund we never posted needs nothing."""
    if refund.get("status") not in REFUND_UNDONE:
        return Handled(f"refund {refund['id']} is {refund.get('status')}; the charge tells")
    gift, waits_for = _gift_for(session, refund, records.stripe_id(refund.get("charge")))
    if gift is None:
        return Handled(f"refund {refund['id']}: gift not known yet", waits_for=waits_for)
    amount = int(refund["amount"])
    if amount > gift.amount_cents:
        raise Hold(
            f"Refund {refund['id']} of {_money(amount, gift)} is more than its gift "
            f"#{gift.id} of {_money(gift.amount_cents, gift)}. Nothing was posted."
        )
    refunded = -records.sum_for(session, gift, EntryKind.REFUND)
    if refunded < amount:
        return Handled(f"refund {refund['id']} failed before it was recorded; nothing to undo")
    entry = records.post(
        session,
        gift,
        EntryKind.REFUND,
        amount,
        f"refund-failed:{refund['id']}",
        memo=f"refund {refund['id']} {refund['status']}: money back",
    )
    records.settle_status(session, gift)
    if entry is None:
        return Handled(f"refund {refund['id']}: money already back", gift)
    return Handled(f"refund {refund['id']} {refund['status']}: {amount} cents back", gift)


def dispute(session: Session, obj: dict, event_type: str) -> Handled:
    """charge.dispute.*: money withdrawn once when a dispute opens (inquiries withdraw none),
    put back once if it is won, kept out if it is lost."""
    gift, waits_for = _gift_for(session, obj, records.stripe_id(obj.get("charge")))
    if gift is None:
        return Handled(f"dispute {obj['id']}: gift not known yet", waits_for=waits_for)
    status = obj.get("status") or ""
    if status.startswith("warning_"):
        # An inquiry: the card network asks questions, no money moves.
        return Handled(f"dispute {obj['id']} is an inquiry ({status}); no money moved", gift)
    amount = int(obj["amount"])
    if not records.has_entry(session, f"dispute-withdrawn:{obj['id']}"):
        _within_gift(session, gift, obj["id"], amount)
    at = records.at(obj.get("created"))
    records.post(
        session,
        gift,
        EntryKind.DISPUTE_WITHDRAWN,
        -amount,
        f"dispute-withdrawn:{obj['id']}",
        effective_at=at,
        memo=f"dispute {obj['id']} ({obj.get('reason') or 'no reason given'})",
    )
    due.dispute_notice(session, gift, obj["id"])
    if status == "won" or event_type == "charge.dispute.funds_reinstated":
        records.post(
            session,
            gift,
            EntryKind.DISPUTE_REINSTATED,
            amount,
            f"dispute-reinstated:{obj['id']}",
            memo=f"dispute {obj['id']} won",
        )
    records.settle_status(session, gift)
    return Handled(f"dispute {obj['id']} ({status}): gift {gift.status.value}", gift)


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
