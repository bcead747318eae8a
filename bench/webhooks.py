"""The webhook leg: distinct signed ``checkout.session.completed`` events sent by wrk
(webhooks.lua sends each pre-signed event once), the gifts they recorded counted in the
database, the ledger proved; again with Stripe keys, waiting for every fee to be read."""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, text

from bench.load import Load, wrk
from bench.seed import scalar, verify
from bench.serve import WEBHOOK_SECRET, Server
from tests import stripe_objects as so


def checkout_completed(number: int, run: str, slug: str) -> bytes:
    """A distinct $25.00 ``checkout.session.completed`` event in Stripe's shape (the tests'
    own builder, from Stripe's fixtures), for drive ``slug``."""
    session = so.checkout_session(
        amount_cents=2_500,
        metadata={"drive": slug},
        session_id=f"cs_bench_{run}_{number}",
        payment_intent=f"pi_bench_{run}_{number}",
    )
    event = so.event("checkout.session.completed", session, event_id=f"evt_bench_{run}_{number}")
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
    #: With Stripe keys: CPU milliseconds per gift recorded, of the web workers (answering)
    #: and of the fee workers (reading its fee) — the load of other processes sharing the
    #: machine does not change these as it changes events/s.
    web_cpu_ms: float | None = None
    fee_cpu_ms: float | None = None
    #: With Stripe keys, on PostgreSQL: CPU milliseconds per gift recorded of the database
    #: server's processes (None on SQLite, or when the server is not on this machine).
    server_cpu_ms: float | None = None
    #: With Stripe keys: requests the stand-in for Stripe answered.
    stripe_requests: int = 0
    #: … of which list pages (the rest read one fee each).
    stripe_lists: int = 0
    #: With Stripe keys: the outbox workers that read the fees.
    fee_workers: int = 0
    #: RELIEF_WEBHOOKS=kept: seconds from the last answer until a drainer recorded every
    #: kept event (events/s then counts them: gifts ÷ (load + drain)); None when inline.
    drain_seconds: float | None = None
    #: Events/s of every round of this leg, in the order run (this one is their median).
    rounds: list[float] = field(default_factory=list)


def median_round(rounds: list[Webhooks]) -> Webhooks:
    """The round whose events/s is the median of the rounds' (the lower middle of an even
    count), as one whole round, so its figures agree with each other; it carries every
    round's events/s. A round not measured is returned as it is."""
    for one in rounds:
        if not one.available:
            return one
    middle = sorted(rounds, key=lambda one: one.per_second)[(len(rounds) - 1) // 2]
    middle.rounds = [one.per_second for one in rounds]
    return middle


def _settle(pids: list[int], most_seconds: float = 30) -> None:
    """Wait until these processes are idle (started, polling)."""
    deadline = time.monotonic() + most_seconds
    used = cpu_seconds(pids)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = cpu_seconds(pids)
        if now - used < 0.05:
            return
        used = now


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU these processes have used (Linux's /proc)."""
    total = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int | str) -> list[str] | None:
    """A process's /proc stat fields after its name (0: state, 1: parent, 11 and 12: user
    and system CPU ticks, 13 and 14: those of its children reaped); None once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None


def server_cpu_seconds(database_url: str) -> float | None:
    """CPU used so far by a PostgreSQL server running on this machine: its postmaster,
    the children it reaped and those alive (backends, WAL writer, checkpointer). None for
    SQLite or a server whose data directory this process cannot read."""
    if not database_url.startswith("postgresql"):
        return None
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            data = connection.execute(text("SHOW data_directory")).scalar_one()
    finally:
        engine.dispose()
    try:
        postmaster = (Path(data) / "postmaster.pid").read_text().split()[0]
    except (OSError, IndexError):
        return None
    fields = _stat_fields(postmaster)
    if fields is None:
        return None
    ticks = sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (child := _stat_fields(entry.name)) and child[1] == postmaster:
            ticks += int(child[11]) + int(child[12])  # ppid is field 1 after the name
    return ticks / os.sysconf("SC_CLK_TCK")


def _signed_events(workdir: Path, run: str, slug: str, seconds: float) -> Path:
    """A file of distinct signed events for webhooks.lua: enough for ~4,000/s (wrk stops a
    thread that runs out)."""
    count = int(max(2_000, 4_000 * seconds))
    events = workdir / f"webhooks-{run}.tsv"
    with events.open("w") as out:
        for number in range(1, count + 1):
            payload = checkout_completed(number, run, slug)
            out.write(f"{so.sign(payload, WEBHOOK_SECRET)}\t{payload.decode()}\n")
    return events


@dataclass
class Floor:
    """The bare app's webhook (bench/bare.py): the signature checked and the event kept, in
    one statement, under the same gunicorn line; and the bare ``/healthz`` just before it."""

    available: bool
    note: str = ""
    load: Load | None = None
    kept: int = 0
    per_second: float = 0.0
    bare_healthz: Load | None = None


def create_floor_table(database_url: str) -> None:
    """The floor webhook's table (bench/bare.py), empty (made again by each floor leg)."""
    from bench.bare import FLOOR_TABLE

    engine = create_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text(f"DROP TABLE IF EXISTS {FLOOR_TABLE}"))
            connection.execute(
                text(
                    f"CREATE TABLE {FLOOR_TABLE} (id VARCHAR(255) PRIMARY KEY, "
                    "received_at TIMESTAMP WITH TIME ZONE NOT NULL, payload TEXT NOT NULL)"
                )
            )
    finally:
        engine.dispose()


