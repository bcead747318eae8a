"""The partner's reports are facts about purchases: one record per purchase (the partner's
reference, unique per drive), recorded only by the drive's host chapter's treasurer or an
admin, corrected or withdrawn by a new record that keeps the old one in the history, and an
actual ratio on the money of the reported purchases alone. SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
from datetime import date, timedelta

from sqlmodel import select

from relief import drives
from relief.models import AuditEvent, PartnerReport, Remittance
from relief.treasury import remittances
from tests.factories import make_coalition, make_gift
from tests.treasury_helpers import SignedIn, data, make_user

#: The host chapter (the drive's first) and another chapter of the same drive.
HOST = "/treasurer/mid-missouri/partner-reports"
OTHER = "/treasurer/st-louis/partner-reports"


def coalition(app):
    """Mid-Missouri (the host) sent the partner $1,000 (wire 88); St. Louis sent $500 (ck 3001)."""
    with data(app) as session:
        drive = make_coalition(session, starts_on=date.today() - timedelta(days=30))
        make_gift(session, drive, 100_000, chapter="mid-missouri")
        make_gift(session, drive, 60_000, chapter="st-louis")
        for slug, cents, reference in (
            ("mid-missouri", 100_000, "wire 88"),
            ("st-louis", 50_000, "ck 3001"),
        ):
            remittances.record_remittance(
                session,
                drives.get_chapter(session, slug),
                drive_id=drive.id,
                amount_cents=cents,
                sent_on=date.today(),
                reference=reference,
            )
        session.commit()
        make_user(session, "host@mm.org", "mid-missouri")
        make_user(session, "t@stl.org", "st-louis")
        make_user(session, "admin@mo.org", admin=True)


def remittance_id(app, reference):
    with data(app) as session:
        return session.exec(select(Remittance.id).where(Remittance.reference == reference)).one()


def letter(app, remitted=("wire 88",), **changes):
    """The partner's letter of purchase UMD-2026-031, dated the day it is entered, as the
    form posts it."""
    return {
        "drive": "1",
        "partner_reference": "UMD-2026-031",
        "debt_abolished": "150,000",
        "people_helped": "212",
        "unit": "people",
        "region": "Missouri",
        "reported_on": date.today().isoformat(),
        "remittances": [str(remittance_id(app, reference)) for reference in remitted],
        **changes,
    }


def report_ids(app):
    with data(app) as session:
        return list(session.exec(select(PartnerReport.id).order_by(PartnerReport.id)))


def public_figures(app):
    """What the public sees: the drive page's actual-relief line, the API's actual_relief and
    the press PDF's text (whitespace folded)."""
    client = app.test_client()
    page = " ".join(client.get("/drives/mo-2026").get_data(as_text=True).split())
    line = (
        page.split('<p class="actual-relief">', 1)[1].split("</p>", 1)[0]
        if ('class="actual-relief"' in page)
        else None
    )
    api = client.get("/api/drives/mo-2026").get_json()["actual_relief"]
    pdf = client.get("/drives/mo-2026/report.pdf").data
    text = subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()
    return line, api, " ".join(text.split())


def test_the_same_letter_entered_twice_by_two_people_counts_once(app):
    coalition(app)
    host, admin = SignedIn(app, "host@mm.org"), SignedIn(app, "admin@mo.org")
    first = host.post(HOST, letter(app))
    assert first.status_code == 302, first.get_data(as_text=True)
    # The admin enters the same letter (a different number typed, the same reference).
    again = admin.post(HOST, letter(app, debt_abolished="150,001"))
    body = again.get_data(as_text=True)
    assert again.status_code == 409
    assert "UMD-2026-031 is already recorded" in body
    assert "$150,000.00" in body and "host@mm.org" in body  # the first record, shown
    assert 'value="150,001"' in body  # what the admin typed is kept
    assert len(report_ids(app)) == 1
    line, api, pdf = public_figures(app)
    assert "<strong>$150,000</strong>" in line and "<strong>212</strong> people" in line
    assert api["debt_abolished_cents"] == 15_000_000 and api["people_helped"] == 212
    assert api["report_count"] == 1
    assert "relieved $150,000.00 of medical debt for 212 people" in pdf  # the press summary


def test_only_the_host_chapters_treasurer_or_an_admin_records_a_report(app):
    coalition(app)
    other = SignedIn(app, "t@stl.org")
    refused = other.post(OTHER, letter(app))
    assert refused.status_code == 403
    assert "Only Mid-Missouri" in refused.get_data(as_text=True)
    assert report_ids(app) == []
    assert SignedIn(app, "host@mm.org").post(HOST, letter(app)).status_code == 302
    # St. Louis's treasurer sees the host's report, but no form to record, correct or withdraw.
    page = other.get(OTHER).get_data(as_text=True)
    assert "UMD-2026-031" in page and "$150,000.00" in page
    assert 'name="partner_reference"' not in page and 'name="reason"' not in page
    (report,) = report_ids(app)
    for action in ("correct", "withdraw"):
        response = other.post(f"{OTHER}/{report}/{action}", {**letter(app), "reason": "mine"})
        assert response.status_code == 403, action
    # An admin records from any chapter's treasury.
    admin = SignedIn(app, "admin@mo.org")
    response = admin.post(OTHER, letter(app, partner_reference="UMD-2026-044"))
    assert response.status_code == 302
    assert len(report_ids(app)) == 2


