"""form tokens: a money form's one-time token, and the paper's unique keys (a direct gift's
partner reference and check number per drive, a remittance's reference per chapter, a
deposit slip's number per chapter)

Revision ID: 0016_form_tokens
Revises: 0014_erasure
Create Date: 2026-12-08 10:00:00
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = "0016_form_tokens"
down_revision = "0014_erasure"
branch_labels = None
depends_on = None

PURPOSES = ("direct_gift", "correction", "remittance", "batch", "batch_post", "partner_report")


def upgrade() -> None:
    op.create_table(
        "form_token",
        sa.Column("token", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("chapter_id", sa.Integer(), nullable=False),
        sa.Column(
            "purpose",
            sa.Enum(
                *PURPOSES, name="formpurpose", native_enum=False, create_constraint=True, length=24
            ),
            nullable=False,
        ),
        sa.Column("record_id", sa.Integer(), nullable=True),
        sa.Column("used_by_id", sa.Integer(), nullable=True),
        sa.Column("used_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["chapter_id"], ["chapter.id"], name=op.f("fk_form_token_chapter_id_chapter")
        ),
        sa.ForeignKeyConstraint(
            ["used_by_id"], ["user_account.id"], name=op.f("fk_form_token_used_by_id_user_account")
        ),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_form_token")),
    )
    with op.batch_alter_table("deposit_batch", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("slip_number", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.create_index("uq_deposit_batch_slip", ["chapter_id", "slip_number"], unique=True)
    with op.batch_alter_table("direct_gift", schema=None) as batch_op:
        batch_op.add_column(sa.Column("drive_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("check_number", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_direct_gift_drive_id_drive"), "drive", ["drive_id"], ["id"]
        )
    with op.batch_alter_table("remittance", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "standing_reference", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True
            )
        )
    # The keys of what is recorded already. Where the same paper was recorded twice before
    # (the defect this revision fixes), the earliest record keeps the key and the later one
    # stays as it was, unkeyed: the migration changes no money.
    op.execute(
        "UPDATE direct_gift SET drive_id = (SELECT gift.drive_id FROM gift"
        " WHERE gift.id = direct_gift.gift_id)"
    )
    op.execute(
        """
        UPDATE direct_gift SET check_number = (
            SELECT gift.check_number FROM gift WHERE gift.id = direct_gift.gift_id)
        WHERE partner_reference <> '' AND NOT EXISTS (
            SELECT 1 FROM direct_gift AS earlier
            JOIN gift AS earlier_gift ON earlier_gift.id = earlier.gift_id
            JOIN gift AS this_gift ON this_gift.id = direct_gift.gift_id
            WHERE earlier.gift_id < direct_gift.gift_id
              AND earlier.drive_id = direct_gift.drive_id
              AND earlier.partner_reference = direct_gift.partner_reference
              AND earlier_gift.check_number = this_gift.check_number)
        """
    )
    standing = (
        "NOT EXISTS (SELECT 1 FROM entry WHERE entry.reverses_id = {table}.entry_id"
        " AND entry.kind = 'remittance')"
    )
    op.execute(
        f"""
        UPDATE remittance SET standing_reference = reference
        WHERE {standing.format(table="remittance")} AND NOT EXISTS (
            SELECT 1 FROM remittance AS earlier
            WHERE earlier.chapter_id = remittance.chapter_id
              AND earlier.reference = remittance.reference
              AND earlier.id < remittance.id
              AND {standing.format(table="earlier")})
        """
    )
    with op.batch_alter_table("direct_gift", schema=None) as batch_op:
        batch_op.create_index(
            "uq_direct_gift_paper", ["drive_id", "partner_reference", "check_number"], unique=True
        )
    with op.batch_alter_table("remittance", schema=None) as batch_op:
        batch_op.create_index(
            "uq_remittance_reference", ["chapter_id", "standing_reference"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("remittance", schema=None) as batch_op:
        batch_op.drop_index("uq_remittance_reference")
        batch_op.drop_column("standing_reference")
    with op.batch_alter_table("direct_gift", schema=None) as batch_op:
        batch_op.drop_index("uq_direct_gift_paper")
        batch_op.drop_constraint(batch_op.f("fk_direct_gift_drive_id_drive"), type_="foreignkey")
        batch_op.drop_column("check_number")
        batch_op.drop_column("drive_id")
    with op.batch_alter_table("deposit_batch", schema=None) as batch_op:
        batch_op.drop_index("uq_deposit_batch_slip")
        batch_op.drop_column("slip_number")
    op.drop_table("form_token")
