"""A signed Stripe event, checked against Stripe's shapes and Relief's limits before a handler
reads it.

The signature proves Stripe sent an event, not that it fits our columns and our books: a field
of another type than Stripe documents, nesting no Stripe object has, an amount beyond any
payment. Such an event is *held* (:class:`Hold`): parked with a sentence a treasurer can read
and answered 2xx, so Stripe stops retrying and nothing is lost or half-posted. Free text longer
than its column (Stripe allows 500 characters of metadata) is cut to fit in the copy the
handlers read; the caller keeps the event as signed.

Checks that need our own rows (a refund larger than its gift, a payment in another currency
than its drive) are the handlers'; they raise the same :class:`Hold`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from relief import money
from relief.models import Entry, Gift, MonthlyGift
from relief.payments.gateway import STRIPE_API_VERSION, STRIPE_OLDER_VERSIONS_READ

#: Stripe's objects nest a handful of levels (an expanded object in an expanded object); the
#: JSON reader gives up near a thousand, and some code recurses: far below both.
MAX_DEPTH = 32
#: One payment, refund or dispute: the ledger's own bound for an entry (money.MAX_CENTS,
#: $10,000,000.00), far above Stripe's own largest charge ($999,999.99) and far below the
#: 32-bit INTEGER of our amount columns on PostgreSQL.
MAX_CENTS = money.MAX_CENTS
#: A Stripe time after 2100-01-01 is no time Stripe could have sent.
LATEST_TIME = int(datetime(2100, 1, 1, tzinfo=UTC).timestamp())

#: Stripe ids: visible ASCII (cus_…, pi_…); ours hold 255 characters.
_ID = re.compile(r"[\x21-\x7e]{1,255}")


class Hold(Exception):
    """This signed event is not posted: it is kept with ``reason`` for a person to look at."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason[:500]


@dataclass(frozen=True)
class Screened:
    #: What the handlers read: the event, with free text cut to fit its column.
    event: dict
    #: The fields that were cut (or cleaned of characters a database refuses).
    shortened: tuple[str, ...] = ()


def is_id(value: object) -> bool:
    """Is ``value`` something Stripe could use as an id (and our columns can hold)?"""
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def screen(event: dict) -> Screened:
    """The event as the handlers may read it; raises :class:`Hold` with the reason when it is
    not in the shape of Stripe's objects or beyond Relief's limits."""
    if not isinstance(event.get("type"), str):
        raise Hold(f"The event's type is {_kind(event.get('type'))} where Stripe sends text.")
    depth = _depth(event)
    if depth > MAX_DEPTH:
        raise Hold(
            f"The event is nested more than {MAX_DEPTH} levels deep; Stripe's objects never are."
        )
    shape = _SHAPES.get(event["type"])
    if shape is None:
        return Screened(event)  # a type we ignore: nothing of it is read
    _time(event, "created")
    _version(event.get("api_version"))
    check, fitted = shape
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict):
        raise Hold(f"data.object is {_kind(obj)} where Stripe sends an object.")
    check(obj)
    return _fit(event, obj, fitted(obj))


def _version(version: object) -> None:
    """Events in the pinned API version, or an older one the tests cover; Relief's own
    test-mode events carry none. Another version may move or rename what the handlers read."""
    if version is None or version == STRIPE_API_VERSION or version in STRIPE_OLDER_VERSIONS_READ:
        return
    shown = version if isinstance(version, str) else _kind(version)
    raise Hold(
        f"The event is in Stripe API version {str(shown)[:40]}; Relief reads "
        f"{STRIPE_API_VERSION}. Nothing was posted: set the webhook endpoint's API version to "
        f"{STRIPE_API_VERSION} in Stripe (README, Stripe)."
    )


# --- the fields each handler reads ------------------------------------------------------------


def _metadata(obj: dict, path: str) -> None:
    metadata = _object(obj, "metadata", path)
    for key in ("drive", "chapter", "gift", "ref"):
        _text(metadata, key, f"{path}.{key}")


def _session(obj: dict) -> None:
    _id(obj, "id", required=True)
    _metadata(obj, "metadata")
    for key in ("client_reference_id", "mode", "payment_status", "customer_email"):
        _text(obj, key)
    for key in ("invoice", "payment_intent", "customer", "subscription"):
        _id(obj, key)
    _cents(obj, "amount_total")
    _currency(obj, "currency")
    details = _object(obj, "customer_details")
    _text(details, "email", "customer_details.email")
    _text(details, "name", "customer_details.name")
    _time(obj, "created")


def _expired(obj: dict) -> None:
    _id(obj, "id", required=True)


