"""CSV exports of a chapter's ledger and gifts, streamed in chunks: size does not matter.

Text a donor or a treasurer typed can start with = + - @ (or a tab or carriage return), which a
spreadsheet would run as a formula; such cells get a leading apostrophe. Amounts are written as
plain decimals (e.g. -12.50, by ``money.to_decimal_text``), so they stay numbers.
"""

from __future__ import annotations

import csv
import heapq
import io
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from relief import ledger, money
from relief.db import is_postgres
from relief.ledger import moves
from relief.models import (
    Chapter,
    DirectGift,
    Drive,
    Entry,
    EntryKind,
    Gift,
    MatchPayment,
    MatchPledge,
    present,
)
from relief.treasury import scope

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: The chapter column of a gift or entry to the whole drive, in its host's books.
WHOLE_DRIVE = "(whole drive)"
BATCH = 1000
#: Characters of CSV text per chunk of a streamed file.
CHUNK = 32 * 1024

#: The link the donor came through (the gift's ref and utm_*), in both CSVs.
ATTRIBUTION_COLUMNS = ("ref", "utm_source", "utm_medium", "utm_campaign")
LEDGER_COLUMNS = (
    "entry_id",
    "effective_date",
    "recorded_at",
    "kind",
    "amount",
    "currency",
    "drive",
    "chapter",
    "gift_id",
    "reverses_entry",
    "external_id",
    "memo",
    "match_pledge",
    *ATTRIBUTION_COLUMNS,
)
DONOR_COLUMNS = (
    "date",
    "donor",
    "email",
    "public_name",
    "amount",
    "adjustments",
    "fee",
    "net",
    "currency",
    "method",
    "direct_to_partner",
    "match_pledge",
    "check_number",
    "status",
    "chapter",
    "drive",
    "gift_id",
    "stripe_payment_intent",
    "stripe_charge",
    "stripe_session",
    "stripe_invoice",
    "stripe_subscription",
    *ATTRIBUTION_COLUMNS,
)


def neutralise(value) -> str:
    """Text safe to open in a spreadsheet: a leading ' where it would start a formula."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def csv_text(header, rows) -> Iterator[str]:
    """The header and the rows as CSV text, in chunks of about :data:`CHUNK` characters:
    the server writes each chunk to the socket as one piece of the chunked answer, so a
    line per chunk cost a file of 250,000 lines as many writes."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    yield buffer.getvalue()  # at once: the download starts before the first row is read
    buffer.seek(0)
    buffer.truncate()
    for row in rows:
        writer.writerow(row)
        if buffer.tell() >= CHUNK:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


def _attribution_of(gift):
    """The gift's link columns, as ``ATTRIBUTION_COLUMNS`` names them."""
    return (col(gift.ref), col(gift.utm_source), col(gift.utm_medium), col(gift.utm_campaign))


def _pledge_text(pledge_id: int | None, sponsor: str | None) -> str:
    """A sponsor's gift against a match pledge: "#3 Acme Health"; empty for other gifts."""
    return "" if pledge_id is None else neutralise(f"#{pledge_id} {sponsor}")


def _with_pledge(statement, gift_id_column):
    """The statement with the match pledge a sponsor's gift pays (its id and sponsor)."""
    return statement.outerjoin(MatchPayment, col(MatchPayment.gift_id) == gift_id_column).outerjoin(
        MatchPledge, col(MatchPledge.id) == MatchPayment.pledge_id
    )


def _range(statement, column, since: date | None, until: date | None):
    """Rows from the first moment of ``since`` to the last of ``until``, the coalition's days."""
    if since is not None:
        statement = statement.where(column >= ledger.day_start(since))
    if until is not None:
        statement = statement.where(column < ledger.day_start(until + timedelta(days=1)))
    return statement


def entries_in(statement, session: Session, chapter: Chapter, drive_id, since, until):
    """``statement`` (of the chapter's entries) narrowed to one of its drives (None: all) and
    to the coalition's days ``since``–``until`` (inclusive; None: open).

    Narrowed to days on SQLite, the drive is compared as ``drive_id + 0``: SQLite keeps no
    statistics and would read the drive's every entry by ``ix_entry_drive_id`` for their
    order, where ``ix_entry_chapter_month`` finds the chapter's days (a day's file of a drive
    of 1,000,000 gifts: 0.3 s). Not on PostgreSQL, which reads the day by
    ``ix_entry_chapter_month`` (the drive among its columns) either way; there ``+ 0`` made a
    cursor planned for its first rows walk every entry in id order (``db.make_engine`` now
    plans cursors for all their rows)."""
    if drive_id is not None:
        drive = scope.drive_of(session, chapter, drive_id)
        dated = since is not None or until is not None
        by_day = dated and not is_postgres(session)
        statement = statement.where(
            (col(Entry.drive_id) + 0 if by_day else col(Entry.drive_id)) == drive.id
        )
    return _range(statement, Entry.effective_at, since, until)


