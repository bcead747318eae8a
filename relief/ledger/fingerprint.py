"""The fingerprint: a hash chained over a drive's entries in order.

Each link hashes the one before and the entry, so any change to the history changes it, and
it is kept in O(1) per entry (the whole-drive totals row holds the chain so far; each entry
keeps the link through it). Every input is published in the drive's public ledger, so anyone
can recompute it: docs/verify.md states it byte for byte and relief/verify.py does it.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from relief.ledger.figures import Posted
from relief.models import Entry, EntryKind

#: The fingerprint of a drive without entries. (The chain itself starts from "".)
EMPTY = "0" * 64


def chain(previous: str, entry: Entry | Posted) -> str:
    """The chain extended by one entry."""
    assert entry.id is not None, "only stored entries are chained"
    return link(
        previous,
        entry.id,
        entry.kind,
        entry.amount_cents,
        entry.currency,
        entry.chapter_id,
        entry.gift_id,
        entry.effective_at,
    )


def link(
    previous: str,
    entry_id: int,
    kind: EntryKind,
    amount_cents: int,
    currency: str,
    chapter_id: int | None,
    gift_id: int | None,
    effective_at: datetime,
) -> str:
    """One link of the fingerprint chain: the hash of the previous link and this entry."""
    text = "|".join(
        str(part)
        for part in (
            previous,
            entry_id,
            kind.value,
            amount_cents,
            currency,
            chapter_id or 0,
            gift_id or 0,
            moment(effective_at),
        )
    )
    return hashlib.sha256(text.encode()).hexdigest()


def moment(effective_at: datetime) -> str:
    """An entry's date as the chain hashes it and the public ledger publishes it: the UTC
    instant to the whole second, ``2026-03-01T14:05:09+00:00``."""
    return effective_at.astimezone(UTC).isoformat(timespec="seconds")
