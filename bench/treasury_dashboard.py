"""How long a chapter's treasurer dashboard takes with a large ledger.

    .venv/bin/python bench/treasury_dashboard.py [--gifts 300000] [--postgres URL]

Fills a fresh database (a temporary SQLite file, and the PostgreSQL database at URL if given —
it must be empty) with demo gifts, then times ``dashboard.by_month`` (the per-month GROUP BY)
and the whole ``dashboard.dashboard`` for St. Louis, the mean of 5 runs each.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("SECRET_KEY", "bench")
os.environ.setdefault("RELIEF_ENV", "test")


def timed(function, runs=5) -> float:
    function()
    start = time.perf_counter()
    for _ in range(runs):
        function()
    return (time.perf_counter() - start) / runs * 1000


def run(url: str, gifts: int) -> None:
    from sqlmodel import func, select

    from relief import boundary, create_app, demo, drives
    from relief.db import upgrade
    from relief.models import Entry
    from relief.treasury import dashboard

    upgrade(url)
    app = create_app({"DATABASE_URL": url})
    with app.app_context():
        with boundary.command() as session:
            drive = demo.ensure_demo_drive(session, None)
        with boundary.command() as session:
            demo.add_gifts(session, drive.slug, gifts, seed=1, checkpoint=boundary.checkpoint)
        with boundary.command(write=False) as session:
            chapter = drives.get_chapter(session, "st-louis")
            entries = session.exec(
                select(func.count()).select_from(Entry).where(Entry.chapter_id == chapter.id)
            ).one()
            by_month = timed(lambda: dashboard.by_month(session, chapter))
            whole = timed(lambda: dashboard.dashboard(session, chapter))
    app.extensions["relief.engine"].dispose()
    print(
        f"{url.split(':')[0]}: {entries} entries for the chapter; "
        f"per-month GROUP BY {by_month:.0f} ms, whole dashboard {whole:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gifts", type=int, default=300_000)
    parser.add_argument("--postgres", help="an empty PostgreSQL database URL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        run(f"sqlite:///{directory}/bench.db", args.gifts)
    if args.postgres:
        run(args.postgres.replace("postgresql://", "postgresql+psycopg://", 1), args.gifts)


if __name__ == "__main__":
    main()
