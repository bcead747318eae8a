"""The benchmark: seed drives, serve them as in production, load them with wrk, print ratios.

    .venv/bin/python -m bench                  # N = 1,000, 100,000, 1,000,000; SQLite, PostgreSQL
    .venv/bin/python -m bench --sizes 1000 --rounds 1 --backends sqlite     # a quick look

For each database it seeds one drive per N (``demo.add_gifts``: bulk, through the ledger),
starts gunicorn with 2 sync workers (``--workers``) on loopback (RELIEF_ENV=development, test
mode), and runs
wrk from this second process against ``/healthz``, each drive's page and its API. Machines
like this one are noisy and shared, so every figure that matters is a ratio taken within the
same run: a page's requests/s over ``/healthz`` requests/s on the same server and
concurrency, measured back to back in ``--rounds`` rounds (healthz, page, API), and the
median of the rounds' ratios reported; the spread of ``/healthz`` is the noise. Signed
Stripe webhooks, the press PDF and the CSV export are measured when their routes exist, and
reported "not available" otherwise. Only 127.0.0.1 is ever loaded.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
SIZES = (1_000, 100_000, 1_000_000)
WEBHOOK_SECRET = "whsec_relief_benchmark"  # noqa: S105 — a local test secret, not a credential
TARGET_RATIO = 0.70
TARGET_FLAT = 0.90
TARGET_P99_MS = 50.0
TARGET_WEBHOOKS = 500


def drive_slug(size: int) -> str:
    return f"bench-{size}"


# --- wrk ------------------------------------------------------------------------------------


@dataclass
class Load:
    """One wrk run."""

    requests: int = 0
    seconds: float = 0.0
    per_second: float = 0.0
    p50_ms: float | None = None
    p99_ms: float | None = None
    failed: int = 0  # non-2xx/3xx answers and socket errors
    output: str = ""


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * _UNITS_MS[unit]


def wrk(url: str, seconds: float, connections: int, script_args: list[str] | None = None) -> Load:
    command = [
        "wrk",
        "-t2",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "--latency",
    ]
    if script_args:
        command += ["-s", str(BENCH / "webhooks.lua"), url, "--", *script_args]
    else:
        command.append(url)
    output = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 60, check=True
    ).stdout
    load = Load(output=output)
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", output)
    load.requests = int(done.group(1))
    load.seconds = _ms(done.group(2) + done.group(3)) / 1000
    load.per_second = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    for percent, attribute in (("50", "p50_ms"), ("99", "p99_ms")):
        found = re.search(rf"^\s+{percent}%\s+(\S+)", output, re.MULTILINE)
        if found:
            setattr(load, attribute, _ms(found.group(1)))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    load.failed = (int(non_2xx.group(1)) if non_2xx else 0) + (
        sum(int(n) for n in errors.groups()) if errors else 0
    )
    return load


# --- the app under test ---------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _environment(database_url: str, change_counter: str = "") -> dict:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("STRIPE_", "DATABASE_", "RELIEF_"))
    }
    env.update(
        DATABASE_URL=database_url,
        RELIEF_ENV="development",
        SECRET_KEY="relief-benchmark-secret",
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
    )
    if change_counter:
        env["RELIEF_CHANGE_COUNTER"] = change_counter
    return env


class Server:
    """gunicorn as in production (sync workers), here on a loopback port."""

    def __init__(
        self,
        database_url: str,
        workers: int = 2,
        wsgi_app: str = "app:app",
        change_counter: str = "",
        extra_env: dict | None = None,
    ):
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="relief-bench-gunicorn-", suffix=".log")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--workers",
                str(workers),
                "--worker-class",
                "sync",
                "--bind",
                f"127.0.0.1:{self.port}",
                wsgi_app,
            ],
            cwd=ROOT,
            env={**_environment(database_url, change_counter), **(extra_env or {})},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{Path(self.log.name).read_text()[-3000:]}")
            try:
                if self.get("/healthz")[0] == 200:
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("gunicorn did not answer /healthz within 60 s")

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.base + path, timeout=60) as response:  # noqa: S310
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def post(self, path: str, body: bytes, headers: dict) -> tuple[int, bytes]:
        request = urllib.request.Request(self.base + path, data=body, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def load(self, path: str, seconds: float, connections: int) -> Load:
        """wrk on ``path``, once the workers have drained what the last run left queued."""
        self.get("/healthz")
        return wrk(self.base + path, seconds, connections)

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def _status_kib(pid: int, field_name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    return 0


# --- seeding --------------------------------------------------------------------------------


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
                with db.unit_of_work() as session:
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


def _count(database_url: str, sql: str, **params) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return connection.execute(text(sql), params).scalar_one()
    finally:
        engine.dispose()


def verify(database_url: str, slug: str) -> list[str]:
    from relief import create_app, db, drives, ledger

    app = create_app({"DATABASE_URL": database_url})
    try:
        with app.app_context(), db.unit_of_work(write=False) as session:
            return ledger.verify(session, drives.get_drive(session, slug))
    finally:
        app.extensions["relief.engine"].dispose()


# --- webhooks -------------------------------------------------------------------------------


def signed(payload: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """The Stripe-Signature header Stripe would send with this payload."""
    timestamp = timestamp or int(time.time())
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def checkout_completed(number: int, run: str, slug: str) -> bytes:
    """A distinct ``checkout.session.completed`` event in Stripe's shape, for drive ``slug``."""
    event = json.loads((BENCH / "fixtures" / "checkout_session_completed.json").read_text())[
        "event"
    ]
    session = event["data"]["object"]
    now = int(time.time())
    session.update(
        id=f"cs_bench_{run}_{number}",
        payment_intent=f"pi_bench_{run}_{number}",
        metadata={"drive": slug},
        created=now,
        expires_at=now + 86400,
        url=None,
    )
    event.update(id=f"evt_bench_{run}_{number}", created=now)
    return json.dumps(event, separators=(",", ":")).encode()