def measure_floor(
    bare: Server, database_url: str, slug: str, seconds: float, connections: int, workdir: Path
) -> Floor:
    """Load the bare app's webhook with the same kind of distinct signed events as Relief's,
    counting the events its table kept; the bare ``/healthz`` is loaded just before."""
    from bench.bare import FLOOR_TABLE

    run = hashlib.sha256(os.urandom(8)).hexdigest()[:8]
    create_floor_table(database_url)
    bare_healthz = bare.load("/healthz", seconds, connections)
    probe = checkout_completed(0, run, slug)
    headers = {"Stripe-Signature": so.sign(probe, WEBHOOK_SECRET)}
    status, body = bare.post(
        "/stripe/webhook", probe, {"Content-Type": "application/json", **headers}
    )
    if status != 200:
        return Floor(False, f"not measured: the bare webhook answered {status} {body[:200]!r}")
    events = _signed_events(workdir, run, slug, seconds)
    load = wrk(bare.base + "/stripe/webhook", seconds, connections, [str(events), "2"])
    events.unlink()
    kept = scalar(database_url, f"SELECT count(*) FROM {FLOOR_TABLE}") - 1  # less the probe
    return Floor(
        True,
        load=load,
        kept=kept,
        per_second=kept / load.seconds if load.seconds else 0.0,
        bare_healthz=bare_healthz,
    )


