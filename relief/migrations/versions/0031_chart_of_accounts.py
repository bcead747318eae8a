"""chart of accounts: the coalition's account names and numbers for the journal export

Revision ID: 0031_chart_of_accounts
Revises: 0027_embed_origins
Create Date: 2026-12-02 08:20:00
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = "0031_chart_of_accounts"
down_revision = "0027_embed_origins"
branch_labels = None
depends_on = None

ROLES = (
    "bank",
    "stripe_clearing",
    "undeposited",
    "direct_to_partner",
    "donations",
    "refunds",
    "disputes",
    "fees",
    "grants",
)


def upgrade() -> None:
    op.create_table(
        "chart_account",
        sa.Column(
            "role",
            sa.Enum(
                *ROLES,
                name="accountrole",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("number", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["updated_by_id"],
            ["user_account.id"],
            name=op.f("fk_chart_account_updated_by_id_user_account"),
        ),
        sa.PrimaryKeyConstraint("role", name=op.f("pk_chart_account")),
    )


def downgrade() -> None:
    op.drop_table("chart_account")
