"""The fingerprint: a hash chained over a drive's entries in order.

Each link hashes the one before and the entry, so any change to the history changes it, and
it is kept in O(1) per entry (the whole-drive totals row holds the chain so far).
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from relief.ledger.figures import Posted
from relief.models import Entry, EntryKind

#: The fingerprint of a drive without entries.
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
            effective_at.isoformat(timespec="seconds"),
        )
    )
    return hashlib.sha256(text.encode()).hexdigest()
