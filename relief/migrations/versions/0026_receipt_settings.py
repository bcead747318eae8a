"""receipt settings an admin edits in the browser (legal name, EIN, address, contact, statement)

Revision ID: 0026_receipt_settings
Revises: 0025_accounts
Create Date: 2026-12-02 08:20:00
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = "0026_receipt_settings"
down_revision = "0025_accounts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "receipt_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("legal_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("ein", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("contact_email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("statement", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_by", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receipt_settings")),
    )


def downgrade() -> None:
    op.drop_table("receipt_settings")
