"""embed origins: the sites a drive's organizers allow to show its embed in a frame

Revision ID: 0027_embed_origins
Revises: 0027_digest
Create Date: 2026-12-02 08:20:00
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = "0027_embed_origins"
down_revision = "0027_digest"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("drive", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "embed_origins",
                sqlmodel.sql.sqltypes.AutoString(length=2000),
                server_default="",
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("drive", schema=None) as batch_op:
        batch_op.drop_column("embed_origins")
