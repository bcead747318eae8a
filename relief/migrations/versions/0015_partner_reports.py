"""partner reports: one record per purchase (the partner's reference, unique per drive),
corrections and withdrawals as new records, and the remittances each purchase used

Revision ID: 0015_partner_reports
Revises: 0013_event_limits
Create Date: 2026-12-02 10:00:00
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = "0015_partner_reports"
down_revision = "0013_event_limits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("partner_report", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("partner_reference", sqlmodel.sql.sqltypes.AutoString(length=200))
        )
        batch_op.add_column(
            sa.Column("revision", sa.Integer(), server_default="1", nullable=False)
        )
        batch_op.add_column(sa.Column("supersedes_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("withdrawn", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "reason",
                sqlmodel.sql.sqltypes.AutoString(length=400),
                server_default="",
                nullable=False,
            )
        )
    # Reports recorded before had no reference: each gets one of its own, so none is lost
    # (a treasurer withdraws any that repeat another).
    op.execute(
        "UPDATE partner_report SET partner_reference = 'recorded before references: #' "
        "|| CAST(id AS VARCHAR(20))"
    )
    with op.batch_alter_table("partner_report", schema=None) as batch_op:
        batch_op.alter_column(
            "partner_reference",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=200),
            nullable=False,
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_partner_report_supersedes_id_partner_report"),
            "partner_report",
            ["supersedes_id"],
            ["id"],
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_partner_report_drive_id"),
            ["drive_id", "partner_reference", "revision"],
        )
        batch_op.create_check_constraint("revision_positive", "revision >= 1")
    op.create_table(
        "partner_report_remittance",
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("remittance_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["remittance_id"],
            ["remittance.id"],
            name=op.f("fk_partner_report_remittance_remittance_id_remittance"),
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["partner_report.id"],
            name=op.f("fk_partner_report_remittance_report_id_partner_report"),
        ),
        sa.PrimaryKeyConstraint(
            "report_id", "remittance_id", name=op.f("pk_partner_report_remittance")
        ),
    )


def downgrade() -> None:
    op.drop_table("partner_report_remittance")
    with op.batch_alter_table("partner_report", schema=None) as batch_op:
        batch_op.drop_constraint("revision_positive", type_="check")
        batch_op.drop_constraint(batch_op.f("uq_partner_report_drive_id"), type_="unique")
        batch_op.drop_constraint(
            batch_op.f("fk_partner_report_supersedes_id_partner_report"), type_="foreignkey"
        )
        batch_op.drop_column("reason")
        batch_op.drop_column("withdrawn")
        batch_op.drop_column("supersedes_id")
        batch_op.drop_column("revision")
        batch_op.drop_column("partner_reference")
