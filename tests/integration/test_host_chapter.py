"""Every cent of a drive is in exactly one chapter's books: a gift to the whole drive (the donate
form's "No chapter", a Payment Link naming only the drive, `gift add` without --chapter) is in
the host chapter's — on its dashboard, in both CSVs and the monthly report, and it can remit
it — and the API's chapters add up to the drive."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import date

from sqlmodel import Session, select

from relief import demo, drives, ledger
from relief.models import AuditEvent, Gift
from tests import stripe_objects as so
from tests.factories import make_coalition, make_gift
from tests.read_back import pdf_text
from tests.stripe_fixtures import *  # noqa: F403
from tests.treasury_helpers import SignedIn, data, make_user


def _csrf(client, path):
    html = client.get(path).get_data(as_text=True)
    tag = re.search(r'<input[^>]*name="csrf_token"[^>]*>', html)[0]
    return re.search(r'value="([^"]+)"', tag)[1]


def give_to_the_whole_drive(client, cents_text="37"):
    """The donate form's default choice, "No chapter: the whole drive", paid in test mode."""
    form = {
        "csrf_token": _csrf(client, "/drives/mo-2026"),
        "amount_choice": "other",
        "custom_amount": cents_text,
        "frequency": "once",
        "donor_name": "Wanda Whole",
        "show_name": "show",
        "email": "wanda@example.org",
        "message": "",
        "chapter": "",
    }
    checkout = client.post("/drives/mo-2026/donate", data=form)
    assert checkout.status_code == 303, checkout.get_data(as_text=True)[:800]
    url = checkout.headers["Location"]
    public_id = re.search(r"/test-checkout/([^/?#]+)", url)[1]
    paid = client.post(f"/test-checkout/{public_id}/pay", data={"csrf_token": _csrf(client, url)})
    assert paid.status_code == 303


def figure(page: str, name: str) -> str:
    return page.split(f'data-figure="{name}">', 1)[1].split("<", 1)[0]


def rows(response) -> list[dict]:
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def api_adds_up(client, slug="mo-2026"):
    api = client.get(f"/api/drives/{slug}").get_json()
    assert sum(c["raised_cents"] for c in api["chapters"]) == api["raised_cents"]
    assert sum(c["donation_count"] for c in api["chapters"]) == api["donation_count"]
    return api


def test_whole_drive_gifts_are_in_the_host_chapters_books_and_it_remits_them(
    app, client, runner, today
):
    with data(app) as session:
        drive = make_coalition(session)  # host: mid-missouri, the first chapter named
        make_gift(session, drive, 10_000, chapter="st-louis", donor_name="Sam Stl")
        make_user(session, "t@mm.org", "mid-missouri")
        make_user(session, "t@kc.org", "kansas-city")
    give_to_the_whole_drive(client, "37")
    added = runner.invoke(
        args=["gift", "add", "mo-2026", "63", "--name", "Otto Offline", "--method", "cash"]
    )
    assert added.exit_code == 0, added.output

    api = api_adds_up(client)
    assert api["raised_cents"] == 20_000 and api["donation_count"] == 3
    host = next(c for c in api["chapters"] if c["slug"] == "mid-missouri")
    assert host["host"] is True and host["raised_cents"] == 10_000
    assert (host["whole_drive_raised_cents"], host["whole_drive_donation_count"]) == (10_000, 2)
    public = client.get("/drives/mo-2026").get_data(as_text=True)
    assert "Plus $100.00 in 2 gifts to the whole drive, held by Mid-Missouri" in public

    treasurer = SignedIn(app, "t@mm.org")
    dashboard = treasurer.get("/treasurer/mid-missouri/").get_data(as_text=True)
    assert figure(dashboard, "held") == "$100.00"
    assert figure(dashboard, "whole-drive-mo-2026") == "$100.00"
    other = SignedIn(app, "t@kc.org").get("/treasurer/kansas-city/").get_data(as_text=True)
    assert figure(other, "held") == "$0.00" and "whole-drive-mo-2026" not in other

    gifts = rows(treasurer.get("/treasurer/mid-missouri/donors.csv"))
    assert {(g["donor"], g["amount"], g["chapter"]) for g in gifts} == {
        ("Wanda Whole", "37.00", "(whole drive)"),
        ("Otto Offline", "63.00", "(whole drive)"),
    }
    entries = rows(treasurer.get("/treasurer/mid-missouri/ledger.csv"))
    assert sorted((e["kind"], e["amount"], e["chapter"]) for e in entries) == [
        ("gift", "37.00", "(whole drive)"),
        ("gift", "63.00", "(whole drive)"),
    ]

    report = treasurer.get(f"/treasurer/mid-missouri/reports/{today:%Y-%m}.pdf")
    text = " ".join(pdf_text(report.data).split())
    assert "Mid-Missouri hosts “Missouri Medical Debt Jubilee”" in text
    assert "$100.00 in 2 gifts to the whole drive so far" in text
    assert "Held at the end of the month $100.00" in text

    remittances = treasurer.get("/treasurer/mid-missouri/remittances").get_data(as_text=True)
    assert figure(remittances, "held-mo-2026") == "$100.00"
    sent = treasurer.post(
        "/treasurer/mid-missouri/remittances",
        {
            "drive": str(drive.id),
            "amount": "100",
            "sent_on": today.isoformat(),
            "reference": "ck 77",
        },
    )
    assert sent.status_code == 302, sent.get_data(as_text=True)[:800]
    dashboard = treasurer.get("/treasurer/mid-missouri/").get_data(as_text=True)
    assert figure(dashboard, "held") == "$0.00"
    with data(app) as session:
        drive = drives.get_drive(session, "mo-2026")
        assert ledger.verify(session, drive) == []
        totals = ledger.totals(session, drive)
        every_chapter = ledger.Figures.sum(part.books for part in totals.chapters)
        assert every_chapter == totals.figures
    verified = runner.invoke(args=["ledger", "verify"])
    assert verified.exit_code == 0, verified.output


