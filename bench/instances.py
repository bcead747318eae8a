"""The two-instances leg: a gift sent through one app instance is on another instance's very
next answer, with no file shared between them — only the database (PostgreSQL's
LISTEN/NOTIFY tells every process of every instance that something changed)."""

from __future__ import annotations

import json
import os
import statistics
import time
from dataclasses import dataclass

from bench.seed import scalar
from bench.serve import WEBHOOK_SECRET, Server
from bench.webhooks import checkout_completed
from tests import stripe_objects as so


@dataclass
class NextAnswer:
    """A gift sent through instance A, then instance B asked at once, ``trials`` times."""

    trials: int
    #: How many of B's very next answers already showed the gift.
    shown: int
    #: From A's answer until B's first answer that showed the gift (ms): median and longest.
    median_ms: float
    longest_ms: float


def _raised(server: Server, slug: str) -> int:
    status, body = server.get(f"/api/drives/{slug}")
    if status != 200:
        raise RuntimeError(f"instance on port {server.port} answered {status}")
    return json.loads(body)["raised_cents"]


def next_answer(
    a: Server, b: Server, slug: str, trials: int = 50, database_url: str | None = None
) -> NextAnswer:
    """Post a distinct signed $25 event to A; the moment A has recorded it, ask B's API (a
    warm, cached answer until B learns of the change) until it shows the gift. A records it
    in its answer, or — when A keeps events (RELIEF_WEBHOOKS=kept, its answer "queued") —
    when its drainer commits it: then the clock starts once the gift is in the database
    (``database_url``)."""
    tag = os.urandom(4).hex()
    shown, waits = 0, []
    for number in range(1, trials + 1):
        before = _raised(b, slug)
        payload = checkout_completed(number, f"next{tag}", slug)
        status, body = a.post(
            "/stripe/webhook", payload, so.webhook_headers(payload, WEBHOOK_SECRET)
        )
        if not 200 <= status < 300:
            raise RuntimeError(f"instance A answered a signed event {status}")
        if json.loads(body).get("queued"):
            _recorded(database_url, f"cs_bench_next{tag}_{number}")
        answered = time.perf_counter()
        first = True
        while _raised(b, slug) != before + 2_500:
            first = False
            if time.perf_counter() - answered > 5:
                raise RuntimeError("instance B did not show a gift 5 s after A recorded it")
        waits.append((time.perf_counter() - answered) * 1000)
        shown += first
    return NextAnswer(trials, shown, statistics.median(waits), max(waits))


def _recorded(database_url: str | None, session_id: str) -> None:
    """Wait until the gift of this Checkout Session is committed (a drainer recorded it)."""
    if database_url is None:
        raise RuntimeError("instance A keeps events: give next_answer the database's URL")
    waited = time.monotonic()
    query = "SELECT count(*) FROM gift WHERE stripe_session_id = :session"
    while not scalar(database_url, query, session=session_id):
        if time.monotonic() - waited > 30:
            raise RuntimeError(f"no drainer recorded {session_id} in 30 s")
        time.sleep(0.005)
