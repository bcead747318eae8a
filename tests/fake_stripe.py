"""A small local HTTP server answering like Stripe's API with Stripe's own object shapes, for
what localstripe lacks: Checkout Sessions, real fees on balance transactions, payouts with
their balance transactions (``?payout=`` filtering, paginated with has_more/starting_after),
and the account's card payments' balance transactions (``type``, ``created[gte]``/``[lte]``,
``expand[]=data.source``, ``limit``, ``starting_after``; newest first) for fees read in
batches.

The official client talks to it over real HTTP (``STRIPE_API_BASE``). It records each request
(method, path, form parameters, Idempotency-Key) so tests can check what we sent.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from tests import stripe_objects


class FakeStripe:
    def __init__(self):
        self.requests: list[dict] = []
        self.sessions_by_key: dict[str, dict] = {}
        #: Fee per charge id (cents); other charges pay ``default_fee``.
        self.fees: dict[str, int] = {}
        self.default_fee = 0
        #: Stripe expands what ``expand[]`` names; False answers ids, as some compatible
        #: servers (localstripe) do.
        self.expands = True
        #: Set to make every call fail with HTTP 500 (Stripe down), or with ``down_status``
        #: (429: Stripe's rate limit).
        self.down = False
        self.down_status = 500
        #: The account's card payments, each {"payment_intent", "created"} (its charge is
        #: ``ch_of_<payment intent>``): what ``GET /v1/balance_transactions?type=charge``
        #: lists. ``charges_made(gte, lte)``, when set, answers them instead (the benchmark's
        #: payments are its gifts).
        self.charges: list[dict] = []
        self.charges_made = None
        self._listed_cache: dict[tuple, dict] = {}
        #: Go down (and stay down) after answering this many requests: an outage mid-sync.
        self.down_after: int | None = None
        #: Payouts, newest first, and each payout's balance transactions (newest first).
        self.payouts: list[dict] = []
        self.payout_transactions: dict[str, list[dict]] = {}
        #: Objects a balance transaction's ``source`` expands to (``expand[]=data.source``).
        self.sources: dict[str, dict] = {}
        #: Refunds by id, each with its balance transaction expanded (answered as an id
        #: unless ``expand[]=balance_transaction`` asks for it).
        self.refunds: dict[str, dict] = {}
        #: The most a page holds, whatever ``limit`` asks (to test pagination with few objects).
        self.page_size = 100
        self.answered = 0
        #: Called with (method, path) before each answer: a test's look at our side meanwhile.
        self.while_answering = None
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeStripe:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _answer(self, method: str, path: str, params: dict, key: str | None):
        if self.while_answering is not None:
            self.while_answering(method, path)
        if self.down_after is not None and self.answered >= self.down_after:
            self.down = True
        if self.down:
            if self.down_status == 429:
                return 429, {
                    "error": {
                        "type": "invalid_request_error",
                        "code": "rate_limit",
                        "message": "Request rate limit exceeded (test).",
                    }
                }
            return self.down_status, {
                "error": {"type": "api_error", "message": "Stripe is down (test)"}
            }
        self.answered += 1
        parts = path.strip("/").split("/")[1:]  # drop "v1"
        if method == "GET" and parts == ["payouts"]:
            since = int(params.get("created[gte]", 0))
            return 200, self._page([p for p in self.payouts if p["created"] >= since], params, path)
        if method == "GET" and parts == ["balance_transactions"] and "payout" not in params:
            return 200, self._page(self._charge_transactions(params), params, path)
        if method == "GET" and parts == ["balance_transactions"]:
            txns = self.payout_transactions.get(params.get("payout"), [])
            if any(k.startswith("expand") and v == "data.source" for k, v in params.items()):
                txns = [{**t, "source": self.sources.get(t["source"], t["source"])} for t in txns]
            return 200, self._page(txns, params, path)
        if method == "POST" and parts == ["checkout", "sessions"]:
            if key in self.sessions_by_key:
                return 200, self.sessions_by_key[key]
            session_id = stripe_objects.new_id("cs")
            obj = stripe_objects.shape(
                "checkout.session",
                id=session_id,
                url=f"https://checkout.stripe.com/c/pay/{session_id}",
                status="open",
                mode=params.get("mode"),
                metadata={
                    k[len("metadata[") : -1]: v
                    for k, v in params.items()
                    if k.startswith("metadata[")
                },
            )
            self.sessions_by_key[key] = obj
            return 200, obj
        if method == "POST" and parts == ["billing_portal", "sessions"]:
            portal_id = stripe_objects.new_id("bps")
            return 200, stripe_objects.shape(
                "billing_portal.session",
                id=portal_id,
                customer=params.get("customer"),
                return_url=params.get("return_url"),
                url=f"https://billing.stripe.com/p/session/{portal_id}",
            )
        if method == "GET" and parts == ["invoice_payments"]:
            invoice = params.get("invoice")
            payment = stripe_objects.shape(
                "invoice_payment",
                id=f"inpay_of_{invoice}",
                invoice=invoice,
                status="paid",
                payment={"type": "payment_intent", "payment_intent": f"pi_of_{invoice}"},
            )
            return 200, {
                "object": "list",
                "data": [payment],
                "has_more": False,
                "url": "/v1/invoice_payments",
            }
        expand = {v for k, v in params.items() if k.startswith("expand") and self.expands}
        if method == "GET" and parts[0] == "payment_intents":
            intent = parts[1]
            charge = f"ch_of_{intent}"
            if "latest_charge.balance_transaction" in expand:
                charge = self._charge(charge, expand_transaction=True)
            elif "latest_charge" in expand:
                charge = self._charge(charge, expand_transaction=False)
            return 200, stripe_objects.shape(
                "payment_intent", id=intent, status="succeeded", latest_charge=charge
            )
        if method == "GET" and parts[0] == "refunds" and parts[1] in self.refunds:
            refund = self.refunds[parts[1]]
            if "balance_transaction" not in expand:
                refund = {**refund, "balance_transaction": refund["balance_transaction"]["id"]}
            return 200, refund
        if method == "GET" and parts[0] == "charges":
            return 200, self._charge(parts[1], "balance_transaction" in expand)
        if method == "GET" and parts[0] == "balance_transactions":
            return 200, self._transaction(parts[1][len("txn_of_") :])
        return 404, {"error": {"type": "invalid_request_error", "message": f"no route {path}"}}

    def add_charge(self, payment_intent: str, created: int | None = None) -> None:
        """A card payment the account received (at ``created``, default now)."""
        self.charges.append(
            {"payment_intent": payment_intent, "created": created or int(time.time())}
        )

    def _charge_transactions(self, params: dict) -> list[dict]:
        """The balance transactions of the account's card payments, newest first."""
        if params.get("type", "charge") != "charge":
            return []
        gte = int(params.get("created[gte]", 0))
        lte = int(params.get("created[lte]", 2**40))
        if self.charges_made is not None:
            made = [
                {"payment_intent": intent, "created": created}
                for intent, created in self.charges_made(gte, lte)
            ]
        else:
            made = [c for c in self.charges if gte <= c["created"] <= lte]
        made.sort(key=lambda c: (c["created"], c["payment_intent"]), reverse=True)
        expand = any(k.startswith("expand") and v == "data.source" for k, v in params.items())
        return [self._listed(p["payment_intent"], p["created"], expand) for p in made]

    def _listed(self, intent: str, created: int, expand: bool) -> dict:
        """A card payment's balance transaction as listed (kept: the benchmark lists each
        many times, and building a charge costs more than answering it)."""
        key = (intent, created, expand, self.fees.get(f"ch_of_{intent}", self.default_fee))
        if key not in self._listed_cache:
            charge_id = f"ch_of_{intent}"
            txn = self._transaction(charge_id)
            txn["created"] = created
            if expand:
                txn["source"] = stripe_objects.shape(
                    "charge",
                    id=charge_id,
                    payment_intent=intent,
                    balance_transaction=txn["id"],
                    created=created,
                )
            self._listed_cache[key] = txn
        return self._listed_cache[key]

    def _charge(self, charge_id: str, expand_transaction: bool) -> dict:
        txn = f"txn_of_{charge_id}"
        return stripe_objects.shape(
            "charge",
            id=charge_id,
            balance_transaction=self._transaction(charge_id) if expand_transaction else txn,
        )

    def _transaction(self, charge_id: str) -> dict:
        fee = self.fees.get(charge_id, self.default_fee)
        return stripe_objects.shape(
            "balance_transaction", id=f"txn_of_{charge_id}", source=charge_id, fee=fee
        )

    def _page(self, objects: list[dict], params: dict, path: str) -> dict:
        """One page of a list, as Stripe pages: after ``starting_after``, ``limit`` long."""
        start = 0
        if "starting_after" in params:
            ids = [o["id"] for o in objects]
            start = ids.index(params["starting_after"]) + 1
        limit = min(int(params.get("limit", 10)), self.page_size)
        page = objects[start : start + limit]
        return {
            "object": "list",
            "data": page,
            "has_more": start + limit < len(objects),
            "url": path,
        }

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self, method):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                path, _, query = self.path.partition("?")
                params = {k: v[0] for k, v in parse_qs(body or query).items()}
                key = self.headers.get("Idempotency-Key")
                fake.requests.append(
                    {
                        "method": method,
                        "path": path,
                        "params": params,
                        "idempotency_key": key,
                        "stripe_version": self.headers.get("Stripe-Version"),
                    }
                )
                status, obj = fake._answer(method, path, params, key)
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._serve("GET")

            def do_POST(self):
                self._serve("POST")

            def log_message(self, *args):
                pass

        return Handler
