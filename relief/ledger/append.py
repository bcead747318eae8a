"""The ledger's write path: append one entry and keep the running sums in the same transaction.

A chapter's closed month never changes: an entry dated in one lands at the first moment of
the chapter's next open month, its ``dated_at`` keeping the date it had and its memo saying
from where (whoever posts). Days and months are the coalition's (``months``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from relief import money
from relief.errors import InvalidInput
from relief.ledger import fingerprint, owner, sums
from relief.ledger.figures import RAISED_KINDS, WHOLE_DRIVE, Figures, Posted, gift_count_delta
from relief.ledger.months import first_of_month, local_day, month_label, month_start, next_month
from relief.models import Drive, EntryKind, Gift, utcnow


def _out_of_closed_months(
    connection,
    statements: sums.Writes,
    chapter_id: int,
    effective_at: datetime,
    memo: str,
    now: datetime,
) -> tuple[datetime, datetime | None, str]:
    """Where an entry of this chapter dated ``effective_at`` lands, and the date it was
    dated when it was moved (None when not): there, or — in a month the chapter has closed —
    at the first moment of its next open month (the coalition's months), the memo saying so.
    A closed month's figures never change, whoever posts (a treasurer, a late Stripe event)."""
    month = first_of_month(effective_at)
    if month >= first_of_month(now):
        return effective_at, None, memo  # only ended months close: no query on the usual path
    closed = set(
        connection.execute(
            statements.closed_from, {"chapter_id": chapter_id, "month": month}
        ).scalars()
    )
    if month not in closed:
        return effective_at, None, memo
    target = month
    while target in closed:
        target = next_month(target)
    note = (
        f" (dated {local_day(effective_at).isoformat()}, in closed {month_label(month)}: "
        f"moved to {month_label(target)})"
    )
    # The note goes last but must survive the memo's 500 characters.
    return month_start(target), effective_at, memo[: 500 - len(note)] + note


def check_amount(amount_cents: int, currency: str) -> None:
    """Refuse an amount or currency no entry may carry (InvalidInput)."""
    if not isinstance(amount_cents, int) or isinstance(amount_cents, bool) or amount_cents == 0:
        raise InvalidInput("A ledger entry needs a non-zero amount in whole cents.")
    if abs(amount_cents) > money.MAX_CENTS:
        raise InvalidInput(
            f"A ledger entry is at most {money.format(money.MAX_CENTS)} either way; "
            f"{amount_cents:,} cents is not an amount Relief can post."
        )
    if not (isinstance(currency, str) and len(currency) == 3 and currency.isalpha()):
        raise InvalidInput("A ledger entry's currency is a three-letter code such as USD.")


def append(
    session: Session,
    *,
    kind: EntryKind,
    amount_cents: int,
    drive_id: int | None,
    chapter_id: int | None = None,
    gift_id: int | None = None,
    currency: str = "USD",
    effective_at: datetime | None = None,
    external_id: str | None = None,
    reverses_id: int | None = None,
    memo: str = "",
) -> Posted | None:
    """Append one entry and update the drive's running totals, in a handful of statements;
    does not commit.

    Idempotent per ``external_id``: an entry whose external id is already in the ledger is
    not posted again, and None is returned.

    An entry is at most ``money.MAX_CENTS`` either way: the amount column is a 32-bit INTEGER
    on PostgreSQL, and it keeps the running sums (64-bit) from ever overflowing — SQLite
    would turn them into floating point (REAL) past 2^63.
    """
    check_amount(amount_cents, currency)
    memo = memo[:500]
    session.flush()  # the gift this entry names, if new, goes in first
    connection = session.connection()
    statements = sums.writes(connection.dialect.name)
    now = utcnow()
    effective_at = effective_at or now
    # The chapter whose books hold it (ledger.owner): its closed months and month totals.
    # None with a drive: the drive's host chapter, read only for an entry dated in an ended
    # month (the month totals' insert reads it itself).
    books = chapter_id
    dated_at = None
    if first_of_month(effective_at) < first_of_month(now):  # only ended months close
        if books is None and drive_id is not None:
            drive = session.get(Drive, drive_id)
            books = owner.owner(None, drive.host_chapter_id) if drive is not None else None
        if books is not None:
            effective_at, dated_at, memo = _out_of_closed_months(
                connection, statements, books, effective_at, memo, now
            )
    values: dict[str, Any] = {
        "kind": kind,
        "amount_cents": amount_cents,
        "currency": currency,
        "drive_id": drive_id,
        "chapter_id": chapter_id,
        "gift_id": gift_id,
        "effective_at": effective_at,
        "recorded_at": now,
        "external_id": external_id,
        "reverses_id": reverses_id,
        "memo": memo,
        "dated_at": dated_at,
    }
    row = values
    link = None
    if drive_id is not None:
        # Hold the drive's row first: it orders this drive's entries and their chain. The
        # entry's id is reserved with it, so its link goes in with the entry (one statement).
        chain, reserved_id = sums.hold_for_entry(connection, statements, drive_id)
        link = fingerprint.chain(chain, Posted(id=reserved_id, **values))
        row = {**values, "id": reserved_id, "chain_hash": link}
    entry_id = connection.execute(
        statements.entry if external_id is None else statements.entry_once, row
    ).scalar()
    if entry_id is None:
        return None  # posted before
    entry = Posted(id=entry_id, **values)
    if drive_id is None:
        return entry
    assert link is not None, "linked above, as the entry names a drive"

    delta = Figures().plus(kind, amount_cents)
    one = {"entries": 1, "last_entry_id": entry_id, "at": now}
    parts = [sums.to_total(drive_id, WHOLE_DRIVE, delta, chain_hash=link, **one)]
    if chapter_id is not None:
        parts.append(sums.to_total(drive_id, chapter_id, delta, **one))
    gifts = gift_count_delta(kind, amount_cents)
    parts.append(
        sums.to_month(books, drive_id, first_of_month(effective_at), kind, amount_cents, gifts)
    )
    if kind in RAISED_KINDS:
        parts.append(sums.to_day(drive_id, local_day(effective_at), amount_cents, gifts))
        received, by_link = gift_keys(session, gift_id, chapter_id)
        if received is not None:
            parts.append(sums.to_received(drive_id, received, amount_cents))
        if by_link is not None:
            parts.append(sums.to_link(drive_id, by_link, sums.link_sums(kind, amount_cents)))
    sums.add(connection, statements, parts)
    return entry


def gift_keys(
    session: Session, gift_id: int | None, chapter_id: int | None
) -> tuple[sums.ReceivedKey | None, sums.LinkKey | None]:
    """Where a raised entry of this gift (naming ``chapter_id``) is summed by its gift: for
    match pledges (None when not received yet) and by the link it came through. Both None
    for an entry of no gift. The gift is the session's already wherever a gift is posted, so
    this reads nothing."""
    gift = session.get(Gift, gift_id) if gift_id is not None else None
    if gift is None:
        return None, None
    return keys_of(gift, chapter_id)


def keys_of(gift, chapter_id: int | None) -> tuple[sums.ReceivedKey | None, sums.LinkKey | None]:
    """:func:`gift_keys` of a gift given (a Gift, or ``bulk.GiftFacts``)."""
    by_link = sums.link_key(chapter_id, gift.ref, gift.utm_source)
    if gift.received_at is None:
        return None, by_link
    return sums.received_key(gift.received_at, gift.method, gift.chapter_id), by_link
