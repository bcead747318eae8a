"""The Stripe implementation of the Gateway, and webhook signature checks.

The only module in Relief that imports ``stripe``. It returns plain JSON (dicts) to the rest of
the app: since stripe-python 15 its objects are not dicts, and our event handlers run on the
JSON Stripe signed (or that test mode built) either way.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Collection, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import stripe
from flask_babel import gettext

from relief import i18n
from relief.models import Gift
from relief.payments.gateway import (
    STRIPE_API_VERSION,
    BalanceTransactionInfo,
    CheckoutDetails,
    CheckoutUrls,
    GatewayError,
    PaymentFee,
    PayoutInfo,
    RefundInAccount,
)

if TYPE_CHECKING:  # Stripe's own request types: a wrong parameter fails mypy
    from stripe.params import (
        BalanceTransactionListParams,
        PayoutListParams,
        RefundCreateParams,
    )
    from stripe.params.checkout import (
        SessionCreateParams,
        SessionCreateParamsLineItemPriceData,
    )

log = logging.getLogger(__name__)

#: Stripe's largest page; the client's auto-pagination follows ``has_more``.
PAGE_SIZE = 100
#: Fees of card payments that a list showed, kept for the batches after it: the list is newest
#: first, so one batch's pages also show the payments of the next batches' gifts (a balance
#: transaction's fee never changes). A hundred pages' worth (~12 s of gifts at 800 a second;
#: a few MB), so a fee worker that fell behind does not list the same pages again.
LISTED_FEES_KEPT = 10_000


def _id(value) -> str:
    """An id from a field that holds an id or an expanded object."""
    return value if isinstance(value, str) else value["id"]


class BadSignature(ValueError):
    """The body is not a Stripe event signed with our webhook secret (or is too old)."""


class Unreadable(ValueError):
    """The body is signed with our secret but nested too deeply for Python's JSON reader."""


def verify_event(payload: bytes, signature: str | None, secret: str) -> dict:
    """The event in ``payload`` if ``signature`` proves Stripe sent it, within the library's
    default tolerance (5 minutes); raises BadSignature otherwise. Never accepts unsigned
    events, also not when no secret is configured."""
    if not secret:
        raise BadSignature("No STRIPE_WEBHOOK_SECRET is configured; no event is accepted.")
    if not signature:
        raise BadSignature("The Stripe-Signature header is missing.")
    try:
        # The library's own check of the raw bytes (HMAC, timestamp tolerance); not
        # construct_event, which also builds a StripeObject tree we would throw away
        # (about 15% of an event's processing time).
        stripe.WebhookSignature.verify_header(
            payload.decode("utf-8"), signature, secret, stripe.Webhook.DEFAULT_TOLERANCE
        )
    except stripe.SignatureVerificationError as error:
        raise BadSignature(str(error)) from None
    except UnicodeDecodeError:
        raise BadSignature("The body is not UTF-8 text.") from None
    # The bytes are proven; read them as plain JSON for the handlers.
    try:
        event = json.loads(payload)
    except ValueError:
        raise BadSignature("The body is not JSON.") from None
    except RecursionError:
        # Signed, so kept (held) rather than refused: no Stripe object nests like this.
        raise Unreadable(
            "The event is nested deeper than Relief can read; Stripe's objects never are."
        ) from None
    if not isinstance(event, dict) or "id" not in event or "type" not in event:
        raise BadSignature("The body is not a Stripe event.")
    return event


#: Stripe Checkout's own language for a gift given in Spanish: Latin-American Spanish, as on
#: our pages. English gifts leave it to the browser ("auto"), as before.
CHECKOUT_LOCALES = {"es": "es-419"}


