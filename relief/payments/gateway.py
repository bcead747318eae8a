"""The payment boundary: one interface, a Stripe implementation and a test-mode one.

The app picks the implementation from its configuration (:func:`for_config`); no view asks
which one it has.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from relief.models import Gift


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


class TestGateway:
    """Test mode (no STRIPE_SECRET_KEY): our own checkout page, where no money moves.

    Its "Pay (test)" button builds a ``checkout.session.completed`` event in Stripe's shape and
    runs it through the same event processing as a signed webhook.
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


def for_config(config) -> Gateway:
    """The gateway this configuration asks for: Stripe when a secret key is set."""
    if config.get("STRIPE_SECRET_KEY"):
        from relief.payments.stripe_gateway import StripeGateway

        return StripeGateway(
            secret_key=config["STRIPE_SECRET_KEY"],
            webhook_secret=config["STRIPE_WEBHOOK_SECRET"],
            api_base=config.get("STRIPE_API_BASE") or None,
        )
    return TestGateway()


def for_app(app) -> Gateway:
    """The app's gateway, made once from its configuration (tests may put their own)."""
    if "relief.gateway" not in app.extensions:
        app.extensions["relief.gateway"] = for_config(app.config)
    return app.extensions["relief.gateway"]