#: The columns of an entry the ledger CSV prints, in :func:`_ledger_line`'s order.
_ENTRY_COLUMNS = (
    col(Entry.id),
    col(Entry.effective_at),
    col(Entry.recorded_at),
    col(Entry.kind),
    col(Entry.amount_cents),
    col(Entry.currency),
    col(Entry.chapter_id),
    col(Entry.gift_id),
    col(Entry.reverses_id),
    col(Entry.external_id),
    col(Entry.memo),
)


def ledger_csv(
    session: Session,
    chapter: Chapter,
    drive_id: int | None = None,
    since: date | None = None,
    until: date | None = None,
) -> Iterator[str]:
    """The entries in the chapter's books, oldest first, as CSV text chunks (dates
    inclusive, the coalition's days: RELIEF_TIMEZONE): its own, and in a drive it hosts those
    to the whole drive (chapter "(whole drive)")."""
    statement = _with_pledge(
        scope.columns_in_books(
            Entry,
            chapter,
            *_ENTRY_COLUMNS,
            col(Drive.slug),
            MatchPledge.id,
            MatchPledge.sponsor_name,
            *_attribution_of(Gift),
        )
        .join(Drive, col(Drive.id) == Entry.drive_id)
        .outerjoin(Gift, col(Gift.id) == Entry.gift_id),
        Entry.gift_id,
    )
    statement = entries_in(statement, session, chapter, drive_id, since, until)
    rows = session.exec(statement.order_by(Entry.id).execution_options(yield_per=BATCH))
    return csv_text(LEDGER_COLUMNS, (_ledger_line(chapter, row) for row in rows))


def _ledger_line(chapter: Chapter, row) -> tuple:
    """One entry's line of the ledger CSV."""
    (
        entry_id,
        effective_at,
        recorded_at,
        kind,
        amount_cents,
        currency,
        chapter_id,
        gift_id,
        reverses_id,
        external_id,
        memo,
        drive_slug,
        pledge_id,
        sponsor,
        *link,
    ) = row
    return (
        entry_id,
        ledger.local_day(effective_at).isoformat(),
        recorded_at.isoformat(timespec="seconds"),
        kind.value,
        money.to_decimal_text(amount_cents),
        currency,
        drive_slug,
        chapter.slug if chapter_id else WHOLE_DRIVE,
        gift_id or "",
        reverses_id or "",
        neutralise(external_id),
        neutralise(memo),
        _pledge_text(pledge_id, sponsor),
        *(neutralise(value) for value in link),
    )


#: The columns of a gift the donors' CSV prints, in :func:`_donor_line`'s order: its id
#: and the moment received first, which the listing is ordered by.
_GIFT_COLUMNS = (
    col(Gift.id),
    col(Gift.received_at),
    col(Gift.donor_name),
    col(Gift.donor_email),
    col(Gift.show_name),
    col(Gift.amount_cents),
    col(Gift.currency),
    col(Gift.method),
    col(Gift.check_number),
    col(Gift.status),
    col(Gift.chapter_id),
    col(Gift.stripe_payment_intent_id),
    col(Gift.stripe_charge_id),
    col(Gift.stripe_session_id),
    col(Gift.stripe_invoice_id),
    col(Gift.stripe_subscription_id),
)


