"""indexes for a chapter's lists of gifts, newest first, so a page of them does not read
every gift of the chapter (found at 1,000,000 gifts: 0.5-1 s on SQLite)

- ix_gift_chapter_newest (chapter_id, id): the treasurer's gifts, a hundred at a time;
- ix_gift_whole_drive_newest (drive_id, id) of gifts with no chapter: with it, a host's
  gifts to the whole of each drive it hosts.
- ix_gift_chapter_status_received (chapter_id, status, received_at, id): the organizer's
  supporters of the chapter (paid gifts by when received).

Revision ID: 0035_chapter_gift_lists
Revises: 0034_monthly_payment_failed
Create Date: 2026-12-05 08:10:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0035_chapter_gift_lists"
down_revision = "0034_monthly_payment_failed"
branch_labels = None
depends_on = None

WHOLE_DRIVE = sa.text("chapter_id IS NULL")


def upgrade() -> None:
    op.create_index("ix_gift_chapter_newest", "gift", ["chapter_id", "id"], unique=False)
    op.create_index(
        "ix_gift_whole_drive_newest",
        "gift",
        ["drive_id", "id"],
        unique=False,
        sqlite_where=WHOLE_DRIVE,
        postgresql_where=WHOLE_DRIVE,
    )
    op.create_index(
        "ix_gift_chapter_status_received",
        "gift",
        ["chapter_id", "status", "received_at", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_gift_chapter_status_received", table_name="gift")
    op.drop_index("ix_gift_whole_drive_newest", table_name="gift")
    op.drop_index("ix_gift_chapter_newest", table_name="gift")