@dataclass
class Webhooks:
    available: bool
    note: str = ""
    load: Load | None = None
    processed: int = 0
    per_second: float = 0.0
    exact: list[str] | None = None
    #: With Stripe keys: seconds from the last answer until every fee was read, and how many
    #: were still unread when the wait gave up.
    fees_seconds: float | None = None
    fees_unread: int = 0


def measure_webhooks(
    server: Server,
    database_url: str,
    slug: str,
    seconds: float,
    connections: int,
    workdir: Path,
    with_fees: bool = False,
) -> Webhooks:
    run = hashlib.sha256(os.urandom(8)).hexdigest()[:8]
    probe = checkout_completed(0, run, slug)
    status, body = server.post(
        "/stripe/webhook",
        probe,
        {"Content-Type": "application/json", "Stripe-Signature": signed(probe)},
    )
    if status == 404:
        return Webhooks(False, "not available (POST /stripe/webhook answers 404)")
    if status >= 300:
        return Webhooks(False, f"not measured: a signed event was answered {status} {body[:200]!r}")
    # Enough distinct events for ~4,000/s; wrk stops a thread that runs out.
    count = int(max(2_000, 4_000 * seconds))
    events = workdir / f"webhooks-{run}.tsv"
    with events.open("w") as out:
        for number in range(1, count + 1):
            payload = checkout_completed(number, run, slug)
            out.write(f"{signed(payload)}\t{payload.decode()}\n")
    pattern = f"cs_bench_{run}_%"
    before = _count(
        database_url, "SELECT count(*) FROM gift WHERE stripe_session_id LIKE :p", p=pattern
    )
    load = wrk(server.base + "/stripe/webhook", seconds, connections, [str(events), "2"])
    after = _count(
        database_url, "SELECT count(*) FROM gift WHERE stripe_session_id LIKE :p", p=pattern
    )
    events.unlink()
    processed = after - before
    hooks = Webhooks(
        True,
        load=load,
        processed=processed,
        per_second=processed / load.seconds if load.seconds else 0.0,
    )
    if with_fees:
        # The fee reader's threads read each fee after the answer: wait for the last one.
        waited = time.monotonic()
        while True:
            hooks.fees_unread = _count(
                database_url,
                "SELECT count(*) FROM gift WHERE stripe_session_id LIKE :p AND fee_pending",
                p=pattern,
            )
            if not hooks.fees_unread or time.monotonic() - waited > 120:
                break
            time.sleep(0.2)
        hooks.fees_seconds = time.monotonic() - waited
    hooks.exact = verify(database_url, slug)
    return hooks


def measure_webhooks_with_fees(database_url: str, slug: str, args, workdir: Path) -> Webhooks:
    """The webhook leg again with Stripe keys, as in production: each worker's fee reader asks
    a local stand-in for Stripe (tests/fake_stripe.py, in this process) for every fee."""
    from tests.fake_stripe import FakeStripe

    stripe = FakeStripe().start()
    stripe.default_fee = 59
    server = Server(
        database_url,
        workers=args.workers,
        wsgi_app=args.wsgi_app,
        extra_env={"STRIPE_SECRET_KEY": "sk_test_bench", "STRIPE_API_BASE": stripe.url},
    )
    try:
        return measure_webhooks(
            server, database_url, slug, args.duration, args.connections, workdir, with_fees=True
        )
    finally:
        server.stop()
        stripe.stop()


