"""stripe refunds: each Stripe refund object of a gift with its status (the ledger's refunds
follow them), the highest cumulative refund a charge stated, and a balance transaction's
description

Revision ID: 0020_stripe_refunds
Revises: 0015_partner_reports
Create Date: 2026-12-03 10:00:00
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = "0020_stripe_refunds"
down_revision = "0015_partner_reports"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stripe_refund",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stripe_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("gift_id", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("created", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.CheckConstraint("amount_cents > 0", name=op.f("ck_stripe_refund_amount_positive")),
        sa.ForeignKeyConstraint(["gift_id"], ["gift.id"], name=op.f("fk_stripe_refund_gift_id_gift")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_refund")),
        sa.UniqueConstraint("stripe_id", name=op.f("uq_stripe_refund_stripe_id")),
    )
    with op.batch_alter_table("stripe_refund", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stripe_refund_gift_id"), ["gift_id"], unique=False)
    with op.batch_alter_table("gift", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "stripe_refunded_cents", sa.Integer(), nullable=False, server_default=sa.text("0")
            )
        )
    with op.batch_alter_table("payout_transaction", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "description",
                sqlmodel.sql.sqltypes.AutoString(length=500),
                nullable=False,
                server_default="",
            )
        )
    # Refunds posted before this revision came from charges' cumulative figures: that figure
    # is what each gift's refunds reached, so a later refund event settles against it.
    op.execute(
        "UPDATE gift SET stripe_refunded_cents = COALESCE((SELECT -SUM(entry.amount_cents) "
        "FROM entry WHERE entry.gift_id = gift.id AND entry.kind = 'refund'), 0) "
        "WHERE EXISTS (SELECT 1 FROM entry WHERE entry.gift_id = gift.id "
        "AND entry.kind = 'refund')"
    )


def downgrade() -> None:
    with op.batch_alter_table("payout_transaction", schema=None) as batch_op:
        batch_op.drop_column("description")
    with op.batch_alter_table("gift", schema=None) as batch_op:
        batch_op.drop_column("stripe_refunded_cents")
    with op.batch_alter_table("stripe_refund", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stripe_refund_gift_id"))
    op.drop_table("stripe_refund")
