"""drive public revision: advanced when a public page must change without a ledger entry

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 09:20:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("drive", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("public_revision", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("drive", schema=None) as batch_op:
        batch_op.drop_column("public_revision")