# --- reports and exports --------------------------------------------------------------------


def _fill(rule: str, slug: str) -> str:
    path = re.sub(r"<(?:[^:>]+:)?(slug|drive|drive_slug)>", slug, rule)
    return re.sub(r"<(?:[^:>]+:)?[^>]+>", "st-louis", path)


def measure_pdf(server: Server, rules: list[str], sizes: list[int]) -> str:
    rule = next((r for r in rules if r.endswith("report.pdf")), None)
    if rule is None:
        return "not available (no /drives/<slug>/report.pdf route)"
    timings = {}
    for size in (s for s in (1_000, 100_000) if s in sizes):
        url = _fill(rule, drive_slug(size))
        samples = []
        for _ in range(3):
            started = time.perf_counter()
            status, body = server.get(url)
            samples.append(time.perf_counter() - started)
            if status != 200:
                return f"not measured: {url} answered {status}"
        timings[size] = statistics.median(samples)
    parts = [f"{size:,} gifts {seconds:.2f} s" for size, seconds in timings.items()]
    if len(timings) == 2:
        ratio = timings[100_000] / timings[1_000]
        parts.append(
            f"100,000 ÷ 1,000 = {ratio:.2f} {_mark(ratio <= 1.2)} (target ≤ 1.2, and < 1 s "
            f"{_mark(max(timings.values()) < 1)})"
        )
    return "; ".join(parts)


BENCH_ADMIN = ("bench-admin@example.org", "bench-admin-password-123")


def _admin_opener(server: Server, database_url: str):
    """A urllib opener signed in as a coalition admin (created in the benchmark's database)."""
    import http.cookiejar

    from relief import auth, create_app, db

    app = create_app({"DATABASE_URL": database_url})
    with app.app_context(), db.unit_of_work() as session:
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
    rule = next((r for r in rules if r.endswith("ledger.csv")), None)
    if rule is None:
        return "not available (no …/ledger.csv route)"
    size = max(sizes)
    opener = _admin_opener(server, database_url)
    drive_id = _count(
        database_url, "SELECT id FROM drive WHERE slug = :slug", slug=drive_slug(size)
    )
    url = server.base + _fill(rule, drive_slug(size)) + f"?drive={drive_id}"
    pids = server.worker_pids()
    for pid in pids:  # reset each worker's peak RSS, so the peak below is this export's
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    resident = {pid: _status_kib(pid, "VmRSS") for pid in pids}
    started = time.perf_counter()
    with opener.open(url, timeout=600) as response:
        kind = response.headers.get("Content-Type", "")
        rows = -1
        for _line in response:
            rows += 1
    seconds = time.perf_counter() - started
    if not kind.startswith("text/csv"):
        return f"not measured: {url} answered {kind}, not a CSV"
    growth_mb = max(_status_kib(pid, "VmHWM") - resident[pid] for pid in pids) / 1024
    return (
        f"{rows:,} rows (one chapter of the {size:,}-gift drive) in {seconds:.2f} s = "
        f"{rows / seconds:,.0f} rows/s; peak worker memory growth {growth_mb:.1f} MB "
        f"{_mark(growth_mb < 50)} (target < 50 MB)"
    )


# --- one database ---------------------------------------------------------------------------


@dataclass
class Round:
    """/healthz, a drive's page and its API, loaded one after the other."""

    healthz: Load
    page: Load
    api: Load


@dataclass
class Result:
    backend: str
    version: str
    seeding: dict[int, float | None]
    rounds: dict[int, list[Round]] = field(default_factory=dict)
    webhooks: Webhooks | None = None
    webhooks_with_fees: Webhooks | None = None
    pdf: str = ""
    csv: str = ""

    def median(self, size: int, figure) -> float:
        return statistics.median(figure(r) for r in self.rounds[size])

    def page_ratio(self, size: int) -> float:
        return self.median(size, lambda r: r.page.per_second / max(r.healthz.per_second, 1e-9))

    def api_ratio(self, size: int) -> float:
        return self.median(size, lambda r: r.api.per_second / max(r.healthz.per_second, 1e-9))