def checkout_session_params(
    gift: Gift, details: CheckoutDetails, urls: CheckoutUrls
) -> SessionCreateParams:
    """The Checkout Session for a pending gift: a donation (payment mode), or a monthly
    subscription with an inline price. Metadata names the drive, chapter and gift, on the
    session and (monthly) on the subscription, so every later invoice carries it too."""
    metadata = {"drive": details.drive_slug, "gift": gift.public_id}
    if details.chapter_slug:
        metadata["chapter"] = details.chapter_slug
    if details.member_name:
        metadata["member"] = details.member_name
    product_name = f"Gift to {details.drive_title}"
    # What the donor reads on Stripe's page is in the language they gave in; the description
    # the treasurers see in Stripe's dashboard stays English.
    with i18n.speaking(gift.locale):
        shown_name = gettext("Gift to %(drive)s", drive=details.drive_title)
    price: SessionCreateParamsLineItemPriceData = {
        "currency": gift.currency.lower(),
        "unit_amount": gift.amount_cents,
        "product_data": {"name": shown_name},
    }
    params: SessionCreateParams = {
        "success_url": urls.success,
        "cancel_url": urls.cancel,
        "client_reference_id": gift.public_id,
        "metadata": metadata,
        "line_items": [{"quantity": 1, "price_data": price}],
    }
    if gift.donor_email:
        params["customer_email"] = gift.donor_email
    if gift.locale in CHECKOUT_LOCALES:
        params["locale"] = CHECKOUT_LOCALES[gift.locale]
    if gift.monthly:
        params["mode"] = "subscription"
        price["recurring"] = {"interval": "month"}
        params["subscription_data"] = {"metadata": metadata}
    else:
        params["mode"] = "payment"
        params["submit_type"] = "donate"
        params["payment_intent_data"] = {
            "metadata": metadata,
            "description": product_name,
        }
    return params


