"""The benchmark command runs from a clone, and what it prints holds up: a tiny run (N = 1,000,
one round of one-second wrk figures, SQLite) whose figures are positive, agree with each other
and with the database it leaves behind, which still proves its ledger. Deselect with
``-m "not bench"``."""

import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from relief import drives, ledger
from relief.models import Chapter, Entry
from tests.conftest import make_app

ROOT = Path(__file__).resolve().parents[2]
NUMBER = r"[\d,.]+"


def number(text: str) -> float:
    return float(text.replace(",", ""))


def line_after(table: str, heading: str, pattern: str) -> re.Match:
    """The first line under ``heading`` that matches ``pattern`` (numbers as groups)."""
    section = table[table.index(heading) :]
    found = re.search(pattern, section, re.MULTILINE)
    assert found, f"no line like {pattern!r} under {heading!r}:\n{section}"
    return found


@pytest.mark.bench
def test_the_benchmarks_figures_agree_with_each_other_and_with_its_database(tmp_path):
    database = tmp_path / "bench.db"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--sizes", "1000", "--duration", "1", "--rounds", "1"]
        + ["--backends", "sqlite", "--sqlite-file", str(database)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,  # it belongs in the normal suite only while it stays this quick
    )
    assert result.returncode == 0, result.stderr[-3000:]
    table = result.stdout
    assert "Relief benchmark" in table and "Machine: " in table

    # Seeding: 1,000 gifts in so many seconds at so many gifts/s (seconds shown to 0.1 s).
    seconds, rate = map(
        number,
        line_after(table, "Seeding", rf"^sqlite\s+1,000\s+({NUMBER})\s+({NUMBER})$").groups(),
    )
    assert rate > 0 and abs(rate * seconds - 1_000) <= rate * 0.05 + 1

    # Read paths: one round, so each ratio is that round's figure ÷ the bare Flask app's
    # /healthz (page and API also ÷ Relief's own /healthz).
    mark = r" [✓✗]\s+"
    row = line_after(
        table,
        "Read paths",
        rf"^sqlite\s+1,000\s+({NUMBER})\s+({NUMBER})\s+({NUMBER}){mark}({NUMBER})\s+({NUMBER})"
        rf"{mark}({NUMBER})\s+({NUMBER})\s+({NUMBER}){mark}({NUMBER})\s+({NUMBER})\s+"
        rf"({NUMBER}){mark}({NUMBER})\s+({NUMBER}){mark}(\d+)$",
    )
    (bare, healthz, healthz_ratio, page, page_ratio, page_hz, api, api_ratio, api_hz) = map(
        number, row.groups()[:9]
    )
    not_modified, not_modified_ratio, p50, p99, failed = map(number, row.groups()[9:])
    assert min(bare, healthz, page, api, not_modified) > 0
    assert healthz_ratio == pytest.approx(healthz / bare, abs=0.01)
    assert page_ratio == pytest.approx(page / bare, abs=0.01)
    assert api_ratio == pytest.approx(api / bare, abs=0.01)
    assert not_modified_ratio == pytest.approx(not_modified / bare, abs=0.01)
    assert page_hz == pytest.approx(page / healthz, abs=0.01)
    assert api_hz == pytest.approx(api / healthz, abs=0.01)
    assert 0 < p50 <= p99
    assert failed == 0  # every request answered 200 (or 304 to its ETag)

    # Webhooks (kept, the app's default): every event answered became a gift (a few more
    # land while wrk stops), the rate is gifts ÷ (the load's seconds + the drain's until the
    # last was recorded), and the ledger replays exactly after each leg.
    hooks = line_after(
        table,
        "Signed Stripe webhooks",
        rf"^sqlite\s+({NUMBER}) events/s [✓✗] = ({NUMBER}) × the floor, ({NUMBER}) × the bare "
        rf"/healthz \(({NUMBER}) gifts recorded from ({NUMBER}) requests in ({NUMBER}) s, (\d+) "
        r"failed; the last kept event recorded ([\d.]+) s after the last answer; ledger exact\)$",
    )
    per_second, of_floor, of_bare, recorded, requests, hook_seconds, hook_failed, drained = map(
        number, hooks.groups()
    )
    assert "RELIEF_WEBHOOKS=kept" in table
    assert "ms answering and recording (the drainer)" in table
    assert hook_failed == 0 and recorded >= requests > 0
    assert per_second == pytest.approx(recorded / (hook_seconds + drained), rel=0.1)
    # The floor: the bare app keeping every signed event it answered, and the two ratios.
    floor = line_after(
        table,
        "Signed Stripe webhooks",
        rf"the floor, .*: ({NUMBER}) events/s \(({NUMBER}) kept from ({NUMBER}) requests, "
        rf"(\d+) failed\); its /healthz ({NUMBER})/s$",
    )
    floor_per_second, kept, floor_requests, floor_failed, bare_healthz = map(number, floor.groups())
    assert floor_failed == 0 and kept >= floor_requests > 0
    assert of_floor == pytest.approx(per_second / floor_per_second, abs=0.01)
    assert of_bare == pytest.approx(per_second / bare_healthz, abs=0.001)
    keyed = line_after(
        table,
        "Signed Stripe webhooks",
        rf"with Stripe keys.*: ({NUMBER}) events/s [✓✗] = ({NUMBER}) × the floor, {NUMBER} × "
        rf"the bare /healthz \(({NUMBER}) gifts, 0 failed; the last kept event recorded [\d.]+ s "
        r"after the last answer; every fee read [\d.]+ s after the last answer; ledger exact\)$",
    )
    assert number(keyed.group(2)) == pytest.approx(
        number(keyed.group(1)) / floor_per_second, abs=0.01
    )
    keyed_recorded = number(keyed.group(3))
    assert keyed_recorded > 0

    pdf_seconds = number(
        line_after(table, "Press PDF", rf"^sqlite\s+1,000 gifts ({NUMBER}) s").group(1)
    )
    assert pdf_seconds > 0
    csv_rows = number(
        line_after(table, "CSV export", rf"^sqlite\s+({NUMBER}) rows \(one chapter").group(1)
    )

    # The database it leaves: seeded and webhook gifts all there, every sum proved, and the
    # CSV streamed one row per entry of the chapter it names (webhook gifts name no chapter).
    app = make_app(f"sqlite:///{database}")
    try:
        with app.app_context(), Session(app.extensions["relief.engine"]) as session:
            drive = drives.get_drive(session, "bench-1000")
            assert ledger.verify(session, drive) == []
            counted = ledger.totals(session, drive).figures.gift_count
            assert counted >= 1_000 + recorded + keyed_recorded
            st_louis_entries = session.exec(
                select(func.count())
                .select_from(Entry)
                .join(Chapter, Chapter.id == Entry.chapter_id)
                .where(Entry.drive_id == drive.id, Chapter.slug == "st-louis")
            ).one()
        assert csv_rows == st_louis_entries > 0
        verified = app.test_cli_runner().invoke(args=["ledger", "verify"])
        assert verified.exit_code == 0, verified.output
    finally:
        app.extensions["relief.engine"].dispose()


