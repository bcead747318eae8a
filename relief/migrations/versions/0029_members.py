"""members: members' own fundraising pages on a drive, their one-time links, and the page a
gift was given on; gifts in honour or in memory of someone, with an optional card by email

Revision ID: 0029_members
Revises: 0028_match_pledges
Create Date: 2026-12-02 08:30:00
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = "0029_members"
down_revision = "0028_match_pledges"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "member_page",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("drive_id", sa.Integer(), nullable=False),
        sa.Column("chapter_id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("display_name", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("email_key", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("story", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("goal_cents", sa.Integer(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("approved_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("approved_by_id", sa.Integer(), nullable=True),
        sa.Column("hidden_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("hidden_reason", sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
        sa.CheckConstraint(
            "goal_cents IS NULL OR goal_cents > 0", name=op.f("ck_member_page_goal_positive")
        ),
        sa.ForeignKeyConstraint(
            ["approved_by_id"],
            ["user_account.id"],
            name=op.f("fk_member_page_approved_by_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["chapter_id"], ["chapter.id"], name=op.f("fk_member_page_chapter_id_chapter")
        ),
        sa.ForeignKeyConstraint(
            ["drive_id"], ["drive.id"], name=op.f("fk_member_page_drive_id_drive")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_page")),
        sa.UniqueConstraint("drive_id", "name", name="uq_member_page_drive_name"),
        sa.UniqueConstraint("drive_id", "email_key", name="uq_member_page_drive_email"),
    )
    op.create_index(op.f("ix_member_page_drive_id"), "member_page", ["drive_id"], unique=False)
    op.create_table(
        "member_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("nonce", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("member_page_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("used_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_page_id"],
            ["member_page.id"],
            name=op.f("fk_member_link_member_page_id_member_page"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_link")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_member_link_token_hash")),
    )
    op.create_index(
        op.f("ix_member_link_member_page_id"), "member_link", ["member_page_id"], unique=False
    )
    with op.batch_alter_table("gift", schema=None) as batch_op:
        batch_op.add_column(sa.Column("member_page_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("dedication_kind", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True)
        )
        batch_op.add_column(
            sa.Column("honoree_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True)
        )
        batch_op.add_column(
            sa.Column("card_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True)
        )
        batch_op.add_column(
            sa.Column("card_email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True)
        )
        batch_op.add_column(
            sa.Column("card_message", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True)
        )
        batch_op.create_index(batch_op.f("ix_gift_member_page_id"), ["member_page_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_gift_member_page_id_member_page"),
            "member_page",
            ["member_page_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("gift", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_gift_member_page_id_member_page"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_gift_member_page_id"))
        batch_op.drop_column("member_page_id")
        for name in ("card_message", "card_email", "card_name", "honoree_name", "dedication_kind"):
            batch_op.drop_column(name)
    op.drop_index(op.f("ix_member_link_member_page_id"), table_name="member_link")
    op.drop_table("member_link")
    op.drop_index(op.f("ix_member_page_drive_id"), table_name="member_page")
    op.drop_table("member_page")
