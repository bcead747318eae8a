"""received_total: donors' net cents per drive by the day each gift was received, given
online or not, and chapter credited, kept with each entry; filled here from the ledger in the
zone the day sums are keyed in (sums_zone). Match pledges read it instead of summing every
gift in their windows.

Revision ID: 0033_received_total
Revises: 0032_report_queries
Create Date: 2026-12-05 05:00:00
"""

from collections import defaultdict
from datetime import UTC
from zoneinfo import ZoneInfo

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = "0033_received_total"
down_revision = "0032_report_queries"
branch_labels = None
depends_on = None

# As of this revision (a migration keeps its own): the kinds a gift's net is made of, and the
# methods given online.
RAISED = ("gift", "refund", "dispute_withdrawn", "dispute_reinstated", "correction")
ONLINE = {"card", "test"}

entry = sa.table(
    "entry",
    sa.column("drive_id", sa.Integer()),
    sa.column("gift_id", sa.Integer()),
    sa.column("kind", sa.String()),
    sa.column("amount_cents", sa.Integer()),
)
gift = sa.table(
    "gift",
    sa.column("id", sa.Integer()),
    sa.column("received_at", sqlmodel.sql.sqltypes.UTCDateTime()),
    sa.column("method", sa.String()),
    sa.column("chapter_id", sa.Integer()),
)
sums_zone = sa.table("sums_zone", sa.column("zone", sa.String()))


def upgrade() -> None:
    received_total = op.create_table(
        "received_total",
        sa.Column("drive_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("chapter_id", sa.Integer(), nullable=False),
        sa.Column("net_cents", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("drive_id", "day", "online", "chapter_id"),
    )
    bind = op.get_bind()
    keyed = bind.execute(sa.select(sums_zone.c.zone)).scalar()
    zone = ZoneInfo(keyed) if keyed else UTC
    sums = defaultdict(int)
    rows = bind.execute(
        sa.select(
            entry.c.drive_id,
            gift.c.received_at,
            gift.c.method,
            gift.c.chapter_id,
            sa.func.sum(entry.c.amount_cents),
        )
        .join(gift, gift.c.id == entry.c.gift_id)
        .where(
            entry.c.drive_id.is_not(None),
            entry.c.kind.in_(RAISED),
            gift.c.received_at.is_not(None),
        )
        .group_by(entry.c.drive_id, gift.c.id, gift.c.received_at, gift.c.method, gift.c.chapter_id)
    )
    for drive_id, received_at, method, chapter_id, cents in rows:
        day = received_at.astimezone(zone).date()
        sums[(drive_id, day, method.lower() in ONLINE, chapter_id or 0)] += int(cents)
    filled = [
        {"drive_id": d, "day": day, "online": online, "chapter_id": c, "net_cents": cents}
        for (d, day, online, c), cents in sums.items()
        if cents
    ]
    if filled:
        op.bulk_insert(received_total, filled)


def downgrade() -> None:
    op.drop_table("received_total")
