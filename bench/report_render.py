"""Time the press impact report (snapshot + PDF) for a drive with N gifts.

    .venv/bin/python bench/report_render.py 1000 100000

Each N gets a fresh SQLite database with the demo drive and N synthetic paid gifts (added
through the ledger in bulk); the report is then built and rendered 9 times and the median
and fastest times are printed. See docs/reports.md for the figures measured.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from relief import boundary, create_app, db, demo
from relief.models import utcnow
from relief.reports import press, render

RUNS = 9


def measure(gift_count: int) -> dict:
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
            build_times, render_times = [], []
            for _ in range(RUNS):
                started = time.perf_counter()
                with boundary.command(write=False) as session:
                    snapshot = press.build(session, slug, utcnow(), drive_url="https://x/d")
                built = time.perf_counter()
                data = render.pdf(snapshot)
                build_times.append(built - started)
                render_times.append(time.perf_counter() - built)
            app.extensions["relief.engine"].dispose()
    total = [b + r for b, r in zip(build_times, render_times, strict=True)]
    return {
        "gifts": gift_count,
        "seed_s": seeding,
        "build_median_ms": statistics.median(build_times) * 1000,
        "render_median_ms": statistics.median(render_times) * 1000,
        "total_median_ms": statistics.median(total) * 1000,
        "total_min_ms": min(total) * 1000,
        "pdf_bytes": len(data),
        "raised": snapshot.raised_cents,
        "gift_count": snapshot.gift_count,
    }


if __name__ == "__main__":
    for count in [int(arg) for arg in sys.argv[1:]] or [1000, 100_000]:
        result = measure(count)
        print(
            f"{result['gifts']:>9,} gifts: build {result['build_median_ms']:.1f} ms, "
            f"render {result['render_median_ms']:.0f} ms, total median "
            f"{result['total_median_ms']:.0f} ms (fastest {result['total_min_ms']:.0f} ms), "
            f"{result['pdf_bytes'] // 1024} KB; seeded in {result['seed_s']:.1f} s",
            flush=True,
        )
