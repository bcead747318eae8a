"""press report: an index that finds a drive's test-mode gifts without reading its others

Revision ID: 0022_report_people
Revises: 0015_partner_reports
Create Date: 2026-12-10 10:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0022_report_people"
down_revision = "0019_dates"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The press report's "test mode" band asks whether a drive counts any test-mode gift: a
    # partial index holds only those, so the answer costs the same at any number of gifts.
    with op.batch_alter_table("gift", schema=None) as batch_op:
        batch_op.create_index(
            "ix_gift_drive_test_mode",
            ["drive_id"],
            unique=False,
            sqlite_where=sa.text("test_mode = 1"),
            postgresql_where=sa.text("test_mode"),
        )


def downgrade() -> None:
    with op.batch_alter_table("gift", schema=None) as batch_op:
        batch_op.drop_index("ix_gift_drive_test_mode")
