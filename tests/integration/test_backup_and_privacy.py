"""Backups restore every figure to the cent; a donor's data can be exported and erased."""

import json
import unicodedata

import pytest
from sqlmodel import Session, select

from relief import ledger
from relief.models import Gift, GiftStatus, ParkedEvent
from tests import stripe_objects as so
from tests.factories import make_coalition, make_gift
from tests.stripe_fixtures import *  # noqa: F403


@pytest.fixture(autouse=True)
def erasure_list(tmp_path, monkeypatch):
    """Each test's own erasure list (the commands' default is the instance folder)."""
    path = tmp_path / "erased-donors"
    monkeypatch.setenv("RELIEF_ERASURE_LIST", str(path))
    return path


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


# --- Erasure that erases: stored events, later events, every spelling, the WAL, backups ---

DONOR = {
    "email": "Erase.Me.7731@Example.org",
    "name": "Quinta Erasedonor",
    "line1": "12 Quiet Lane 7731",
    "phone": "+15555557731",
}
#: What must be gone after erasure, in every form a database or a JSON payload may hold it.
NEEDLES = ("erase.me.7731", "Erase.Me.7731", "Quinta Erasedonor", "Quiet Lane 7731", "5555557731")

STRIPE_META = {"drive": "mo-2026", "chapter": "st-louis"}


def fresh(session):
    session.rollback()
    session.expire_all()
    return session


def with_donor(obj: dict, holder: str) -> dict:
    """``obj`` with DONOR's name, email, address and phone where Stripe puts them."""
    details = obj[holder]
    details.update(email=DONOR["email"], name=DONOR["name"], phone=DONOR["phone"])
    details["address"] = dict(details.get("address") or {}, line1=DONOR["line1"])
    return obj


def held_anywhere(session, database_url: str, needles=NEEDLES) -> list[str]:
    """Every needle still found in any row of any table (both databases), in a stored payload
    (JSON escapes included), or in the bytes of the SQLite file and its write-ahead log."""
    from sqlalchemy import text

    from relief.models import metadata

    fresh(session)
    found = []
    forms = {form for needle in needles for form in (needle, needle.lower())}
    forms |= {json.dumps(form)[1:-1] for form in forms}
    for table in metadata.sorted_tables:
        for row in session.connection().execute(text(f"SELECT * FROM {table.name}")):
            found += [f"{table.name}: {form}" for form in forms if form in str(tuple(row))]
    session.rollback()
    if database_url.startswith("sqlite"):
        from pathlib import Path

        path = Path(database_url.removeprefix("sqlite:///"))
        for file in (path, path.with_name(path.name + "-wal")):
            if file.exists():
                data = file.read_bytes()
                found += [f"{file.name}: {f}" for f in forms if f.encode() in data]
    return found


@pytest.fixture
def stripe_drive(stripe_session):
    return make_coalition(stripe_session)


