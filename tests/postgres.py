"""A real PostgreSQL server for the test run, started on loopback and stopped at the end.

Set RELIEF_TEST_POSTGRES_URL to use a server you already run. Otherwise the server binaries
of Debian's ``postgresql`` package are used; if they are missing the run fails loudly —
PostgreSQL is what production runs on, so its tests are never skipped.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.loopback import free_port


class PostgresUnavailable(RuntimeError):
    pass


def _bin_dir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[4]))
    if candidates:
        return Path(candidates[-1])
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise PostgresUnavailable(
        "PostgreSQL server binaries not found. Install Debian's postgresql package "
        "(the README's test command does), or set RELIEF_TEST_POSTGRES_URL."
    )


class LocalPostgres:
    def __init__(self):
        self.bin = _bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="relief-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0  # initdb refuses to run as root

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            log = self.data / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise PostgresUnavailable(
                f"{' '.join(args[:2])} failed: {result.stderr.strip()[-2000:]}\n{tail}"
            )

    def start(self) -> str:
        if self.as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        initdb = ["-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"]
        self._run("initdb", "-D", str(self.data), *initdb)
        self.resume()
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def pause(self) -> None:
        """Shut the server down cleanly, keeping its data (to test an outage). Not "immediate":
        with synchronous_commit=off, a crash may lose the last commits, as designed for speed."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def resume(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c fsync=off "
            f"-c synchronous_commit=off -c full_page_writes=off -c max_connections=200 "
            f"-k {self.data}"
        )
        log = str(self.data / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
