"""What one request costs in-process, against a bare Flask app: CPU microseconds per call of
the WSGI app (what gunicorn calls), best of several batches, for Relief's ``/healthz``, a
cached drive page, its API answer and the page asked with its ETag (304).

    .venv/bin/python -m bench.per_request               # SQLite in a temporary file
    .venv/bin/python -m bench.per_request --profile page # cProfile of one kind, top 25

No server, no network: the figures say what the app itself spends per request, which is
what the wrk legs of ``python -m bench`` measure through gunicorn, with less noise.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path

from bench.seed import drive_slug, seed

KINDS = ("bare", "healthz", "page", "api", "304")


def _environ(path: str, headers: dict | None = None) -> dict:
    from werkzeug.test import EnvironBuilder

    builder = EnvironBuilder(path=path, headers=headers or {}, base_url="http://127.0.0.1:8000")
    environ = builder.get_environ()
    builder.close()
    return environ


def _caller(wsgi, environ: dict):
    def start_response(status, headers, exc_info=None):
        return None

    def call():
        body = wsgi(environ.copy(), start_response)
        for _chunk in body:
            pass
        close = getattr(body, "close", None)
        if close is not None:
            close()

    return call


def measure(call, batches: int = 7, calls: int = 3000) -> float:
    """CPU µs per call: the best of ``batches`` batches (the least disturbed by other jobs)."""
    for _ in range(200):
        call()
    best = float("inf")
    for _ in range(batches):
        started = time.process_time()
        for _ in range(calls):
            call()
        best = min(best, (time.process_time() - started) / calls * 1e6)
    return best


def callers(database_url: str, change_counter: str) -> dict:
    from bench.bare import app as bare
    from relief import create_app

    app = create_app(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "relief-benchmark-secret",
            "CHANGE_COUNTER": change_counter,
            "RELIEF_ENV": "development",
        }
    )
    slug = drive_slug(1000)
    page, api = f"/drives/{slug}", f"/api/drives/{slug}"
    client = app.test_client()
    etag = client.get(page).headers["ETag"]
    client.get(api)
    found = {
        "bare": _caller(bare.wsgi_app, _environ("/healthz")),
        "healthz": _caller(app.wsgi_app, _environ("/healthz")),
        "page": _caller(app.wsgi_app, _environ(page)),
        "api": _caller(app.wsgi_app, _environ(api)),
        "304": _caller(app.wsgi_app, _environ(page, {"If-None-Match": etag})),
    }
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=KINDS, help="print a cProfile of this kind")
    parser.add_argument("--database-url", help="a database already seeded by python -m bench")
    parser.add_argument("--change-counter", choices=("on", "off"), default="on")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="relief-per-request-") as workdir:
        url = args.database_url or f"sqlite:///{Path(workdir) / 'relief.db'}"
        seed(url, [1000])
        counter = str(Path(workdir) / "changes") if args.change_counter == "on" else ""
        found = callers(url, counter)
        if args.profile:
            profile = cProfile.Profile()
            call = found[args.profile]
            profile.enable()
            for _ in range(5000):
                call()
            profile.disable()
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(25)
            print(out.getvalue())
            return 0
        figures = {kind: measure(call) for kind, call in found.items()}
        bare = figures["bare"]
        print(f"{'request':<10}{'µs CPU':>8}{'÷ bare (speed)':>16}")
        for kind, micros in figures.items():
            print(f"{kind:<10}{micros:>8.1f}{bare / micros:>16.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
