"""drive images: the bytes of each drive's image in the database (drive_image), and on the
drive its digest, description (alt text) and size

Revision ID: 0026_drive_images
Revises: 0031_chart_of_accounts
Create Date: 2026-12-02 08:40:00
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = "0026_drive_images"
down_revision = "0031_chart_of_accounts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "drive_image",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("drive_id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("content_type", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["drive_id"], ["drive.id"], name=op.f("fk_drive_image_drive_id_drive")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drive_image")),
        sa.UniqueConstraint("drive_id", "name", name=op.f("uq_drive_image_drive_id")),
    )
    with op.batch_alter_table("drive_image", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_drive_image_drive_id"), ["drive_id"], unique=False)
    with op.batch_alter_table("drive", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("image_digest", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "image_alt",
                sqlmodel.sql.sqltypes.AutoString(length=300),
                server_default="",
                nullable=False,
            )
        )
        batch_op.add_column(sa.Column("image_width", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("image_height", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("drive", schema=None) as batch_op:
        batch_op.drop_column("image_height")
        batch_op.drop_column("image_width")
        batch_op.drop_column("image_alt")
        batch_op.drop_column("image_digest")
    with op.batch_alter_table("drive_image", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_drive_image_drive_id"))
    op.drop_table("drive_image")