def measure(backend: str, version: str, database_url: str, args, workdir: Path) -> Result:
    print(f"[{backend}] seeding {', '.join(f'{n:,}' for n in args.sizes)} gifts…", flush=True)
    seeding, rules = seed(database_url, args.sizes)
    result = Result(backend, version, seeding)
    counter = str(workdir / f"{backend}.changes") if args.change_counter == "on" else ""
    server = Server(
        database_url, workers=args.workers, wsgi_app=args.wsgi_app, change_counter=counter
    )
    try:
        for size in args.sizes:  # one request each, so the workers have imported everything
            for path in (f"/drives/{drive_slug(size)}", f"/api/drives/{drive_slug(size)}"):
                status, _body = server.get(path)
                if status != 200:
                    raise RuntimeError(f"{path} answered {status}")
        print(f"[{backend}] loading http://127.0.0.1:{server.port} with wrk…", flush=True)
        for size in args.sizes:
            slug = drive_slug(size)
            result.rounds[size] = [
                Round(
                    healthz=server.load("/healthz", args.duration, args.connections),
                    page=server.load(f"/drives/{slug}", args.duration, args.connections),
                    api=server.load(f"/api/drives/{slug}", args.duration, args.connections),
                )
                for _ in range(args.rounds)
            ]
        result.webhooks = measure_webhooks(
            server,
            database_url,
            drive_slug(min(args.sizes)),
            args.duration,
            args.connections,
            workdir,
        )
        result.pdf = measure_pdf(server, rules, args.sizes)
        result.csv = measure_csv(server, database_url, rules, args.sizes)
    finally:
        server.stop()
    if result.webhooks.available:
        print(f"[{backend}] webhooks with Stripe keys…", flush=True)
        result.webhooks_with_fees = measure_webhooks_with_fees(
            database_url, drive_slug(min(args.sizes)), args, workdir
        )
    return result


# --- the report -----------------------------------------------------------------------------


def _mark(ok: bool) -> str:
    return "✓" if ok else "✗"


def _machine(args, results: list[Result], load_before: tuple) -> list[str]:
    memory_kib = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    gunicorn = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--version"], capture_output=True, text=True
    ).stdout.strip()
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    wrk_version = (wrk_version.stdout or wrk_version.stderr).split(" [")[0]
    versions = " · ".join(f"{r.backend} {r.version}" for r in results)
    return [
        f"Machine: {os.cpu_count()} CPUs, {memory_kib / 1024 / 1024:.1f} GiB, "
        f"{platform.platform()}; Python {platform.python_version()}; {gunicorn} "
        f"({args.workers} sync workers); {wrk_version}; {versions}",
        f"Change counter (RELIEF_CHANGE_COUNTER): {args.change_counter}"
        + (
            " (one machine: a cached answer reads the drive's state only after a commit)"
            if args.change_counter == "on"
            else " (every cached answer reads the drive's state from the database)"
        ),
        f"Load: wrk -t2 -c{args.connections} -d{args.duration:g}s per run, from a second "
        f"process on 127.0.0.1; load average {' '.join(f'{x:.2f}' for x in load_before)} before, "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} after",
    ]


