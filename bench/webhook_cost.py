"""What recording one Stripe gift costs the app, in-process: CPU milliseconds and SQL
statements per signed ``checkout.session.completed`` event, through the Flask test client (no
server, no network). The events are built and signed before the clock starts.

    .venv/bin/python -m bench.webhook_cost [--backend sqlite|postgresql] [--events 2000]
        [--trace] [--floor] [--kept] [--units N [--bulk]]

``--trace`` prints the statements of one event. ``--floor`` measures the bare app's floor
webhook instead (``bench/bare.py``: the signature checked, the event kept, no gift). The
test client and this loop cost about 0.7 ms of the figure (docs/performance.md, change 22).
``--kept`` answers with RELIEF_WEBHOOKS=kept (the event kept), then records the kept events
as the worker does and gives that CPU apart. ``--units N`` skips the web request: today's
``webhooks.process`` records the events in units of work of N events each (one commit per
N, a savepoint per event), as a drainer of kept events would with today's code
(docs/performance.md, session 22). ``--bulk`` records each unit with ``batch.process_all``
instead: its paid sessions in a few bulk statements (relief/payments/batch.py, session 23).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from bench.seed import database


def _app(database_url: str, workdir: Path, webhooks: str = "inline"):
    """Relief as the benchmark serves it, with the benchmark's webhook secret."""
    from bench.serve import WEBHOOK_SECRET
    from relief import create_app

    return create_app(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "k",
            "RELIEF_ENV": "development",
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "CHANGE_COUNTER": str(workdir / "c"),
            "RELIEF_WEBHOOKS": webhooks,
        }
    )


def measure(
    database_url: str,
    workdir: Path,
    events: int,
    trace: bool = False,
    floor: bool = False,
    kept: bool = False,
) -> dict:
    """CPU per event answered (``kept``: kept, then recorded by the drainer, its CPU given
    apart as ``drain_ms``) and statements per event."""
    from sqlalchemy import event as sql_event

    from bench.seed import drive_slug, seed
    from bench.serve import WEBHOOK_SECRET
    from bench.webhooks import checkout_completed, create_floor_table
    from tests.stripe_objects import webhook_headers

    seed(database_url, [1000])
    if floor:
        create_floor_table(database_url)
        os.environ.update(DATABASE_URL=database_url, STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET)
        from bench import bare

        app, engine = bare.app, bare.database()
    else:
        app = _app(database_url, workdir, "kept" if kept else "inline")
        engine = app.extensions["relief.engine"]
    run = f"{time.time_ns():x}"
    slug = drive_slug(1000)
    signed = []
    for number in range(events + 50):
        payload = checkout_completed(number, run, slug)
        signed.append((payload, webhook_headers(payload, WEBHOOK_SECRET)))
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_rest):
        statements.append(statement)

    client = app.test_client()
    try:
        for payload, headers in signed[:50]:  # warm: statement caches, connections
            client.post("/stripe/webhook", data=payload, headers=headers)
        sql_event.listen(engine, "before_cursor_execute", count)
        if trace:
            payload, headers = signed[50]
            client.post("/stripe/webhook", data=payload, headers=headers)
            for statement in statements:
                print(" ".join(statement.split())[:160])
            del signed[50]
            statements.clear()
        started = time.process_time()
        for payload, headers in signed[50 : 50 + events]:
            answer = client.post("/stripe/webhook", data=payload, headers=headers)
            assert answer.status_code == 200, answer
            assert floor or kept or "paid" in answer.get_data(as_text=True), answer
        seconds = time.process_time() - started
        sql_event.remove(engine, "before_cursor_execute", count)
        done = len(signed[50 : 50 + events])
        drain_ms = _drain(app, done) if kept else None
    finally:
        engine.dispose()
    return {
        "cpu_ms": seconds * 1000 / done,
        "statements": len(statements) / done,
        "n": done,
        "drain_ms": drain_ms,
    }