def test_a_correction_and_a_withdrawal_change_every_public_figure_and_keep_the_history(app):
    coalition(app)
    host = SignedIn(app, "host@mm.org")
    assert host.post(HOST, letter(app)).status_code == 302
    (first,) = report_ids(app)
    corrected = host.post(
        f"{HOST}/{first}/correct",
        {
            **letter(app, debt_abolished="120,000", people_helped="180"),
            "reason": "The April letter corrects the face value",
        },
    )
    assert corrected.status_code == 302, corrected.get_data(as_text=True)
    line, api, pdf = public_figures(app)
    assert "<strong>$120,000</strong>" in line and "<strong>180</strong> people" in line
    assert "120:1" in line  # $120,000 on the $1,000 of wire 88
    assert api["debt_abolished_cents"] == 12_000_000 and api["people_helped"] == 180
    assert api["report_count"] == 1 and api["actual_ratio"] == "120:1"
    assert "relieved $120,000.00 of medical debt for 180 people" in pdf
    assert "$150,000" not in pdf
    # A second click on the old record's form changes nothing.
    twice = host.post(
        f"{HOST}/{first}/correct", {**letter(app, debt_abolished="99"), "reason": "again"}
    )
    assert twice.status_code == 409 and "already corrected" in twice.get_data(as_text=True)

    second = report_ids(app)[-1]
    withdrawn = host.post(f"{HOST}/{second}/withdraw", {"reason": "The partner cancelled it"})
    assert withdrawn.status_code == 302, withdrawn.get_data(as_text=True)
    line, api, pdf = public_figures(app)
    assert line is None and api is None
    assert "not yet reported" in pdf and "$120,000.00 of medical debt" not in pdf

    history = host.get(HOST).get_data(as_text=True)
    history = history.split('id="list-title"', 1)[1]
    for shown in (
        "$150,000.00",
        "$120,000.00",
        "The April letter corrects the face value",
        "The partner cancelled it",
        "withdrawn",
    ):
        assert shown in history, shown
    assert len(report_ids(app)) == 3  # nothing edited or deleted
    with data(app) as session:
        actions = [
            event.action for event in session.exec(select(AuditEvent).order_by(AuditEvent.id))
        ]
    assert [a for a in actions if a.startswith("partner_report.")] == [
        "partner_report.record",
        "partner_report.correct",
        "partner_report.withdraw",
    ]


def test_the_actual_ratio_uses_only_the_money_of_the_reported_purchases(app, today):
    coalition(app)
    host = SignedIn(app, "host@mm.org")
    # St. Louis's $500 and money sent directly to the partner bought nothing reported yet.
    direct = host.post(
        "/treasurer/mid-missouri/direct",
        {
            "drive": "1",
            "amount": "250",
            "method": "check",
            "check_number": "77",
            "name": "Pat",
            "received": today.isoformat(),
            "partner_reference": "UMD-D-1",
        },
    )
    assert direct.status_code == 302
    assert host.post(HOST, letter(app)).status_code == 302
    _, api, _ = public_figures(app)
    assert api["actual_ratio"] == "150:1"  # $150,000 ÷ wire 88's $1,000, not ÷ $1,750
    assert api["remitted_cents"] == 100_000
    # A second purchase paid with St. Louis's check and the same wire counts each once.
    second = letter(
        app,
        remitted=("wire 88", "ck 3001"),
        partner_reference="UMD-2026-044",
        debt_abolished="30,000",
        people_helped="20",
    )
    assert host.post(HOST, second).status_code == 302
    _, api, _ = public_figures(app)
    assert api["remitted_cents"] == 150_000 and api["actual_ratio"] == "120:1"
    # A remittance reversed as a mistake no longer counts as money behind the purchases.
    with data(app) as session:
        check = session.exec(select(Remittance).where(Remittance.reference == "ck 3001")).one()
        remittances.reverse_remittance(
            session, drives.get_chapter(session, "st-louis"), check.id, "bounced"
        )
        session.commit()
    _, api, _ = public_figures(app)
    assert api["remitted_cents"] == 100_000 and api["actual_ratio"] == "180:1"


def test_a_report_names_its_remittances_from_the_drive_and_refuses_others(app):
    coalition(app)
    with data(app) as session:
        other = drives.create_drive(
            session,
            slug="mm-only",
            title="Mid-Missouri alone",
            goal_cents=10_000,
            chapter_slugs=["mid-missouri"],
        )
        make_gift(session, other, 5_000, chapter="mid-missouri")
        remittances.record_remittance(
            session,
            drives.get_chapter(session, "mid-missouri"),
            drive_id=other.id,
            amount_cents=5_000,
            sent_on=date.today(),
            reference="other drive's wire",
        )
        session.commit()
    host = SignedIn(app, "host@mm.org")
    response = host.post(HOST, letter(app, remitted=("other drive's wire",)))
    assert response.status_code == 400
    assert "not a remittance to this drive" in response.get_data(as_text=True)
    response = host.post(HOST, letter(app, remitted=()))
    assert response.status_code == 400
    assert "Choose the remittances" in response.get_data(as_text=True)
    assert report_ids(app) == []
