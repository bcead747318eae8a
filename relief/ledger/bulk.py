"""Many paid gifts posted at once (demo and benchmark data): the same entries and sums as
:func:`~relief.ledger.append` one by one, in a few statements."""

from __future__ import annotations

import secrets
from collections import defaultdict
from datetime import date

from sqlalchemy import insert, text
from sqlmodel import Session

from relief.db import is_postgres
from relief.ledger import fingerprint, sums
from relief.ledger.figures import WHOLE_DRIVE, Figures
from relief.ledger.months import first_of_month, local_day
from relief.ledger.owner import owner
from relief.models import Drive, Entry, EntryKind, Gift, table_of, utcnow


def append_gifts_in_bulk(session: Session, drive: Drive, gifts: list[dict]) -> int:
    """Post many paid gifts at once (demo and benchmark data): the same entries and totals as
    :func:`append` one by one, in a few statements. Each dict holds Gift columns.

    For synthetic and demo data: dates are taken as given (closed months are not checked).
    Ids are reserved up front (a sequence on PostgreSQL; on SQLite the write lock of the
    transaction) so rows go in with plain executemany: an ORM insert with RETURNING in
    parameter order falls back to one statement per row on SQLite.
    """
    if not gifts:
        return 0
    session.flush()
    assert drive.id is not None, "the drive is a stored row"
    connection = session.connection()
    statements = sums.writes(connection.dialect.name)
    chain = sums.hold_drive_total(connection, statements, drive.id)
    now = utcnow()
    gift_ids = _reserve_ids(session, Gift, len(gifts))
    entry_ids = _reserve_ids(session, Entry, len(gifts))
    gift_rows = []
    entry_rows = []
    chapter_sums: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    daily_sums: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    month_sums: dict[tuple[int, date], list[int]] = defaultdict(lambda: [0, 0])
    whole_cents = 0
    kind = EntryKind.GIFT
    for gift, gift_id, entry_id in zip(gifts, gift_ids, entry_ids, strict=True):
        amount_cents = gift["amount_cents"]
        chapter_id = gift.get("chapter_id")
        received_at = gift["received_at"]
        chain = fingerprint.link(
            chain, entry_id, kind, amount_cents, drive.currency, chapter_id, gift_id, received_at
        )
        gift_rows.append(
            {
                "public_id": secrets.token_urlsafe(16),
                "created_at": now,
                **gift,
                "id": gift_id,
            }
        )
        entry_rows.append(
            {
                "id": entry_id,
                "kind": kind,
                "amount_cents": amount_cents,
                "currency": drive.currency,
                "drive_id": drive.id,
                "chapter_id": chapter_id,
                "gift_id": gift_id,
                "effective_at": received_at,
                "recorded_at": now,
                "memo": f"{gift['method'].value} gift",
                "external_id": None,
                "reverses_id": None,
                "chain_hash": chain,
            }
        )
        whole_cents += amount_cents
        if chapter_id is not None:
            chapter_sum = chapter_sums[chapter_id]
            chapter_sum[0] += amount_cents
            chapter_sum[1] += 1
        month = month_sums[(owner(chapter_id, drive.host_chapter_id), first_of_month(received_at))]
        month[0] += amount_cents
        month[1] += 1
        day = daily_sums[local_day(received_at)]
        day[0] += amount_cents
        day[1] += 1
    session.execute(insert(table_of(Gift)), gift_rows)
    session.execute(insert(table_of(Entry)), entry_rows)

    last = entry_ids[-1]
    sums.add_to_total(
        connection,
        statements,
        drive.id,
        WHOLE_DRIVE,
        Figures(gifts_cents=whole_cents, gift_count=len(gifts)),
        entries=len(entry_ids),
        last_entry_id=last,
        at=now,
        chain_hash=chain,
    )
    for chapter_id, (cents, count) in chapter_sums.items():
        sums.add_to_total(
            connection,
            statements,
            drive.id,
            chapter_id,
            Figures(gifts_cents=cents, gift_count=count),
            entries=count,
            last_entry_id=last,
            at=now,
        )
    for day_of, (raised, count) in daily_sums.items():
        sums.add_to_day(connection, statements, drive.id, day_of, raised, count)
    for (chapter_id, month_of), (cents, count) in month_sums.items():
        sums.add_to_month(
            connection, statements, chapter_id, drive.id, month_of, kind, cents, count
        )
    return len(entry_ids)


def _reserve_ids(session: Session, model, count: int) -> list[int]:
    """``count`` fresh primary keys for ``model``, ascending, that no other writer will take."""
    table = model.__tablename__
    if is_postgres(session):
        return list(
            session.execute(
                text(
                    "SELECT nextval(pg_get_serial_sequence(:table, 'id'))"
                    " FROM generate_series(1, :n)"
                ),
                {"table": table, "n": count},
            ).scalars()
        )
    # SQLite: this transaction holds the database's write lock (BEGIN IMMEDIATE, or a
    # snapshot that fails to upgrade if another writer got in first), so max(id) stays ours.
    highest = session.execute(text(f"SELECT coalesce(max(id), 0) FROM {table}")).scalar_one()
    return list(range(highest + 1, highest + 1 + count))
