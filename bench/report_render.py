"""Time the press impact report and a chapter's monthly report (snapshot + PDF) for a drive
with N gifts.

    .venv/bin/python bench/report_render.py 1000 100000 1000000
    .venv/bin/python bench/report_render.py --postgresql 1000 100000   # a throwaway server

Each N gets a fresh SQLite database with the demo drive and N synthetic paid gifts (added
through the ledger in bulk; 1,000,000 take about a minute). Each report is then built and
rendered 9 times from cold (the kept PDFs forgotten) and asked again with its figures
unchanged; the medians are printed, as wall-clock time and as this process's CPU time: on a
machine shared with other jobs the wall clock counts the time other processes ran too, the
CPU time what the report itself costs. The database time is the snapshot's statements' own
(timed around each cursor execute), with their number. The monthly report is St. Louis's
previous month (the demo's gifts span the 28 days before now, so it holds most of them).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine, event, make_url, text
from sqlmodel import select

# This checkout's relief and tests, not whichever one the environment installed (run as a
# file, Python puts bench/ first on the path, not the checkout; a shared virtualenv's
# editable install then measured another worktree's code).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from relief import boundary, create_app, db, demo
from relief.ledger import local_day
from relief.models import Chapter, utcnow
from relief.reports import monthly, press, render

RUNS = 9


def _timed(work: Callable[[], object]) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return time.perf_counter() - wall, time.process_time() - cpu, result


class _Statements:
    """The database's own time: each statement timed around its cursor execute."""

    def __init__(self, engine):
        self.count, self.seconds = 0, 0.0
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn, *_args):
        conn.info["bench_started"] = time.perf_counter()

    def _after(self, conn, *_args):
        self.count += 1
        self.seconds += time.perf_counter() - conn.info.pop("bench_started")

    def reset(self) -> None:
        self.count, self.seconds = 0, 0.0


def _report(
    name: str,
    build: Callable[[], object],
    pdf: Callable[[object], bytes],
    db_time: _Statements,
    runs: int = RUNS,
) -> dict:
    build_ms, cold_wall, cold_cpu, again_wall, db_ms = [], [], [], [], []
    cold_total_cpu = []
    data = b""
    for _ in range(runs):
        db_time.reset()
        wall, build_cpu, snapshot = _timed(build)
        build_ms.append(wall * 1000)
        db_ms.append(db_time.seconds * 1000)
        statements = db_time.count
        render._RENDERED.clear()  # a first render: WeasyPrint's layout and writing
        wall, cpu, data = _timed(lambda snapshot=snapshot: pdf(snapshot))
        cold_wall.append(wall * 1000)
        cold_cpu.append(cpu * 1000)
        cold_total_cpu.append((build_cpu + cpu) * 1000)
        wall, _cpu, _data = _timed(lambda: pdf(build()))  # asked again, figures unchanged
        again_wall.append(wall * 1000)
    return {
        "name": name,
        "build_ms": statistics.median(build_ms),
        "cold_ms": statistics.median(build_ms) + statistics.median(cold_wall),
        "cold_cpu_ms": statistics.median(cold_cpu),
        "cold_total_cpu_ms": statistics.median(cold_total_cpu),
        "db_ms": statistics.median(db_ms),
        "statements": statements,
        "again_ms": statistics.median(again_wall),
        "kb": len(data) // 1024,
    }


def _fresh_postgres(server_url: str, gift_count: int) -> str:
    """A new database on the bench's PostgreSQL server for this N."""
    name = f"bench_{gift_count}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def time_reports(app, slugs: list[str], chapter_slug: str = "st-louis", runs: int = RUNS):
    """The press report of each drive in ``slugs`` and ``chapter_slug``'s monthly report of the
    previous month (every drive's gifts of that chapter), in ``app``'s database."""
    db_time = _Statements(app.extensions["relief.engine"])
    results = []
    with app.app_context():
        for slug in slugs:

            def press_snapshot(slug=slug):
                with boundary.command(write=False) as session:
                    return press.build(session, slug, utcnow(), drive_url="https://x/d")

            results.append(_report(f"press {slug}", press_snapshot, render.pdf, db_time, runs))

        def monthly_snapshot():
            with boundary.command(write=False) as session:
                chapter = session.exec(select(Chapter).where(Chapter.slug == chapter_slug)).one()
                now = utcnow()
                previous = (local_day(now).replace(day=1) - timedelta(days=1)).replace(day=1)
                return monthly.build(session, chapter, previous, now=now)

        results.append(_report("monthly", monthly_snapshot, render.monthly_pdf, db_time, runs))
    return results


def measure(gift_count: int, postgres_url: str | None = None) -> tuple[float, list[dict]]:
    with tempfile.TemporaryDirectory() as tmp:
        url = (
            _fresh_postgres(postgres_url, gift_count)
            if postgres_url
            else f"sqlite:///{Path(tmp) / 'bench.db'}"
        )
        db.upgrade(url)
        app = create_app({"DATABASE_URL": url})
        with app.app_context():
            with boundary.command() as session:
                drive = demo.ensure_demo_drive(session)
                slug = drive.slug
            started = time.perf_counter()
            with boundary.command() as session:
                demo.add_gifts(session, slug, gift_count, checkpoint=boundary.checkpoint)
            seeding = time.perf_counter() - started
        results = time_reports(app, [slug])
        results[0]["name"] = "press"
        app.extensions["relief.engine"].dispose()
    return seeding, results


def main(counts: list[int], postgres_url: str | None) -> None:
    for count in counts:
        seconds, results = measure(count, postgres_url)
        for result in results:
            print(
                f"{count:>9,} gifts, {result['name']:<8} snapshot {result['build_ms']:.1f} ms "
                f"(database {result['db_ms']:.1f} ms, {result['statements']} statements); "
                f"first render total {result['cold_ms']:.0f} ms wall, "
                f"{result['cold_total_cpu_ms']:.0f} ms CPU (PDF {result['cold_cpu_ms']:.0f}); "
                f"asked again unchanged {result['again_ms']:.0f} ms; {result['kb']} KB",
                flush=True,
            )
        print(f"{count:>9,} gifts seeded in {seconds:.1f} s", flush=True)


if __name__ == "__main__":
    arguments = sys.argv[1:]
    on_postgres = "--postgresql" in arguments
    counts = [int(arg) for arg in arguments if arg != "--postgresql"] or [1000, 100_000]
    if not on_postgres:
        main(counts, None)
    else:
        from tests.postgres import LocalPostgres

        server = LocalPostgres()
        try:
            main(counts, server.start())
        finally:
            server.stop()
