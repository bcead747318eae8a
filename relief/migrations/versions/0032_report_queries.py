"""indexes for the monthly report's queries, so its database time does not grow with gifts

- ix_gift_chapter_card gains test_mode: "has the chapter live card gifts?" (the close
  checklist) is then two equalities on the partial index, which SQLite (no statistics)
  prefers to reading every gift of the chapter through ix_gift_chapter_fee_pending.
- ix_entry_chapter_kind: a month's corrections (and other kinds) of a chapter, without
  reading the month's every entry.
- ix_entry_reverses_id: the reversal of a remittance, without reading every entry.

Revision ID: 0032_report_queries
Revises: 0030_gift_locale
Create Date: 2026-12-02 14:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0032_report_queries"
down_revision = "0030_gift_locale"
branch_labels = None
depends_on = None

CARD = sa.text("stripe_charge_id IS NOT NULL OR stripe_payment_intent_id IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_gift_chapter_card", table_name="gift")
    op.create_index(
        "ix_gift_chapter_card",
        "gift",
        ["chapter_id", "test_mode"],
        unique=False,
        sqlite_where=CARD,
        postgresql_where=CARD,
    )
    op.create_index(
        "ix_entry_chapter_kind", "entry", ["chapter_id", "kind", "effective_at"], unique=False
    )
    op.create_index("ix_entry_reverses_id", "entry", ["reverses_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_entry_reverses_id", table_name="entry")
    op.drop_index("ix_entry_chapter_kind", table_name="entry")
    op.drop_index("ix_gift_chapter_card", table_name="gift")
    op.create_index(
        "ix_gift_chapter_card",
        "gift",
        ["chapter_id"],
        unique=False,
        sqlite_where=CARD,
        postgresql_where=CARD,
    )