def test_erasure_reaches_parked_events_and_the_export_lists_them(
    stripe_session, stripe_app, stripe_client, stripe_drive, database_url
):
    """A refund parked until its charge is known carries the donor's billing details: the
    export shows them, erasure removes them, the refund itself still waits to be applied."""
    refund = so.charge(
        charge_id="ch_waiting", payment_intent="pi_waiting", amount_cents=2500, amount_refunded=500
    )
    refund = with_donor(refund, "billing_details")
    answer = so.deliver(stripe_client, so.event("charge.refunded", refund, "evt_parked_donor"))
    assert answer.get_json()["parked"] is True
    runner = stripe_app.test_cli_runner()

    exported = runner.invoke(args=["donor", "export", "erase.me.7731@example.org"])
    assert exported.exit_code == 0, exported.output
    data = json.loads(exported.output)
    [event] = data["stripe_events"]
    assert event["event_id"] == "evt_parked_donor" and event["type"] == "charge.refunded"
    held = json.dumps(event["personal_data"])
    for value in (DONOR["email"], DONOR["name"], DONOR["line1"], DONOR["phone"]):
        assert value in held

    fresh(stripe_session)  # no read transaction open
    erased = runner.invoke(args=["donor", "erase", "erase.me.7731@example.org", "--yes"])
    assert erased.exit_code == 0, erased.output
    assert "1 stored Stripe event" in erased.output
    assert held_anywhere(stripe_session, database_url) == []
    parked = fresh(stripe_session).exec(select(ParkedEvent)).one()
    payload = json.loads(parked.payload)["data"]["object"]
    assert (payload["id"], payload["amount_refunded"]) == ("ch_waiting", 500)
    again = runner.invoke(args=["donor", "export", "erase.me.7731@example.org"])
    assert again.exit_code != 0 and "No gift" in again.output

    # The refund is still applied once its payment arrives.
    obj = so.checkout_session(amount_cents=2500, metadata=STRIPE_META, payment_intent="pi_waiting")
    assert so.deliver(stripe_client, so.event("checkout.session.completed", obj)).status_code == 200
    figures = api(stripe_client)
    assert (figures["refunds_cents"], figures["raised_cents"]) == (500, 2000)
    assert held_anywhere(stripe_session, database_url) == []


def test_erase_then_async_payment_succeeded_leaves_no_trace(
    stripe_session, stripe_app, stripe_client, stripe_drive, database_url
):
    """A delayed payment: the session completes unpaid, the donor asks to be erased, then
    Stripe reports the money. The gift counts; nothing of the donor comes back, in any row,
    payload, database file or write-ahead log."""
    obj = so.checkout_session(
        amount_cents=5000, metadata=STRIPE_META, payment_status="unpaid", session_id="cs_delayed"
    )
    obj = with_donor(obj, "customer_details")
    assert so.deliver(stripe_client, so.event("checkout.session.completed", obj)).status_code == 200
    gift = fresh(stripe_session).exec(select(Gift)).one()
    assert gift.status is GiftStatus.PROCESSING and gift.donor_name == DONOR["name"]
    fresh(stripe_session)  # no read transaction open

    runner = stripe_app.test_cli_runner()
    erased = runner.invoke(args=["donor", "erase", "ERASE.ME.7731@example.ORG", "--yes"])
    assert erased.exit_code == 0, erased.output
    assert held_anywhere(stripe_session, database_url) == []

    paid = dict(obj, payment_status="paid")
    later = so.deliver(stripe_client, so.event("checkout.session.async_payment_succeeded", paid))
    assert later.status_code == 200
    assert api(stripe_client)["raised_cents"] == 5000  # the money counts
    gift = fresh(stripe_session).exec(select(Gift)).one()
    assert gift.status is GiftStatus.PAID
    assert (gift.donor_name, gift.donor_email, gift.message) == ("", None, None)
    assert held_anywhere(stripe_session, database_url) == []
    assert ledger.verify(fresh(stripe_session), stripe_drive) == []


def test_a_new_gift_naming_an_erased_address_is_recorded_without_the_donor(
    stripe_session, stripe_app, stripe_client, stripe_drive
):
    """No later event writes an erased donor back, whatever the spelling of the address."""
    make_gift(stripe_session, stripe_drive, 1_000, donor_name="Quinta", donor_email=DONOR["email"])
    fresh(stripe_session)  # no read transaction open
    runner = stripe_app.test_cli_runner()
    assert runner.invoke(args=["donor", "erase", DONOR["email"], "--yes"]).exit_code == 0

    obj = so.checkout_session(amount_cents=2_000, metadata=STRIPE_META, session_id="cs_later")
    obj = with_donor(obj, "customer_details")
    obj["customer_details"]["email"] = DONOR["email"].upper()
    assert so.deliver(stripe_client, so.event("checkout.session.completed", obj)).status_code == 200
    assert api(stripe_client)["raised_cents"] == 3_000
    later = fresh(stripe_session).exec(select(Gift).where(Gift.stripe_session_id == "cs_later"))
    gift = later.one()
    assert (gift.donor_name, gift.donor_email, gift.show_name) == ("", None, False)


