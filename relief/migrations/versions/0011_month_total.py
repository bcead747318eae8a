"""month total: a chapter's money per drive, month and entry kind, kept with each entry;
an index for a chapter's card gifts

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 10:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

KINDS = (
    "gift", "fee", "refund", "dispute_withdrawn", "dispute_reinstated", "remittance", "correction",
)  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "month_total",
        sa.Column("chapter_id", sa.Integer(), nullable=False),
        sa.Column("drive_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(*KINDS, name="entrykind", native_enum=False, create_constraint=True, length=24),
            nullable=False,
        ),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("gift_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "chapter_id", "drive_id", "month", "kind", name=op.f("pk_month_total")
        ),
    )
    # The months of every entry so far, as ledger.append would have kept them.
    if op.get_bind().dialect.name == "postgresql":
        month = "date_trunc('month', effective_at AT TIME ZONE 'UTC')::date"
    else:
        month = "date(effective_at, 'start of month')"
    op.execute(
        f"""
        INSERT INTO month_total (chapter_id, drive_id, month, kind, amount_cents, gift_count)
        SELECT chapter_id, drive_id, {month}, kind, sum(amount_cents),
               sum(CASE WHEN kind <> 'gift' THEN 0 WHEN amount_cents > 0 THEN 1 ELSE -1 END)
        FROM entry
        WHERE chapter_id IS NOT NULL AND drive_id IS NOT NULL
        GROUP BY chapter_id, drive_id, {month}, kind
        """
    )
    with op.batch_alter_table("gift", schema=None) as batch_op:
        card = sa.text("stripe_charge_id IS NOT NULL OR stripe_payment_intent_id IS NOT NULL")
        batch_op.create_index(
            "ix_gift_chapter_card",
            ["chapter_id"],
            unique=False,
            sqlite_where=card,
            postgresql_where=card,
        )


def downgrade() -> None:
    with op.batch_alter_table("gift", schema=None) as batch_op:
        batch_op.drop_index("ix_gift_chapter_card")
    op.drop_table("month_total")
