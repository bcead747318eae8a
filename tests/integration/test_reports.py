"""The press impact report and donors' receipts, read back from the PDF as a reader would.

Figures are compared with the JSON API to the cent; private donor data must not appear.
"""

from __future__ import annotations

import gc
import html
import re
import subprocess
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from relief import boundary, demo, drives, ledger, money, organization
from relief.models import EntryKind, Gift, GiftMethod, GiftStatus, utcnow
from relief.reports import press, receipt, render
from relief.treasury import gifts
from tests import stripe_objects as so
from tests.conftest import make_app
from tests.factories import make_coalition, make_gift, make_partner_report
from tests.read_back import pdf_info, pdf_text, qr_codes_in_pdf
from tests.stripe_fixtures import *  # noqa: F403

CHAPTER_GOALS = {"mid-missouri": 60_000, "st-louis": 60_000, "kansas-city": 40_000}
PRIVATE = (
    "ana.private@example.org",
    "walk-in@example.org",
    "PRIVATE NOTE: call me about matching",
    "Zebulon Hiddenname",
)


def squeeze(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def missouri_example(session):
    """$1,600 raised in the three-chapter drive, with private data a report must not show."""
    drive = make_coalition(session, chapter_goals=CHAPTER_GOALS, target_region="Missouri")
    now = datetime.now(UTC)
    make_gift(
        session,
        drive,
        60_000,
        chapter="mid-missouri",
        donor_name="Ana B.",
        show_name=True,
        donor_email="ana.private@example.org",
        received_at=now - timedelta(days=6),
    )
    anonymous = make_gift(
        session,
        drive,
        50_000,
        chapter="st-louis",
        donor_name="Zebulon Hiddenname",
        show_name=False,
        received_at=now - timedelta(days=3),
    )
    walk_in = make_gift(
        session, drive, 50_000, donor_email="walk-in@example.org", method=GiftMethod.CASH
    )
    for gift in (anonymous, walk_in):
        gift.message = "PRIVATE NOTE: call me about matching"
        session.add(gift)
    session.commit()
    return drive


def headline(text: str) -> dict[str, str]:
    """The headline boxes as {label: figure}: the figure line and the label line under it,
    paired by column as a reader's eye pairs them."""
    # "about" is set smaller than the figure, so -layout may pad the space after it.
    lines = [re.sub(r"about +\$", "about $", line) for line in text.splitlines() if line.strip()]
    # The boxes' figure line, not the one-sentence summary above them (which also says "about").
    at = next(
        i
        for i, line in enumerate(lines)
        if "about $" in line and "projected debt relieved" in lines[i + 1]
    )

    def cells(line):
        return [(m.start(), m.group()) for m in re.finditer(r"\S+(?: \S+)*", line)]

    labels = cells(lines[at + 1])
    return {
        min(labels, key=lambda label: abs(label[0] - column))[1]: figure
        for column, figure in cells(lines[at])
    }


def chapter_row(text: str, name: str) -> list[str]:
    """The cells of the chapter table's row for ``name`` (the chart's labels have no cents)."""
    for line in text.splitlines():
        if line.strip().startswith(name) and re.search(r"\$[\d,]+\.\d\d", line):
            return line.split()
    raise AssertionError(f"no table row for {name}")


def test_missouri_example_reads_as_the_issue_promises(session, client):
    missouri_example(session)
    response = client.get("/drives/mo-2026/report.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    text = pdf_text(response.data)
    flat = squeeze(text)
    assert headline(text) == {
        "raised": "$1,600.00",
        "projected debt relieved": "about $160,000",
        "gifts": "3",
        "chapters": "3",
    }
    assert "Money raised over time" in flat and "Each chapter's part" in flat
    # The charts were drawn (their axis labels are text in the PDF), not left out.
    assert "Raised so far" in flat and "Goal $1,600" in flat
    # Each chapter's bar is in its table row, with the amount beside it; a $0 chapter too.
    assert "$600.00" in chapter_row(text, "Mid-Missouri")
    assert chapter_row(text, "Kansas City")[3] == "$0.00"  # Kansas City MO $0.00 $400.00 …
    assert "$500.00" in chapter_row(text, "Whole drive, held by Mid-Missouri")
    assert "How the estimate works" in flat and "50:1 to 260:1" in flat
    assert "not yet reported by Undue Medical Debt" in flat
    assert "face value" in flat


def test_every_figure_matches_the_api_to_the_cent(session, client):
    drive = missouri_example(session)
    st_louis = drives.get_chapter(session, "st-louis")
    # A processing fee and a partial refund, so raised, net and projected all differ.
    ledger.append(session, kind=EntryKind.FEE, amount_cents=1_133, drive_id=drive.id)
    ledger.append(
        session,
        kind=EntryKind.REFUND,
        amount_cents=-2_501,
        drive_id=drive.id,
        chapter_id=st_louis.id,
    )
    session.commit()

    api = client.get("/api/drives/mo-2026").get_json()
    text = pdf_text(client.get("/drives/mo-2026/report.pdf").data)
    flat = squeeze(text)
    cur = api["currency"]
    assert api["raised_cents"] == 157_499 and api["net_cents"] == 156_366
    assert headline(text) == {
        "raised": money.format(api["raised_cents"], cur),
        "projected debt relieved": "about "
        + money.format_whole(api["projected_relief_cents"], cur),
        "gifts": str(api["donation_count"]),
        "chapters": str(len(api["chapters"])),
    }
    assert f"of a {money.format(api['goal_cents'], cur)} goal" in flat
    assert f"{money.format(api['projected_relief_cents'], cur)} projected" in flat
    assert f"{money.format(api['net_cents'], cur)} net" in flat
    assert f"{money.format(api['fees_cents'], cur)} processing fees" in flat
    assert f"refunds ({money.format(api['refunds_cents'], cur)})" in flat
    assert f"at {api['ratio']}" in flat
    for chapter in api["chapters"]:
        # The PDF credits each chapter its own gifts; the API's host entry also holds the
        # gifts to the whole drive (their own row in the PDF).
        cells = chapter_row(text, chapter["name"])
        credited = chapter["raised_cents"] - chapter["whole_drive_raised_cents"]
        assert money.format(credited, cur) in cells
        assert money.format(chapter["goal_cents"], cur) in cells
        gifts = chapter["donation_count"] - chapter["whole_drive_donation_count"]
        assert cells[-1] == str(gifts)
    total_cells = chapter_row(text, "Drive total")
    assert total_cells[2] == money.format(api["raised_cents"], cur)
    assert total_cells[-1] == str(api["donation_count"])
    # The same books: the fingerprint in the PDF is the API's (short and in full).
    assert f"Ledger fingerprint {api['fingerprint'][:16]}" in flat
    assert api["fingerprint"] in flat
    assert f"{api['entry_count']} ledger entries" in flat


def test_report_shows_no_donor_email_message_or_name(session, client):
    missouri_example(session)
    data = client.get("/drives/mo-2026/report.pdf").data
    text = pdf_text(data)
    metadata = " ".join(pdf_info(data).values())
    for private in (*PRIVATE, "Ana B."):
        assert private not in text and private not in metadata


def test_report_stays_short_with_2000_gifts(app, session):
    drive = make_coalition(session)
    with app.app_context():
        with boundary.command() as writing:
            added = demo.add_gifts(writing, drive.slug, 2_000, checkpoint=boundary.checkpoint)
        assert added == 2_000
    client = app.test_client()
    api = client.get("/api/drives/mo-2026").get_json()
    data = client.get("/drives/mo-2026/report.pdf").data
    info = pdf_info(data)
    assert 1 <= int(info["Pages"]) <= 3
    figures = headline(pdf_text(data))
    assert figures["gifts"] == "2,000"
    assert figures["raised"] == money.format(api["raised_cents"])


def test_letter_by_default_and_a4_on_request(session, client):
    missouri_example(session)
    letter = pdf_info(client.get("/drives/mo-2026/report.pdf").data)
    a4 = pdf_info(client.get("/drives/mo-2026/report.pdf?paper=a4").data)
    assert letter["Page size"].startswith("612 x 792 pts")
    assert a4["Page size"].startswith("595.276 x 841.89 pts")
    response = client.get("/drives/mo-2026/report.pdf?paper=tabloid")
    assert response.status_code == 400
    assert "letter or a4" in response.get_data(as_text=True)


def test_report_is_tagged_with_embedded_fonts_and_page_numbers(session, client, tmp_path):
    missouri_example(session)
    data = client.get("/drives/mo-2026/report.pdf").data
    info = pdf_info(data)
    assert info["Tagged"] == "yes"
    assert info["Title"] == "Missouri Medical Debt Jubilee — press impact report"
    path = tmp_path / "fonts.pdf"
    path.write_bytes(data)
    fonts = subprocess.run(
        ["pdffonts", str(path)], check=True, capture_output=True, text=True
    ).stdout.splitlines()[2:]
    assert fonts and all("DejaVu" in line for line in fonts)
    # pdffonts' "emb" column: every font is embedded.
    assert all(line.split()[-5] == "yes" for line in fonts)
    pages = int(info["Pages"])
    assert f"Page {pages} of {pages}" in pdf_text(data)


def test_report_response_is_inline_with_a_good_filename(session, client):
    missouri_example(session)
    response = client.get("/drives/mo-2026/report.pdf")
    disposition = response.headers["Content-Disposition"]
    today = datetime.now(UTC).date().isoformat()
    assert disposition == f'inline; filename="mo-2026-impact-report-{today}.pdf"'
    assert client.get("/drives/nowhere/report.pdf").status_code == 404


def test_drive_page_links_to_the_report(session, client):
    missouri_example(session)
    html = client.get("/drives/mo-2026").get_data(as_text=True)
    assert 'href="/drives/mo-2026/report.pdf"' in html and "Press report (PDF)" in html


def test_qr_code_points_to_the_public_drive_page(database_url, session):
    missouri_example(session)
    app = make_app(database_url, RELIEF_PUBLIC_URL="https://relief.example.org")
    try:
        data = app.test_client().get("/drives/mo-2026/report.pdf").data
    finally:
        app.extensions["relief.engine"].dispose()
    assert "Drive page: https://relief.example.org/drives/mo-2026" in squeeze(pdf_text(data))
    # What a phone held up to the printed page reads: the code itself, decoded from pixels.
    assert qr_codes_in_pdf(data) == ["https://relief.example.org/drives/mo-2026"]


# Receipts -------------------------------------------------------------------------------------


def test_receipt_shows_the_gift_and_the_configured_statement(database_url, session):
    drive = missouri_example(session)
    gift = make_gift(
        session, drive, 12_345, chapter="kansas-city", donor_name="Rosa Q.", show_name=False
    )
    statement = "Gifts to the Example Fund are not tax-deductible. Thank you anyway."
    app = make_app(database_url, RELIEF_RECEIPT_STATEMENT=statement, RELIEF_ORG_NAME="Example Fund")
    try:
        response = app.test_client().get(f"/gifts/{gift.public_id}/receipt.pdf")
    finally:
        app.extensions["relief.engine"].dispose()
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert "no-store" in response.headers["Cache-Control"]
    assert response.headers["Content-Disposition"].startswith('inline; filename="receipt-')
    flat = squeeze(pdf_text(response.data))
    assert "$123.45" in flat
    assert statement in flat
    assert "Example Fund" in flat
    assert "Missouri Medical Debt Jubilee" in flat and "Kansas City" in flat
    assert "Rosa Q." in flat  # the donor's own name, on their own receipt
    assert gift.received_at.strftime("%B") in flat
    for private in PRIVATE:
        assert private not in flat


def test_receipt_default_statement_is_neutral(session, client):
    drive = missouri_example(session)
    gift = make_gift(session, drive, 2_500)
    flat = squeeze(pdf_text(client.get(f"/gifts/{gift.public_id}/receipt.pdf").data))
    assert "depends on the organization that receives the money" in flat


def test_no_receipt_for_unknown_or_unpaid_gifts(session, client):
    drive = missouri_example(session)
    for status in (GiftStatus.PENDING, GiftStatus.FAILED):
        gift = Gift(
            drive_id=drive.id,
            amount_cents=2_500,
            method=GiftMethod.CARD,
            status=status,
            donor_email="pending@example.org",
        )
        session.add(gift)
        session.commit()
        response = client.get(f"/gifts/{gift.public_id}/receipt.pdf")
        assert response.status_code == 404, status
        assert "no receipt here" in response.get_data(as_text=True)
    assert client.get("/gifts/not-a-real-id/receipt.pdf").status_code == 404


def _receipt_text(client, gift) -> str:
    response = client.get(f"/gifts/{gift.public_id}/receipt.pdf")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return squeeze(pdf_text(response.data))


def _gift_page(client, gift) -> str:
    """The donor's own page, as text."""
    page = client.get(f"/gifts/{gift.public_id}").get_data(as_text=True)
    return squeeze(html.unescape(re.sub(r"<[^>]+>", " ", page)))


def _day(moment: datetime) -> str:
    return f"{moment:%B} {moment.day}, {moment.year}"


def test_a_corrected_gift_gets_a_receipt_for_what_it_is_now_with_the_correction(session, client):
    drive = missouri_example(session)
    st_louis = drives.get_chapter(session, "st-louis")
    gift = make_gift(
        session, drive, 2_500, chapter="st-louis", donor_name="Cy Cash", method=GiftMethod.CASH
    )
    gifts.correct_gift(
        session, st_louis, gift.id, correct_amount_cents=2_000, reason="a $5 bill counted twice"
    )
    session.commit()
    text = _receipt_text(client, gift)
    assert "Amount $20.00 (USD)" in text
    today = _day(datetime.now(UTC))
    assert f"Received {today} $25.00" in text
    assert f"Corrected by the chapter's treasurer {today} -$5.00" in text
    assert "Amount now $20.00" in text
    assert "a $5 bill counted twice" not in text  # the treasurer's note, not the donor's
    page = _gift_page(client, gift)
    assert "Your $20.00 relieves about" in page
    assert "Corrected by the chapter's treasurer" in page and "Your gift now $20.00" in page


def _card_gift_refunded(stripe_client, amount_cents, refunded_cents, intent):
    """A card gift paid through Stripe's webhook, then refunded (in part or in full) today."""
    evt = so.event(
        "checkout.session.completed",
        so.checkout_session(
            amount_cents=amount_cents,
            metadata={"drive": "mo-2026", "chapter": "st-louis"},
            payment_intent=intent,
            name="Rae Refund",
        ),
    )
    assert so.deliver(stripe_client, evt).status_code == 200
    charge_id = f"ch_{intent}"
    refund = so.refund(
        refund_id=f"re_{intent}",
        charge_id=charge_id,
        payment_intent=intent,
        amount_cents=refunded_cents,
    )
    charge = so.charge(
        charge_id=charge_id,
        payment_intent=intent,
        amount_cents=amount_cents,
        amount_refunded=refunded_cents,
        refunds=[refund],
    )
    assert so.deliver(stripe_client, so.event("charge.refunded", charge)).status_code == 200


def _gift_by_intent(stripe_session, intent):
    stripe_session.expire_all()
    return stripe_session.exec(select(Gift).where(Gift.stripe_payment_intent_id == intent)).one()


def test_a_partly_refunded_gift_gets_a_receipt_for_what_it_kept(
    stripe_session, stripe_client, fake_stripe
):
    make_coalition(stripe_session)
    _card_gift_refunded(stripe_client, 5_000, 2_000, "pi_part")
    gift = _gift_by_intent(stripe_session, "pi_part")
    assert gift.status is GiftStatus.PAID
    text = _receipt_text(stripe_client, gift)
    today = _day(datetime.now(UTC))
    assert "Amount $30.00 (USD)" in text
    assert "$50.00" in text and f"Refunded to you {today} -$20.00" in text
    assert "Amount now $30.00" in text and "was refunded" not in text
    page = _gift_page(stripe_client, gift)
    assert "Your $30.00 relieves about" in page
    assert "$20.00 of your $50.00 gift was refunded" in page


def test_a_fully_refunded_gift_gets_a_receipt_that_says_it_was_refunded(
    stripe_session, stripe_client, fake_stripe
):
    make_coalition(stripe_session)
    _card_gift_refunded(stripe_client, 5_000, 5_000, "pi_full")
    gift = _gift_by_intent(stripe_session, "pi_full")
    assert gift.status is GiftStatus.REFUNDED
    text = _receipt_text(stripe_client, gift)
    today = _day(datetime.now(UTC))
    assert "This gift was refunded: $50.00 went back to you" in text
    assert "Amount $0.00 (USD)" in text and f"Refunded to you {today} -$50.00" in text
    page = _gift_page(stripe_client, gift)
    assert "This gift was refunded: $50.00 went back to you" in page
    assert "Your $0.00" not in page and "It counts toward" not in page
    assert "Refunded to you, " in page and "Your gift now $0.00" in page
    raw = stripe_client.get(f"/gifts/{gift.public_id}").get_data(as_text=True)
    assert f'href="/gifts/{gift.public_id}/receipt.pdf"' in raw


# Command line ---------------------------------------------------------------------------------


def test_cli_writes_the_report(session, runner, tmp_path):
    missouri_example(session)
    out = tmp_path / "mo.pdf"
    result = runner.invoke(args=["report", "drive", "mo-2026", "-o", str(out), "--paper", "a4"])
    assert result.exit_code == 0, result.output
    assert "Wrote" in result.output
    data = out.read_bytes()
    assert data.startswith(b"%PDF-")
    assert pdf_info(data)["Page size"].startswith("595.276 x 841.89")
    assert headline(pdf_text(data))["raised"] == "$1,600.00"


def test_cli_fails_clearly_for_an_unknown_drive(session, runner, tmp_path):
    missouri_example(session)
    out = tmp_path / "none.pdf"
    result = runner.invoke(args=["report", "drive", "nowhere", "-o", str(out)])
    assert result.exit_code != 0
    assert "There is no drive “nowhere”" in result.output
    assert not out.exists()


# The URL fetcher ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://example.org/tracker.png",
        "https://example.org/font.woff",
        "file:///etc/passwd",
        (render.STATIC / ".." / "relief.css").as_uri(),
        "data:text/html,<p>hi</p>",
        "ftp://example.org/x",
    ],
)
def test_weasyprint_may_fetch_only_packaged_files(url):
    with pytest.raises(ValueError, match="only use packaged files|disallowed"):
        render.PackagedFilesOnly().fetch(url)


