"""donor links: one-time "Find my gifts" sign-in links, stored hashed

Revision ID: 0024_donor_links
Revises: 0021_outbox
Create Date: 2026-12-03 05:00:00
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = "0024_donor_links"
down_revision = "0021_outbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "donor_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("nonce", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("gift_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("used_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_donor_link")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_donor_link_token_hash")),
    )
    op.create_index(op.f("ix_donor_link_gift_id"), "donor_link", ["gift_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_donor_link_gift_id"), table_name="donor_link")
    op.drop_table("donor_link")
