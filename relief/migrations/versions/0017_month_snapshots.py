"""month snapshots: a closed month keeps its treasurer's report and the fingerprint of the
chapter's books at closing

Revision ID: 0017_month_snapshots
Revises: 0016_form_tokens
Create Date: 2026-12-02 10:00:00
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = "0017_month_snapshots"
down_revision = "0016_form_tokens"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Months closed before this keep no snapshot: their report is built from the ledger.
    with op.batch_alter_table("month_close", schema=None) as batch_op:
        batch_op.add_column(sa.Column("snapshot", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("fingerprint", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.add_column(sa.Column("last_entry_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("month_close", schema=None) as batch_op:
        batch_op.drop_column("last_entry_id")
        batch_op.drop_column("fingerprint")
        batch_op.drop_column("snapshot")
