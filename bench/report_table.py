"""What one database's run measured, and the table printed at the end, each figure marked
✓ or ✗ against its target."""

from __future__ import annotations

import os
import platform
import re
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench.instances import NextAnswer
from bench.load import Load
from bench.webhooks import Floor, Webhooks

#: Against a bare Flask app answering /healthz under the same gunicorn line (issue 18).
TARGET_HEALTHZ = 0.90
TARGET_RATIO = 0.80
TARGET_NOT_MODIFIED = 0.85
TARGET_FLAT = 0.90
TARGET_P99_MS = 25.0
TARGET_WEBHOOKS = 500
TARGET_PDF_MS = 250


@dataclass
class Round:
    """The bare app's /healthz, Relief's /healthz, a drive's page, its API and the page asked
    with its current ETag (304), loaded one after the other."""

    bare: Load
    healthz: Load
    page: Load
    api: Load
    not_modified: Load


@dataclass
class Result:
    backend: str
    version: str
    seeding: dict[int, float | None]
    rounds: dict[int, list[Round]] = field(default_factory=dict)
    webhooks: Webhooks | None = None
    webhooks_with_fees: Webhooks | None = None
    #: The bare app's webhook (signature checked, event kept) and /healthz, loaded just after.
    webhook_floor: Floor | None = None
    pdf: str = ""
    csv: str = ""
    #: The press report per size and the monthly report, in-process (bench/report_render.py).
    reports: list[dict] = field(default_factory=list)
    #: PostgreSQL only: a gift through instance A on instance B's very next answer.
    two_instances: NextAnswer | None = None

    def median(self, size: int, figure) -> float:
        return statistics.median(figure(r) for r in self.rounds[size])

    def ratio(self, size: int, leg: str, to: str = "bare") -> float:
        """The median over the rounds of ``leg``'s requests/s ÷ ``to``'s of the same round."""
        return self.median(
            size,
            lambda r: getattr(r, leg).per_second / max(getattr(r, to).per_second, 1e-9),
        )

    def requests_per_second(self, size: int, leg: str) -> float:
        return self.median(size, lambda one: getattr(one, leg).per_second)

    def page_ratio(self, size: int) -> float:
        return self.ratio(size, "page")

    def api_ratio(self, size: int) -> float:
        return self.ratio(size, "api")


def mark(ok: bool) -> str:
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
            " (a cached answer reads the drive's state only after a commit: SQLite's shared"
            " file, PostgreSQL's LISTEN/NOTIFY)"
            if args.change_counter == "on"
            else " (every cached answer reads the drive's state from the database)"
        ),
        f"Load: wrk -t2 -c{args.connections} -d{args.duration:g}s per run, from a second "
        f"process on 127.0.0.1; load average {' '.join(f'{x:.2f}' for x in load_before)} before, "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} after",
    ]


def _of_floor(hooks: Webhooks, floor: Floor | None) -> str:
    """Events/s as a share of the floor's and of the bare /healthz's (same run)."""
    if floor is None or not floor.available or not floor.per_second:
        return ""
    bare = floor.bare_healthz.per_second if floor.bare_healthz else 0.0
    return f" = {hooks.per_second / floor.per_second:.2f} × the floor" + (
        f", {hooks.per_second / bare:.3f} × the bare /healthz" if bare else ""
    )


def _drain(hooks: Webhooks) -> str:
    """When events were kept: how long the drainer took after the last answer."""
    if hooks.drain_seconds is None:
        return ""
    return f"; the last kept event recorded {hooks.drain_seconds:.1f} s after the last answer"