def donor_csv(
    session: Session,
    chapter: Chapter,
    drive_id: int | None = None,
    since: date | None = None,
    until: date | None = None,
) -> Iterator[str]:
    """The gifts in the chapter's books (its own, and in a drive it hosts those to the whole
    drive: chapter "(whole drive)"), oldest first, one row each, with the fee and adjustments
    (refunds, disputes, corrections) the ledger holds for it; dates inclusive, by date
    received (the coalition's days; the corrected day for a gift a treasurer moved).
    Includes donors' emails: for the treasurer's records, never published."""
    statement = (
        scope.columns_in_books(
            Gift,
            chapter,
            *_GIFT_COLUMNS,
            Drive.slug,
            _gift_sum((EntryKind.FEE,)),
            _gift_sum(_ADJUSTMENT_KINDS),
            DirectGift.gift_id,
            MatchPledge.id,
            MatchPledge.sponsor_name,
            *_attribution_of(Gift),
        )
        .outerjoin(Drive, col(Drive.id) == Gift.drive_id)
        .outerjoin(DirectGift, col(DirectGift.gift_id) == Gift.id)
        .where(col(Gift.received_at).is_not(None))
    )
    statement = _with_pledge(statement, Gift.id)
    if drive_id is not None:
        statement = statement.where(Gift.drive_id == scope.drive_of(session, chapter, drive_id).id)
    # A gift a correction moved to the day it was really received is listed on that day
    # (``ledger.moves``): those few are read apart and merged into the stream in order.
    moved = moves.moved_in_books(session, present(chapter.id))
    in_place = statement if not moved else statement.where(col(Gift.id).not_in(list(moved)))
    in_place = _range(in_place, Gift.received_at, since, until).order_by(Gift.received_at, Gift.id)
    rows: Iterable = (
        (ledger.as_utc(row[1]), row)
        for row in session.exec(in_place.execution_options(yield_per=BATCH))
    )
    if moved:
        first = ledger.day_start(since) if since is not None else None
        after = ledger.day_start(until + timedelta(days=1)) if until is not None else None
        moved_rows = sorted(
            (
                (moved[row[0]], row)
                for row in session.exec(statement.where(col(Gift.id).in_(list(moved))))
                if (first is None or first <= moved[row[0]])
                and (after is None or moved[row[0]] < after)
            ),
            key=lambda pair: (pair[0], pair[1][0]),
        )
        rows = heapq.merge(rows, moved_rows, key=lambda pair: (pair[0], pair[1][0]))
    return csv_text(DONOR_COLUMNS, (_donor_line(chapter, received, row) for received, row in rows))


#: What the donors' CSV sums as a gift's adjustments.
_ADJUSTMENT_KINDS = (
    EntryKind.REFUND,
    EntryKind.DISPUTE_WITHDRAWN,
    EntryKind.DISPUTE_REINSTATED,
    EntryKind.CORRECTION,
)


def _gift_sum(kinds: tuple[EntryKind, ...]):
    """The sum of the listed row's gift's entries of ``kinds`` under a drive (those kept
    under none while it was unassigned were moved, ``treasury/gifts.assign``), read by
    ``ix_entry_gift_id`` for each row: a file of one day's gifts reads their entries only.
    A gift's entries are in the books the gift is in (posted with its chapter, which does not
    change once it is in the books), so the listed gift's books are theirs."""
    return (
        select(func.coalesce(func.sum(Entry.amount_cents), 0))
        .where(
            col(Entry.gift_id) == Gift.id,
            col(Entry.drive_id).is_not(None),
            col(Entry.kind).in_(kinds),
        )
        .correlate(Gift)
        .scalar_subquery()
    )


def _donor_line(chapter: Chapter, received: datetime, row) -> tuple:
    """One gift's line of the donors' CSV, listed as received on ``received``."""
    (
        gift_id,
        _received_at,
        donor_name,
        donor_email,
        show_name,
        amount_cents,
        currency,
        method,
        check_number,
        status,
        chapter_id,
        payment_intent,
        charge,
        stripe_session,
        invoice,
        subscription,
        drive_slug,
        fee,
        adjustments,
        direct,
        pledge_id,
        sponsor,
        *link,
    ) = row
    return (
        ledger.local_day(received).isoformat(),
        neutralise(donor_name),
        neutralise(donor_email),
        "yes" if show_name else "no",
        money.to_decimal_text(amount_cents),
        money.to_decimal_text(int(adjustments)),
        money.to_decimal_text(int(fee)),
        money.to_decimal_text(amount_cents + int(adjustments) - int(fee)),
        currency,
        method.value,
        "yes" if direct else "no",
        _pledge_text(pledge_id, sponsor),
        neutralise(check_number),
        status.value,
        chapter.slug if chapter_id else WHOLE_DRIVE,
        drive_slug or "(unassigned)",
        gift_id,
        neutralise(payment_intent),
        neutralise(charge),
        neutralise(stripe_session),
        neutralise(invoice),
        neutralise(subscription),
        *(neutralise(value) for value in link),
    )
