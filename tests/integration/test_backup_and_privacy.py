"""Backups restore every figure to the cent; a donor's data can be exported and erased."""

import json

from relief import ledger
from tests.factories import make_coalition, make_gift


def api(client):
    return client.get("/api/drives/mo-2026").get_json()


def test_backup_then_restore_brings_back_every_figure(session, client, runner, tmp_path):
    drive = make_coalition(session)
    for amount, chapter in ((60_000, "mid-missouri"), (50_000, "st-louis"), (50_000, None)):
        make_gift(session, drive, amount, chapter=chapter)
    before = api(client)
    backup_file = tmp_path / "relief.backup"
    result = runner.invoke(args=["backup", "create", "-o", str(backup_file)])
    assert result.exit_code == 0, result.output
    assert backup_file.stat().st_size > 0

    make_gift(session, drive, 99_999, chapter="st-louis")  # after the backup: must vanish
    assert api(client)["raised_cents"] == before["raised_cents"] + 99_999
    session.close()

    result = runner.invoke(args=["backup", "restore", str(backup_file), "--yes"])
    assert result.exit_code == 0, result.output
    after = api(client)
    assert after == before
    assert after["raised_cents"] == 160_000
    assert runner.invoke(args=["ledger", "verify"]).exit_code == 0


def test_backup_refuses_to_overwrite_and_restore_refuses_junk(runner, tmp_path):
    existing = tmp_path / "exists.backup"
    existing.write_text("keep me")
    result = runner.invoke(args=["backup", "create", "-o", str(existing)])
    assert result.exit_code != 0 and "exists already" in result.output
    assert existing.read_text() == "keep me"
    result = runner.invoke(args=["backup", "restore", str(tmp_path / "missing"), "--yes"])
    assert result.exit_code != 0 and "no backup file" in result.output


def test_donor_export_then_erase_keeps_the_books(session, client, runner):
    drive = make_coalition(session)
    make_gift(
        session,
        drive,
        2_500,
        chapter="st-louis",
        donor_name="Rosa Diaz",
        show_name=True,
        donor_email="Rosa@Example.org",
    )
    make_gift(session, drive, 4_000, donor_name="Other Donor", donor_email="other@example.org")
    before = api(client)
    # The public page, warm in this worker's cache, names her before she asks to be erased.
    assert "Rosa Diaz" in client.get("/drives/mo-2026").get_data(as_text=True)

    exported = runner.invoke(args=["donor", "export", "rosa@example.org"])
    assert exported.exit_code == 0, exported.output
    data = json.loads(exported.output)
    assert [g["amount_cents"] for g in data["gifts"]] == [2_500]
    assert data["gifts"][0]["donor_name"] == "Rosa Diaz"

    erased = runner.invoke(args=["donor", "erase", "rosa@example.org", "--yes"])
    assert erased.exit_code == 0 and "1 gift" in erased.output
    page = client.get("/drives/mo-2026").get_data(as_text=True)
    assert "Rosa Diaz" not in page
    assert api(client) == before  # every figure unchanged
    assert ledger.verify(session, drive) == []
    again = runner.invoke(args=["donor", "export", "rosa@example.org"])
    assert again.exit_code != 0 and "No gift" in again.output
    assert "Other Donor" in runner.invoke(args=["donor", "export", "other@example.org"]).output
