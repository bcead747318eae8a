"""Time the press impact report and a chapter's monthly report (snapshot + PDF) for a drive
with N gifts.

    .venv/bin/python bench/report_render.py 1000 100000

Each N gets a fresh SQLite database with the demo drive and N synthetic paid gifts (added
through the ledger in bulk). Each report is then built and rendered 9 times from cold (the
kept PDFs forgotten) and asked again with its figures unchanged; the medians are printed, as
wall-clock time and as this process's CPU time: on a machine shared with other jobs the wall
clock counts the time other processes ran too, the CPU time what the report itself costs.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from relief import boundary, create_app, db, demo
from relief.models import Chapter, utcnow
from relief.reports import monthly, press, render

RUNS = 9


def _timed(work: Callable[[], object]) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def _report(name: str, build: Callable[[], object], pdf: Callable[[object], bytes]) -> dict:
    build_ms, cold_wall, cold_cpu, again_wall = [], [], [], []
    data = b""
    for _ in range(RUNS):
        wall, _cpu, snapshot = _timed(build)
        build_ms.append(wall * 1000)
        render._RENDERED.clear()  # a first render: WeasyPrint's layout and writing
        wall, cpu, data = _timed(lambda snapshot=snapshot: pdf(snapshot))
        cold_wall.append(wall * 1000)
        cold_cpu.append(cpu * 1000)
        wall, _cpu, _data = _timed(lambda: pdf(build()))  # asked again, figures unchanged
        again_wall.append(wall * 1000)
    return {
        "name": name,
        "build_ms": statistics.median(build_ms),
        "cold_ms": statistics.median(build_ms) + statistics.median(cold_wall),
        "cold_cpu_ms": statistics.median(cold_cpu),
        "again_ms": statistics.median(again_wall),
        "kb": len(data) // 1024,
    }


def measure(gift_count: int) -> tuple[float, list[dict]]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
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

            def press_snapshot():
                with boundary.command(write=False) as session:
                    return press.build(session, slug, utcnow(), drive_url="https://x/d")

            def monthly_snapshot():
                with boundary.command(write=False) as session:
                    chapter = session.query(Chapter).filter_by(slug="st-louis").one()
                    now = utcnow()
                    return monthly.build(session, chapter, now.strftime("%Y-%m"), now=now)

            results = [
                _report("press", press_snapshot, render.pdf),
                _report("monthly", monthly_snapshot, render.monthly_pdf),
            ]
            app.extensions["relief.engine"].dispose()
    return seeding, results


if __name__ == "__main__":
    for count in [int(arg) for arg in sys.argv[1:]] or [1000, 100_000]:
        seconds, results = measure(count)
        for result in results:
            print(
                f"{count:>9,} gifts, {result['name']:<8} snapshot {result['build_ms']:.1f} ms; "
                f"first render total {result['cold_ms']:.0f} ms wall, PDF "
                f"{result['cold_cpu_ms']:.0f} ms CPU; asked again unchanged "
                f"{result['again_ms']:.0f} ms; {result['kb']} KB",
                flush=True,
            )
        print(f"{count:>9,} gifts seeded in {seconds:.1f} s", flush=True)