UNICODE_EMAIL = "ÑANDÚ.ÉCHO@Example.org"


@pytest.mark.parametrize(
    "typed",
    [
        "ñandú.écho@example.org",
        "ÑANDÚ.ÉCHO@EXAMPLE.ORG",
        unicodedata.normalize("NFD", "ñandú.écho@example.org"),  # decomposed accents
    ],
    ids=["lower", "upper", "decomposed"],
)
def test_an_email_with_non_ascii_capitals_is_exported_and_erased(session, runner, typed):
    drive = make_coalition(session)
    make_gift(session, drive, 2_500, donor_name="Ñandú Écho", donor_email=UNICODE_EMAIL)
    exported = runner.invoke(args=["donor", "export", typed])
    assert exported.exit_code == 0, exported.output
    [gift] = json.loads(exported.output)["gifts"]
    assert (gift["donor_name"], gift["donor_email"]) == ("Ñandú Écho", UNICODE_EMAIL)
    erased = runner.invoke(args=["donor", "erase", typed, "--yes"])
    assert erased.exit_code == 0 and "1 gift" in erased.output
    assert runner.invoke(args=["donor", "export", UNICODE_EMAIL]).exit_code != 0


def test_the_migration_stores_the_normalised_email_of_existing_gifts(database_url, app, runner):
    """Gifts recorded before the normalised column existed are found by every spelling."""
    from alembic import command
    from sqlalchemy import text

    from relief.db import alembic_config

    config = alembic_config(database_url)
    command.downgrade(config, "0011")  # the revision before 0014_erasure
    engine = app.extensions["relief.engine"]
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO gift (public_id, amount_cents, currency, method, status, donor_name,"
                " donor_email, show_name, monthly, fee_pending, test_mode, created_at,"
                " covered_fee_cents) VALUES ('old-gift', 700, 'USD', 'check', 'paid', 'Ñandú',"
                " :email, false, false, false, false, CURRENT_TIMESTAMP, 0)"
            ),
            {"email": UNICODE_EMAIL},
        )
    engine.dispose()
    command.upgrade(config, "head")
    exported = runner.invoke(args=["donor", "export", "ñandú.écho@example.org"])
    assert exported.exit_code == 0, exported.output
    assert [g["amount_cents"] for g in json.loads(exported.output)["gifts"]] == [700]


def test_restoring_an_older_backup_erases_the_donor_again(session, client, runner, tmp_path):
    drive = make_coalition(session)
    make_gift(
        session, drive, 2_500, donor_name="Rosa Diaz", show_name=True, donor_email="rosa@x.org"
    )
    backup_file = tmp_path / "before-erasure.backup"
    assert runner.invoke(args=["backup", "create", "-o", str(backup_file)]).exit_code == 0
    session.close()
    assert runner.invoke(args=["donor", "erase", "rosa@x.org", "--yes"]).exit_code == 0

    restored = runner.invoke(args=["backup", "restore", str(backup_file), "--yes"])
    assert restored.exit_code == 0, restored.output
    assert "erased again" in restored.output
    assert runner.invoke(args=["donor", "export", "rosa@x.org"]).exit_code != 0
    assert "Rosa Diaz" not in client.get("/drives/mo-2026").get_data(as_text=True)
    assert api(client)["raised_cents"] == 2_500


