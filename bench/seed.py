"""The benchmark's database: one drive per size, seeded in bulk through the ledger; one number
read by SQL; the ledger's own proof of its sums."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path


def drive_slug(size: int) -> str:
    return f"bench-{size}"


@contextmanager
def database(backend: str, prefix: str) -> Iterator[tuple[str, Path]]:
    """An empty database of ``backend`` for one measurement, and a scratch directory: SQLite in
    that directory, or a throwaway PostgreSQL server started like the test suite's; both gone
    afterwards."""
    with tempfile.TemporaryDirectory(prefix=prefix) as directory:
        workdir = Path(directory)
        if backend != "postgresql":
            yield f"sqlite:///{workdir / 'bench.db'}", workdir
            return
        from tests.postgres import LocalPostgres

        server = LocalPostgres()
        try:
            yield server.start(), workdir
        finally:
            server.stop()


def seed(database_url: str, sizes: list[int]) -> tuple[dict[int, float | None], list[str]]:
    """One drive per size, seeded in bulk through the ledger; seconds per size (None when
    the drive was there already, e.g. a reused SQLite file). Also the app's URL rules."""
    from sqlmodel import select

    from relief import boundary, create_app, db, demo, drives, ledger
    from relief.models import Drive, utcnow

    db.upgrade(database_url)
    app = create_app({"DATABASE_URL": database_url})
    seconds: dict[int, float | None] = {}
    try:
        with app.app_context():
            today = utcnow().date()
            for size in sizes:
                slug = drive_slug(size)
                with boundary.command() as session:
                    demo.ensure_demo_drive(session)
                    drive = session.exec(select(Drive).where(Drive.slug == slug)).first()
                    if drive is None:
                        drive = drives.create_drive(
                            session,
                            slug=slug,
                            title=f"Benchmark drive with {size:,} gifts",
                            story=demo.STORY,
                            goal_cents=1_000_000_000,
                            chapter_slugs=[chapter[0] for chapter in demo.CHAPTERS],
                            starts_on=today - timedelta(days=28),
                            ends_on=today + timedelta(days=21),
                            target_region="Missouri",
                        )
                    have = ledger.totals(session, drive).figures.gift_count
                if have >= size:
                    seconds[size] = None
                    continue
                started = time.perf_counter()
                with boundary.command() as session:
                    demo.add_gifts(
                        session, slug, size - have, seed=size, checkpoint=boundary.checkpoint
                    )
                seconds[size] = time.perf_counter() - started
        rules = [rule.rule for rule in app.url_map.iter_rules()]
    finally:
        app.extensions["relief.engine"].dispose()
    return seconds, rules


def scalar(database_url: str, sql: str, **params) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return connection.execute(text(sql), params).scalar_one()
    finally:
        engine.dispose()


def verify(database_url: str, slug: str) -> list[str]:
    from relief import boundary, create_app, drives, ledger

    app = create_app({"DATABASE_URL": database_url})
    try:
        with app.app_context(), boundary.command(write=False) as session:
            return ledger.verify(session, drives.get_drive(session, slug))
    finally:
        app.extensions["relief.engine"].dispose()