def measure_webhooks(
    server: Server,
    database_url: str,
    slug: str,
    seconds: float,
    connections: int,
    workdir: Path,
    with_fees: bool = False,
    kept: bool = False,
) -> Webhooks:
    """``kept``: the server keeps events (RELIEF_WEBHOOKS=kept) and a drainer records them:
    the leg ends when the last kept event is recorded."""
    run = hashlib.sha256(os.urandom(8)).hexdigest()[:8]
    probe = checkout_completed(0, run, slug)
    status, body = server.post(
        "/stripe/webhook",
        probe,
        {"Content-Type": "application/json", "Stripe-Signature": so.sign(probe, WEBHOOK_SECRET)},
    )
    if status == 404:
        return Webhooks(False, "not available (POST /stripe/webhook answers 404)")
    if status >= 300:
        return Webhooks(False, f"not measured: a signed event was answered {status} {body[:200]!r}")
    events = _signed_events(workdir, run, slug, seconds)
    pattern = f"cs_bench_{run}_%"
    before = scalar(
        database_url, "SELECT count(*) FROM gift WHERE stripe_session_id LIKE :p", p=pattern
    )
    load = wrk(server.base + "/stripe/webhook", seconds, connections, [str(events), "2"])
    drain_seconds = _drained(database_url) if kept else None
    after = scalar(
        database_url, "SELECT count(*) FROM gift WHERE stripe_session_id LIKE :p", p=pattern
    )
    events.unlink()
    processed = after - before
    elapsed = load.seconds + (drain_seconds or 0.0)
    hooks = Webhooks(
        True,
        load=load,
        processed=processed,
        per_second=processed / elapsed if elapsed else 0.0,
        drain_seconds=drain_seconds,
    )
    if with_fees:
        # The outbox's workers read each fee after the answer: wait for the last one.
        waited = time.monotonic()
        while True:
            hooks.fees_unread = scalar(
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


def _drained(database_url: str, most_seconds: float = 120) -> float:
    """Seconds until no kept event waits (the drainer recorded them all)."""
    waited = time.monotonic()
    while scalar(database_url, "SELECT count(*) FROM kept_event"):
        if time.monotonic() - waited > most_seconds:
            break
        time.sleep(0.05)
    return time.monotonic() - waited


def drainer(database_url: str, extra_env: dict | None = None):
    """``flask worker --only stripe-events``: records the events a server with
    RELIEF_WEBHOOKS=kept keeps, as the README runs it beside the server."""
    from bench.serve import _environment
    from tests.processes.worker import WorkerProcess

    env = {**_environment(database_url), **(extra_env or {}), **KEPT, "RELIEF_ENV": "test"}
    return WorkerProcess(env, "--only", "stripe-events", "--poll", "0.05")


#: The server's setting when its webhook keeps events for a drainer.
KEPT = {"RELIEF_WEBHOOKS": "kept"}


def measure_webhooks_with_fees(database_url: str, slug: str, args, workdir: Path) -> Webhooks:
    """The webhook leg again with Stripe keys, as in production: each gift's fee job is read
    by outbox workers (``flask worker --only fee``; ``--fee-workers``, one as the README runs
    it) from a local stand-in for Stripe (tests/fake_stripe.py, in this process)."""
    from bench.serve import _environment
    from tests.fake_stripe import FakeStripe
    from tests.processes.worker import WorkerProcess

    stripe = FakeStripe().start()
    stripe.default_fee = 59
    stripe.charges_made, engine = _charges_of_bench_gifts(database_url)
    keys = {"STRIPE_SECRET_KEY": "sk_test_bench", "STRIPE_API_BASE": stripe.url}
    # Beside the server, as in production (they start while gunicorn does; idle, each asks
    # the database once a second whether a job is due).
    env = {**_environment(database_url), **keys, "RELIEF_ENV": "test"}
    workers = [WorkerProcess(env, "--only", "fee", "--poll", "1") for _ in range(args.fee_workers)]
    kept = args.webhooks == "kept"
    drainers = [drainer(database_url, keys)] if kept else []
    server = None
    try:
        server = Server(
            database_url,
            workers=args.workers,
            wsgi_app=args.wsgi_app,
            extra_env={**keys, "RELIEF_WEBHOOKS": args.webhooks},
        )
        # Answering counts the drainer's recording too: it is the webhook's work, moved.
        web_pids = server.worker_pids() + [one.pid for one in drainers]
        fee_pids = [worker.pid for worker in workers]
        for _ in web_pids:  # each web worker's first request imports what it lazily needs
            server.get("/healthz")
        _settle(fee_pids)  # the fee workers have started (imports are not a fee's cost)
        web_before, fee_before = cpu_seconds(web_pids), cpu_seconds(fee_pids)
        server_before = server_cpu_seconds(database_url)
        hooks = measure_webhooks(
            server,
            database_url,
            slug,
            args.duration,
            args.connections,
            workdir,
            with_fees=True,
            kept=kept,
        )
        hooks.fee_workers = len(workers)
        hooks.stripe_requests = len(stripe.requests)
        hooks.stripe_lists = sum(r["path"] == "/v1/balance_transactions" for r in stripe.requests)
        if hooks.processed:
            web_cpu = cpu_seconds(web_pids) - web_before
            hooks.web_cpu_ms = 1000 * web_cpu / hooks.processed
            hooks.fee_cpu_ms = 1000 * (cpu_seconds(fee_pids) - fee_before) / hooks.processed
            server_after = server_cpu_seconds(database_url)
            if server_before is not None and server_after is not None:
                hooks.server_cpu_ms = 1000 * (server_after - server_before) / hooks.processed
        return hooks
    finally:
        if server is not None:
            server.stop()
        for worker in workers + drainers:
            worker.stop()
        stripe.stop()
        engine.dispose()


def _charges_of_bench_gifts(database_url: str):
    """What the stand-in for Stripe lists as the account's card payments (the fee workers ask
    for a hundred at a time): each benchmark gift's, charged a second before its webhook came
    (its fee job's time) — as in Stripe, where the charge precedes its
    ``checkout.session.completed``."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import String, cast, create_engine, literal
    from sqlmodel import Session, col, select

    from relief.models import Gift, Job

    engine = create_engine(database_url)
    charged_before = timedelta(seconds=1)

    def charges_made(gte: int, lte: int) -> list[tuple[str, int]]:
        with Session(engine) as session:
            rows = session.exec(
                select(Gift.stripe_payment_intent_id, Job.created_at)
                .join(Job, col(Job.key) == literal("fee:gift:") + cast(col(Gift.id), String))
                .where(
                    col(Gift.stripe_payment_intent_id).like("pi_bench_%"),
                    col(Job.created_at) >= datetime.fromtimestamp(gte, UTC) + charged_before,
                    col(Job.created_at) <= datetime.fromtimestamp(lte, UTC) + charged_before,
                )
            ).all()
        return [
            (intent, int((webhook_at - charged_before).timestamp()))
            for intent, webhook_at in rows
            if intent is not None
        ]

    return charges_made, engine
