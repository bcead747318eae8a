"""kept_event: signed Stripe events the webhook kept without processing them
(RELIEF_WEBHOOKS=kept), for a drainer to record in runs (relief/payments/drain.py).

Revision ID: 0037_kept_event
Revises: 0036_link_total
Create Date: 2026-12-06 01:40:00
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = "0037_kept_event"
down_revision = "0036_link_total"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kept_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("payload", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("received_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("run_after", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kept_event")),
    )


def downgrade() -> None:
    op.drop_table("kept_event")