class StripeGateway:
    test_mode = False

    def __init__(self, *, secret_key: str, webhook_secret: str, api_base: str | None = None):
        # Short timeouts: a webhook reads fees while Stripe waits for its answer, and a donor
        # waits for the checkout. Retries reuse our own idempotency keys.
        options: dict = {
            # Pinned, not the SDK's default: responses and events keep the shapes we read.
            "stripe_version": STRIPE_API_VERSION,
            "max_network_retries": 2,
            "http_client": stripe.new_default_http_client(timeout=15),
        }
        if api_base:
            options["base_addresses"] = {"api": api_base}
        self.client = stripe.StripeClient(secret_key, **options)
        self.webhook_secret = webhook_secret
        self._listed_fees: OrderedDict[str, PaymentFee] = OrderedDict()
        self._listed_fees_lock = threading.Lock()

    def start_checkout(self, gift: Gift, details: CheckoutDetails, urls: CheckoutUrls) -> str:
        try:
            session = self.client.v1.checkout.sessions.create(
                checkout_session_params(gift, details, urls),
                # Stable per gift: a retry after a crash gets the same session, never a second.
                {"idempotency_key": f"checkout-{gift.public_id}"},
            )
        except stripe.StripeError as error:
            raise GatewayError(f"Stripe refused or could not be reached: {error}") from error
        if session.url is None:  # only embedded and custom UI modes have none
            raise GatewayError("Stripe gave the checkout session no URL.")
        gift.stripe_session_id = session.id
        return session.url

    def payment_fee(
        self,
        *,
        payment_intent_id: str | None,
        charge_id: str | None,
        invoice_id: str | None = None,
    ) -> PaymentFee:
        try:
            if charge_id is None and payment_intent_id is None and invoice_id is not None:
                # Since API 2025-03-31 an invoice names its payments only through this list.
                payments = self.client.v1.invoice_payments.list(
                    {"invoice": invoice_id, "status": "paid"}
                )
                for payment in payments.data:
                    inner = payment["payment"]
                    if "payment_intent" in inner and inner["payment_intent"]:
                        payment_intent_id = _id(inner["payment_intent"])
                    elif "charge" in inner and inner["charge"]:
                        charge_id = _id(inner["charge"])
            # One request where Stripe expands the charge and its balance transaction in
            # place (each request is a few hundred milliseconds, and reads are rate-limited);
            # a server that does not expand gives ids, which are then fetched one by one.
            charge = None
            if charge_id is None:
                if payment_intent_id is None:
                    raise GatewayError("Neither a payment intent nor a charge to read a fee from.")
                intent = self.client.v1.payment_intents.retrieve(
                    payment_intent_id, {"expand": ["latest_charge.balance_transaction"]}
                )
                latest = intent["latest_charge"]
                if latest is None:
                    raise GatewayError(f"{payment_intent_id} has no charge yet.")
                charge_id = _id(latest)
                charge = None if isinstance(latest, str) else latest
            if charge is None:
                charge = self.client.v1.charges.retrieve(
                    charge_id, {"expand": ["balance_transaction"]}
                )
            txn = charge["balance_transaction"]
            if txn is None:
                raise GatewayError(f"{charge_id} has no balance transaction yet.")
            if isinstance(txn, str):
                txn = self.client.v1.balance_transactions.retrieve(txn)
        except stripe.StripeError as error:
            raise GatewayError(f"Stripe could not tell the fee: {error}") from error
        return PaymentFee(
            charge_id=charge_id,
            payment_intent_id=payment_intent_id,
            balance_transaction_id=txn["id"],
            fee_cents=int(txn["fee"]),
        )

    def charge_fees(
        self,
        *,
        created_gte: datetime,
        created_lte: datetime,
        wanted: Collection[str],
        most_pages: int,
    ) -> dict[str, PaymentFee]:
        # One read request for a hundred fees (reads are rate-limited: about 100/s live, 25/s
        # in test mode); the source expanded is the charge, which names its payment intent.
        params: BalanceTransactionListParams = {
            "type": "charge",
            "created": {"gte": int(created_gte.timestamp()), "lte": int(created_lte.timestamp())},
            "limit": PAGE_SIZE,
            "expand": ["data.source"],
        }
        found = self._fees_listed_before(wanted)
        missing = set(wanted) - found.keys()
        try:
            for _ in range(most_pages if missing else 0):
                page = self._list_page("/v1/balance_transactions", params)
                listed = [_charge_fee(txn) for txn in page["data"]]
                self._keep_listed_fees(listed)
                for fee in listed:
                    for key in (fee.payment_intent_id, fee.charge_id):
                        if key is not None:
                            found[key] = fee
                            missing.discard(key)
                if not missing or not page["has_more"] or not page["data"]:
                    break
                params["starting_after"] = page["data"][-1]["id"]
        except stripe.InvalidRequestError as error:
            # A server that cannot list them (a 400 or 404): each fee is read on its own.
            log.warning("fees not listed, read one by one: %s", error)
            return found
        except stripe.StripeError as error:  # a 429 (RateLimitError) too: retried later
            raise GatewayError(f"Stripe could not list fees: {error}") from error
        return found

    def _fees_listed_before(self, wanted: Collection[str]) -> dict[str, PaymentFee]:
        with self._listed_fees_lock:
            return {key: fee for key in wanted if (fee := self._listed_fees.get(key))}

    def _keep_listed_fees(self, fees: list[PaymentFee]) -> None:
        with self._listed_fees_lock:
            for fee in fees:
                for key in (fee.payment_intent_id, fee.charge_id):
                    if key is not None:
                        self._listed_fees[key] = fee
            while len(self._listed_fees) > 2 * LISTED_FEES_KEPT:  # two keys a payment
                self._listed_fees.popitem(last=False)

    def _list_page(self, path: str, params: BalanceTransactionListParams) -> dict:
        """A page of a list as plain JSON, through the client's public ``raw_request`` (its
        headers, retries and errors). Not built into StripeObjects: a page of a hundred
        expanded charges is ~380 KB, and building it costs more CPU than parsing it (the
        private request under ``raw_request`` would save another ~6 ms a page — 0.06 ms a
        fee — not worth depending on stripe-python's internals)."""
        answer = self.client.raw_request("get", path, **params)
        data = answer.data
        if not isinstance(data, dict):
            raise GatewayError("Stripe's answer was not a list.")
        return data

    def refund_in_account(self, refund_id: str) -> RefundInAccount:
        try:
            refund = self.client.v1.refunds.retrieve(refund_id, {"expand": ["balance_transaction"]})
            txn = refund["balance_transaction"]
            if txn is None:
                raise GatewayError(f"{refund_id} has no balance transaction yet.")
            if isinstance(txn, str):
                txn = self.client.v1.balance_transactions.retrieve(txn)
        except stripe.StripeError as error:
            raise GatewayError(f"Stripe could not tell the refund: {error}") from error
        return RefundInAccount(
            refund_id=refund_id,
            status=str(refund["status"]),
            created=datetime.fromtimestamp(int(refund["created"]), UTC),
            amount_cents=-int(txn["amount"]),
            currency=str(txn["currency"]).upper(),
        )

    def manage_url(self, customer_id: str, return_url: str) -> str:
        try:
            portal = self.client.v1.billing_portal.sessions.create(
                {"customer": customer_id, "return_url": return_url}
            )
        except stripe.StripeError as error:
            raise GatewayError(f"Stripe could not open the customer portal: {error}") from error
        return portal.url

    def refund(self, gift: Gift, amount_cents: int | None = None, *, request_id: str) -> str:
        params: RefundCreateParams = {}
        if gift.stripe_charge_id:
            params["charge"] = gift.stripe_charge_id
        elif gift.stripe_payment_intent_id:
            params["payment_intent"] = gift.stripe_payment_intent_id
        else:
            raise GatewayError("This gift has no Stripe payment to refund.")
        if amount_cents is not None:
            params["amount"] = amount_cents
        key = f"refund-{gift.public_id}-{request_id}"
        try:
            refund = self.client.v1.refunds.create(params, {"idempotency_key": key})
        except stripe.StripeError as error:
            raise GatewayError(f"Stripe refused the refund: {error}") from error
        return refund.id

    def list_payouts(self, since: datetime | None) -> Iterator[PayoutInfo]:
        params: PayoutListParams = {"limit": PAGE_SIZE}
        if since is not None:
            params["created"] = {"gte": int(since.timestamp())}
        try:
            for payout in self.client.v1.payouts.list(params).auto_paging_iter():
                yield _payout_info(payout)
        except stripe.StripeError as error:
            raise GatewayError(f"Stripe could not list payouts: {error}") from error

    def payout_transactions(
        self, payout_id: str, starting_after: str | None = None
    ) -> Iterator[BalanceTransactionInfo]:
        # The source expanded: a refund or dispute names its charge, which finds the gift.
        params: BalanceTransactionListParams = {
            "payout": payout_id,
            "limit": PAGE_SIZE,
            "expand": ["data.source"],
        }
        if starting_after:
            params["starting_after"] = starting_after
        try:
            pages = self.client.v1.balance_transactions.list(params)
            for txn in pages.auto_paging_iter():
                if txn["type"] == "payout":
                    # The payout's own movement, not money it carries. A canceled or failed
                    # payout's money coming back (payout_cancel, payout_failure) is carried.
                    continue
                yield _transaction_info(txn)
        except stripe.StripeError as error:
            raise GatewayError(
                f"Stripe could not list the transactions of {payout_id}: {error}"
            ) from error


