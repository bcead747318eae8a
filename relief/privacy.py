"""A donor's own data: export it, or erase it on request.

Erasing keeps every gift's amount, date, drive and chapter (the books must still balance and
the ledger is append-only) but removes who gave: name, email, message, attribution; and the
same from every stored Stripe event that names the donor (a parked event's payload). The
address is then kept only as a keyed hash (:class:`ErasedDonor`), so that

* a later event naming it records its money without the donor (:func:`scrub_if_erased`), and
* a restored backup, older than the erasure, is erased again (:func:`reapply`), from the
  erasure list that ``flask donor erase`` keeps outside the database.

Emails are compared in one normalised form (``models.normalise_email``: NFKC and Unicode case
folding), stored beside each gift's email; never with SQL ``lower()``, which folds only ASCII.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import Column, Table, update
from sqlalchemy.engine import make_url
from sqlmodel import Session, col, select

from relief import drive_pages
from relief.errors import InvalidInput, NotFound
from relief.ledger import links
from relief.models import (
    Chapter,
    Drive,
    ErasedDonor,
    Gift,
    email_key,
    metadata,
    normalise_email,
)

#: A gift's columns that say who gave.
PERSONAL_FIELDS = (
    "donor_name",
    "donor_email",
    "message",
    "ref",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "check_number",
    # A dedication's honoree and card: the card's recipient is a person the donor named.
    "honoree_name",
    "card_name",
    "card_email",
    "card_message",
)

#: What an erased donor's gift keeps of them: nothing.
FORGOTTEN = {
    **{name: None if name != "donor_name" else "" for name in PERSONAL_FIELDS},
    "show_name": False,
}

#: Where Stripe's objects (and our own metadata) put a person's data: a session's
#: ``customer_details``, a charge's ``billing_details``, ``shipping``, an invoice's
#: ``customer_*``, ``receipt_email``; and the attribution we send in ``metadata``.
PERSONAL_KEYS = frozenset(
    {
        "email",
        "name",
        "phone",
        "address",
        "individual_name",
        "business_name",
        "tax_ids",
        "customer_email",
        "customer_name",
        "customer_phone",
        "customer_address",
        "customer_shipping",
        "customer_tax_ids",
        "receipt_email",
        "shipping",
        "shipping_details",
        "custom_fields",
        "message",
        "ref",
        "utm_source",
        "utm_medium",
        "utm_campaign",
    }
)

#: A gift's Stripe ids: an event carrying one of them is about the donor's own payment.
STRIPE_ID_FIELDS = (
    "stripe_session_id",
    "stripe_payment_intent_id",
    "stripe_charge_id",
    "stripe_invoice_id",
    "stripe_subscription_id",
    "stripe_customer_id",
)

NOTHING_HELD = "No gift or stored Stripe event names that email address."


@dataclass
class Erasure:
    """What an erasure changed."""

    gifts: int = 0
    events: int = 0
    #: The erased address's keyed hash (for the erasure list).
    address_hash: str = ""
    #: Nothing named the address because it was erased before (a repeated request).
    already: bool = False

    def __iadd__(self, other: Erasure) -> Erasure:
        self.gifts += other.gifts
        self.events += other.events
        return self


def _key_of(email: str) -> str:
    key = email_key(email)
    if "@" not in key:
        raise InvalidInput("Give the donor's email address.")
    return key


def address_hash(key: str) -> str:
    """The keyed hash kept of an erased address (given as its ``email_key``): HMAC-SHA256 with
    the app's SECRET_KEY, so the list reveals no address to someone who has only the
    database or the list."""
    secret = str(current_app.config["SECRET_KEY"]).encode()
    message = b"relief erased address\0" + key.encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def _gifts_of(session: Session, key: str) -> list[Gift]:
    return list(
        session.exec(select(Gift).where(Gift.donor_email_key == key).order_by(col(Gift.id)))
    )


# --- stored Stripe events: any table with a ``payload`` column of an event's JSON ---


def _payload_tables() -> list[tuple[Table, Column, Column]]:
    """(table, primary key, payload) of every table that stores events' JSON (parked events,
    and any other added later under the same column name)."""
    found = []
    for table in metadata.sorted_tables:
        if "payload" in table.c:
            [primary_key] = table.primary_key.columns
            found.append((table, primary_key, table.c.payload))
    return found


@dataclass
class _StoredEvent:
    table: Table
    primary_key: Column
    row_id: Any
    text: str
    #: The parsed JSON; None when it cannot be read (absurd nesting).
    document: Any


def _stored_events(session: Session) -> Iterator[_StoredEvent]:
    connection = session.connection()
    for table, primary_key, payload in _payload_tables():
        # A stored event keeps its payload only when it had to be cut to fit (stripe_event).
        rows = connection.execute(
            select(primary_key, payload).where(payload.is_not(None)),
            execution_options={"yield_per": 500},
        )
        for row_id, text in rows:
            try:
                document = json.loads(text)
            except (ValueError, RecursionError):
                document = None
            yield _StoredEvent(table, primary_key, row_id, text, document)


def _walk(document: Any) -> Iterator[tuple[Any, Any, Any, str]]:
    """Every (container, key, value, path) of a JSON document, without recursion (a stored
    payload may be nested deeper than Python's stack)."""
    stack = [(document, "")] if isinstance(document, dict | list) else []
    while stack:
        node, path = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            where = f"{path}.{key}" if path else str(key)
            yield node, key, value, where
            if isinstance(value, dict | list):
                stack.append((value, where))


def _names_address(value: Any, key: str) -> bool:
    return isinstance(value, str) and "@" in value and key in normalise_email(value)


def _mentions(stored: _StoredEvent, key: str, stripe_ids: set[str]) -> bool:
    if stored.document is None:
        return key in normalise_email(stored.text)
    return any(
        _names_address(value, key) or (isinstance(value, str) and value in stripe_ids)
        for _node, _key, value, _path in _walk(stored.document)
    )


def _personal_data(document: Any, key: str) -> list[tuple[Any, Any, str, Any]]:
    """The places in ``document`` that hold a person's data: (container, key, path, value)."""
    found = []
    inside = set()  # containers already reported whole (an address's lines)
    for node, name, value, path in _walk(document):
        if id(node) in inside:
            if isinstance(value, dict | list):
                inside.add(id(value))
            continue
        if value in (None, "", [], {}):
            continue
        if name in PERSONAL_KEYS or _names_address(value, key):
            found.append((node, name, path, value))
            if isinstance(value, dict | list):
                inside.add(id(value))
    return found


def _events_of(session: Session, key: str, gifts: list[Gift]) -> list[_StoredEvent]:
    stripe_ids = {
        value for gift in gifts for name in STRIPE_ID_FIELDS if (value := getattr(gift, name))
    }
    return [
        stored
        for stored in _stored_events(session)
        if _mentions(stored, key, stripe_ids)
        and (stored.document is None or _personal_data(stored.document, key))
    ]


def _describe(stored: _StoredEvent, key: str) -> dict:
    document = stored.document
    if document is None:
        return {
            "table": stored.table.name,
            "event_id": None,
            "type": None,
            "personal_data": "an unreadable payload that names the address",
        }
    if not isinstance(document, dict):
        document = {"payload": document}
    return {
        "table": stored.table.name,
        "event_id": document.get("id"),
        "type": document.get("type"),
        "personal_data": {path: value for _n, _k, path, value in _personal_data(document, key)},
    }


def _scrubbed(stored: _StoredEvent, key: str) -> str:
    if stored.document is None:
        # Unreadable, so never replayed: keep nothing of it.
        return json.dumps({"erased": "an unreadable payload that named an erased donor"})
    for node, name, _path, _value in _personal_data(stored.document, key):
        node[name] = None
    return json.dumps(stored.document)


# --- the donor's requests ---


def export(session: Session, email: str) -> dict:
    """Everything we hold about the donor with this email, as plain data: their gifts and the
    personal data in every stored Stripe event that names them."""
    key = _key_of(email)
    gifts = _gifts_of(session, key)
    events = _events_of(session, key, gifts)
    if not gifts and not events:
        raise NotFound(NOTHING_HELD)
    drives = {d.id: d.slug for d in session.exec(select(Drive))}
    chapters = {c.id: c.slug for c in session.exec(select(Chapter))}
    return {
        "email": key,
        "gifts": [
            {
                "amount_cents": gift.amount_cents,
                "currency": gift.currency,
                "status": gift.status.value,
                "method": gift.method.value,
                "received_at": gift.received_at.isoformat() if gift.received_at else None,
                "drive": drives.get(gift.drive_id),
                "chapter": chapters.get(gift.chapter_id),
                "monthly": gift.monthly,
                "name_shown_publicly": gift.show_name,
                **{name: getattr(gift, name) for name in PERSONAL_FIELDS},
            }
            for gift in gifts
        ],
        "stripe_events": [_describe(stored, key) for stored in events],
    }


def _forget_donor(session: Session, gift: Gift) -> None:
    links.forget(session, gift)  # its sums by link, before the link goes
    for name, value in FORGOTTEN.items():
        setattr(gift, name, value)


def _erase_key(session: Session, key: str) -> Erasure:
    gifts = _gifts_of(session, key)
    events = _events_of(session, key, gifts)
    for gift in gifts:
        _forget_donor(session, gift)
    for stored in events:
        session.connection().execute(
            update(stored.table)
            .where(stored.primary_key == stored.row_id)
            .values(payload=_scrubbed(stored, key))
        )
    session.flush()
    # Her name may be on a drive's page in every worker's cache: no ledger entry says so.
    drive_pages.public_pages_changed(session, {g.drive_id for g in gifts if g.drive_id})
    return Erasure(gifts=len(gifts), events=len(events))


def _remember(session: Session, hashes: Iterable[str]) -> None:
    known = set(session.exec(select(ErasedDonor.address_hash)))
    for value in set(hashes) - known:
        session.add(ErasedDonor(address_hash=value))
    session.flush()


def erase(session: Session, email: str) -> Erasure:
    """Remove the donor's personal data from their gifts and from every stored Stripe event
    that names them (by address or by one of their gifts' Stripe ids); amounts stay. The
    address's keyed hash is kept (:func:`address_hash`). An address erased before answers
    ``already``: a repeated request is not an error."""
    key = _key_of(email)
    erasure = _erase_key(session, key)
    erasure.address_hash = address_hash(key)
    if not (erasure.gifts or erasure.events):
        if erasure.address_hash in erased_hashes(session):
            erasure.already = True
            return erasure
        raise NotFound(NOTHING_HELD)
    _remember(session, [erasure.address_hash])
    return erasure


_ANYONE_ERASED = select(ErasedDonor.address_hash).limit(1)


def scrub_if_erased(session: Session, gift: Gift, obj: dict) -> bool:
    """Called once an event's donor fields are written to ``gift``: if the event or the gift
    names an erased address, the gift keeps no name, email, message or attribution, and
    ``obj`` (the event's object, which may yet be parked or stored) loses its personal data.
    The money is recorded as usual. True if it did."""
    if not scrub_event_if_erased(session, gift.donor_email, obj):
        return False
    _forget_donor(session, gift)
    return True


def scrub_event_if_erased(session: Session, donor_email: str | None, obj: dict) -> bool:
    """:func:`scrub_if_erased` for a gift not made yet (its fields still a dict): True if
    ``donor_email`` or the event names an erased address, and ``obj`` then has lost its
    personal data; the caller gives the gift :data:`FORGOTTEN`'s values."""
    # Read on the connection: a query through the session would first flush the gift being
    # recorded (an INSERT, then an UPDATE once it is paid, or scrubbed) rather than insert it
    # once, done. Asked first: with no one erased (the usual answer) the event is not walked at all.
    if session.connection().execute(_ANYONE_ERASED).first() is None:
        return False
    keys = _addresses(donor_email, obj)
    if not keys:
        return False
    hashes = [address_hash(key) for key in keys]
    erased = (
        session.connection()
        .execute(
            select(ErasedDonor.address_hash)
            .where(col(ErasedDonor.address_hash).in_(hashes))
            .limit(1)
        )
        .first()
    )
    if erased is None:
        return False
    for key in keys:
        for node, name, _path, _value in _personal_data(obj, key):
            node[name] = None
    return True


def _addresses(donor_email: str | None, obj: dict) -> set[str]:
    """The normalised addresses a gift's email and its event's object name."""
    keys = {email_key(donor_email)} if donor_email else set()
    keys |= {
        email_key(value)
        for _node, _name, value, _path in _walk(obj)
        if isinstance(value, str) and "@" in value
    }
    return keys


def erased_among(session: Session, gifts: list[tuple[str | None, dict]]) -> set[int]:
    """Which of these (a gift's email, its event's object) name an erased address, by
    position, in at most two queries; the caller records those one by one
    (:func:`scrub_event_if_erased`)."""
    if not gifts or session.connection().execute(_ANYONE_ERASED).first() is None:
        return set()
    hashes_of = [{address_hash(key) for key in _addresses(email, obj)} for email, obj in gifts]
    wanted = set().union(*hashes_of)
    if not wanted:
        return set()
    erased = set(
        session.connection()
        .execute(select(ErasedDonor.address_hash).where(col(ErasedDonor.address_hash).in_(wanted)))
        .scalars()
    )
    return {number for number, hashes in enumerate(hashes_of) if hashes & erased}


def erased_hashes(session: Session) -> set[str]:
    return set(session.exec(select(ErasedDonor.address_hash)))


def reapply(session: Session, hashes: Iterable[str]) -> Erasure:
    """Erase again every donor whose address hash is in ``hashes`` or already in the database
    (after a backup older than some erasures was restored)."""
    wanted = set(hashes) | erased_hashes(session)
    _remember(session, wanted)
    with_email = select(Gift.donor_email_key).where(col(Gift.donor_email_key).is_not(None))
    keys = {key for key in session.exec(with_email) if key}
    for stored in _stored_events(session):
        if stored.document is not None:
            keys |= {
                email_key(value)
                for _node, _name, value, _path in _walk(stored.document)
                if isinstance(value, str) and "@" in value
            }
    erasure = Erasure()
    for key in sorted(keys):
        if address_hash(key) in wanted:
            erasure += _erase_key(session, key)
    return erasure


# --- the erasure list, outside the database, so a restore can apply it again ---


def remember_in_list(path: Path, hashes: Iterable[str]) -> None:
    """Append the hashes to the erasure list (one a line), on disk before the caller
    commits: an erasure the database keeps is never missing from the list."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="ascii") as file:
            file.writelines(f"{value}\n" for value in hashes)
            file.flush()
            os.fsync(file.fileno())
    except OSError as error:
        raise InvalidInput(
            f"The erasure list {path} cannot be written ({error.strerror}); nothing was erased."
        ) from None


def read_list(path: Path) -> set[str] | None:
    """The hashes in the erasure list; None if there is no such file."""
    path = Path(path)
    if not path.is_file():
        return None
    hashes = set()
    for number, line in enumerate(path.read_text(encoding="ascii", errors="replace").splitlines()):
        value = line.strip()
        if not value:
            continue
        if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
            raise InvalidInput(f"Line {number + 1} of {path} is not an erased address's hash.")
        hashes.add(value)
    return hashes


# --- copies the database file keeps after the rows changed ---


def clear_old_copies(database_url: str) -> str:
    """After an erasure: make the database keep no old copy of what was erased, where it can.
    Returns a sentence for the operator when something is left to do.

    SQLite keeps old versions of pages in its write-ahead log and freed space in the file:
    ``VACUUM`` rewrites the file from the live rows, ``wal_checkpoint(TRUNCATE)`` copies the
    log in and empties it. PostgreSQL keeps dead row versions until VACUUM reuses their space,
    and its own WAL: see docs/security.md."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return (
            "PostgreSQL keeps old row versions until they are vacuumed: run VACUUM FULL "
            "gift, parked_event, link_total; at a quiet time (see docs/security.md, Erasure)."
        )
    connection = sqlite3.connect(str(url.database), timeout=30, isolation_level=None)
    try:
        connection.execute("PRAGMA busy_timeout = 30000")
        connection.execute("VACUUM")
        busy, _log, _copied = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    except sqlite3.OperationalError as error:
        return f"The database file could not be compacted ({error}); run the command again."
    finally:
        connection.close()
    if busy:
        return (
            "The app kept reading while the write-ahead log was emptied; run "
            f"sqlite3 {url.database} 'PRAGMA wal_checkpoint(TRUNCATE)' once it is quiet."
        )
    return ""
