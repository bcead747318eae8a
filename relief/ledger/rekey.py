"""Which time zone the day and month sums are keyed in, and re-keying them in another.

``month_total``, ``daily_total`` and ``received_total`` hold the coalition's days and months
(``months``); the
``sums_zone`` row says in which zone. Changing RELIEF_TIMEZONE without re-keying would file
new entries under one calendar and old ones under another, so the app refuses to start until
``flask ledger rekey --timezone …`` has re-keyed the sums. Re-keying rebuilds the tables from
the entries (which never change) and refuses while it would move money into or out of a
month a chapter has closed: a closed month's figures never change.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, tzinfo
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, insert
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from relief.errors import Conflict
from relief.ledger import sums
from relief.ledger.figures import RAISED_KINDS, gift_count_delta
from relief.ledger.months import first_of_month, local_day, month_label
from relief.models import (
    DailyTotal,
    Drive,
    Entry,
    EntryKind,
    Gift,
    GiftMethod,
    MonthClose,
    MonthTotal,
    ReceivedTotal,
    SumsZone,
    present,
    table_of,
    utcnow,
)


def keyed_zone(session: Session) -> str | None:
    """The zone the sums are keyed in (None before any was recorded)."""
    row = session.get(SumsZone, 1)
    return row.zone if row else None


def has_entries(session: Session) -> bool:
    return session.exec(select(Entry.id).limit(1)).first() is not None


#: What :func:`zone_problem` answers when the sums hold no entry yet: they can take the
#: configured zone at once (:func:`adopt`), there is nothing to re-key.
ADOPT = "adopt"


def zone_problem(session: Session, configured: str) -> str | None:
    """Why the app must not start with RELIEF_TIMEZONE ``configured``; None when the sums are
    keyed in it; ADOPT when there is no entry yet to key. Only reads."""
    keyed = keyed_zone(session)
    if keyed == configured:
        return None
    if not has_entries(session):
        return ADOPT
    return (
        f"The ledger's day and month sums are kept in the time zone {keyed or 'UTC'}, but "
        f"RELIEF_TIMEZONE is {configured}. Either set RELIEF_TIMEZONE={keyed or 'UTC'}, or "
        f"re-key the sums first: RELIEF_TIMEZONE={keyed or 'UTC'} flask --app app ledger "
        f"rekey --timezone {configured}"
    )


def adopt(session: Session, zone: str) -> None:
    """Key the sums of a ledger without entries in ``zone``; flushes."""
    if not has_entries(session):
        _record(session, zone)


def _record(session: Session, zone: str) -> None:
    row = session.get(SumsZone, 1) or SumsZone(id=1, zone=zone)
    row.zone, row.keyed_at = zone, utcnow()
    session.add(row)
    session.flush()


def _sums_in(session: Session, zone: tzinfo):
    """Every drive's day and month sums as the entries give them in ``zone``."""
    days: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    months: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    rows = session.connection().execute(
        # Month sums are per chapter whose books hold the entry (ledger.owner): its own,
        # else the drive's host.
        core_select(
            col(Entry.drive_id),
            func.coalesce(col(Entry.chapter_id), col(Drive.host_chapter_id)),
            col(Entry.kind),
            col(Entry.amount_cents),
            col(Entry.effective_at),
        ).join(Drive, col(Drive.id) == col(Entry.drive_id))
    )
    for drive_id, chapter_id, kind, cents, effective_at in rows:
        kind = EntryKind(kind)
        gifts = gift_count_delta(kind, cents)
        if chapter_id is not None:
            month = months[(chapter_id, drive_id, first_of_month(effective_at, zone), kind)]
            month[0] += cents
            month[1] += gifts
        if kind in RAISED_KINDS:
            day = days[(drive_id, local_day(effective_at, zone))]
            day[0] += cents
            day[1] += gifts
    return days, months


