"""The benchmark: seed drives, serve them as in production, load them with wrk, print ratios.

    .venv/bin/python -m bench                  # N = 1,000, 100,000, 1,000,000; SQLite, PostgreSQL
    .venv/bin/python -m bench --sizes 1000 --rounds 1 --backends sqlite     # a quick look
    .venv/bin/python -m bench --sizes 1000 --backends sqlite --only webhooks # webhooks only

For each database it seeds one drive per N (``demo.add_gifts``: bulk, through the ledger),
starts gunicorn with 2 sync workers (``--workers``) on loopback (RELIEF_ENV=development, test
mode), and beside it the same gunicorn line serving a bare Flask app that answers only
``/healthz`` and a webhook that only checks the signature and keeps the event (the floor;
``bench/bare.py``), and runs wrk from this second process against the bare
``/healthz``, Relief's ``/healthz``, each drive's page, its API and the page asked with its
current ETag (``If-None-Match``: the 304 path). Machines like this one are noisy and shared,
so every figure that matters is a ratio taken within the same run: requests/s over the bare
app's requests/s (and the page and API also over Relief's own ``/healthz``) on the same
concurrency, measured back to back in ``--rounds`` rounds, and the median of the rounds'
ratios reported; the spread of the bare ``/healthz`` is the noise. Signed Stripe webhooks
(also ÷ the bare app's floor webhook and its ``/healthz``; each webhook leg run ``--rounds``
times, its median round shown), the press PDF and the CSV export
are measured when their routes exist, and reported "not available" otherwise. Only 127.0.0.1
is ever loaded.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

from bench.exports import measure_csv, measure_pdf
from bench.instances import next_answer
from bench.report_table import Result, Round, report
from bench.seed import drive_slug, scalar, seed
from bench.serve import ROOT, Server
from bench.webhooks import (
    drainer,
    measure_floor,
    measure_webhooks,
    measure_webhooks_with_fees,
    median_round,
)

SIZES = (1_000, 100_000, 1_000_000)


def measure(backend: str, version: str, database_url: str, args, workdir: Path) -> Result:
    print(f"[{backend}] seeding {', '.join(f'{n:,}' for n in args.sizes)} gifts…", flush=True)
    seeding, rules = seed(database_url, args.sizes)
    result = Result(backend, version, seeding)
    counter = str(workdir / f"{backend}.changes") if args.change_counter == "on" else ""
    kept = args.webhooks == "kept"
    server = Server(
        database_url,
        workers=args.workers,
        wsgi_app=args.wsgi_app,
        change_counter=counter,
        extra_env={"RELIEF_WEBHOOKS": args.webhooks},
    )
    # The drainer's commits must reach the servers' caches as the web workers' do.
    drainers = [drainer(database_url, {"RELIEF_CHANGE_COUNTER": counter})] if kept else []
    # The yardstick, under the same gunicorn line: Flask answering /healthz and nothing else.
    bare = Server(database_url, workers=args.workers, wsgi_app="bench.bare:app")
    try:
        for size in args.sizes:  # one request each, so the workers have imported everything
            for path in (f"/drives/{drive_slug(size)}", f"/api/drives/{drive_slug(size)}"):
                status, _body = server.get(path)
                if status != 200:
                    raise RuntimeError(f"{path} answered {status}")
        print(f"[{backend}] loading http://127.0.0.1:{server.port} with wrk…", flush=True)
        for size in args.sizes if args.only != "webhooks" else ():
            slug = drive_slug(size)
            page = f"/drives/{slug}"
            unchanged = {"If-None-Match": server.etag(page)}
            result.rounds[size] = []
            for number in range(args.rounds):
                # The two /healthz legs take turns going first: a leg right after another
                # meets the sockets it left (tens of thousands in TIME_WAIT), so neither app
                # always meets them.
                apps = {"bare": bare, "healthz": server}
                order = ("bare", "healthz") if number % 2 == 0 else ("healthz", "bare")
                loaded = {
                    leg: apps[leg].load("/healthz", args.duration, args.connections)
                    for leg in order
                }
                result.rounds[size].append(
                    Round(
                        **loaded,
                        page=server.load(page, args.duration, args.connections),
                        api=server.load(f"/api/drives/{slug}", args.duration, args.connections),
                        not_modified=server.load(page, args.duration, args.connections, unchanged),
                    )
                )
        result.webhooks = median_round(
            [
                measure_webhooks(
                    server,
                    database_url,
                    drive_slug(min(args.sizes)),
                    args.duration,
                    args.connections,
                    workdir,
                    kept=kept,
                )
                for _ in range(args.rounds)
            ]
        )
        if result.webhooks.available:
            # The floor, loaded as Relief's webhook was: the bare app keeping each event.
            result.webhook_floor = measure_floor(
                bare,
                database_url,
                drive_slug(min(args.sizes)),
                args.duration,
                args.connections,
                workdir,
            )
        if args.only != "webhooks" and backend == "postgresql":
            # A second app instance, sharing no file with the first: only the database.
            other = Server(
                database_url,
                workers=args.workers,
                wsgi_app=args.wsgi_app,
                change_counter=str(workdir / "instance-b.changes") if counter else "",
            )
            try:
                result.two_instances = next_answer(
                    server, other, drive_slug(min(args.sizes)), database_url=database_url
                )
            finally:
                other.stop()
        if args.only == "webhooks":
            result.pdf = result.csv = "not measured (--only webhooks)"
        else:
            result.pdf = measure_pdf(server, rules, args.sizes)
            result.csv = measure_csv(server, database_url, rules, args.sizes)
    finally:
        server.stop()
        bare.stop()
        for one in drainers:
            one.stop()
    if args.only != "webhooks":
        print(f"[{backend}] the press and monthly PDFs, in-process…", flush=True)
        result.reports = reports_in_process(database_url, args.sizes)
    if result.webhooks.available:
        print(f"[{backend}] webhooks with Stripe keys…", flush=True)
        result.webhooks_with_fees = median_round(
            [
                measure_webhooks_with_fees(database_url, drive_slug(min(args.sizes)), args, workdir)
                for _ in range(args.rounds)
            ]
        )
    return result


def reports_in_process(database_url: str, sizes: list[int]) -> list[dict]:
    """Each size's drive's press report and St. Louis's monthly report of last month (its
    gifts of every drive), built and rendered in this process: cold, and asked again."""
    from bench.report_render import time_reports
    from relief import create_app

    app = create_app({"DATABASE_URL": database_url})
    try:
        results = time_reports(app, [drive_slug(size) for size in sizes], runs=5)
    finally:
        app.extensions["relief.engine"].dispose()
    for result, size in zip(results, sizes, strict=False):
        result["gifts"] = size
    return results


def _sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(part.replace("_", "").replace(",", "")) for part in text.split()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"sizes are whole numbers, got {text!r}") from None
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError("sizes must be at least 1")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--sizes",
        type=lambda text: _sizes(text.replace(",", " ")),
        default=list(SIZES),
        help="gift counts, e.g. 1000,100000 (default 1000,100000,1000000)",
    )
    parser.add_argument(
        "--backends",
        default="sqlite,postgresql",
        help="sqlite, postgresql or both (default both)",
    )
    parser.add_argument("--duration", type=float, default=2, help="seconds per wrk run (default 2)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rounds of /healthz, page, API per size (the two /healthz legs taking turns to go\n"
        "first), and of each webhook leg; the median counts (default 3)",
    )
    parser.add_argument("--connections", type=int, default=32, help="default 32")
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="gunicorn sync workers (default 2: one per core for CPU-bound load)",
    )
    parser.add_argument(
        "--webhooks",
        choices=["inline", "kept"],
        default="kept",
        help="the servers' RELIEF_WEBHOOKS: kept (the app's default: kept in the answer,\n"
        "recorded in runs by `flask worker --only stripe-events`; events/s then counts until\n"
        "the last one is recorded) or inline (each event recorded in its answer) (default kept)",
    )
    parser.add_argument(
        "--fee-workers",
        type=int,
        default=1,
        help="outbox workers reading fees in the webhook leg with Stripe keys (default 1: the\n"
        "README's one `flask worker` beside the server)",
    )
    parser.add_argument("--wsgi-app", default="app:app", help="what gunicorn serves (app:app)")
    parser.add_argument(
        "--change-counter",
        choices=("on", "off"),
        default="on",
        help="RELIEF_CHANGE_COUNTER (default on: SQLite's shared file, PostgreSQL's\n"
        "LISTEN/NOTIFY; off: every request reads the drive's state from the database)",
    )
    parser.add_argument(
        "--only",
        choices=("webhooks",),
        help="webhooks: only the webhook legs, without and with Stripe keys (no read paths,\n"
        "PDF or CSV; the drives are still seeded)",
    )
    parser.add_argument(
        "--sqlite-file",
        type=Path,
        help="keep the SQLite database here and reuse drives already seeded (faster reruns)",
    )
    parser.add_argument(
        "--write-docs",
        action="store_true",
        help="also write the table into docs/performance.md (between its bench markers)",
    )
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(backends) - {"sqlite", "postgresql"}
    if unknown or not backends:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown)) or '(none)'}")
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed: apt-get install wrk (bash .ci/install does)")

    os.environ.update(SECRET_KEY="relief-benchmark-secret", RELIEF_ENV="development")
    for name in ("STRIPE_SECRET_KEY", "DATABASE_URL"):
        os.environ.pop(name, None)
    sys.path.insert(0, str(ROOT))  # app.py for gunicorn, tests.postgres for PostgreSQL
    load_before = os.getloadavg()
    results = []
    with tempfile.TemporaryDirectory(prefix="relief-bench-") as workdir:
        workdir = Path(workdir)
        if "sqlite" in backends:
            path = args.sqlite_file or workdir / "bench.db"
            results.append(
                measure(
                    "sqlite", sqlite3.sqlite_version, f"sqlite:///{path.resolve()}", args, workdir
                )
            )
        if "postgresql" in backends:
            from tests.postgres import LocalPostgres

            server = LocalPostgres()
            try:
                url = server.start()
                version = scalar(url, "SELECT current_setting('server_version_num')::int")
                version = f"{version // 10000}.{version % 10000}"
                results.append(measure("postgresql", version, url, args, workdir))
            finally:
                server.stop()
    table = report(args, results, load_before)
    print(table, flush=True)
    if args.write_docs:
        write_docs(DOCS, " ".join(["python -m bench", *(argv or sys.argv[1:])]), table)
        print(f"\nWritten into {DOCS.relative_to(ROOT)} (between its bench markers).")
    return 0


DOCS = ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def write_docs(path: Path, command: str, table: str) -> None:
    """Put this run's table in ``path`` between its markers, with the command that made it;
    the prose around it (what the figures mean, what changed) is written by hand."""
    text = path.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{path} has no {BEGIN} … {END} markers to write the table between")
    head, rest = text.split(BEGIN, 1)
    _old, tail = rest.split(END, 1)
    block = f"{BEGIN}\n```\n$ .venv/bin/{command}\n{table.strip()}\n```\n{END}"
    path.write_text(head + block + tail)
