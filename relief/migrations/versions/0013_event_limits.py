"""event limits: a parked event may be held for a person with a reason (and then waits for no
Stripe id); a stored event keeps its full payload when a value was cut to fit a column

Revision ID: 0013_event_limits
Revises: 0012_sessions
Create Date: 2026-12-10 10:00:00
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = "0013_event_limits"
down_revision = "0012_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("parked_event", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True)
        )
        batch_op.alter_column(
            "waits_for", existing_type=sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True
        )
    with op.batch_alter_table("stripe_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payload", sqlmodel.sql.sqltypes.AutoString(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("stripe_event", schema=None) as batch_op:
        batch_op.drop_column("payload")
    # Held events wait for nothing: the old schema cannot keep them (their ids stay claimed).
    op.execute("DELETE FROM parked_event WHERE waits_for IS NULL")
    with op.batch_alter_table("parked_event", schema=None) as batch_op:
        batch_op.alter_column(
            "waits_for", existing_type=sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False
        )
        batch_op.drop_column("reason")
