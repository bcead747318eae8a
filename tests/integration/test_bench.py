"""The benchmark command runs from a clone and prints its table (a tiny run: N = 1,000,
one second per wrk figure, SQLite). Deselect with ``-m "not bench"``."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.bench
def test_the_benchmark_prints_its_table_of_ratios(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--sizes",
            "1000",
            "--duration",
            "1",
            "--backends",
            "sqlite",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,  # it belongs in the normal suite only while it stays this quick
    )
    assert result.returncode == 0, result.stderr[-3000:]
    table = result.stdout
    assert "Relief benchmark" in table and "Machine: " in table
    assert re.search(r"^sqlite\s+1,000\s+[\d.]+\s+[\d,]+$", table, re.MULTILINE)  # seeding
    row = re.search(
        r"^sqlite\s+1,000\s+([\d,]+)\s+([\d,]+)\s+([\d.]+) [✓✗]\s+([\d,]+)\s+([\d.]+) [✓✗]"
        r"\s+([\d.]+)\s+([\d.]+) [✓✗]\s+(\d+)$",
        table,
        re.MULTILINE,
    )
    assert row, table
    healthz, page, page_ratio, api, api_ratio, p50, p99, failed = row.groups()
    assert float(page_ratio) > 0 and float(api_ratio) > 0
    assert float(p50) <= float(p99)
    assert failed == "0"  # every request answered 200
    assert "/healthz" in table and "noise" in table
    for heading in ("Signed Stripe webhooks", "Press PDF", "CSV export"):
        assert heading in table
    webhooks = re.search(r"Signed Stripe webhooks.*\n(sqlite .*)", table).group(1)
    assert "events/s" in webhooks or "not available" in webhooks
