"""match pledges: a sponsor's pledge on a drive, and the sponsor's gifts that pay it

Revision ID: 0028_match_pledges
Revises: 0026_drive_images
Create Date: 2026-12-02 08:20:00
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = "0028_match_pledges"
down_revision = "0026_drive_images"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "match_pledge",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("drive_id", sa.Integer(), nullable=False),
        sa.Column("chapter_id", sa.Integer(), nullable=True),
        sa.Column("sponsor_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("ratio_sponsor", sa.Integer(), nullable=False),
        sa.Column("ratio_donor", sa.Integer(), nullable=False),
        sa.Column("cap_cents", sa.BigInteger(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column(
            "counts",
            sa.Enum(
                "online",
                "all",
                name="matchcounts",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("made_by_chapter_id", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("ended_early_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("withdrawn_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column(
            "withdrawn_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True
        ),
        sa.CheckConstraint("cap_cents > 0", name=op.f("ck_match_pledge_cap_positive")),
        sa.CheckConstraint(
            "ratio_sponsor > 0 AND ratio_donor > 0", name=op.f("ck_match_pledge_ratio_positive")
        ),
        sa.CheckConstraint("ends_on >= starts_on", name=op.f("ck_match_pledge_window_ordered")),
        sa.ForeignKeyConstraint(
            ["chapter_id"], ["chapter.id"], name=op.f("fk_match_pledge_chapter_id_chapter")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user_account.id"],
            name=op.f("fk_match_pledge_created_by_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["drive_id"], ["drive.id"], name=op.f("fk_match_pledge_drive_id_drive")
        ),
        sa.ForeignKeyConstraint(
            ["made_by_chapter_id"],
            ["chapter.id"],
            name=op.f("fk_match_pledge_made_by_chapter_id_chapter"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_match_pledge")),
    )
    with op.batch_alter_table("match_pledge", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_match_pledge_drive_id"), ["drive_id"], unique=False)
    op.create_table(
        "match_payment",
        sa.Column("gift_id", sa.Integer(), nullable=False),
        sa.Column("pledge_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["gift_id"], ["gift.id"], name=op.f("fk_match_payment_gift_id_gift")
        ),
        sa.ForeignKeyConstraint(
            ["pledge_id"],
            ["match_pledge.id"],
            name=op.f("fk_match_payment_pledge_id_match_pledge"),
        ),
        sa.PrimaryKeyConstraint("gift_id", name=op.f("pk_match_payment")),
    )
    with op.batch_alter_table("match_payment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_match_payment_pledge_id"), ["pledge_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("match_payment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_match_payment_pledge_id"))
    op.drop_table("match_payment")
    with op.batch_alter_table("match_pledge", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_match_pledge_drive_id"))
    op.drop_table("match_pledge")
