"""gift locale: the language a donor gave in, so their emails and receipt are in it

Revision ID: 0030_gift_locale
Revises: 0029_members
Create Date: 2026-12-02 08:20:00
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = "0030_gift_locale"
down_revision = "0029_members"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every gift given so far was given in English (the only language until now).
    with op.batch_alter_table("gift") as batch:
        batch.add_column(
            sa.Column(
                "locale",
                sqlmodel.sql.sqltypes.AutoString(length=8),
                server_default="en",
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("gift") as batch:
        batch.drop_column("locale")