def test_packaged_stylesheet_is_fetched():
    response = render.PackagedFilesOnly().fetch((render.STATIC / "report.css").as_uri())
    assert b"@page" in response.read()


def test_snapshot_holds_plain_data_only(session):
    from dataclasses import fields, is_dataclass

    from relief.reports import press

    drive = missouri_example(session)
    snapshot = press.build(session, drive.slug, datetime.now(UTC))
    session.close()  # rendering needs no database

    def plain(value):
        if is_dataclass(value):
            return all(plain(getattr(value, f.name)) for f in fields(value))
        if isinstance(value, tuple):
            return all(plain(v) for v in value)
        return value is None or type(value).__module__ in ("builtins", "datetime")

    assert plain(snapshot)
    assert snapshot.days[-1].cumulative_cents == snapshot.raised_cents == 160_000
    assert render.pdf(snapshot).startswith(b"%PDF-")


def test_report_of_a_drive_with_no_gifts_yet(session, client):
    make_coalition(session)
    response = client.get("/drives/mo-2026/report.pdf")
    assert response.status_code == 200
    text = pdf_text(response.data)
    assert headline(text) == {
        "raised": "$0.00",
        "projected debt relieved": "about $0",
        "gifts": "0",
        "chapters": "3",
    }
    assert "0 ledger entries" in squeeze(text)


