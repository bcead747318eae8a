"""the treasurers' daily digest: who asked for it

Revision ID: 0027_digest
Revises: 0026_receipt_settings
Create Date: 2026-12-02 08:45:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0027_digest"
down_revision = "0026_receipt_settings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("digest", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_column("digest")