@pytest.mark.bench
def test_match_cost_reads_gifts_in_order_only_where_their_order_decides(tmp_path):
    """``python -m bench.match_cost``'s measurement on a small drive: the same terms are
    answered by the aggregate alone; wide-then-narrow reads a few gifts, not the drive's."""
    from bench.match_cost import measure

    found = measure(f"sqlite:///{tmp_path / 'bench.db'}", [300])
    read = {name: gifts_read for _, name, _, gifts_read, _ in found}
    assert read["same terms"] == 0
    assert 0 < read["wide, then narrow"] < 50
    assert all(millis > 0 and matched[0] == 10_000 for _, _, millis, _, matched in found)


@pytest.mark.bench
def test_inline_webhooks_are_counted_as_answered(tmp_path):
    """``python -m bench --webhooks inline``: each event recorded in its answer (no drainer),
    events/s is gifts ÷ the load's seconds, and nothing is left kept."""
    database = tmp_path / "bench.db"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--sizes", "1000", "--duration", "1", "--rounds", "1"]
        + ["--backends", "sqlite", "--sqlite-file", str(database), "--only", "webhooks"]
        + ["--webhooks", "inline"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    table = result.stdout
    assert "RELIEF_WEBHOOKS=inline" in table and "kept event recorded" not in table
    found = line_after(
        table,
        "Signed Stripe webhooks",
        rf"^sqlite\s+({NUMBER}) events/s [✓✗] .*\(({NUMBER}) gifts recorded from ({NUMBER}) "
        rf"requests in ({NUMBER}) s, 0 failed; ledger exact\)$",
    )
    per_second, recorded, requests, seconds = map(number, found.groups())
    assert recorded >= requests > 0
    assert per_second == pytest.approx(recorded / seconds, rel=0.1)
    assert line_after(
        table, "Signed Stripe webhooks", r"with Stripe keys.*: [\d,.]+ events/s .*ledger exact\)$"
    )
    assert re.search(r"CPU per event: [\d.]+ ms answering \+", table)  # no drainer
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT count(*) FROM kept_event").fetchone() == (0,)
        assert connection.execute("SELECT count(*) FROM gift").fetchone()[0] > 1_000


@pytest.mark.bench
@pytest.mark.parametrize("bulk", [False, True], ids=["one by one", "bulk"])
def test_webhook_cost_in_units_records_every_event_as_a_paid_gift(tmp_path, bulk):
    """``python -m bench.webhook_cost --units N [--bulk]``: every event becomes a paid gift
    through today's ``webhooks.process`` (or ``batch.process_all``) in units of N, and the
    drive's ledger still proves."""
    from bench.webhook_cost import measure_units

    database = tmp_path / "bench.db"
    found = measure_units(f"sqlite:///{database}", tmp_path, events=30, size=7, bulk=bulk)
    assert found["n"] == 30 and found["cpu_ms"] > 0
    # One by one each event costs its own sixteen or so statements; in bulk a unit of seven
    # costs a few in all.
    assert found["statements"] < 5 if bulk else found["statements"] > 10
    app = make_app(f"sqlite:///{database}")
    try:
        with app.app_context(), Session(app.extensions["relief.engine"]) as session:
            drive = drives.get_drive(session, "bench-1000")
            assert ledger.verify(session, drive) == []
            # 1,000 seeded, 50 to warm up, 30 measured: none lost at a unit's edge.
            assert ledger.totals(session, drive).figures.gift_count == 1_080
    finally:
        app.extensions["relief.engine"].dispose()


@pytest.mark.bench
def test_webhook_cost_kept_answers_then_drains_every_event(tmp_path):
    """``python -m bench.webhook_cost --kept``: the answers keep, the drain records them all."""
    from bench.webhook_cost import measure

    database = tmp_path / "bench.db"
    found = measure(f"sqlite:///{database}", tmp_path, events=30, kept=True)
    assert found["n"] == 30 and found["cpu_ms"] > 0 and found["drain_ms"] > 0
    assert found["statements"] == 2  # the kept event's insert, and the unit's writer lock


@pytest.mark.bench
def test_the_database_servers_cpu_counts_the_work_a_query_gives_it(postgres_server, tmp_path):
    """The webhook leg's CPU line adds PostgreSQL's own CPU per event: the postmaster and
    every child of it, alive or gone. A query the server spends ~0.3 s on shows in it."""
    import time

    from sqlalchemy import create_engine, text

    from bench.webhooks import server_cpu_seconds

    assert server_cpu_seconds(f"sqlite:///{tmp_path / 'x.db'}") is None
    before = server_cpu_seconds(postgres_server)
    if before is None:
        pytest.skip("the PostgreSQL server given is not on this machine")
    engine = create_engine(postgres_server)
    try:
        with engine.connect() as connection:
            started = time.monotonic()
            connection.execute(text("SELECT count(*) FROM generate_series(1, 3000000)")).one()
            took = time.monotonic() - started
    finally:
        engine.dispose()  # the backend exits: its CPU is then its parent's reaped children's
    time.sleep(0.2)
    used = server_cpu_seconds(postgres_server) - before
    assert took * 0.5 <= used <= took + 1.0, (used, took)