def report(args, results: list[Result], load_before: tuple) -> str:
    lines = ["", "Relief benchmark", "================"]
    lines += _machine(args, results, load_before)
    lines += ["", "Seeding: flask demo --gifts N (bulk, through the ledger)"]
    lines.append(f"{'database':<11}{'gifts':>11}{'seconds':>10}{'gifts/s':>11}")
    for result in results:
        for size, seconds in result.seeding.items():
            if seconds is None:
                lines.append(f"{result.backend:<11}{size:>11,}{'(reused)':>10}")
            else:
                lines.append(
                    f"{result.backend:<11}{size:>11,}{seconds:>10.1f}{size / seconds:>11,.0f}"
                )

    lines += [
        "",
        f"Read paths at {args.connections} connections, median of {args.rounds} rounds of "
        f"/healthz, page, API back to back: requests/s, and ÷ /healthz requests/s of the same "
        f"round (target ≥ {TARGET_RATIO}); drive page latency (target p99 < {TARGET_P99_MS:g} ms)",
    ]
    header = (
        f"{'database':<11}{'gifts':>11}{'healthz/s':>11}{'page/s':>9}{'page÷hz':>10}"
        f"{'API/s':>9}{'API÷hz':>9}{'p50 ms':>9}{'p99 ms':>9}{'failed':>8}"
    )
    lines.append(header)
    for result in results:
        for size in args.sizes:
            page_ratio, api_ratio = result.page_ratio(size), result.api_ratio(size)
            p99 = result.median(size, lambda r: r.page.p99_ms)
            failed = sum(r.page.failed + r.api.failed for r in result.rounds[size])
            lines.append(
                f"{result.backend:<11}{size:>11,}"
                f"{result.median(size, lambda r: r.healthz.per_second):>11,.0f}"
                f"{result.median(size, lambda r: r.page.per_second):>9,.0f}"
                f"{page_ratio:>8.2f} {_mark(page_ratio >= TARGET_RATIO)}"
                f"{result.median(size, lambda r: r.api.per_second):>9,.0f}"
                f"{api_ratio:>7.2f} {_mark(api_ratio >= TARGET_RATIO)}"
                f"{result.median(size, lambda r: r.page.p50_ms):>9.2f}"
                f"{p99:>7.1f} {_mark(p99 < TARGET_P99_MS)}{failed:>8}"
            )
    lines.append("")
    for result in results:
        healthz = [r.healthz.per_second for rounds in result.rounds.values() for r in rounds]
        note = (
            f"{result.backend}: /healthz {min(healthz):,.0f}–{max(healthz):,.0f} r/s over the "
            f"run (noise ±{(max(healthz) - min(healthz)) / (max(healthz) + min(healthz)):.0%})"
        )
        if len(args.sizes) > 1:
            small, large = min(args.sizes), max(args.sizes)
            page_flat = result.page_ratio(large) / result.page_ratio(small)
            api_flat = result.api_ratio(large) / result.api_ratio(small)
            note += (
                f"; ratio at {large:,} ÷ at {small:,} gifts: page {page_flat:.2f} "
                f"{_mark(page_flat >= TARGET_FLAT)}, API {api_flat:.2f} "
                f"{_mark(api_flat >= TARGET_FLAT)} (target ≥ {TARGET_FLAT})"
            )
        lines.append(note)

    lines += [
        "",
        f"Signed Stripe webhooks (distinct checkout.session.completed events, {args.connections} "
        f"connections; target ≥ {TARGET_WEBHOOKS}/s)",
    ]
    for result in results:
        hooks = result.webhooks
        if hooks is None or not hooks.available:
            lines.append(f"{result.backend:<11}{hooks.note if hooks else 'not measured'}")
            continue
        lines.append(
            f"{result.backend:<11}{hooks.per_second:,.0f} events/s "
            f"{_mark(hooks.per_second >= TARGET_WEBHOOKS)} ({hooks.processed:,} gifts recorded "
            f"from {hooks.load.requests:,} requests in {hooks.load.seconds:.1f} s, "
            f"{hooks.load.failed} failed; ledger "
            f"{'exact' if not hooks.exact else '; '.join(hooks.exact)})"
        )
        keyed = result.webhooks_with_fees
        if keyed is not None and keyed.available:
            fees = (
                f"every fee read {keyed.fees_seconds:.1f} s after the last answer"
                if not keyed.fees_unread
                else f"{keyed.fees_unread:,} fees still unread after {keyed.fees_seconds:.0f} s"
            )
            lines.append(
                f"{'':<11}with Stripe keys, fees read by the workers' fee readers from a local "
                f"stand-in for Stripe: {keyed.per_second:,.0f} events/s "
                f"{_mark(keyed.per_second >= TARGET_WEBHOOKS)} ({keyed.processed:,} gifts, "
                f"{keyed.load.failed} failed; {fees}; ledger "
                f"{'exact' if not keyed.exact else '; '.join(keyed.exact)})"
            )
    lines += ["", "Press PDF render time (target < 1 s; at 100,000 gifts ≤ 1.2 × at 1,000)"]
    lines += [f"{result.backend:<11}{result.pdf}" for result in results]
    lines += ["", "CSV export (rows/s; worker memory growth < 50 MB at 100,000 rows)"]
    lines += [f"{result.backend:<11}{result.csv}" for result in results]
    return "\n".join(lines)


# --- entry point ----------------------------------------------------------------------------


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
        help="rounds of /healthz, page, API per size; the median ratio counts (default 3)",
    )
    parser.add_argument("--connections", type=int, default=32, help="default 32")
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="gunicorn sync workers (default 2: one per core for CPU-bound load)",
    )
    parser.add_argument("--wsgi-app", default="app:app", help="what gunicorn serves (app:app)")
    parser.add_argument(
        "--change-counter",
        choices=("on", "off"),
        default="on",
        help="RELIEF_CHANGE_COUNTER, as on one machine (default on; off: every request\n"
        "reads the drive's state from the database, as with app servers on several machines)",
    )
    parser.add_argument(
        "--sqlite-file",
        type=Path,
        help="keep the SQLite database here and reuse drives already seeded (faster reruns)",
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
                version = _count(url, "SELECT current_setting('server_version_num')::int")
                version = f"{version // 10000}.{version % 10000}"
                results.append(measure("postgresql", version, url, args, workdir))
            finally:
                server.stop()
    print(report(args, results, load_before), flush=True)
    return 0