# What the press report leads with, and what it reads ------------------------------------------


def test_once_the_partner_reports_its_figure_leads_beside_the_projection_and_the_money(
    session, client
):
    from tests.treasury_helpers import make_user

    drive = missouri_example(session)
    mid_missouri = drives.get_chapter(session, "mid-missouri")
    make_partner_report(
        session, mid_missouri, drive, make_user(session, "host@mm.org", "mid-missouri"),
        sent_cents=50_000, reference="wire 88", partner_reference="UMD-2026-031",
        debt_abolished_cents=15_000_000, people_helped=212, region="Missouri",
        on=datetime.now(UTC).date(),
    )  # fmt: skip
    session.commit()
    text = pdf_text(client.get("/drives/mo-2026/report.pdf").data)
    figures = next(line for line in text.splitlines() if "$150,000.00" in line and "about" in line)
    # The partner's actual figure first, the money remitted for it, then the projection.
    assert re.search(r"\$150,000\.00\s+\$500\.00\s+about\s+\$160,000", figures)
    flat = squeeze(text)
    assert "medical debt relieved" in flat and "for 212 people" in flat
    assert "Why the figures differ." in flat
    assert "The other $1,100.00 of net money is not yet in a reported purchase" in flat
    assert "not yet reported" not in flat


def test_test_money_is_marked_on_every_page_and_real_money_is_not(app, session):
    drive = make_coalition(session)
    client = app.test_client()
    assert "TEST MODE" not in pdf_text(client.get("/drives/mo-2026/report.pdf").data)
    make_gift(session, drive, 5_000, chapter="st-louis")
    session.commit()
    assert "TEST MODE" not in pdf_text(client.get("/drives/mo-2026/report.pdf").data)
    with app.app_context():
        with boundary.command() as writing:
            demo.add_gifts(writing, drive.slug, 3, checkpoint=boundary.checkpoint)
    data = client.get("/drives/mo-2026/report.pdf").data
    pages = pdf_text(data).split("\f")[: int(pdf_info(data)["Pages"])]
    assert all("TEST MODE: these figures count test gifts" in page for page in pages)


