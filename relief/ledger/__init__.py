"""The ledger: append entries; read a drive's totals; prove those totals.

Every figure anywhere (page, API, CSV, PDF, dashboard) comes from :func:`totals`, which reads
the running sums that :func:`append` maintains in the same transaction as each entry. The
sums are a cache of the entries and :func:`recompute` proves it: it replays the entries and
must give the same figures and the same fingerprint.

A chapter's closed month never changes: an entry dated in one lands at the first moment of
the chapter's next open month, its ``dated_at`` and memo saying from where (:func:`append`,
whoever posts). Days and months are the coalition's, in RELIEF_TIMEZONE (``months``); the
day and month sums record the zone they are keyed in (``rekey``).

The fingerprint is a hash chained over a drive's entries in order (each link hashes the one
before and the entry), so any change to the history changes it, and it is kept in O(1) per
entry. The chain is extended while holding the drive's totals row, which serializes a drive's
appends, so entry ids and chain order agree.

By concern: ``figures`` (what the sums are), ``months`` (the coalition's days and months,
and how dates are shown), ``rekey`` (the zone the day and month sums are keyed in),
``moves`` (when a gift whose date a correction moved counts now), ``append`` (the write
path), ``sums`` (the running sums' statements), ``fingerprint``,
``totals`` (reading the sums), ``verify`` (replaying the entries), ``bulk`` (demo and
benchmark loads), ``links`` (the gifts' sums by the link their donors came through).
Callers use the names below: ``from relief import ledger; ledger.totals(session, drive)``.
"""

from relief.ledger.append import append
from relief.ledger.bulk import GiftFacts, NewEntry, append_gifts_in_bulk, append_many, reserve_ids
from relief.ledger.figures import (
    RAISED_KINDS,
    WHOLE_DRIVE,
    ChapterPart,
    DriveTotals,
    Figures,
    Posted,
    gift_count_delta,
)
from relief.ledger.months import (
    as_utc,
    day_start,
    first_of_month,
    local_day,
    month_bounds,
    month_label,
    month_short_label,
    month_start,
    next_month,
    noon,
    previous_month,
    today,
    zone_name,
)
from relief.ledger.totals import daily_raised, raised_since, totals
from relief.ledger.verify import Recomputed, recompute, verify

__all__ = [
    "as_utc",
    "zone_name",
    "RAISED_KINDS",
    "WHOLE_DRIVE",
    "ChapterPart",
    "DriveTotals",
    "Figures",
    "Posted",
    "Recomputed",
    "append",
    "append_gifts_in_bulk",
    "append_many",
    "NewEntry",
    "GiftFacts",
    "reserve_ids",
    "daily_raised",
    "day_start",
    "first_of_month",
    "local_day",
    "month_bounds",
    "month_start",
    "noon",
    "today",
    "gift_count_delta",
    "month_label",
    "month_short_label",
    "next_month",
    "previous_month",
    "raised_since",
    "recompute",
    "totals",
    "verify",
]
