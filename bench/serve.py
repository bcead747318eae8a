"""The app under test: gunicorn as in production (sync workers) on a loopback port, with the
benchmark's settings; the workers' memory read from /proc."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench.load import Load, wrk
from tests.loopback import free_port

ROOT = Path(__file__).resolve().parent.parent
WEBHOOK_SECRET = "whsec_relief_benchmark"  # noqa: S105 — a local test secret, not a credential


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
        self.port = free_port()
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

    def etag(self, path: str) -> str:
        """The ETag ``path`` answers with now (for the 304 leg)."""
        with urllib.request.urlopen(self.base + path, timeout=60) as response:  # noqa: S310
            return response.headers["ETag"]

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

    def load(
        self, path: str, seconds: float, connections: int, headers: dict | None = None
    ) -> Load:
        """wrk on ``path``, once the workers have drained what the last run left queued."""
        self.get("/healthz")
        return wrk(self.base + path, seconds, connections, headers=headers)

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


def status_kib(pid: int, field_name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    return 0