def test_the_press_contact_setting_is_printed(database_url, session):
    missouri_example(session)
    app = make_app(database_url, RELIEF_PRESS_CONTACT="Dana Reyes, press@mo.org, 314-555-0100")
    try:
        data = app.test_client().get("/drives/mo-2026/report.pdf").data
    finally:
        app.extensions["relief.engine"].dispose()
    assert "Press contact: Dana Reyes, press@mo.org, 314-555-0100" in squeeze(pdf_text(data))


def test_the_report_reads_no_gift_but_the_test_mode_lookup(app, session):
    """The drive page's recent supporters are not on the report: their query (which scans
    every entry on SQLite) is not run for it. The one look at gifts is the indexed
    "any test money?" lookup."""
    from sqlalchemy import event

    from relief.reports import press

    missouri_example(session)
    statements = []
    engine = app.extensions["relief.engine"]

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        with app.app_context(), boundary.command(write=False) as reading:
            press.build(reading, "mo-2026", datetime.now(UTC))
    finally:
        event.remove(engine, "before_cursor_execute", record)
    reading_gifts = [s for s in statements if re.search(r"\bFROM gift\b", s)]
    assert len(reading_gifts) == 1
    assert re.search(r"WHERE gift\.drive_id = \S+ AND gift\.test_mode = ", reading_gifts[0])
    assert not [s for s in statements if re.search(r"\bFROM entry\b", s)]


