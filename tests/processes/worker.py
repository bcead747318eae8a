"""``flask --app app worker`` as its own process, for tests that run the app under gunicorn
(or kill a worker): started with the settings given, stopped with SIGTERM (or killed)."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FLASK = Path(sys.executable).parent / "flask"


def _stop_with_parent() -> None:
    """SIGTERM the worker when the process that started it dies (a test or benchmark killed by
    its timeout), so no worker outlives it, polling forever (Linux's PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


class WorkerProcess:
    def __init__(self, env: dict, *args: str, log=None):
        self.process = subprocess.Popen(
            [str(FLASK), "--app", "app", "worker", "--poll", "0.1", *args],
            cwd=ROOT,
            env={**os.environ, "RELIEF_ENV": "test", **env},
            stdout=log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_stop_with_parent,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, as a service manager stops it; its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


def burst(env: dict, *args: str) -> subprocess.CompletedProcess:
    """``flask --app app worker --burst``: every due job, then exit."""
    return subprocess.run(
        [str(FLASK), "--app", "app", "worker", "--burst", *args],
        cwd=ROOT,
        env={**os.environ, "RELIEF_ENV": "test", **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
