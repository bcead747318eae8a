"""erasure: the normalised email of every gift; the keyed hashes of erased addresses

Revision ID: 0014_erasure
Revises: 0011
Create Date: 2026-12-02 10:00:00
"""

import unicodedata

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = "0014_erasure"
down_revision = "0011"
branch_labels = None
depends_on = None


def _normalise(email: str) -> str:
    # relief.models.privacy.normalise_email as of this revision (a migration keeps its own).
    return unicodedata.normalize("NFKC", email.strip()).casefold()[:320]


def upgrade() -> None:
    op.create_table(
        "erased_donor",
        sa.Column("address_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("erased_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("address_hash", name=op.f("pk_erased_donor")),
    )
    with op.batch_alter_table("gift", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "donor_email_key", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True
            )
        )
        batch_op.create_index(
            batch_op.f("ix_gift_donor_email_key"), ["donor_email_key"], unique=False
        )
    # Python, not SQL: only Python folds every alphabet's capitals the same way on both
    # databases.
    connection = op.get_bind()
    rows = connection.execute(
        sa.text("SELECT id, donor_email FROM gift WHERE donor_email IS NOT NULL")
    ).all()
    update = sa.text("UPDATE gift SET donor_email_key = :key WHERE id = :id")
    for start in range(0, len(rows), 1000):
        batch = rows[start : start + 1000]
        connection.execute(update, [{"id": id_, "key": _normalise(e) or None} for id_, e in batch])


def downgrade() -> None:
    with op.batch_alter_table("gift", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gift_donor_email_key"))
        batch_op.drop_column("donor_email_key")
    op.drop_table("erased_donor")
