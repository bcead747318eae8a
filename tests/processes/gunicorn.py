"""The app under real gunicorn for fault and concurrency tests: started on a free loopback
port with the settings given, stopped (its whole process group) at the end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.loopback import free_port

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).parent / "gunicorn"


class Gunicorn:
    def __init__(self, env: dict, *, workers: int = 1, app: str = "app:app", log=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environment = {**os.environ, "RELIEF_ENV": "test", **env}
        self.process = subprocess.Popen(
            [
                str(GUNICORN),
                "--workers",
                str(workers),
                "--worker-class",
                "sync",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--timeout",
                "120",
                "--graceful-timeout",
                "2",
                "--access-logfile",
                "-",
                app,
            ],
            cwd=ROOT,
            env=environment,
            stdout=log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 30) -> Gunicorn:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}")
            try:
                if requests.get(self.url + "/healthz", timeout=5).status_code == 200:
                    return self
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError("gunicorn did not start")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