def received_sums(
    session: Session, zone: tzinfo | None = None, drive_id: int | None = None
) -> dict[tuple[int, sums.ReceivedKey], int]:
    """Every drive's (or one drive's) ``ReceivedTotal`` as the entries give it in ``zone``
    (by default the coalition's): each gift's raised entries, on its day received."""
    net = func.sum(col(Entry.amount_cents))
    query = (
        core_select(
            col(Entry.drive_id),
            col(Gift.received_at),
            col(Gift.method),
            col(Gift.chapter_id),
            net,
        )
        .join(Gift, col(Gift.id) == col(Entry.gift_id))
        .where(col(Entry.kind).in_(RAISED_KINDS), col(Gift.received_at).is_not(None))
        .group_by(
            col(Entry.drive_id),
            col(Gift.id),
            col(Gift.received_at),
            col(Gift.method),
            col(Gift.chapter_id),
        )
    )
    query = query.where(
        col(Entry.drive_id).is_not(None) if drive_id is None else col(Entry.drive_id) == drive_id
    )
    received: dict[tuple[int, sums.ReceivedKey], int] = defaultdict(int)
    for entry_drive, received_at, method, chapter_id, cents in session.connection().execute(query):
        key = sums.received_key(present(received_at), GiftMethod(method), chapter_id, zone)
        received[(present(entry_drive), key)] += int(cents)
    return dict(received)


def _by_chapter_month(rows) -> dict[tuple[int, date], dict]:
    grouped: dict[tuple[int, date], dict] = defaultdict(dict)
    for (chapter_id, drive_id, month, kind), (cents, gifts) in rows.items():
        if cents or gifts:
            grouped[(chapter_id, month)][(drive_id, kind)] = (cents, gifts)
    return grouped


def rekey(session: Session, zone_name: str) -> None:
    """Rebuild ``month_total``, ``daily_total`` and ``received_total`` in the zone
    ``zone_name`` and record it;
    flushes. Conflict (nothing changed) when a closed month's sums would change."""
    zone = ZoneInfo(zone_name)
    days, months = _sums_in(session, zone)
    kept = {
        (row.chapter_id, row.drive_id, row.month, row.kind): (row.amount_cents, row.gift_count)
        for row in session.exec(select(MonthTotal))
    }
    before, after = _by_chapter_month(kept), _by_chapter_month(months)
    moved = [
        f"chapter #{close.chapter_id}'s {month_label(close.month)}"
        for close in session.exec(
            select(MonthClose).order_by(col(MonthClose.chapter_id), col(MonthClose.month))
        )
        if before.get((close.chapter_id, close.month), {})
        != after.get((close.chapter_id, close.month), {})
    ]
    if moved:
        raise Conflict(
            f"Re-keying the sums in {zone_name} would move money into or out of closed "
            f"months ({', '.join(moved[:5])}{' …' if len(moved) > 5 else ''}): a closed "
            f"month never changes, so the sums stay in {keyed_zone(session) or 'UTC'}."
        )
    session.execute(delete(table_of(MonthTotal)))
    session.execute(delete(table_of(DailyTotal)))
    session.execute(delete(table_of(ReceivedTotal)))
    month_rows = [
        {
            "chapter_id": chapter_id,
            "drive_id": drive_id,
            "month": month,
            "kind": kind,
            "amount_cents": cents,
            "gift_count": gifts,
        }
        for (chapter_id, drive_id, month, kind), (cents, gifts) in months.items()
        if cents or gifts
    ]
    day_rows = [
        {"drive_id": drive_id, "day": day, "raised_cents": cents, "gift_count": gifts}
        for (drive_id, day), (cents, gifts) in days.items()
        if cents or gifts
    ]
    if month_rows:
        session.execute(insert(table_of(MonthTotal)), month_rows)
    if day_rows:
        session.execute(insert(table_of(DailyTotal)), day_rows)
    received_rows = [
        {
            "drive_id": drive_id,
            "day": day,
            "online": online,
            "chapter_id": chapter_id,
            "net_cents": net,
        }
        for (drive_id, (day, online, chapter_id)), net in received_sums(session, zone).items()
        if net
    ]
    if received_rows:
        session.execute(insert(table_of(ReceivedTotal)), received_rows)
    _record(session, zone_name)