def test_a_report_asked_again_unchanged_is_not_rendered_again_and_a_gift_is_on_the_next(
    session, client, monkeypatch
):
    """Rendering costs WeasyPrint's layout (~0.2 s of CPU); the same HTML gives the same PDF,
    so a report whose figures (and "as of" minute) have not moved is served from the bytes
    kept. The chart's SVG id was random (pygal's), which made every report's HTML new."""
    from relief.views import reports as report_views

    drive = missouri_example(session)
    now = datetime.now(UTC)  # one "as of" minute for the whole test, whenever it runs
    monkeypatch.setattr(report_views, "utcnow", lambda: now)
    first = client.get("/drives/mo-2026/report.pdf")
    assert first.status_code == 200

    def must_not_render(*_args, **_kwargs):
        raise AssertionError("rendered again")

    with monkeypatch.context() as patch:
        patch.setattr(render, "HTML", must_not_render)
        again = client.get("/drives/mo-2026/report.pdf")
    assert again.status_code == 200 and again.data == first.data

    make_gift(session, drive, 2_500, chapter="st-louis")
    after_gift = client.get("/drives/mo-2026/report.pdf")
    assert headline(pdf_text(after_gift.data))["raised"] == "$1,625.00"


def _resident_mb() -> float:
    """This process's resident memory (Linux's /proc), in MB, once Python has collected
    every cycle: what stays, not what waits for the collector."""
    gc.collect()
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def test_a_process_rendering_receipt_after_receipt_keeps_its_memory(database_url, app, session):
    """The outbox's worker renders a receipt for every gift it emails, one after another in
    one long-lived process, and a web worker renders a report whenever its figures move.
    WeasyPrint's own default, a new font configuration per document, kept ~0.2 MB per PDF
    for good (~11 MB for the 50 below; 22 MB per 100 renders of any document), and ~1 MB
    more each until Python's next full collection: ten thousand receipts would have cost a
    worker 2 GB."""
    if not database_url.startswith("sqlite"):
        pytest.skip("rendering reads no database: once is enough")

    drive = missouri_example(session)
    gift = make_gift(session, drive, 2_500, chapter="st-louis", donor_name="Rosa Q.")
    with app.app_context(), boundary.command(write=False) as reading:
        issuer = organization.issuer(reading, app.config)
        first = receipt.build(reading, gift.public_id, issuer=issuer, now=utcnow(), reissue=True)
    # A hundred gifts' receipts: each its own document, so each a first render.
    receipts = [
        replace(first, number=f"{first.number}-{n}", amount_cents=2_500 + n) for n in range(100)
    ]

    def render_receipts(some) -> bytes:
        for each in some:
            render._RENDERED.clear()  # not the kept PDFs' memory: only the rendering's
            last = render.receipt_pdf(each)
        return last

    render_receipts(receipts[:50])  # fonts opened, caches and the allocator settled
    before = _resident_mb()
    last = render_receipts(receipts[50:])
    assert _resident_mb() - before < 4  # was ~11 MB for these 50
    assert "$25.99" in pdf_text(last)  # the hundredth receipt's own figure


def test_reports_rendered_in_two_threads_at_once_are_both_whole(app, session):
    """Each thread keeps its own fonts (a Pango font map is not safe to share between
    threads): the browser tests' server and a worker's threads may render side by side."""
    missouri_example(session)
    with app.app_context(), boundary.command(write=False) as reading:
        snapshot = press.build(reading, "mo-2026", utcnow(), drive_url="https://x/d")
    results: dict[str, list[bytes]] = {"a4": [], "letter": []}

    def render_three(paper: str) -> None:
        for n in range(3):  # three titles: three documents, each rendered
            retitled = replace(snapshot, title=f"{snapshot.title} {paper} {n}")
            results[paper].append(render.pdf(retitled, paper))

    threads = [threading.Thread(target=render_three, args=(paper,)) for paper in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for paper, pdfs in results.items():
        assert len(pdfs) == 3
        for n, data in enumerate(pdfs):
            assert f"{paper} {n}" in pdf_info(data)["Title"]
            assert headline(pdf_text(data))["raised"] == "$1,600.00"
            size = pdf_info(data)["Page size"]
            assert size.startswith("595.276 x 841.89" if paper == "a4" else "612 x 792")
