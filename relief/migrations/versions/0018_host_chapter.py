"""host chapter: every drive has a host chapter whose books hold what no chapter claims
(gifts to the whole drive); the chapters' month totals are rebuilt by that rule

Revision ID: 0018_host_chapter
Revises: 0015_partner_reports
Create Date: 2026-12-03 10:00:00

Existing drives get, as host, the participating chapter with the lowest id: the chapter
partner reports already treated as the host (``treasury/partner_reports.py`` before this
revision). Entries are not touched (the fingerprint covers them); only the derived month
totals are rebuilt, so every drive's fingerprint stays the same.
"""

from alembic import op
import sqlalchemy as sa


revision = "0018_host_chapter"
down_revision = "0020_stripe_refunds"
branch_labels = None
depends_on = None


def _rebuild_month_totals(book: str) -> None:
    """The chapters' month totals from the entries, each entry in the books of ``book``
    (an SQL expression over entry e and drive d), as ledger.append keeps them."""
    if op.get_bind().dialect.name == "postgresql":
        month = "date_trunc('month', e.effective_at AT TIME ZONE 'UTC')::date"
    else:
        month = "date(e.effective_at, 'start of month')"
    op.execute("DELETE FROM month_total")
    op.execute(
        f"""
        INSERT INTO month_total (chapter_id, drive_id, month, kind, amount_cents, gift_count)
        SELECT {book}, e.drive_id, {month}, e.kind, sum(e.amount_cents),
               sum(CASE WHEN e.kind <> 'gift' THEN 0 WHEN e.amount_cents > 0 THEN 1 ELSE -1 END)
        FROM entry e JOIN drive d ON d.id = e.drive_id
        WHERE {book} IS NOT NULL
        GROUP BY {book}, e.drive_id, {month}, e.kind
        """
    )


def upgrade() -> None:
    with op.batch_alter_table("drive", schema=None) as batch_op:
        batch_op.add_column(sa.Column("host_chapter_id", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE drive SET host_chapter_id = "
        "(SELECT min(chapter_id) FROM drive_chapter WHERE drive_chapter.drive_id = drive.id)"
    )
    orphans = op.get_bind().execute(
        sa.text("SELECT slug FROM drive WHERE host_chapter_id IS NULL")
    ).scalars().all()
    if orphans:
        raise RuntimeError(
            "These drives have no chapter, so none can host them: "
            f"{', '.join(orphans)}. Give each a chapter (drive_chapter) and upgrade again."
        )
    with op.batch_alter_table("drive", schema=None) as batch_op:
        batch_op.alter_column("host_chapter_id", existing_type=sa.Integer(), nullable=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_drive_host_chapter_id_chapter"), "chapter", ["host_chapter_id"], ["id"]
        )
    # Whole-drive entries join their host's months (ledger.owner).
    _rebuild_month_totals("coalesce(e.chapter_id, d.host_chapter_id)")


def downgrade() -> None:
    _rebuild_month_totals("e.chapter_id")
    with op.batch_alter_table("drive", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_drive_host_chapter_id_chapter"), type_="foreignkey")
        batch_op.drop_column("host_chapter_id")