def _drain(app, done: int) -> float:
    """CPU milliseconds per event of recording what the answers kept, as the worker does."""
    from sqlmodel import Session, func, select

    from relief.models import Gift, KeptEvent
    from relief.payments import drain

    with app.app_context():
        started = time.process_time()
        while drain.drain_once():
            pass
        seconds = time.process_time() - started
    with Session(app.extensions["relief.engine"]) as session:
        assert session.exec(select(func.count()).select_from(KeptEvent)).one() == 0
        assert session.exec(select(func.count()).select_from(Gift)).one() >= done
    return seconds * 1000 / done


def measure_units(
    database_url: str, workdir: Path, events: int, size: int, bulk: bool = False
) -> dict:
    """CPU per event of recording signed events with ``webhooks.process`` (``bulk``:
    ``batch.process_all``) in units of ``size`` events, in-process and without a request;
    and the statements per event."""
    import json

    from sqlalchemy import event as sql_event

    from bench.seed import drive_slug, seed
    from bench.webhooks import checkout_completed
    from relief import boundary
    from relief.payments import batch, webhooks

    seed(database_url, [1000])
    app = _app(database_url, workdir)
    run = f"{time.time_ns():x}"
    bodies = [checkout_completed(number, run, drive_slug(1000)) for number in range(events + 50)]

    def record(unit: list[bytes]) -> None:
        with boundary.command() as session:
            if bulk:
                outcomes = batch.process_all(session, [(json.loads(body), body) for body in unit])
            else:
                outcomes = [webhooks.process(session, json.loads(body), body) for body in unit]
        for outcome in outcomes:
            assert "paid" in " ".join(outcome.messages), outcome

    engine = app.extensions["relief.engine"]
    statements = 0

    def count(*_args) -> None:
        nonlocal statements
        statements += 1

    try:
        with app.app_context():
            record(bodies[:50])  # warm: statement caches, connections
            sql_event.listen(engine, "before_cursor_execute", count)
            started = time.process_time()
            for first in range(50, 50 + events, size):
                record(bodies[first : min(first + size, 50 + events)])
            seconds = time.process_time() - started
            sql_event.remove(engine, "before_cursor_execute", count)
    finally:
        engine.dispose()
    return {"cpu_ms": seconds * 1000 / events, "statements": statements / events, "n": events}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--trace", action="store_true")
    parser.add_argument("--floor", action="store_true")
    parser.add_argument(
        "--kept", action="store_true", help="RELIEF_WEBHOOKS=kept: answer, then drain"
    )
    parser.add_argument("--units", type=int, metavar="N", help="record in units of N events")
    parser.add_argument(
        "--bulk", action="store_true", help="with --units: record each unit in bulk"
    )
    arguments = parser.parse_args(argv)
    if arguments.units:
        with database(arguments.backend, "relief-webhook-cost-") as (url, workdir):
            result = measure_units(url, workdir, arguments.events, arguments.units, arguments.bulk)
        how = "batch.process_all" if arguments.bulk else "webhooks.process"
        print(
            f"{arguments.backend}: {result['cpu_ms']:.2f} ms CPU per event recorded by "
            f"{how} in units of {arguments.units}, {result['statements']:.2f} statements per "
            f"event ({result['n']} events)"
        )
        return 0
    with database(arguments.backend, "relief-webhook-cost-") as (url, workdir):
        result = measure(
            url, workdir, arguments.events, arguments.trace, arguments.floor, arguments.kept
        )
    what = f"{arguments.backend}{' floor' if arguments.floor else ''}"
    what += " (RELIEF_WEBHOOKS=kept)" if arguments.kept else ""
    drained = (
        f"; then {result['drain_ms']:.2f} ms per event drained"
        if result["drain_ms"] is not None
        else ""
    )
    print(
        f"{what}: {result['cpu_ms']:.2f} ms CPU per event answered, "
        f"{result['statements']:.1f} statements per event{drained} ({result['n']} events)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