def _invoice(obj: dict) -> None:
    _id(obj, "id", required=True)
    _cents(obj, "amount_paid")
    _currency(obj, "currency")
    details = _object(_object(obj, "parent"), "subscription_details", "parent.subscription_details")
    _id(details, "subscription", "parent.subscription_details.subscription")
    _metadata(details, "parent.subscription_details.metadata")
    _metadata(_object(obj, "subscription_details"), "subscription_details.metadata")
    for number, line in enumerate(_objects(_object(obj, "lines"), "data", "lines.data")):
        _metadata(line, f"lines.data[{number}].metadata")
    for number, payment in enumerate(_objects(_object(obj, "payments"), "data", "payments.data")):
        inner = _object(payment, "payment", f"payments.data[{number}].payment")
        _id(inner, "payment_intent", f"payments.data[{number}].payment.payment_intent")
        _id(inner, "charge", f"payments.data[{number}].payment.charge")
    for key in ("subscription", "payment_intent", "charge", "customer"):
        _id(obj, key)
    for key in ("billing_reason", "customer_email", "customer_name"):
        _text(obj, key)
    _time(_object(obj, "status_transitions"), "paid_at", "status_transitions.paid_at")
    _time(obj, "created")
    _time(obj, "next_payment_attempt")


def _subscription(obj: dict) -> None:
    _id(obj, "id", required=True)
    _text(obj, "status")
    _time(obj, "canceled_at")
    _time(obj, "ended_at")


def _charge(obj: dict) -> None:
    _id(obj, "id", required=True)
    _id(obj, "payment_intent")
    refunded = _cents(obj, "amount_refunded")
    amount = _cents(obj, "amount")
    currency = _currency(obj, "currency") or "USD"
    if refunded is not None and amount is not None and refunded > amount:
        raise Hold(
            f"Stripe says {money.format(refunded, currency)} was refunded on charge "
            f"{obj['id']}, more than the charge itself ({money.format(amount, currency)})."
        )
    for number, refund in enumerate(_objects(_object(obj, "refunds"), "data", "refunds.data")):
        path = f"refunds.data[{number}]"
        _id(refund, "id", f"{path}.id", required=True)
        _text(refund, "status", f"{path}.status")
        _cents(refund, "amount", f"{path}.amount", required=True, positive=True)
        _time(refund, "created", f"{path}.created")
    _time(obj, "created")


def _refund(obj: dict) -> None:
    _id(obj, "id", required=True)
    _text(obj, "status")
    _id(obj, "payment_intent")
    _id(obj, "charge")
    _cents(obj, "amount", required=True, positive=True)
    _time(obj, "created")


def _dispute(obj: dict) -> None:
    _id(obj, "id", required=True)
    _id(obj, "charge")
    _id(obj, "payment_intent")
    _text(obj, "status")
    _text(obj, "reason")
    _cents(obj, "amount", required=True, positive=True)
    _time(obj, "created")
    for number, txn in enumerate(_objects(obj, "balance_transactions", "balance_transactions")):
        path = f"balance_transactions[{number}]"
        amount = txn.get("amount")
        if amount is not None and (not isinstance(amount, int) or isinstance(amount, bool)):
            raise Hold(f"{path}.amount is {_kind(amount)} where Stripe sends whole cents.")
        _time(txn, "created", f"{path}.created")


# --- free text cut to its column ----------------------------------------------------------------


def _length(model, column: str) -> int:
    return model.__table__.c[column].type.length


_NAME = _length(Gift, "donor_name")
_EMAIL = _length(Gift, "donor_email")
#: metadata.drive becomes ``unmatched_drive`` when no drive has that slug; metadata.ref is
#: the gift's ``ref``. Chapter and gift are only looked up: cut to what a key can be.
_METADATA = {
    "drive": _length(Gift, "unmatched_drive"),
    "ref": _length(Gift, "ref"),
    "chapter": 255,
    "gift": 255,
}


def _metadata_texts(metadata: object, path: tuple) -> Iterator[tuple[tuple, int]]:
    if isinstance(metadata, dict):
        for key, limit in _METADATA.items():
            yield (*path, key), limit


def _session_texts(obj: dict) -> Iterator[tuple[tuple, int]]:
    yield from _metadata_texts(obj.get("metadata"), ("metadata",))
    yield ("client_reference_id",), 255
    yield ("customer_email",), _EMAIL
    if isinstance(obj.get("customer_details"), dict):
        yield ("customer_details", "email"), _EMAIL
        yield ("customer_details", "name"), _NAME


def _invoice_texts(obj: dict) -> Iterator[tuple[tuple, int]]:
    yield ("customer_email",), _EMAIL
    yield ("customer_name",), _NAME
    details = (obj.get("parent") or {}).get("subscription_details")
    if isinstance(details, dict):
        yield from _metadata_texts(
            details.get("metadata"), ("parent", "subscription_details", "metadata")
        )
    legacy = obj.get("subscription_details")
    if isinstance(legacy, dict):
        yield from _metadata_texts(legacy.get("metadata"), ("subscription_details", "metadata"))
    for number, line in enumerate((obj.get("lines") or {}).get("data") or []):
        yield from _metadata_texts(line.get("metadata"), ("lines", "data", number, "metadata"))


def _no_texts(obj: dict) -> Iterator[tuple[tuple, int]]:
    return iter(())


def _subscription_texts(obj: dict) -> Iterator[tuple[tuple, int]]:
    yield ("status",), _length(MonthlyGift, "status")


def _refund_texts(obj: dict) -> Iterator[tuple[tuple, int]]:
    yield ("status",), 32  # in the entry's memo


