"""A drive's public ledger (page, CSV, API) and the stand-alone verifier run against a live
server on loopback: it says OK; an entry changed in the database is named (exit 1); erasing a
donor keeps it OK; no donor's secret is published; pages cover every entry once; hostile
paging gets a 400 with a sentence."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import select
from werkzeug.serving import make_server

from relief import drive_pages, ledger, verify
from relief.ledger import fingerprint
from relief.models import Entry, EntryKind
from tests.factories import make_coalition, make_gift
from tests.read_back import pdf_text

ROOT = Path(__file__).resolve().parents[2]

#: What a stranger must never read about the donors below.
SECRETS = {
    "email": "wren.secret.4471@example.org",
    "unchosen name": "Wren Hiddenname",
    "message": "for my mother, 4471",
    "payment intent": "pi_secret4471",
    "charge": "ch_secret4471",
    "session": "cs_secret4471",
}
SHOWN = "Ana Shown-Name"


@pytest.fixture
def live(app):
    """The app served by a real HTTP server on a free loopback port, in a thread."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)


def books(session):
    """A drive with every kind of entry: a named gift, a hidden donor's card gift with its
    fee, a refund, a correction, a dispute and its reinstatement, a remittance."""
    drive = make_coalition(session)
    named = make_gift(
        session,
        drive,
        60_000,
        chapter="mid-missouri",
        donor_name=SHOWN,
        show_name=True,
        donor_email="ana@example.org",
    )
    hidden = make_gift(
        session,
        drive,
        2_500,
        chapter="st-louis",
        donor_name=SECRETS["unchosen name"],
        donor_email=SECRETS["email"],
    )
    hidden.message = SECRETS["message"]
    hidden.stripe_payment_intent_id = SECRETS["payment intent"]
    hidden.stripe_charge_id = SECRETS["charge"]
    hidden.stripe_session_id = SECRETS["session"]
    session.add(hidden)
    session.commit()
    make_gift(session, drive, 50_000)  # to the whole drive: no chapter
    when = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC)
    for kind, cents, gift in (
        (EntryKind.FEE, 103, hidden),
        (EntryKind.REFUND, -500, hidden),
        (EntryKind.CORRECTION, -1_000, named),
        (EntryKind.DISPUTE_WITHDRAWN, -2_000, hidden),
        (EntryKind.DISPUTE_REINSTATED, 2_000, hidden),
        (EntryKind.REMITTANCE, 40_000, None),
    ):
        ledger.append(
            session,
            kind=kind,
            amount_cents=cents,
            drive_id=drive.id,
            chapter_id=gift.chapter_id if gift else 1,
            gift_id=gift.id if gift else None,
            effective_at=when,
            memo="a memo never published",
        )
    session.commit()
    return drive, named, hidden


def run_verifier(url: str, *options: str) -> tuple[int, str]:
    lines: list[str] = []
    try:
        code = verify.check(url, *options or (None,), out=lines.append)
    except verify.CannotCheck as error:
        return verify.CANNOT_CHECK, str(error)
    return code, "\n".join(lines)


def said_of(output: str, figure: str) -> str:
    """The verifier's line for one figure, its columns two spaces apart: "raised  1.00 USD  OK"."""
    [line] = [line for line in output.splitlines() if line.startswith(f"  {figure}  ")]
    return re.sub(r" {2,}", "  ", line.strip())


def all_pages(client, limit: int) -> list[dict]:
    entries, url = [], f"/api/drives/mo-2026/entries?limit={limit}"
    while url:
        answer = client.get(url)
        assert answer.status_code == 200, answer.get_data(as_text=True)
        page = answer.get_json()
        entries += page["entries"]
        url = page["next"]
    return entries


