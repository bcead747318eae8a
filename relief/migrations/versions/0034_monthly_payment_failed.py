"""monthly_gift: when a month's payment last failed and when Stripe tries the card again, and
the time of the event whose status the row keeps (an older event does not overwrite it)

Revision ID: 0034_monthly_payment_failed
Revises: 0033_received_total
Create Date: 2026-12-05 05:30:00
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = "0034_monthly_payment_failed"
down_revision = "0033_received_total"
branch_labels = None
depends_on = None

COLUMNS = ("payment_failed_at", "next_attempt_at", "status_at")


def upgrade() -> None:
    with op.batch_alter_table("monthly_gift") as table:
        for name in COLUMNS:
            table.add_column(
                sa.Column(name, sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
            )


def downgrade() -> None:
    with op.batch_alter_table("monthly_gift") as table:
        for name in reversed(COLUMNS):
            table.drop_column(name)
