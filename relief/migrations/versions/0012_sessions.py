"""sign-in sessions kept on the server; wrong passwords per account and address

The per-account session_token goes: the cookie now names a sign-in session, which signing out
ends. Everyone is signed out once by this migration.

Revision ID: 0012_sessions
Revises: 0017_month_snapshots
Create Date: 2026-12-02 10:00:00
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = "0012_sessions"
down_revision = "0017_month_snapshots"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sign_in_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("user_agent", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("binding_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("ended_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_sign_in_session_user_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_sign_in_session_token_hash")),
    )
    with op.batch_alter_table("sign_in_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sign_in_session_user_id"), ["user_id"], unique=False)
    op.create_table(
        "sign_in_failure",
        sa.Column("account_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("account_key", "address", name=op.f("pk_sign_in_failure")),
    )
    with op.batch_alter_table("sign_in_failure", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sign_in_failure_last_failed_at"), ["last_failed_at"], unique=False
        )
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_constraint("uq_user_account_session_token", type_="unique")
        batch_op.drop_column("session_token")


def downgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        # Every account gets a fresh token: everyone is signed out.
        batch_op.add_column(
            sa.Column(
                "session_token",
                sqlmodel.sql.sqltypes.AutoString(length=64),
                nullable=False,
                server_default="",
            )
        )
    if op.get_bind().dialect.name == "postgresql":
        random_token = "md5(random()::text || clock_timestamp()::text || id::text)"
    else:
        random_token = "lower(hex(randomblob(24)))"
    op.execute(f"UPDATE user_account SET session_token = {random_token}")
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.alter_column("session_token", server_default=None)
        batch_op.create_unique_constraint("uq_user_account_session_token", ["session_token"])
    op.drop_table("sign_in_failure")
    op.drop_table("sign_in_session")
