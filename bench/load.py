"""wrk, the load generator: one run against one URL, and the figures read from its output."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent


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


def wrk(
    url: str,
    seconds: float,
    connections: int,
    script_args: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> Load:
    command = [
        "wrk",
        "-t2",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "--latency",
    ]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
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
