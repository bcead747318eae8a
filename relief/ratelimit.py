"""Flask-Limiter counters kept in our own database, so every gunicorn worker (and every
server behind the load balancer) shares them: in-memory limits multiply by the worker count.

A fixed-window counter per key: one upsert per counted request, in its own short
transaction (``INSERT … ON CONFLICT DO UPDATE … RETURNING`` on PostgreSQL and SQLite alike).
Operators who run Redis can set ``RATELIMIT_STORAGE_URI=redis://…`` instead.
"""

from __future__ import annotations

import time

from limits.storage import Storage
from sqlalchemy import case, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from relief.models import RateLimitCounter, table_of

SCHEME = "relief-database"
#: One counted request in this many also deletes expired counters, keeping the table small.
_SWEEP_EVERY = 500


class DatabaseStorage(Storage):
    STORAGE_SCHEME = [SCHEME]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions)
        self.engine: Engine = options["engine"]
        self._calls = 0

    @property
    def base_exceptions(self):
        return SQLAlchemyError

    def _insert(self):
        if self.engine.dialect.name == "postgresql":
            return postgresql.insert
        return sqlite.insert

    def _write(self):
        return self.engine.connect().execution_options(relief_write=True)

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = int(time.time())
        table = table_of(RateLimitCounter)
        expired = table.c.expires_at <= now
        statement = self._insert()(table).values(key=key, count=amount, expires_at=now + expiry)
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.key],
            set_={
                "count": case((expired, amount), else_=table.c.count + amount),
                "expires_at": case((expired, now + int(expiry)), else_=table.c.expires_at),
            },
        ).returning(table.c.count)
        with self._write() as connection, connection.begin():
            count = connection.execute(statement).scalar_one()
            self._calls += 1
            if self._calls % _SWEEP_EVERY == 0:
                connection.execute(delete(table).where(table.c.expires_at <= now))
        return int(count)

    def _row(self, key: str):
        table = table_of(RateLimitCounter)
        with self.engine.connect() as connection:
            return connection.execute(
                select(table.c.count, table.c.expires_at).where(table.c.key == key)
            ).first()

    def get(self, key: str) -> int:
        row = self._row(key)
        if row is None or row.expires_at <= time.time():
            return 0
        return int(row.count)

    def get_expiry(self, key: str) -> float:
        row = self._row(key)
        if row is None:
            return time.time()
        return float(row.expires_at)

    def check(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(select(1))
        except SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        with self._write() as connection, connection.begin():
            return connection.execute(delete(table_of(RateLimitCounter))).rowcount

    def clear(self, key: str) -> None:
        table = table_of(RateLimitCounter)
        with self._write() as connection, connection.begin():
            connection.execute(delete(table).where(table.c.key == key))
