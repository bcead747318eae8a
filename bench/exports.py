"""The press PDF's render time and a chapter's ledger CSV streamed to a signed-in admin
(rows/s and the worker's peak memory growth), when their routes exist."""

from __future__ import annotations

import re
import statistics
import time
import urllib.parse
import urllib.request
from pathlib import Path

from bench.report_table import mark
from bench.seed import drive_slug, scalar
from bench.serve import Server, status_kib


def _fill(rule: str, slug: str) -> str:
    path = re.sub(r"<(?:[^:>]+:)?(slug|drive|drive_slug)>", slug, rule)
    return re.sub(r"<(?:[^:>]+:)?[^>]+>", "st-louis", path)


def measure_pdf(server: Server, rules: list[str], sizes: list[int]) -> str:
    rule = next((r for r in rules if r.endswith("report.pdf")), None)
    if rule is None:
        return "not available (no /drives/<slug>/report.pdf route)"
    timings, again = {}, {}
    for size in (s for s in (1_000, 100_000) if s in sizes):
        url = _fill(rule, drive_slug(size))
        samples = []
        for _ in range(5):
            started = time.perf_counter()
            status, body = server.get(url)
            samples.append(time.perf_counter() - started)
            if status != 200:
                return f"not measured: {url} answered {status}"
        # The first is rendered; a worker keeps what it rendered (the same HTML gives the
        # same PDF), so the later ones are kept bytes, or the other worker's first render.
        timings[size], again[size] = samples[0], statistics.median(samples[1:])
    parts = [
        f"{size:,} gifts {seconds:.2f} s (then {again[size]:.2f} s)"
        for size, seconds in timings.items()
    ]
    return "; ".join(parts)


BENCH_ADMIN = ("bench-admin@example.org", "bench-admin-password-123")


def _admin_opener(server: Server, database_url: str):
    """A urllib opener signed in as a coalition admin (created in the benchmark's database)."""
    import http.cookiejar

    from relief import auth, boundary, create_app

    app = create_app({"DATABASE_URL": database_url})
    with app.app_context(), boundary.command() as session:
        if auth.find_user(session, BENCH_ADMIN[0]) is None:
            auth.add_user(session, BENCH_ADMIN[0], BENCH_ADMIN[1], admin=True)
    app.extensions["relief.engine"].dispose()
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    form = opener.open(server.base + "/login", timeout=60).read().decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form)[1]
    body = urllib.parse.urlencode(
        {"csrf_token": token, "email": BENCH_ADMIN[0], "password": BENCH_ADMIN[1]}
    ).encode()
    opener.open(server.base + "/login", data=body, timeout=60).read()
    return opener


def measure_csv(server: Server, database_url: str, rules: list[str], sizes: list[int]) -> str:
    """The largest drive's ledger CSV of one chapter, streamed to a signed-in admin."""
    # The treasurer's export (the public ledger's /drives/<slug>/ledger.csv is another route).
    rule = next(
        (r for r in rules if r.startswith("/treasurer/") and r.endswith("ledger.csv")), None
    )
    if rule is None:
        return "not available (no …/ledger.csv route)"
    size = max(sizes)
    opener = _admin_opener(server, database_url)
    drive_id = scalar(
        database_url, "SELECT id FROM drive WHERE slug = :slug", slug=drive_slug(size)
    )
    url = server.base + _fill(rule, drive_slug(size)) + f"?drive={drive_id}"
    pids = server.worker_pids()
    for pid in pids:  # reset each worker's peak RSS, so the peak below is this export's
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    resident = {pid: status_kib(pid, "VmRSS") for pid in pids}
    started = time.perf_counter()
    with opener.open(url, timeout=600) as response:
        kind = response.headers.get("Content-Type", "")
        rows = -1
        for _line in response:
            rows += 1
    seconds = time.perf_counter() - started
    if not kind.startswith("text/csv"):
        return f"not measured: {url} answered {kind}, not a CSV"
    growth_mb = max(status_kib(pid, "VmHWM") - resident[pid] for pid in pids) / 1024
    return (
        f"{rows:,} rows (one chapter of the {size:,}-gift drive) in {seconds:.2f} s = "
        f"{rows / seconds:,.0f} rows/s; peak worker memory growth {growth_mb:.1f} MB "
        f"{mark(growth_mb < 50)} (target < 50 MB)"
    )
