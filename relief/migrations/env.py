"""Alembic environment: the URL comes from the app (relief.db.alembic_config)."""

from alembic import context
from sqlalchemy import create_engine, pool

from relief import models

config = context.config
target_metadata = models.metadata


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None, "relief.db.alembic_config sets the URL"
    connectable = create_engine(url, poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
