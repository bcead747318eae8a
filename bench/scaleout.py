"""Two app instances against one PostgreSQL, written to concurrently: totals stay exact and
both instances show every gift at once.

    .venv/bin/python -m bench.scaleout [--writers 4] [--gifts 400] [--duration 5]

Starts a throwaway PostgreSQL (tests/postgres.py), seeds a drive with 1,000 gifts, and runs
two gunicorn instances (2 sync workers each, two ports) on it. Then, at the same time:
``--writers`` processes record ``--gifts`` cash and check gifts each through the service
(what ``flask gift add`` does, one unit of work per gift); wrk loads instance A's drive page
and instance B's API; and, when POST /stripe/webhook exists, signed Stripe events go to A
and B alternately. Afterwards both instances must report the ledger's own figures and
fingerprint, one more gift must show on both at once, and ``ledger.verify`` must be exact.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.load import Load, wrk
from bench.report_table import mark
from bench.seed import drive_slug, seed
from bench.serve import WEBHOOK_SECRET, Server
from bench.webhooks import checkout_completed
from tests import stripe_objects as so

ROOT = Path(__file__).resolve().parent.parent


def _writer(database_url: str, slug: str, count: int, seed: int) -> int:
    import random

    from relief import boundary, create_app, drives
    from relief.models import GiftMethod

    rng = random.Random(seed)
    app = create_app({"DATABASE_URL": database_url})
    with app.app_context():
        for number in range(count):
            with boundary.command() as session:
                drive = drives.get_drive(session, slug)
                chapter = drives.chapter_in_drive(
                    session, drive, rng.choice(("mid-missouri", "st-louis", "kansas-city"))
                )
                drives.record_offline_gift(
                    session,
                    drive,
                    rng.choice((500, 1000, 2500, 5000)),
                    method=rng.choice((GiftMethod.CASH, GiftMethod.CHECK)),
                    chapter=chapter,
                    donor_name=f"Writer {seed} gift {number}",
                    show_name=True,
                )
    app.extensions["relief.engine"].dispose()
    return count


def _api(server: Server, slug: str) -> dict:
    status, body = server.get(f"/api/drives/{slug}")
    if status != 200:
        raise RuntimeError(f"instance on port {server.port} answered {status}")
    return json.loads(body)


def _ledger(database_url: str, slug: str):
    from relief import boundary, create_app, drives, ledger

    app = create_app({"DATABASE_URL": database_url})
    try:
        with app.app_context(), boundary.command(write=False) as session:
            drive = drives.get_drive(session, slug)
            return ledger.totals(session, drive), ledger.verify(session, drive)
    finally:
        app.extensions["relief.engine"].dispose()


def _webhooks(servers: list[Server], slug: str, count: int) -> tuple[int, int]:
    """Post ``count`` distinct signed events, alternating between the instances; (sent, 2xx)."""
    tag = os.urandom(4).hex()
    probe = checkout_completed(0, tag, slug)
    status, _ = servers[0].post(
        "/stripe/webhook",
        probe,
        so.webhook_headers(probe, WEBHOOK_SECRET),
    )
    if status == 404:
        return 0, 0
    if not 200 <= status < 300:
        raise RuntimeError(f"a signed event was answered {status}")

    def send(number: int) -> bool:
        payload = checkout_completed(number, tag, slug)
        answer, _ = servers[number % 2].post(
            "/stripe/webhook",
            payload,
            so.webhook_headers(payload, WEBHOOK_SECRET),
        )
        return 200 <= answer < 300

    with ThreadPoolExecutor(16) as pool:
        accepted = sum(pool.map(send, range(1, count + 1)))
    return count, accepted + 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scaleout", description=__doc__)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--gifts", type=int, default=400, help="gifts per writer")
    parser.add_argument("--webhooks", type=int, default=1000, help="signed events, if available")
    parser.add_argument("--duration", type=float, default=5, help="seconds of wrk read load")
    parser.add_argument("--wsgi-app", default="app:app", help="what gunicorn serves (app:app)")
    args = parser.parse_args(argv)
    os.environ.update(SECRET_KEY="relief-benchmark-secret", RELIEF_ENV="development")
    sys.path.insert(0, str(ROOT))
    from tests.postgres import LocalPostgres

    postgres = LocalPostgres()
    servers: list[Server] = []
    try:
        url = postgres.start()
        slug = drive_slug(1_000)
        seed(url, [1_000])
        # Each event recorded in its answer (no drainer runs here): the figures read after
        # the load must already hold every gift the webhooks accepted.
        inline = {"RELIEF_WEBHOOKS": "inline"}
        servers = [Server(url, wsgi_app=args.wsgi_app, extra_env=inline) for _ in range(2)]
        a, b = servers
        for server in servers:  # warm each instance's cache
            _api(server, slug)
            server.get(f"/drives/{slug}")
        print(f"instances on ports {a.port} and {b.port}; writing…", flush=True)

        loads: dict[str, Load] = {}

        def load(name: str, target: str) -> None:
            loads[name] = wrk(target, args.duration, 16)

        readers = [
            threading.Thread(target=load, args=("A page", f"{a.base}/drives/{slug}")),
            threading.Thread(target=load, args=("B API", f"{b.base}/api/drives/{slug}")),
        ]
        started = time.perf_counter()
        for reader in readers:
            reader.start()
        context = multiprocessing.get_context("spawn")
        with context.Pool(args.writers) as pool:
            pending = pool.starmap_async(
                _writer, [(url, slug, args.gifts, seed) for seed in range(args.writers)]
            )
            sent, accepted = _webhooks(servers, slug, args.webhooks)
            written = sum(pending.get(timeout=600))
        writing = time.perf_counter() - started
        for reader in readers:
            reader.join()

        totals, problems = _ledger(url, slug)
        answers = [_api(server, slug) for server in servers]
        # One more gift, then both instances at once: no instance may show the books before it.
        _writer(url, slug, 1, 99)
        after, _ = _ledger(url, slug)
        at_once = [_api(server, slug) for server in servers]

        expected_gifts = 1_000 + written + 1 + accepted
        checks = {
            "both instances show the ledger's figures and fingerprint": all(
                answer["raised_cents"] == totals.raised_cents
                and answer["entry_count"] == totals.entry_count
                and answer["fingerprint"] == totals.fingerprint
                for answer in answers
            ),
            "a gift written afterwards shows on both instances at once": all(
                answer["entry_count"] == after.entry_count
                and answer["fingerprint"] == after.fingerprint
                for answer in at_once
            ),
            f"every gift counted ({expected_gifts:,})": after.figures.gift_count == expected_gifts,
            "ledger verify: running totals equal a replay of the entries": not problems,
        }
        print("\nScale-out check: two app instances, one PostgreSQL")
        print(
            f"{args.writers} writer processes × {args.gifts} offline gifts = {written:,} gifts "
            f"in {writing:.1f} s, while wrk read A's page "
            f"({loads['A page'].per_second:,.0f} r/s, {loads['A page'].failed} failed) and B's "
            f"API ({loads['B API'].per_second:,.0f} r/s, {loads['B API'].failed} failed)"
        )
        print(
            f"signed webhooks to A and B alternately: {accepted:,} accepted of {sent + 1:,}"
            if sent
            else "signed webhooks: not available (POST /stripe/webhook answers 404)"
        )
        for check, ok in checks.items():
            print(f"  {mark(ok)} {check}")
        if problems:
            print("  " + "; ".join(problems))
        return 0 if all(checks.values()) else 1
    finally:
        for server in servers:
            server.stop()
        postgres.stop()


if __name__ == "__main__":
    sys.exit(main())