def test_the_verifier_run_as_a_program_says_ok_against_a_live_server(session, live, tmp_path):
    books(session)
    # As a reader runs it: the file the site serves, by itself, fetching the press PDF too.
    script = tmp_path / "verify.py"
    with __import__("urllib.request").request.urlopen(f"{live}/verify.py") as answer:
        script.write_bytes(answer.read())
    done = subprocess.run(
        [sys.executable, str(script), f"{live}/drives/mo-2026"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    fingerprint = session.exec(text("SELECT chain_hash FROM total WHERE chapter_id = 0")).one()[0]
    assert f"fingerprint          {fingerprint}" in done.stdout
    assert said_of(done.stdout, "raised") == "raised  1,110.00 USD  OK"
    assert said_of(done.stdout, "remitted") == "remitted  400.00 USD  OK"
    assert said_of(done.stdout, "gifts (count)") == "gifts (count)  3  OK"
    # The press PDF's fingerprint read with zlib alone, and the same.
    assert f"press PDF            {fingerprint[:16]}…  OK" in done.stdout
    assert done.stdout.strip().endswith("hash to its fingerprint.")
    # And as a module, as docs/verify.md says.
    module = subprocess.run(
        [sys.executable, "-m", "relief.verify", f"{live}/drives/mo-2026/", "--no-pdf"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert module.returncode == 0, module.stdout + module.stderr


def test_an_entry_changed_in_the_database_is_named_and_the_verifier_exits_1(session, live, runner):
    books(session)
    assert run_verifier(f"{live}/drives/mo-2026")[0] == 0
    entries = session.exec(select(Entry).order_by(Entry.id)).all()
    changed = entries[3]
    session.exec(
        text("UPDATE entry SET amount_cents = amount_cents + 1 WHERE id = :id").bindparams(
            id=changed.id
        )
    )
    session.commit()
    code, said = run_verifier(f"{live}/drives/mo-2026")
    assert code == 1, said
    assert f"DIFFERS: entry #{changed.id} (" in said and "changed since" in said
    # The app's own check names it too.
    result = runner.invoke(args=["ledger", "verify"])
    assert result.exit_code != 0 and f"entry {changed.id} no longer hashes" in result.output


def test_running_totals_changed_without_an_entry_make_the_verifier_say_differs(session, live):
    books(session)
    session.exec(text("UPDATE total SET gifts_cents = gifts_cents + 100 WHERE chapter_id = 0"))
    session.commit()
    code, said = run_verifier(f"{live}/drives/mo-2026")
    assert code == 1
    assert said_of(said, "raised") == "raised  1,110.00 USD  DIFFERS: the site says 1,111.00 USD"


def test_an_old_press_pdf_is_matched_to_the_state_of_the_books_it_shows(session, live, tmp_path):
    drive, _named, _hidden = books(session)
    with __import__("urllib.request").request.urlopen(f"{live}/drives/mo-2026/report.pdf") as pdf:
        old = tmp_path / "old.pdf"
        old.write_bytes(pdf.read())
    last = session.exec(select(Entry).order_by(Entry.id.desc())).first()
    make_gift(session, drive, 1_000)
    code, said = run_verifier(f"{live}/drives/mo-2026", str(old))
    assert code == 0, said
    assert f"OK for the books as of entry #{last.id} (" in said
    # Someone with the database rewrites history whole: the first entry a second earlier,
    # every link and the fingerprint made to agree. The site's figures all check; only the
    # press PDF printed before shows the books were not these.
    session.exec(
        text("UPDATE entry SET effective_at = :at WHERE id = :id").bindparams(
            at=datetime(2026, 1, 1, tzinfo=UTC), id=min(session.exec(select(Entry.id)))
        )
    )
    session.expire_all()
    chain = ""
    for entry in session.exec(select(Entry).order_by(Entry.id)).all():
        chain = fingerprint.chain(chain, entry)
        entry.chain_hash = chain
    session.exec(text("UPDATE total SET chain_hash = :c WHERE chapter_id = 0").bindparams(c=chain))
    # The cached API page is keyed on the drive's last entry, not its hash: tell it.
    drive_pages.public_pages_changed(session, [drive.id])
    session.commit()
    rewritten = run_verifier(f"{live}/drives/mo-2026")
    assert rewritten[0] == 0, rewritten[1]
    code, said = run_verifier(f"{live}/drives/mo-2026", str(old))
    assert code == 1 and "DIFFERS: no state of these books has that fingerprint" in said


def test_erasing_a_donor_keeps_the_verifier_ok_and_the_fingerprint(session, live, client, runner):
    books(session)
    before = client.get("/api/drives/mo-2026").get_json()["fingerprint"]
    assert SHOWN in client.get("/drives/mo-2026/ledger").get_data(as_text=True)
    [named_entry] = [e for e in all_pages(client, 1000) if e["donor"]]
    assert named_entry["donor"] == SHOWN and named_entry["kind"] == "gift"
    erased = runner.invoke(args=["donor", "erase", "ana@example.org", "--yes"])
    assert erased.exit_code == 0, erased.output
    for body in (
        client.get("/drives/mo-2026/ledger").get_data(as_text=True),
        client.get("/drives/mo-2026/ledger.csv").get_data(as_text=True),
        client.get("/api/drives/mo-2026/entries").get_data(as_text=True),
    ):
        assert SHOWN not in body
    assert client.get("/api/drives/mo-2026").get_json()["fingerprint"] == before
    code, said = run_verifier(f"{live}/drives/mo-2026")
    assert code == 0, said


def test_no_donor_secret_is_in_the_public_ledger_page_csv_or_api(session, client):
    _drive, named, hidden = books(session)
    bodies = {
        "page": client.get("/drives/mo-2026/ledger").get_data(as_text=True),
        "csv": client.get("/drives/mo-2026/ledger.csv").get_data(as_text=True),
        "api": client.get("/api/drives/mo-2026/entries").get_data(as_text=True),
    }
    secrets = {
        **SECRETS,
        "named donor's email": "ana@example.org",
        "memo": "a memo never published",
        "public id": hidden.public_id,
        "named public id": named.public_id,
    }
    for where, body in bodies.items():
        for what, value in secrets.items():
            assert value not in body, f"{what} in the {where}"
        assert SHOWN in body, where  # the donor who chose to be shown is
    # Entries of the hidden donor's gift carry its number, never a name.
    entries = client.get("/api/drives/mo-2026/entries").get_json()["entries"]
    assert {e["donor"] for e in entries if e["gift"] == hidden.id} == {None}


def test_pages_of_any_size_cover_every_entry_exactly_once_and_match_the_csv(session, client):
    books(session)
    stored = [e.id for e in session.exec(select(Entry).order_by(Entry.id))]
    assert len(stored) == 9
    for limit in (1, 2, 4, 9, 1000):
        assert [e["id"] for e in all_pages(client, limit)] == stored, limit
    rows = list(csv.DictReader(io.StringIO(client.get("/drives/mo-2026/ledger.csv").text)))
    assert [int(row["id"]) for row in rows] == stored
    published = all_pages(client, 1000)
    assert rows[3]["link"] == published[3]["link"] and rows[0]["at"] == published[0]["at"]
    assert published[-1]["at"] == "2026-03-02T09:30:15+00:00"
    # The page: 100 a page, a link to the next.
    page = client.get("/drives/mo-2026/ledger").get_data(as_text=True)
    assert all(f'id="entry-{entry_id}"' in page for entry_id in stored)
    assert "Check these figures yourself" in page and "/verify.py" in page
    assert 'rel="next"' not in page
    later = client.get(f"/drives/mo-2026/ledger?after={stored[4]}").get_data(as_text=True)
    assert f'id="entry-{stored[4]}"' not in later and f'id="entry-{stored[5]}"' in later


@pytest.mark.parametrize(
    "query",
    [
        "after=-1",
        "after=abc",
        "after=1.5",
        "after=0",
        "after=" + "9" * 30,
        "after=" + "9" * 5000,
        "limit=0",
        "limit=1001",
        "limit=-5",
        "limit=１",
        "limit=1e3",
    ],
)
def test_hostile_after_or_limit_gets_a_clear_400(session, client, query):
    books(session)
    answer = client.get(f"/api/drives/mo-2026/entries?{query}")
    assert answer.status_code == 400
    name = query.split("=")[0]
    sentence = f"“?{name}=” in the address must be a whole number from 1 to"
    assert sentence in answer.get_json()["error"]
    page = client.get(f"/drives/mo-2026/ledger?{query}")
    if name == "after":
        assert page.status_code == 400
        assert "must be a whole number" in page.get_data(as_text=True)


def test_an_unknown_drive_is_a_404_everywhere(session, client):
    books(session)
    for url in ("/drives/nope/ledger", "/drives/nope/ledger.csv", "/api/drives/nope/entries"):
        assert client.get(url).status_code == 404, url


def test_the_drive_page_links_to_its_ledger_and_verify_py_is_the_file(session, client):
    books(session)
    page = client.get("/drives/mo-2026").get_data(as_text=True)
    assert 'href="/drives/mo-2026/ledger#check">Check these figures yourself' in page
    press = pdf_text(client.get("/drives/mo-2026/report.pdf").data, layout=False)
    assert (
        "Check these figures yourself, entry by entry: http://localhost/drives/mo-2026/ledger"
        in (" ".join(press.split()))
    )
    answer = client.get("/verify.py")
    assert answer.status_code == 200 and answer.mimetype == "text/x-python"
    assert answer.data == (ROOT / "relief" / "verify.py").read_bytes()


def test_an_empty_drive_checks_ok(session, live):
    make_coalition(session)
    code, said = run_verifier(f"{live}/drives/mo-2026", "fetch")
    assert code == 0, said
    assert "fingerprint          " + "0" * 64 in said


def test_the_verifier_says_what_it_could_not_check(session, live):
    books(session)
    assert run_verifier("ftp://example.org/drives/x")[0] == 2
    code, said = run_verifier(f"{live}/drives/no-such-drive")
    assert code == 2 and "answered 404" in said
    assert verify.main([f"{live}/nothing-here"]) == 2


def test_the_migration_gives_entries_written_before_it_the_links_they_would_have_had(session):
    from alembic import command

    from relief.db import alembic_config

    drive, _named, _hidden = books(session)
    written = [(e.id, e.chain_hash) for e in session.exec(select(Entry).order_by(Entry.id))]
    assert all(link for _id, link in written)
    session.close()
    url = session.get_bind().url.render_as_string(hide_password=False)
    command.downgrade(alembic_config(url), "0015_partner_reports")
    command.upgrade(alembic_config(url), "head")
    session.expire_all()
    assert [(e.id, e.chain_hash) for e in session.exec(select(Entry).order_by(Entry.id))] == written
    assert ledger.verify(session, drive) == []
