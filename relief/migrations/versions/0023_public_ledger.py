"""public ledger: each entry keeps the drive's fingerprint chain through it

Revision ID: 0023_public_ledger
Revises: 0015_partner_reports
Create Date: 2026-12-05 10:00:00
"""

import hashlib
from datetime import UTC

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = "0023_public_ledger"
down_revision = "0018_host_chapter"
branch_labels = None
depends_on = None

BATCH = 5000

_entry = sa.table(
    "entry",
    sa.column("id", sa.Integer()),
    sa.column("drive_id", sa.Integer()),
    sa.column("kind", sa.String()),
    sa.column("amount_cents", sa.Integer()),
    sa.column("currency", sa.String()),
    sa.column("chapter_id", sa.Integer()),
    sa.column("gift_id", sa.Integer()),
    sa.column("effective_at", sqlmodel.sql.sqltypes.UTCDateTime()),
    sa.column("chain_hash", sa.String()),
)


def _link(previous, entry_id, kind, amount_cents, currency, chapter_id, gift_id, effective_at):
    # The chain as relief/ledger/fingerprint.py makes it (docs/verify.md), frozen here.
    text = "|".join(
        str(part)
        for part in (
            previous,
            entry_id,
            kind,
            amount_cents,
            currency,
            chapter_id or 0,
            gift_id or 0,
            effective_at.astimezone(UTC).isoformat(timespec="seconds"),
        )
    )
    return hashlib.sha256(text.encode()).hexdigest()


def upgrade() -> None:
    with op.batch_alter_table("entry", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("chain_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
    # Entries written before this get their links by replaying each drive's chain, which
    # ends at the fingerprint its totals row keeps (``flask ledger verify`` checks both).
    connection = op.get_bind()
    drive_ids = connection.execute(
        sa.select(_entry.c.drive_id).where(_entry.c.drive_id.is_not(None)).distinct()
    ).scalars()
    set_link = (
        sa.update(_entry)
        .where(_entry.c.id == sa.bindparam("entry_id"))
        .values(chain_hash=sa.bindparam("link"))
    )
    for drive_id in list(drive_ids):
        chain, last = "", 0
        while True:
            rows = connection.execute(
                sa.select(_entry)
                .where(_entry.c.drive_id == drive_id, _entry.c.id > last)
                .order_by(_entry.c.id)
                .limit(BATCH)
            ).all()
            if not rows:
                break
            links = []
            for row in rows:
                chain = _link(
                    chain,
                    row.id,
                    row.kind,
                    row.amount_cents,
                    row.currency,
                    row.chapter_id,
                    row.gift_id,
                    row.effective_at,
                )
                links.append({"entry_id": row.id, "link": chain})
            connection.execute(set_link, links)
            last = rows[-1].id


def downgrade() -> None:
    with op.batch_alter_table("entry", schema=None) as batch_op:
        batch_op.drop_column("chain_hash")
