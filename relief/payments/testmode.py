"""Test mode (no STRIPE_SECRET_KEY): the built-in checkout completes a gift by building the
``checkout.session.completed`` event Stripe would send, in Stripe's own shape, and running it
through the same :func:`webhooks.process` as a signed webhook (Warehouse's pattern). No money
moves; the gifts are marked ``test_mode`` and ``flask gift purge-test`` takes them back out.
:class:`TestGateway` is the Gateway of this mode.
"""

from __future__ import annotations

import copy
import json
import secrets
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path

from sqlmodel import Session, col, select

from relief import members
from relief.errors import Conflict, NotFound
from relief.models import Chapter, Drive, Entry, Gift, GiftStatus, utcnow
from relief.payments import records, webhooks
from relief.payments.gateway import (
    BalanceTransactionInfo,
    CheckoutDetails,
    CheckoutUrls,
    GatewayError,
    PaymentFee,
    PayoutInfo,
    RefundInAccount,
)

SHAPES = Path(__file__).parent / "shapes" / "checkout_completed.json"


class TestGateway:
    """Test mode (no STRIPE_SECRET_KEY): our own checkout page, where no money moves.

    Its "Pay (test)" button builds a ``checkout.session.completed`` event in Stripe's shape and
    runs it through the same event processing as a signed webhook (:func:`pay`).
    """

    test_mode = True

    def start_checkout(self, gift: Gift, details: CheckoutDetails, urls: CheckoutUrls) -> str:
        return urls.test_checkout

    def payment_fee(
        self,
        *,
        payment_intent_id: str | None,
        charge_id: str | None,
        invoice_id: str | None = None,
    ) -> PaymentFee:
        # Test-mode gifts are never fee_pending; nothing to fetch.
        raise GatewayError("Test mode has no processor to ask for fees.")

    def charge_fees(
        self,
        *,
        created_gte: datetime,
        created_lte: datetime,
        wanted: Collection[str],
        most_pages: int,
    ) -> dict[str, PaymentFee]:
        # No payment here has a fee to read (as with payment_fee).
        return {}

    def refund_in_account(self, refund_id: str) -> RefundInAccount:
        # Test-mode gifts are in their drive's currency: no refund needs converting.
        raise GatewayError("Test mode has no processor to ask for a refund's balance transaction.")

    def manage_url(self, customer_id: str, return_url: str) -> str:
        raise GatewayError("Test-mode monthly gifts have no customer portal.")

    def refund(self, gift: Gift, amount_cents: int | None = None, *, request_id: str) -> str:
        raise GatewayError("Test-mode gifts are removed with `flask gift purge-test`.")

    def list_payouts(self, since: datetime | None) -> Iterator[PayoutInfo]:
        # No Stripe account, no payouts: nothing to sync.
        return iter(())

    def payout_transactions(
        self, payout_id: str, starting_after: str | None = None
    ) -> Iterator[BalanceTransactionInfo]:
        return iter(())


@cache
def _shapes() -> dict:
    return json.loads(SHAPES.read_text())


def _token() -> str:
    return secrets.token_hex(12)


def completed_event(
    gift: Gift,
    drive: Drive,
    chapter: Chapter | None,
    success_url: str,
    member_name: str | None = None,
) -> dict:
    """A ``checkout.session.completed`` event for the pending gift, as Stripe sends it."""
    now = int(utcnow().timestamp())
    obj = copy.deepcopy(_shapes()["checkout.session"])
    monthly = gift.monthly
    metadata = {"drive": drive.slug, "gift": gift.public_id}
    if chapter is not None:
        metadata["chapter"] = chapter.slug
    if member_name:
        metadata["member"] = member_name
    obj.update(
        {
            "id": gift.stripe_session_id or f"cs_test_{_token()}",
            "amount_subtotal": gift.amount_cents,
            "amount_total": gift.amount_cents,
            "currency": gift.currency.lower(),
            "client_reference_id": gift.public_id,
            "created": now,
            "expires_at": now + 86_400,
            "customer": f"cus_test_{_token()}" if monthly else None,
            "customer_email": gift.donor_email,
            "metadata": metadata,
            "mode": "subscription" if monthly else "payment",
            "payment_intent": None if monthly else f"pi_test_{_token()}",
            "subscription": f"sub_test_{_token()}" if monthly else None,
            "invoice": f"in_test_{_token()}" if monthly else None,
            "payment_status": "paid",
            "status": "complete",
            "submit_type": None if monthly else "donate",
            "success_url": success_url,
            "cancel_url": None,
            "url": None,
            "livemode": False,
            "shipping_address_collection": None,
            "shipping_cost": None,
            "collected_information": None,
            "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        }
    )
    obj["customer_details"] = {
        **obj["customer_details"],
        "email": gift.donor_email,
        "name": gift.donor_name or None,
    }
    event = copy.deepcopy(_shapes()["event"])
    event.update(
        {
            "id": f"evt_test_{_token()}",
            "type": "checkout.session.completed",
            "created": now,
            "livemode": False,
            "data": {"object": obj},
            "request": {"id": None, "idempotency_key": None},
        }
    )
    return event


@dataclass(frozen=True)
class TestCheckout:
    gift: Gift
    drive: Drive
    chapter: Chapter | None


def checkout(session: Session, public_id: str) -> TestCheckout:
    """The pending test-mode gift the test checkout page is about."""
    gift = records.by_public_id(session, public_id, lock=False)
    if gift is None or not gift.test_mode:
        raise NotFound("There is no such test checkout.")
    drive = session.get(Drive, gift.drive_id)
    if drive is None:
        raise NotFound("There is no such test checkout.")
    chapter = session.get(Chapter, gift.chapter_id) if gift.chapter_id else None
    return TestCheckout(gift, drive, chapter)


def pay(session: Session, public_id: str, success_url: str) -> webhooks.Outcome:
    """ "Pay (test)": the event Stripe would send, through the webhook's own processing."""
    found = checkout(session, public_id)
    if found.gift.status != GiftStatus.PENDING:
        raise Conflict("This test gift is not waiting for payment any more.")
    event = completed_event(
        found.gift,
        found.drive,
        found.chapter,
        success_url,
        members.member_name(session, found.gift),
    )
    return webhooks.process(session, event)


@dataclass(frozen=True)
class Purged:
    gifts: int
    entries: int


def purge(session: Session) -> Purged:
    """Take every test-mode gift back out of the figures.

    The ledger is append-only, so each of their entries gets a reversing entry of the same kind
    and opposite sign, on the same effective date, pointing at it. Same-kind reversals (rather
    than one correction) bring every figure back to what it was without them: money raised,
    gift count, fees, refunds and the daily history alike. The gifts stay (entries point at
    them), marked failed: no money ever moved for them. Safe to run again.
    """
    gifts = list(
        session.exec(
            select(Gift)
            .where(col(Gift.test_mode), Gift.status != GiftStatus.FAILED)
            .order_by(col(Gift.id))
        )
    )
    reversed_count = 0
    for gift in gifts:
        entries = session.exec(
            select(Entry).where(Entry.gift_id == gift.id, col(Entry.reverses_id).is_(None))
        ).all()
        for entry in entries:
            posted = records.post(
                session,
                gift,
                entry.kind,
                -entry.amount_cents,
                f"purge:{entry.id}",
                effective_at=entry.effective_at,
                reverses_id=entry.id,
                memo="test-mode gift purged",
            )
            reversed_count += posted is not None
        gift.status = GiftStatus.FAILED
    session.flush()
    return Purged(gifts=len(gifts), entries=reversed_count)