def test_the_sqlite_file_keeps_no_freed_copy_where_sqlite_does_not_zero_deleted_data(
    sqlite_url, tmp_path, monkeypatch
):
    """Debian builds SQLite with SECURE_DELETE; others do not, and leave deleted and updated
    rows' bytes in free space until it is reused. Erasure rewrites the file (VACUUM) so no
    build keeps a copy."""
    from sqlalchemy import event

    from tests.conftest import make_app

    monkeypatch.setenv("RELIEF_ERASURE_LIST", str(tmp_path / "erased-donors"))
    app = make_app(sqlite_url)
    engine = app.extensions["relief.engine"]

    @event.listens_for(engine, "connect")
    def without_secure_delete(dbapi_connection, _record):
        dbapi_connection.execute("PRAGMA secure_delete = OFF")

    try:
        with Session(engine, expire_on_commit=False) as session:
            drive = make_coalition(session)
            gift = make_gift(session, drive, 2_500, donor_name=DONOR["name"])
            gift.donor_email, gift.message = DONOR["email"], "For my neighbour " * 20
            session.commit()
            gift.message = "shorter"  # the row moves; its old bytes stay in the page
            session.commit()
        runner = app.test_cli_runner()
        erased = runner.invoke(args=["donor", "erase", DONOR["email"], "--yes"])
        assert erased.exit_code == 0, erased.output
        with Session(engine) as session:
            assert held_anywhere(session, sqlite_url) == []
    finally:
        engine.dispose()


def test_an_erasure_list_that_cannot_be_written_erases_nothing(session, runner, tmp_path):
    drive = make_coalition(session)
    make_gift(session, drive, 2_500, donor_name="Rosa Diaz", donor_email="rosa@x.org")
    session.close()
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    erased = runner.invoke(
        args=["donor", "erase", "rosa@x.org", "--yes", "--erasure-list", str(blocker / "list")]
    )
    assert erased.exit_code != 0 and "cannot be written" in erased.output
    assert "nothing was erased" in erased.output
    exported = runner.invoke(args=["donor", "export", "rosa@x.org"])
    assert json.loads(exported.output)["gifts"][0]["donor_name"] == "Rosa Diaz"


def test_a_stored_payload_too_deep_to_read_is_still_found_and_erased(session, runner):
    """A payload nested deeper than Python's parser goes (10,000 levels) cannot be read as
    JSON, but if its text names the address it is listed and erased whole."""
    deep = '{"id": "evt_deep", "data": ' + "[" * 10_000 + '"erase.me.7731@example.org"'
    deep += "]" * 10_000 + "}"
    session.add(ParkedEvent(event_id="evt_deep", waits_for="ch_never", payload=deep))
    session.add(ParkedEvent(event_id="evt_other", waits_for="ch_never", payload='{"id": "x"}'))
    session.commit()
    session.close()
    exported = runner.invoke(args=["donor", "export", DONOR["email"]])
    assert exported.exit_code == 0, exported.output
    [event] = json.loads(exported.output)["stripe_events"]
    assert event["personal_data"] == "an unreadable payload that names the address"
    erased = runner.invoke(args=["donor", "erase", DONOR["email"], "--yes"])
    assert erased.exit_code == 0 and "1 stored Stripe event" in erased.output, erased.output
    payloads = [parked.payload for parked in session.exec(select(ParkedEvent))]
    assert sorted(payloads) == sorted(
        ['{"erased": "an unreadable payload that named an erased donor"}', '{"id": "x"}']
    )


def test_erasing_a_donor_again_says_she_was_erased_already(session, runner):
    """A donor who repeats her request (or an admin who runs it twice) is told the address was
    erased already — not that nothing ever named it, which reads like a typo. Found by the
    random stories (tests/stories, erase_donor twice)."""
    drive = make_coalition(session)
    make_gift(session, drive, 2_500, donor_name="Rosa Diaz", donor_email="rosa@x.org")
    session.close()
    first = runner.invoke(args=["donor", "erase", "rosa@x.org", "--yes"])
    assert first.exit_code == 0, first.output

    again = runner.invoke(args=["donor", "erase", "Rosa@X.org", "--yes"])
    assert again.exit_code == 0, again.output
    assert "rosa@x.org was erased already" in again.output
    assert "nothing holds it" in again.output

    never = runner.invoke(args=["donor", "erase", "nobody@x.org", "--yes"])
    assert never.exit_code != 0 and "No gift or stored Stripe event" in never.output
