"""dates: the day and month sums keyed in the coalition's time zone (RELIEF_TIMEZONE), the
zone recorded; an entry moved out of a closed month keeps its original date in a column; a
deposit batch has the date its money came in

Revision ID: 0019_dates
Revises: 0015_partner_reports
Create Date: 2026-12-03 10:00:00
"""

import os
import re
from collections import defaultdict
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = "0019_dates"
down_revision = "0023_public_ledger"
branch_labels = None
depends_on = None

# As of this revision (a migration keeps its own): the gift-like kinds counted per day, and
# the note ledger.append wrote in the memo of an entry it moved out of a closed month.
RAISED = {"gift", "refund", "dispute_withdrawn", "dispute_reinstated", "correction"}
MOVED = re.compile(r" \(dated (\d{4}-\d{2}-\d{2}), in closed [^()]*: moved to [^()]*\)$")

entry = sa.table(
    "entry",
    sa.column("id", sa.Integer()),
    sa.column("drive_id", sa.Integer()),
    sa.column("chapter_id", sa.Integer()),
    sa.column("kind", sa.String()),
    sa.column("amount_cents", sa.Integer()),
    sa.column("effective_at", sqlmodel.sql.sqltypes.UTCDateTime()),
    sa.column("memo", sa.String()),
    sa.column("dated_at", sqlmodel.sql.sqltypes.UTCDateTime()),
)
month_total = sa.table(
    "month_total",
    sa.column("chapter_id", sa.Integer()),
    sa.column("drive_id", sa.Integer()),
    sa.column("month", sa.Date()),
    sa.column("kind", sa.String()),
    sa.column("amount_cents", sa.BigInteger()),
    sa.column("gift_count", sa.Integer()),
)
daily_total = sa.table(
    "daily_total",
    sa.column("drive_id", sa.Integer()),
    sa.column("day", sa.Date()),
    sa.column("raised_cents", sa.BigInteger()),
    sa.column("gift_count", sa.Integer()),
)
drive = sa.table("drive", sa.column("id", sa.Integer()), sa.column("host_chapter_id", sa.Integer()))
month_close = sa.table(
    "month_close", sa.column("chapter_id", sa.Integer()), sa.column("month", sa.Date())
)


def _zone_name() -> str:
    # relief.db.upgrade passes the app's RELIEF_TIMEZONE; a bare `alembic upgrade` reads it.
    given = op.get_context().config.attributes.get("timezone")
    return given or os.environ.get("RELIEF_TIMEZONE", "").strip() or "UTC"


def _sums(bind, zone):
    days = defaultdict(lambda: [0, 0])
    months = defaultdict(lambda: [0, 0])
    rows = bind.execute(
        # Month sums are kept per chapter whose books hold the entry: its own, else the
        # drive's host (0018_host_chapter, relief.ledger.owner).
        sa.select(
            entry.c.drive_id,
            sa.func.coalesce(entry.c.chapter_id, drive.c.host_chapter_id),
            entry.c.kind,
            entry.c.amount_cents,
            entry.c.effective_at,
        ).select_from(entry.join(drive, drive.c.id == entry.c.drive_id))
    )
    for drive_id, chapter_id, kind, cents, effective_at in rows:
        local = effective_at.astimezone(zone)
        gifts = 0 if kind != "gift" else (1 if cents > 0 else -1)
        if chapter_id is not None:
            month = months[(chapter_id, drive_id, local.date().replace(day=1), kind)]
            month[0] += cents
            month[1] += gifts
        if kind in RAISED:
            day = days[(drive_id, local.date())]
            day[0] += cents
            day[1] += gifts
    return days, months


def _rekey(zone_name: str, *, guard: bool) -> None:
    bind = op.get_bind()
    days, months = _sums(bind, ZoneInfo(zone_name))
    if guard:
        # A closed month never changes: refuse rather than move money across one.
        before, after = defaultdict(dict), defaultdict(dict)
        for row in bind.execute(sa.select(month_total)):
            if row.amount_cents or row.gift_count:
                before[(row.chapter_id, row.month)][(row.drive_id, row.kind)] = (
                    row.amount_cents,
                    row.gift_count,
                )
        for (chapter_id, drive_id, month, kind), (cents, gifts) in months.items():
            if cents or gifts:
                after[(chapter_id, month)][(drive_id, kind)] = (cents, gifts)
        changed = [
            f"chapter #{row.chapter_id}'s {row.month:%B %Y}"
            for row in bind.execute(sa.select(month_close))
            if before.get((row.chapter_id, row.month), {})
            != after.get((row.chapter_id, row.month), {})
        ]
        if changed:
            raise RuntimeError(
                f"Keying the sums in RELIEF_TIMEZONE={zone_name} would move money into or out "
                f"of closed months ({', '.join(changed[:5])}): upgrade with RELIEF_TIMEZONE=UTC, "
                "the zone they are kept in now."
            )
    bind.execute(sa.delete(month_total))
    bind.execute(sa.delete(daily_total))
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
        bind.execute(sa.insert(month_total), month_rows)
    if day_rows:
        bind.execute(sa.insert(daily_total), day_rows)


def upgrade() -> None:
    with op.batch_alter_table("entry", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("dated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
    bind = op.get_bind()
    # Entries moved out of a closed month kept their date only in the memo (a UTC day).
    moved = bind.execute(
        sa.select(entry.c.id, entry.c.memo).where(entry.c.memo.contains(", in closed "))
    ).all()
    for entry_id, memo in moved:
        found = MOVED.search(memo)
        if found:
            day = datetime.strptime(found[1], "%Y-%m-%d").date()
            bind.execute(
                sa.update(entry)
                .where(entry.c.id == entry_id)
                .values(dated_at=datetime.combine(day, time(12), UTC))
            )
    with op.batch_alter_table("deposit_batch", schema=None) as batch_op:
        batch_op.add_column(sa.Column("received_on", sa.Date(), nullable=True))
    # A batch started before this: the earliest date received among its gifts.
    op.execute(
        "UPDATE deposit_batch SET received_on = (SELECT min(batch_line.received_on) "
        "FROM batch_line WHERE batch_line.batch_id = deposit_batch.id)"
    )
    op.create_table(
        "sums_zone",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("zone", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("keyed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sums_zone")),
    )
    zone_name = _zone_name()
    ZoneInfo(zone_name)  # a bad name stops here, before anything changes
    if zone_name != "UTC":
        _rekey(zone_name, guard=True)
    sums_zone = sa.table(
        "sums_zone",
        sa.column("id", sa.Integer()),
        sa.column("zone", sa.String()),
        sa.column("keyed_at", sqlmodel.sql.sqltypes.UTCDateTime()),
    )
    bind.execute(sa.insert(sums_zone).values(id=1, zone=zone_name, keyed_at=datetime.now(UTC)))


def downgrade() -> None:
    # The revisions before this one keep the sums in UTC days and months.
    zone_name = op.get_bind().execute(sa.text("SELECT zone FROM sums_zone")).scalar()
    if zone_name not in (None, "UTC"):
        _rekey("UTC", guard=False)
    op.drop_table("sums_zone")
    with op.batch_alter_table("deposit_batch", schema=None) as batch_op:
        batch_op.drop_column("received_on")
    with op.batch_alter_table("entry", schema=None) as batch_op:
        batch_op.drop_column("dated_at")