def _field(obj, name: str):
    """A field of a Stripe object or dict, None when absent."""
    return obj[name] if obj is not None and name in obj else None


def _charge_fee(txn) -> PaymentFee:
    """The fee of a charge's balance transaction (its source expanded, or only its id)."""
    source = txn["source"]
    intent = None if isinstance(source, str) else _field(source, "payment_intent")
    return PaymentFee(
        charge_id=None if source is None else _id(source),
        payment_intent_id=None if intent is None else _id(intent),
        balance_transaction_id=txn["id"],
        fee_cents=int(txn["fee"]),
    )


def _payout_info(payout) -> PayoutInfo:
    return PayoutInfo(
        id=payout["id"],
        amount_cents=int(payout["amount"]),
        currency=str(payout["currency"]).upper(),
        status=payout["status"],
        automatic=bool(payout["automatic"]),
        arrival_date=datetime.fromtimestamp(payout["arrival_date"], UTC).date(),
        created=datetime.fromtimestamp(payout["created"], UTC),
        description=_field(payout, "description") or "",
        failure_message=_field(payout, "failure_message") or "",
    )


def _transaction_info(txn) -> BalanceTransactionInfo:
    source = _field(txn, "source")
    source_id = None if source is None else _id(source)
    charge_id = payment_intent_id = None
    if source_id and source_id.startswith(("ch_", "py_")):
        charge_id = source_id
    if source is not None and not isinstance(source, str):
        charge = _field(source, "charge")
        if charge is not None:
            charge_id = _id(charge)
        intent = _field(source, "payment_intent")
        if intent is not None:
            payment_intent_id = _id(intent)
    return BalanceTransactionInfo(
        id=txn["id"],
        type=txn["type"],
        reporting_category=_field(txn, "reporting_category") or "",
        amount_cents=int(txn["amount"]),
        fee_cents=int(txn["fee"]),
        net_cents=int(txn["net"]),
        currency=str(txn["currency"]).upper(),
        created=datetime.fromtimestamp(txn["created"], UTC),
        source_id=source_id,
        charge_id=charge_id,
        payment_intent_id=payment_intent_id,
        description=(_field(txn, "description") or "")[:500],
    )