def _dispute_texts(obj: dict) -> Iterator[tuple[tuple, int]]:
    yield ("reason",), _length(Entry, "memo") // 4  # in the entry's memo, beside the id


_SHAPES = {
    "checkout.session.completed": (_session, _session_texts),
    "checkout.session.async_payment_succeeded": (_session, _session_texts),
    "checkout.session.async_payment_failed": (_session, _session_texts),
    "checkout.session.expired": (_expired, _no_texts),
    "invoice.paid": (_invoice, _invoice_texts),
    "invoice.payment_failed": (_invoice, _invoice_texts),
    "customer.subscription.updated": (_subscription, _subscription_texts),
    "customer.subscription.deleted": (_subscription, _subscription_texts),
    "charge.refunded": (_charge, _no_texts),
    "refund.created": (_refund, _refund_texts),
    "refund.updated": (_refund, _refund_texts),
    "refund.failed": (_refund, _refund_texts),
    "charge.refund.updated": (_refund, _refund_texts),
    "charge.dispute.created": (_dispute, _dispute_texts),
    "charge.dispute.funds_withdrawn": (_dispute, _dispute_texts),
    "charge.dispute.funds_reinstated": (_dispute, _dispute_texts),
    "charge.dispute.closed": (_dispute, _dispute_texts),
    "charge.dispute.updated": (_dispute, _dispute_texts),
}


def _fit(event: dict, obj: dict, texts: Iterator[tuple[tuple, int]]) -> Screened:
    changes = []
    for path, limit in texts:
        value = _at(obj, path)
        if isinstance(value, str):
            fitted = _clean(value)[:limit]
            if fitted != value:
                changes.append((path, fitted))
    if not changes:
        return Screened(event)  # the usual answer: no copy
    obj = copy.deepcopy(obj)  # (nesting is bounded by MAX_DEPTH)
    for path, fitted in changes:
        *parents, last = path
        holder = obj
        for step in parents:
            holder = holder[step]
        holder[last] = fitted
    shortened = tuple(".".join(str(step) for step in path) for path, _ in changes)
    return Screened({**event, "data": {**event["data"], "object": obj}}, shortened)


def _at(obj: object, path: tuple) -> object:
    for step in path:
        if isinstance(step, int):
            obj = obj[step] if isinstance(obj, list) and step < len(obj) else None
        else:
            obj = obj.get(step) if isinstance(obj, dict) else None
    return obj


def _clean(value: str) -> str:
    """Without what PostgreSQL cannot store in text: NUL, and lone surrogates (which JSON's
    ``\\ud800`` escape can make) become "?"."""
    value = value.replace("\x00", "")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


# --- one field ----------------------------------------------------------------------------------


def _kind(value: object) -> str:
    if value is None:
        return "missing"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number with a fraction"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _object(obj: dict, key: str, path: str | None = None) -> dict:
    """A nested object ({} when absent)."""
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Hold(f"{path or key} is {_kind(value)} where Stripe sends an object.")
    return value


def _objects(obj: dict, key: str, path: str) -> list[dict]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise Hold(f"{path} is {_kind(value)} where Stripe sends a list of objects.")
    return value


def _text(obj: dict, key: str, path: str | None = None) -> None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise Hold(f"{path or key} is {_kind(value)} where Stripe sends text.")


def _id(obj: dict, key: str, path: str | None = None, *, required: bool = False) -> None:
    """An id, or (a reference to another object) that object expanded, with its id."""
    value = obj.get(key)
    if value is None and not required:
        return
    if isinstance(value, dict) and key != "id":
        value = value.get("id")
    if not is_id(value):
        shown = f"is {_kind(value)}" if not isinstance(value, str) else "is no Stripe id"
        raise Hold(f"{path or key} {shown} where Stripe sends an id.")


def _cents(
    obj: dict, key: str, path: str | None = None, *, required: bool = False, positive=False
) -> int | None:
    path = path or key
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise Hold(f"{path} is {_kind(value)} where Stripe sends a whole number of cents.")
    if value < 0:
        raise Hold(f"{path} is negative ({value:,} cents).")
    if positive and value == 0:
        raise Hold(f"{path} is zero: no money moves.")
    if value > MAX_CENTS:
        raise Hold(
            f"{path} is {value:,} cents, more than Relief accepts in one payment "
            f"({money.format(MAX_CENTS)})."
        )
    return value


def _time(obj: dict, key: str, path: str | None = None) -> None:
    value = obj.get(key)
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < LATEST_TIME:
        raise Hold(f"{path or key} is not a time Stripe could have sent.")


def _currency(obj: dict, key: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z]{3}", value):
        raise Hold(f"{key} is not a currency code (such as usd).")
    return value.upper()


def _depth(value: object) -> int:
    """How deeply lists and objects nest in ``value``, counted without recursion (and given
    up once past MAX_DEPTH)."""
    if not isinstance(value, dict | list):
        return 0
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return depth
        deepest = max(deepest, depth)
        children: Iterable[object] = item.values() if isinstance(item, dict) else item
        # Only containers are stacked: a leaf adds no depth (most of an event is leaves).
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest
