"""Backups: SQLite's online backup API, or pg_dump for PostgreSQL; and their restore.

A backup is a consistent snapshot taken while the app runs. Restore replaces the whole
database and is meant for a stopped app (or a fresh server).
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from relief.errors import InvalidInput


def _database(url: URL) -> str:
    if not url.database:
        raise InvalidInput("DATABASE_URL names no database.")
    return url.database


def _sqlite_path(url: URL) -> Path:
    return Path(_database(url))


def _pg_args(url: URL) -> list[str]:
    args = ["--host", url.host or "127.0.0.1", "--port", str(url.port or 5432)]
    if url.username:
        args += ["--username", url.username]
    return args


def _pg_env(url: URL) -> dict[str, str]:
    import os

    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = url.password
    return env


def _tool(name: str) -> str:
    import glob

    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if candidates:
        return candidates[-1]
    raise InvalidInput(f"{name} is not installed; install Debian's postgresql-client.")


def create(database_url: str, target: Path) -> Path:
    """Write a consistent backup of the database to ``target``."""
    url = make_url(database_url)
    target = Path(target)
    if target.exists():
        raise InvalidInput(f"{target} exists already; choose a new file name.")
    target.parent.mkdir(parents=True, exist_ok=True)
    if url.get_backend_name() == "sqlite":
        source = sqlite3.connect(_sqlite_path(url))
        destination = sqlite3.connect(target)
        try:
            with destination:
                source.backup(destination)
        finally:
            source.close()
            destination.close()
        return target
    result = subprocess.run(
        [
            _tool("pg_dump"),
            *_pg_args(url),
            "--format=custom",
            "--no-owner",
            "--file",
            str(target),
            _database(url),
        ],
        capture_output=True,
        text=True,
        env=_pg_env(url),
        timeout=3600,
    )
    if result.returncode != 0:
        target.unlink(missing_ok=True)
        raise InvalidInput(f"pg_dump failed: {result.stderr.strip()[:500]}")
    return target


def restore(database_url: str, source: Path) -> None:
    """Replace the database's contents with the backup in ``source``."""
    url = make_url(database_url)
    source = Path(source)
    if not source.is_file():
        raise InvalidInput(f"There is no backup file {source}.")
    if url.get_backend_name() == "sqlite":
        backup = sqlite3.connect(source)
        try:
            if backup.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise InvalidInput(f"{source} is not a sound SQLite backup.")
            live = sqlite3.connect(_sqlite_path(url))
            try:
                with live:
                    backup.backup(live)
            finally:
                live.close()
        except sqlite3.DatabaseError as error:
            raise InvalidInput(f"{source} is not a SQLite backup: {error}") from None
        finally:
            backup.close()
        return
    result = subprocess.run(
        [
            _tool("pg_restore"),
            *_pg_args(url),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            "--dbname",
            _database(url),
            str(source),
        ],
        capture_output=True,
        text=True,
        env=_pg_env(url),
        timeout=3600,
    )
    if result.returncode != 0:
        raise InvalidInput(f"pg_restore failed: {result.stderr.strip()[:500]}")
