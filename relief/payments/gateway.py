"""The payment boundary: the Gateway interface and the plain values it returns.

Two implementations: :class:`stripe_gateway.StripeGateway` and :class:`testmode.TestGateway`;
:mod:`relief.payments.choice` picks one from the configuration, so no view asks which one it
has. This module imports neither.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from relief.models import Gift

#: The Stripe API version Relief speaks: its requests name it (``Stripe-Version``) and the
#: webhook endpoint must be created with it, so events come in the shapes the handlers read.
#: The version stripe-python 16.1 documents (``stripe.api_version``); a test fails when the
#: installed SDK documents another, so moving it is a decision, never an upgrade's accident.
STRIPE_API_VERSION = "2026-10-28.endive"
#: Older versions whose event shapes the tests sign too (an endpoint created before the pin):
#: read as well. An event in any other version is held with a sentence.
STRIPE_OLDER_VERSIONS_READ = ("2025-06-30.basil",)


class GatewayError(RuntimeError):
    """The payment processor could not be reached or refused the call. Nothing is lost: callers
    record what they know and retry later."""


@dataclass(frozen=True)
class CheckoutUrls:
    #: Where the processor sends the donor after paying (our success page).
    success: str
    #: Where "back" or "cancel" leads: the donate form, filled in again.
    cancel: str
    #: The built-in test checkout page (test mode only).
    test_checkout: str


@dataclass(frozen=True)
class CheckoutDetails:
    """What the session is for; the metadata names the drive, chapter and pending gift."""

    drive_slug: str
    drive_title: str
    chapter_slug: str | None
    org_name: str
    #: The member's page the gift was given on (metadata ``member``), if any.
    member_name: str | None = None


@dataclass(frozen=True)
class PaymentFee:
    """The processor's fee for one payment, from its balance transaction."""

    charge_id: str | None
    payment_intent_id: str | None
    balance_transaction_id: str
    fee_cents: int


@dataclass(frozen=True)
class PayoutInfo:
    """A payout of the Stripe account to its bank, as Stripe states it now."""

    id: str
    amount_cents: int
    currency: str
    status: str
    automatic: bool
    arrival_date: date
    created: datetime
    description: str
    failure_message: str


@dataclass(frozen=True)
class BalanceTransactionInfo:
    """One balance transaction of a payout: signed gross, fee and net in cents."""

    id: str
    type: str
    reporting_category: str
    amount_cents: int
    fee_cents: int
    net_cents: int
    currency: str
    created: datetime
    source_id: str | None
    #: The charge behind the money (a refund's or dispute's charge; the charge itself).
    charge_id: str | None
    payment_intent_id: str | None
    #: Stripe's words for it ("Billing - Usage Fee (2026-11-01)"), shown for the account's
    #: own lines.
    description: str = ""


@dataclass(frozen=True)
class RefundInAccount:
    """A refund as it left the Stripe account: its status and time, and what its balance
    transaction moved, in the account's currency (a refund of a payment made in another
    currency is converted by Stripe; this is what really left)."""

    refund_id: str
    status: str
    created: datetime
    #: Positive: what left the account.
    amount_cents: int
    currency: str


class Gateway(Protocol):
    test_mode: bool

    def start_checkout(self, gift: Gift, details: CheckoutDetails, urls: CheckoutUrls) -> str:
        """Create a checkout for the pending gift; returns the URL to send the donor to.
        Idempotent per gift: a retry returns the same session."""
        ...

    def payment_fee(
        self,
        *,
        payment_intent_id: str | None,
        charge_id: str | None,
        invoice_id: str | None = None,
    ) -> PaymentFee:
        """The fee of a payment (found by charge, payment intent or, for a month of a monthly
        gift, its invoice), read from its balance transaction; raises GatewayError."""
        ...

    def charge_fees(
        self,
        *,
        created_gte: datetime,
        created_lte: datetime,
        wanted: Collection[str],
        most_pages: int,
    ) -> dict[str, PaymentFee]:
        """The fees of the account's card payments made between the two times, read from
        their balance transactions a page of a hundred at a time (newest first), until every
        payment intent or charge id ``wanted`` is found or ``most_pages`` are read; keyed by
        both ids. A payment an earlier list showed may be answered without asking again.
        Payments not listed (another type, older, a server that cannot list) are simply
        absent: the caller reads those one by one. Raises GatewayError (a 429 too)."""
        ...

    def refund_in_account(self, refund_id: str) -> RefundInAccount:
        """A refund with its balance transaction: what left the account, in the account's
        currency; raises GatewayError."""
        ...

    def manage_url(self, customer_id: str, return_url: str) -> str:
        """A link to the processor's customer portal, where a monthly donor changes the
        amount, updates the card or cancels; raises GatewayError."""
        ...

    def refund(self, gift: Gift, amount_cents: int | None = None, *, request_id: str) -> str:
        """Ask the processor to refund (part of) a gift; returns the refund id. The ledger
        changes only when the processor's webhook says the refund happened. ``request_id``
        names this refund request (stable across retries), so a retry never refunds twice."""
        ...

    def list_payouts(self, since: datetime | None) -> Iterator[PayoutInfo]:
        """Every payout created at or after ``since`` (all when None), newest first, page by
        page; raises GatewayError when the processor cannot be reached."""
        ...

    def payout_transactions(
        self, payout_id: str, starting_after: str | None = None
    ) -> Iterator[BalanceTransactionInfo]:
        """The balance transactions a payout paid out (after ``starting_after``, to resume),
        page by page, without the payout's own; raises GatewayError."""
        ...
