"""Faults: when the database goes away the app says so kindly, writes nothing half-way, and
recovers by itself when it returns."""

import pytest
from sqlmodel import Session

from relief import db, drives, ledger
from relief.models import GiftMethod
from tests.conftest import make_app
from tests.factories import make_coalition, make_gift
from tests.postgres import LocalPostgres


@pytest.fixture
def own_postgres():
    """A PostgreSQL server of this test's own, so it can be stopped without hurting others."""
    server = LocalPostgres()
    url = server.start()
    db.upgrade(url)
    yield server, url
    server.stop()


def test_database_outage_gives_503_then_recovers_by_itself(own_postgres):
    server, url = own_postgres
    app = make_app(url)
    client = app.test_client()
    with Session(app.extensions["relief.engine"]) as session:
        drive = make_coalition(session)
        make_gift(session, drive, 60_000, chapter="st-louis")
    assert client.get("/drives/mo-2026").status_code == 200

    server.pause()
    page = client.get("/drives/mo-2026")
    assert page.status_code == 503
    assert "cannot reach our database" in page.get_data(as_text=True)
    api = client.get("/api/drives/mo-2026")
    assert api.status_code == 503 and "cannot reach our database" in api.get_json()["error"]
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 200

    server.resume()
    assert client.get("/readyz").status_code == 200
    assert client.get("/api/drives/mo-2026").get_json()["raised_cents"] == 60_000
    app.extensions["relief.engine"].dispose()


def test_a_failure_mid_write_leaves_nothing_half_written(session, monkeypatch):
    """A gift whose ledger posting fails is rolled back whole: no gift row without its entry."""
    drive = make_coalition(session)
    make_gift(session, drive, 1_000)

    def broken_append(*args, **kwargs):
        raise RuntimeError("connection lost")

    monkeypatch.setattr(ledger, "append", broken_append)
    with pytest.raises(RuntimeError):
        drives.record_offline_gift(session, drive, 5_000, method=GiftMethod.CASH)
    session.rollback()
    monkeypatch.undo()
    from sqlmodel import func, select

    from relief.models import Gift

    assert session.exec(select(func.count()).select_from(Gift)).one() == 1
    assert ledger.totals(session, drive).raised_cents == 1_000
    assert ledger.verify(session, drive) == []


def test_a_read_only_sqlite_database_refuses_writes_clearly_and_stays_intact(sqlite_url):
    """A SQLite file the app can only read (opened with mode=ro: as root, chmod would not
    stop the writes): a gift is refused with the database error page, nothing changes, and
    the file passes SQLite's integrity check."""
    import hashlib
    import sqlite3

    from tests.treasury_helpers import csrf_token

    path = sqlite_url.removeprefix("sqlite:///")
    writable = make_app(sqlite_url)
    with Session(writable.extensions["relief.engine"]) as session:
        make_coalition(session)
    writable.extensions["relief.engine"].dispose()
    before = hashlib.sha256(open(path, "rb").read()).hexdigest()

    app = make_app(f"sqlite:///file:{path}?mode=ro&uri=true", RATELIMIT_ENABLED=False)
    client = app.test_client()
    assert client.get("/drives/mo-2026").status_code == 200  # reading still works
    response = client.post(
        "/drives/mo-2026/donate",
        data={
            "csrf_token": csrf_token(client, "/drives/mo-2026"),
            "amount_choice": "2500",
            "email": "ro@example.org",
        },
    )
    assert response.status_code == 503
    assert "cannot reach our database" in response.get_data(as_text=True)
    app.extensions["relief.engine"].dispose()
    assert hashlib.sha256(open(path, "rb").read()).hexdigest() == before
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MiB filesystem of the test's own (tmpfs), to fill up. Needs root, as CI has."""
    import os
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)], check=True)
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=True)


def test_a_full_disk_refuses_writes_clearly_and_corrupts_nothing(tiny_disk, sqlite_template):
    import shutil
    import sqlite3

    database = tiny_disk / "relief.db"
    shutil.copy(sqlite_template, database)
    app = make_app(f"sqlite:///{database}")
    client, runner = app.test_client(), app.test_cli_runner()
    with Session(app.extensions["relief.engine"]) as session:
        drive = make_coalition(session)
        make_gift(session, drive, 60_000, chapter="st-louis")
    before = client.get("/api/drives/mo-2026").get_json()

    filler = tiny_disk / "filler"
    with open(filler, "wb", buffering=0) as handle:  # take every byte left
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError:
            pass

    result = runner.invoke(args=["gift", "add", "mo-2026", "25", "--chapter", "st-louis"])
    assert result.exit_code == 1
    assert "database or disk is full" in result.output and "Traceback" not in result.output
    page = client.post("/drives/mo-2026/donate", data={})  # CSRF refuses it before any write
    assert page.status_code == 400
    assert client.get("/api/drives/mo-2026").get_json() == before  # reads still work

    filler.unlink()
    app.extensions["relief.engine"].dispose()
    check = sqlite3.connect(database)
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    check.close()
    result = runner.invoke(args=["gift", "add", "mo-2026", "25", "--chapter", "st-louis"])
    assert result.exit_code == 0, result.output  # room again: it works again
    after = client.get("/api/drives/mo-2026").get_json()
    assert after["raised_cents"] == before["raised_cents"] + 2_500
    assert runner.invoke(args=["ledger", "verify"]).exit_code == 0
    app.extensions["relief.engine"].dispose()