def test_a_payment_link_naming_only_the_drive_is_in_the_hosts_books(
    stripe_app, stripe_session, stripe_client, today
):
    drive = make_coalition(stripe_session)
    make_user(stripe_session, "t@mm.org", "mid-missouri")
    obj = so.checkout_session(amount_cents=4_200, metadata={"drive": "mo-2026"})
    assert so.deliver(stripe_client, so.event("checkout.session.completed", obj)).status_code == 200

    api = api_adds_up(stripe_client)
    assert api["raised_cents"] == 4_200 and api["donation_count"] == 1
    treasurer = SignedIn(stripe_app, "t@mm.org")
    gifts = rows(treasurer.get("/treasurer/mid-missouri/donors.csv"))
    assert [(g["amount"], g["chapter"]) for g in gifts] == [("42.00", "(whole drive)")]
    entries = rows(treasurer.get("/treasurer/mid-missouri/ledger.csv"))
    assert ("gift", "42.00", "(whole drive)") in {
        (e["kind"], e["amount"], e["chapter"]) for e in entries
    }
    dashboard = treasurer.get("/treasurer/mid-missouri/").get_data(as_text=True)
    assert figure(dashboard, "whole-drive-mo-2026") == "$42.00"
    report = treasurer.get(f"/treasurer/mid-missouri/reports/{today:%Y-%m}.pdf")
    assert "$42.00 in 1 gift to the whole drive so far" in " ".join(pdf_text(report.data).split())
    stripe_session.rollback()
    assert ledger.verify(stripe_session, drive) == []


def test_the_demo_has_every_cent_in_one_chapters_books(app, runner):
    assert runner.invoke(args=["demo"]).exit_code == 0
    with data(app) as session:
        drive = drives.get_drive(session, demo.DEMO_DRIVE)
        totals = ledger.totals(session, drive)
        assert totals.unattributed.raised_cents > 0  # the demo has gifts to the whole drive
        assert ledger.Figures.sum(part.books for part in totals.chapters) == totals.figures
        assert totals.host and totals.host.slug == demo.DEMO_HOST
        assert ledger.verify(session, drive) == []
    api = api_adds_up(app.test_client(), demo.DEMO_DRIVE)
    assert api["raised_cents"] == totals.raised_cents


def test_an_admin_changes_the_host_until_the_first_gift_and_is_refused_after(app):
    with data(app) as session:
        make_coalition(session)
        make_user(session, "admin@mo.org", admin=True)
    admin = SignedIn(app, "admin@mo.org")
    page = admin.get("/admin/drives").get_data(as_text=True)
    assert "Host: <strong>Mid-Missouri</strong>" in page
    changed = admin.post("/admin/drives/mo-2026/host", {"mo-2026-chapter": "st-louis"})
    assert changed.status_code == 302
    assert "Host: <strong>St. Louis</strong>" in admin.get("/admin/drives").get_data(as_text=True)
    with data(app) as session:
        drive = drives.get_drive(session, "mo-2026")
        assert drive.host_chapter_id == drives.get_chapter(session, "st-louis").id
        line = session.exec(select(AuditEvent).where(AuditEvent.action == "drive.host")).one()
        assert "host chapter is now st-louis" in line.detail
        make_gift(session, drive, 2_500)  # the first gift: to the whole drive, St. Louis's

    refused = admin.post("/admin/drives/mo-2026/host", {"mo-2026-chapter": "kansas-city"})
    assert refused.status_code == 409
    sentence = " ".join(html.unescape(refused.get_data(as_text=True)).split())
    assert "can no longer change: the drive has gifts" in sentence
    assert "St. Louis's books" in sentence
    with data(app) as session:
        drive = drives.get_drive(session, "mo-2026")
        assert drive.host_chapter_id == drives.get_chapter(session, "st-louis").id
        st_louis = drives.get_chapter(session, "st-louis")
        assert ledger.totals(session, drive).books(st_louis.id).raised_cents == 2_500