def _rounds(hooks: Webhooks) -> str:
    """Every round's events/s, when the leg ran more than once (the line is their median)."""
    if len(hooks.rounds) < 2:
        return ""
    listed = ", ".join(f"{one:,.0f}" for one in hooks.rounds)
    return f"; the median of {len(hooks.rounds)} rounds: {listed}/s"


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
        f"Read paths at {args.connections} connections, median of {args.rounds} rounds of the "
        "bare app's /healthz, Relief's /healthz, page, API and page with its ETag (304) back to "
        "back: requests/s, and ÷ the bare Flask app's /healthz requests/s of the same round "
        f"(targets: /healthz ≥ {TARGET_HEALTHZ}, page and API ≥ {TARGET_RATIO}, 304 ≥ "
        f"{TARGET_NOT_MODIFIED}); page and API also ÷ Relief's own /healthz; drive page "
        f"latency (target p99 < {TARGET_P99_MS:g} ms)",
    ]
    header = (
        f"{'database':<11}{'gifts':>11}{'bare/s':>9}{'hz/s':>8}{'÷bare':>8}"
        f"{'page/s':>9}{'÷bare':>8}{'÷hz':>6}{'API/s':>8}{'÷bare':>8}{'÷hz':>6}"
        f"{'304/s':>8}{'÷bare':>8}{'p50 ms':>8}{'p99 ms':>9}{'failed':>8}"
    )
    lines.append(header)
    for result in results:
        for size in args.sizes if result.rounds else ():
            hz, page, api, nm = (
                result.ratio(size, leg) for leg in ("healthz", "page", "api", "not_modified")
            )
            p99 = result.median(size, lambda r: r.page.p99_ms)
            failed = sum(
                r.page.failed + r.api.failed + r.not_modified.failed + r.healthz.failed
                for r in result.rounds[size]
            )

            def per_second(leg: str, size: int = size, result: Result = result) -> float:
                return result.requests_per_second(size, leg)

            lines.append(
                f"{result.backend:<11}{size:>11,}{per_second('bare'):>9,.0f}"
                f"{per_second('healthz'):>8,.0f}{hz:>6.2f} {mark(hz >= TARGET_HEALTHZ)}"
                f"{per_second('page'):>9,.0f}{page:>6.2f} {mark(page >= TARGET_RATIO)}"
                f"{result.ratio(size, 'page', 'healthz'):>6.2f}"
                f"{per_second('api'):>8,.0f}{api:>6.2f} {mark(api >= TARGET_RATIO)}"
                f"{result.ratio(size, 'api', 'healthz'):>6.2f}"
                f"{per_second('not_modified'):>8,.0f}{nm:>6.2f} "
                f"{mark(nm >= TARGET_NOT_MODIFIED)}"
                f"{result.median(size, lambda r: r.page.p50_ms):>8.2f}"
                f"{p99:>7.1f} {mark(p99 < TARGET_P99_MS)}{failed:>8}"
            )
    lines.append("")
    for result in results:
        bare = [r.bare.per_second for rounds in result.rounds.values() for r in rounds]
        if not bare:
            lines.append(f"{result.backend}: read paths not measured (--only webhooks)")
            continue
        note = (
            f"{result.backend}: bare /healthz {min(bare):,.0f}–{max(bare):,.0f} r/s over the "
            f"run (noise ±{(max(bare) - min(bare)) / (max(bare) + min(bare)):.0%})"
        )
        if len(args.sizes) > 1:
            small, large = min(args.sizes), max(args.sizes)
            page_flat = result.page_ratio(large) / result.page_ratio(small)
            api_flat = result.api_ratio(large) / result.api_ratio(small)
            note += (
                f"; ratio at {large:,} ÷ at {small:,} gifts: page {page_flat:.2f} "
                f"{mark(page_flat >= TARGET_FLAT)}, API {api_flat:.2f} "
                f"{mark(api_flat >= TARGET_FLAT)} (target ≥ {TARGET_FLAT})"
            )
        lines.append(note)

    lines += [
        "",
        f"Signed Stripe webhooks (distinct checkout.session.completed events, {args.connections} "
        f"connections; target ≥ {TARGET_WEBHOOKS}/s)"
        + (
            "; RELIEF_WEBHOOKS=kept: each event kept in its answer and recorded in runs by a "
            "drainer (`flask worker --only stripe-events`), counted until the last is recorded"
            if getattr(args, "webhooks", "kept") == "kept"
            else "; RELIEF_WEBHOOKS=inline: each event recorded in its answer"
        ),
    ]
    for result in results:
        hooks = result.webhooks
        if hooks is None or not hooks.available:
            lines.append(f"{result.backend:<11}{hooks.note if hooks else 'not measured'}")
            continue
        floor = result.webhook_floor
        lines.append(
            f"{result.backend:<11}{hooks.per_second:,.0f} events/s "
            f"{mark(hooks.per_second >= TARGET_WEBHOOKS)}{_of_floor(hooks, floor)} "
            f"({hooks.processed:,} gifts recorded "
            f"from {hooks.load.requests:,} requests in {hooks.load.seconds:.1f} s, "
            f"{hooks.load.failed} failed{_drain(hooks)}; ledger "
            f"{'exact' if not hooks.exact else '; '.join(hooks.exact)}{_rounds(hooks)})"
        )
        if floor is not None and not floor.available:
            lines.append(f"{'':<11}floor {floor.note}")
        elif floor is not None:
            lines.append(
                f"{'':<11}the floor, the bare app under the same gunicorn line checking each "
                f"signature and keeping the event in one statement (no gift): "
                f"{floor.per_second:,.0f} events/s ({floor.kept:,} kept from "
                f"{floor.load.requests:,} requests, {floor.load.failed} failed); its /healthz "
                f"{floor.bare_healthz.per_second:,.0f}/s"
            )
        keyed = result.webhooks_with_fees
        if keyed is not None and keyed.available:
            fees = (
                f"every fee read {keyed.fees_seconds:.1f} s after the last answer"
                if not keyed.fees_unread
                else f"{keyed.fees_unread:,} fees still unread after {keyed.fees_seconds:.0f} s"
            )
            lines.append(
                f"{'':<11}with Stripe keys, fees read by {keyed.fee_workers} outbox "
                f"worker{'s' if keyed.fee_workers != 1 else ''} from a local "
                f"stand-in for Stripe: {keyed.per_second:,.0f} events/s "
                f"{mark(keyed.per_second >= TARGET_WEBHOOKS)}{_of_floor(keyed, floor)} "
                f"({keyed.processed:,} gifts, "
                f"{keyed.load.failed} failed{_drain(keyed)}; {fees}; ledger "
                f"{'exact' if not keyed.exact else '; '.join(keyed.exact)}{_rounds(keyed)})"
            )
            if keyed.web_cpu_ms is not None and keyed.fee_cpu_ms is not None:
                per_event = keyed.web_cpu_ms + keyed.fee_cpu_ms
                server = ""
                if keyed.server_cpu_ms is not None:
                    per_event += keyed.server_cpu_ms
                    server = f" + {keyed.server_cpu_ms:.2f} ms in the database server"
                lines.append(
                    f"{'':<11}CPU per event: {keyed.web_cpu_ms:.2f} ms answering"
                    f"{' and recording (the drainer)' if keyed.drain_seconds is not None else ''}"
                    " + "
                    f"{keyed.fee_cpu_ms:.2f} ms reading its fee{server} (two idle cores: at "
                    f"most ~{2000 / per_event:,.0f} events/s for the app's processes"
                    f"{' and the database' if server else ''}); "
                    f"{keyed.stripe_requests:,} requests to Stripe ({keyed.stripe_lists:,} "
                    "list pages, the rest one fee each)"
                )
    two = [result for result in results if result.two_instances is not None]
    if two:
        lines += [
            "",
            "Two app instances sharing only the database (PostgreSQL: LISTEN/NOTIFY): a gift "
            "sent as a signed event to instance A, then instance B's API asked at once",
        ]
        for result in two:
            seen = result.two_instances
            lines.append(
                f"{result.backend:<11}on B's very next answer {seen.shown} times of "
                f"{seen.trials} {mark(seen.shown == seen.trials)}; on B's answers from "
                f"{seen.median_ms:.1f} ms after A's answer (median), {seen.longest_ms:.1f} ms "
                "at most"
            )
    lines += [
        "",
        f"PDFs in-process, built and rendered cold (target ≤ {TARGET_PDF_MS} ms at every size), "
        "median of 5: wall and CPU ms, the snapshot's database ms and statements, and asked "
        "again unchanged",
    ]
    for result in results:
        for one in result.reports:
            what = (
                f"press report, {one['gifts']:,} gifts"
                if "gifts" in one
                else "monthly report (St. Louis, last month, all drives)"
            )
            lines.append(
                f"{result.backend:<11}{what:<46}{one['cold_ms']:>6.0f} ms "
                f"{mark(one['cold_ms'] <= TARGET_PDF_MS)} (CPU {one['cold_total_cpu_ms']:.0f}; "
                f"database {one['db_ms']:.1f} ms, {one['statements']} statements); again "
                f"{one['again_ms']:.0f} ms"
            )
    lines += ["", "Press PDF through gunicorn: the first answer, then the same asked again"]
    lines += [f"{result.backend:<11}{result.pdf}" for result in results]
    lines += ["", "CSV export (rows/s; worker memory growth < 50 MB at 100,000 rows)"]
    lines += [f"{result.backend:<11}{result.csv}" for result in results]
    return "\n".join(lines)