def test_a_host_must_be_one_of_the_drives_chapters(session, runner):
    for slug in ("mid-missouri", "st-louis", "elsewhere"):
        drives.create_chapter(session, slug, slug.title())
    session.commit()
    refused = runner.invoke(
        args=["drive", "add", "x-2026", "--title", "X", "--goal", "100",
              "--chapters", "mid-missouri,st-louis", "--host", "elsewhere"]
    )  # fmt: skip
    assert refused.exit_code != 0
    assert "The host chapter “elsewhere” must be one of the drive's chapters" in refused.output
    made = runner.invoke(
        args=["drive", "add", "x-2026", "--title", "X", "--goal", "100",
              "--chapters", "mid-missouri,st-louis", "--host", "st-louis"]
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    session.rollback()
    drive = drives.get_drive(session, "x-2026")
    assert drive.host_chapter_id == drives.get_chapter(session, "st-louis").id
    moved = runner.invoke(args=["drive", "host", "x-2026", "elsewhere"])
    assert moved.exit_code != 0 and "does not take part" in moved.output


def test_a_whole_drive_gift_of_a_closed_month_lands_in_the_hosts_next_open_month(session):
    from datetime import UTC, datetime

    from relief.models import MonthClose

    drive = make_coalition(session)
    host = drives.get_chapter(session, "mid-missouri")
    session.add(MonthClose(chapter_id=host.id, month=date(2026, 1, 1)))
    session.commit()
    gift = make_gift(session, drive, 1_000, received_at=datetime(2026, 1, 15, tzinfo=UTC))
    entry = ledger.totals(session, drive)
    assert entry.books(host.id).raised_cents == 1_000
    moved = session.exec(select(Gift).where(Gift.id == gift.id)).one()
    assert moved.chapter_id is None
    from relief.models import Entry

    posted = session.exec(select(Entry).where(Entry.gift_id == gift.id)).one()
    assert posted.effective_at.replace(tzinfo=None) == datetime(2026, 2, 1)
    assert "in closed January 2026: moved to February 2026" in posted.memo
    assert ledger.verify(session, drive) == []


def test_the_migration_makes_the_lowest_chapter_host_and_keeps_every_fingerprint(session):
    """Drives made before hosts existed get the participating chapter with the lowest id (the
    one partner reports already treated as host); the month totals are rebuilt, the entries
    untouched, so each drive's fingerprint stays the same."""
    from alembic import command
    from sqlalchemy import text

    from relief.db import alembic_config
    from relief.models import Drive, MonthTotal

    drive = make_coalition(session, host_slug="st-louis")
    for amount, chapter in ((1_500, None), (2_500, "kansas-city"), (700, None)):
        make_gift(session, drive, amount, chapter=chapter)
    before = ledger.totals(session, drive)
    session.close()
    url = session.get_bind().url.render_as_string(hide_password=False)
    command.downgrade(alembic_config(url), "0015_partner_reports")
    with session.get_bind().connect() as connection:  # the old rule: no month for them
        assert connection.execute(text("SELECT sum(amount_cents) FROM month_total")).scalar() == (
            2_500
        )
    command.upgrade(alembic_config(url), "head")
    with Session(session.get_bind()) as fresh:
        drive = fresh.get(Drive, drive.id)
        mid_missouri = drives.get_chapter(fresh, "mid-missouri")
        assert drive.host_chapter_id == mid_missouri.id  # the lowest id, not the old choice
        after = ledger.totals(fresh, drive)
        assert (after.fingerprint, after.entry_count) == (before.fingerprint, 3)
        assert after.books(mid_missouri.id).raised_cents == 2_200
        months = {row.chapter_id: row.amount_cents for row in fresh.exec(select(MonthTotal))}
        assert months[mid_missouri.id] == 2_200
        assert ledger.verify(fresh, drive) == []


def test_a_whole_drive_gift_is_on_the_host_chapters_gifts_screen_and_can_be_corrected(app):
    with data(app) as session:
        drive = make_coalition(session)  # host: mid-missouri
        gift = make_gift(session, drive, 6_300, donor_name="Otto Offline")
        make_user(session, "t@mm.org", "mid-missouri")
        make_user(session, "t@kc.org", "kansas-city")
    host = SignedIn(app, "t@mm.org")
    listed = host.get("/treasurer/mid-missouri/gifts").get_data(as_text=True)
    assert "Otto Offline" in listed and "$63.00" in listed
    page = host.get(f"/treasurer/mid-missouri/gifts/{gift.id}")
    assert page.status_code == 200 and "Otto Offline" in page.get_data(as_text=True)
    corrected = host.post(
        f"/treasurer/mid-missouri/gifts/{gift.id}/correct",
        {"correct_amount": "60.00", "reason": "The cash was counted twice: $60"},
    )
    assert corrected.status_code == 302, corrected.get_data(as_text=True)[:800]
    dashboard = host.get("/treasurer/mid-missouri/").get_data(as_text=True)
    assert figure(dashboard, "held") == "$60.00"
    # Another chapter's treasurer sees no such gift, by list or by id.
    other = SignedIn(app, "t@kc.org")
    assert "Otto Offline" not in other.get("/treasurer/kansas-city/gifts").get_data(as_text=True)
    assert other.get(f"/treasurer/kansas-city/gifts/{gift.id}").status_code == 404
