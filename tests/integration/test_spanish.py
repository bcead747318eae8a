"""Donor pages, emails and receipts in Spanish: a visitor whose browser asks for Spanish
walks from the drive's ledger through the test checkout and the thank-you page to the
receipt PDF, all in Spanish with dollars as "$25.00" (es_US) and dates in Spanish; the
switcher (English | Español) sticks across pages and brings English back; anonymous pages
still set no cookie; the page cache keeps English and Spanish apart (two ETags, Vary); the
receipt email of a gift given in Spanish is in Spanish, whoever sends it. On SQLite and
PostgreSQL."""

from __future__ import annotations

import re
from datetime import date

import pytest
from babel.dates import format_date
from sqlmodel import Session, select

from relief import organization
from relief.config import smtp_settings
from relief.ledger import months
from relief.models import Drive, Gift, utcnow
from relief.outbox.worker import Worker
from relief.reports import render, year_end
from tests.conftest import make_app
from tests.factories import make_coalition
from tests.integration.test_donate import csrf_token, give, text_of
from tests.mailbox import parts
from tests.read_back import pdf_text
from tests.stripe_fixtures import fake_stripe, stripe_app  # noqa: F401

SPANISH = {"Accept-Language": "es-US,es;q=0.9,en;q=0.5"}
ENGLISH = {"Accept-Language": "en-US,en;q=0.9"}


@pytest.fixture
def app(database_url, mailbox):
    app = make_app(
        database_url,
        SMTP=smtp_settings(mailbox.url),
        MAIL_FROM="Missouri Relief <receipts@relief.example.org>",
        RELIEF_PUBLIC_URL="https://relief.example.org",
        RELIEF_ORG_NAME="Missouri Relief",
    )
    with Session(app.extensions["relief.engine"], expire_on_commit=False) as session:
        make_coalition(session)
    yield app
    app.extensions["relief.engine"].dispose()


def give_in_test_mode(client) -> str:
    """Give $25 through the donate form and the test checkout; the gift's public id."""
    checkout = give(client).headers["Location"]
    public_id = checkout.split("?")[0].rsplit("/", 1)[1]
    token = csrf_token(client, checkout)
    assert (
        client.post(f"/test-checkout/{public_id}/pay", data={"csrf_token": token}).status_code
        == 303
    )
    return public_id


def spanish_today() -> str:
    return format_date(months.today(), "long", locale="es")


def test_a_spanish_visitor_gives_and_reads_the_thank_you_page_and_receipt_in_spanish(app):
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = SPANISH["Accept-Language"]
    drive = client.get("/drives/mo-2026").get_data(as_text=True)
    assert '<html lang="es">' in drive
    assert "Buscar mis donaciones" in text_of(client.get("/drives/mo-2026"))
    ledger = text_of(client.get("/drives/mo-2026/ledger"))
    assert "El registro" in ledger and "Compruebe estas cifras usted mismo" in ledger
    assert "The ledger" not in ledger

    public_id = give_in_test_mode(client)
    with Session(app.extensions["relief.engine"]) as session:
        gift = session.exec(select(Gift).where(Gift.public_id == public_id)).one()
        assert gift.locale == "es"  # kept: the receipt and emails are written in it
    thanks = text_of(client.get(f"/gifts/{public_id}"))
    assert "¡Gracias!" in thanks
    assert "Sus $25.00 alivian cerca de" in thanks and "de deuda médica" in thanks
    assert "Descargar su recibo (PDF)" in thanks
    assert "Thank you" not in thanks

    receipt = " ".join(pdf_text(client.get(f"/gifts/{public_id}/receipt.pdf").data).split())
    assert "Recibo de su donación" in receipt
    assert "$25.00" in receipt and "US$" not in receipt  # es_US: a dollar reads as one
    assert f"Fecha {spanish_today()}" in receipt  # e.g. "2 de diciembre de 2026"
    assert "No se entregaron bienes ni servicios a cambio de esta donación." in receipt
    assert "Que esta donación sea deducible de impuestos depende de" in receipt  # the default
    assert "Página 1 de 1" in receipt
    assert "Receipt for your gift" not in receipt

    # The receipt is in the language the gift was given in, whoever downloads it.
    english_reader = app.test_client()
    again = pdf_text(english_reader.get(f"/gifts/{public_id}/receipt.pdf", headers=ENGLISH).data)
    assert "Recibo de su donación" in again
    # ...and the thank-you page in the reader's own language.
    assert "Thank you!" in text_of(english_reader.get(f"/gifts/{public_id}", headers=ENGLISH))


def test_a_form_error_is_in_spanish_and_keeps_what_was_typed(app):
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = SPANISH["Accept-Language"]
    refused = give(client, amount_choice="other", custom_amount="25.505", donor_name="Ana")
    assert refused.status_code == 400
    page = text_of(refused)
    assert "Los montos tienen como máximo dos decimales (centavos)." in page
    assert 'value="Ana"' in refused.get_data(as_text=True)


def test_the_receipt_email_of_a_gift_given_in_spanish_is_in_spanish(app, mailbox):
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = SPANISH["Accept-Language"]
    give_in_test_mode(client)
    english = app.test_client()
    english.environ_base["HTTP_ACCEPT_LANGUAGE"] = ENGLISH["Accept-Language"]
    checkout = give(english, email="eve@example.org").headers["Location"]
    public_id = checkout.split("?")[0].rsplit("/", 1)[1]
    token = csrf_token(english, checkout)
    english.post(f"/test-checkout/{public_id}/pay", data={"csrf_token": token})

    Worker(app).burst()  # the worker speaks no language of its own
    [spanish] = mailbox.to("dana@example.org")
    subject = str(spanish["Subject"])
    assert subject.startswith("[Modo de prueba — no se movió dinero] Su recibo: $25.00 para ")
    body = parts(spanish)
    assert "Gracias, Dana Donor." in body["text"]
    assert "Missouri Relief recibió su donación de $25.00" in body["text"]
    assert '<html lang="es">' in body["html"]
    [attached] = body["pdfs"]
    assert "Recibo de su donación" in pdf_text(attached)
    [other] = mailbox.to("eve@example.org")
    assert "Your receipt: $25.00 to " in str(other["Subject"])
    assert "Thank you, Dana Donor." in parts(other)["text"]


def test_the_switcher_sticks_across_pages_and_brings_english_back(app):
    client = app.test_client()  # a browser that asks for English
    page = client.get("/drives/mo-2026", headers=ENGLISH).get_data(as_text=True)
    switch = re.search(r'<a href="([^"]+)" lang="es" hreflang="es"[^>]*>Español</a>', page)[1]
    assert switch == "/language/es?next=/drives/mo-2026"
    chosen = client.get(switch.replace("&amp;", "&"), headers=ENGLISH)
    assert chosen.status_code == 303 and chosen.headers["Location"] == "/drives/mo-2026"
    assert "lang=es" in chosen.headers["Set-Cookie"]
    assert "HttpOnly" in chosen.headers["Set-Cookie"]
    for path in (
        "/drives/mo-2026",
        "/drives/mo-2026/ledger",
        "/my-gifts",
        "/drives/mo-2026/st-louis",
    ):
        html = client.get(path, headers=ENGLISH).get_data(as_text=True)
        assert '<html lang="es">' in html, path
    assert "Buscar mis donaciones" in text_of(client.get("/my-gifts", headers=ENGLISH))
    back = client.get("/language/en?next=/drives/mo-2026/ledger", headers=SPANISH)
    assert back.headers["Location"] == "/drives/mo-2026/ledger"
    ledger = client.get("/drives/mo-2026/ledger", headers=SPANISH).get_data(as_text=True)
    assert '<html lang="en">' in ledger and "The ledger" in ledger


def test_the_switcher_never_leads_off_the_site(app):
    client = app.test_client()
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        answer = client.get("/language/es", query_string={"next": target})
        assert answer.headers["Location"] == "/", target


def test_anonymous_pages_set_no_cookie_in_either_language(app):
    client = app.test_client()
    for headers in (SPANISH, ENGLISH):
        for path in (
            "/",
            "/drives/mo-2026",
            "/drives/mo-2026/st-louis",
            "/drives/mo-2026/ledger",
        ):
            answer = client.get(path, headers=headers)
            assert answer.status_code == 200, path
            assert "Set-Cookie" not in answer.headers, path
            assert "Accept-Language" in answer.headers["Vary"], path


def test_staff_screens_stay_english_for_a_spanish_browser(app):
    client = app.test_client()
    login = client.get("/login", headers=SPANISH)
    assert '<html lang="en">' in login.get_data(as_text=True)
    assert "Español" not in login.get_data(as_text=True)  # no switcher there


def test_the_page_cache_keeps_english_and_spanish_apart(app):
    client = app.test_client()
    english = client.get("/drives/mo-2026", headers=ENGLISH)
    spanish = client.get("/drives/mo-2026", headers=SPANISH)
    assert '<html lang="en">' in english.get_data(as_text=True)
    assert '<html lang="es">' in spanish.get_data(as_text=True)
    assert english.headers["ETag"] != spanish.headers["ETag"]
    for answer in (english, spanish):
        vary = {name.strip() for name in answer.headers["Vary"].split(",")}
        assert {"Accept-Encoding", "Cookie", "Accept-Language"} <= vary
        assert answer.headers["Cache-Control"].startswith("public")
    # Served again from the store, each in its own language.
    assert '<html lang="es">' in client.get("/drives/mo-2026", headers=SPANISH).get_data(
        as_text=True
    )
    assert '<html lang="en">' in client.get("/drives/mo-2026", headers=ENGLISH).get_data(
        as_text=True
    )
    # A Spanish reader holding the English ETag gets the Spanish page, not a 304.
    crossed = client.get(
        "/drives/mo-2026", headers={**SPANISH, "If-None-Match": english.headers["ETag"]}
    )
    assert crossed.status_code == 200 and '<html lang="es">' in crossed.get_data(as_text=True)
    same = client.get(
        "/drives/mo-2026", headers={**SPANISH, "If-None-Match": spanish.headers["ETag"]}
    )
    assert same.status_code == 304
    assert "Accept-Language" in same.headers["Vary"]
    # The list of drives, built on each request, differs by language too.
    home_en = client.get("/", headers=ENGLISH)
    home_es = client.get("/", headers=SPANISH)
    assert home_en.headers["ETag"] != home_es.headers["ETag"]
    assert "Accept-Language" in home_es.headers["Vary"]


def test_stripes_checkout_page_is_in_the_donors_language(stripe_app, fake_stripe):  # noqa: F811
    # Each request in its own app context, as in production (Flask-Babel keeps the
    # request's language in g).
    with Session(stripe_app.extensions["relief.engine"], expire_on_commit=False) as session:
        make_coalition(session)
    stripe_client = stripe_app.test_client()
    stripe_client.environ_base["HTTP_ACCEPT_LANGUAGE"] = SPANISH["Accept-Language"]
    assert give(stripe_client, email="ana@example.org").status_code == 303
    stripe_client.environ_base["HTTP_ACCEPT_LANGUAGE"] = ENGLISH["Accept-Language"]
    assert give(stripe_client, email="eve@example.org").status_code == 303
    spanish, english = [
        r["params"] for r in fake_stripe.requests if r["path"] == "/v1/checkout/sessions"
    ]
    assert spanish["locale"] == "es-419"
    assert spanish["line_items[0][price_data][product_data][name]"].startswith("Donación para ")
    assert spanish["payment_intent_data[description]"].startswith("Gift to ")  # the dashboard's
    assert "locale" not in english  # Stripe follows the browser, as before
    assert english["line_items[0][price_data][product_data][name]"].startswith("Gift to ")


def test_the_year_end_statement_is_in_the_language_of_the_donors_latest_gift(app):
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = SPANISH["Accept-Language"]
    give_in_test_mode(client)
    year = months.today().year
    with app.app_context(), Session(app.extensions["relief.engine"]) as session:
        statement = year_end.build(
            session,
            "dana@example.org",
            year,
            issuer=organization.issuer(session, app.config),
            now=utcnow(),
        )
        printed = " ".join(pdf_text(render.year_end_pdf(statement)).split())
    assert f"Su resumen de donaciones de {year}" in printed
    assert f"donado en {year} por Dana Donor: 1 donación, neta de reembolsos" in printed
    assert "$25.00" in printed and spanish_today() in printed
    assert "Página 1 de 1" in printed


def test_error_pages_speak_the_visitors_language(app):
    client = app.test_client()
    missing = client.get("/drives/nowhere", headers=SPANISH)
    assert missing.status_code == 404
    page = text_of(missing)
    assert "No se encontró" in page and "No existe la campaña “nowhere”." in page
    assert "Esta página no existe." in text_of(client.get("/no/such/page", headers=SPANISH))
    assert "There is no drive “nowhere”." in text_of(client.get("/drives/nowhere", headers=ENGLISH))


def test_files_are_the_same_in_every_language_and_say_so(app):
    client = app.test_client()
    for path in ("/static/relief.css", "/drives/mo-2026/qr.svg", "/drives/mo-2026/ledger.csv"):
        answer = client.get(path, headers=SPANISH)
        assert answer.status_code == 200, path
        assert "Accept-Language" not in answer.headers.get("Vary", ""), path


def test_the_press_report_stays_english_for_a_spanish_reader(app):
    client = app.test_client()
    give_in_test_mode(client)
    report = client.get("/drives/mo-2026/report.pdf", headers=SPANISH)
    assert report.status_code == 200
    printed = " ".join(pdf_text(report.data).split())
    assert "Page 1 of" in printed and "Página" not in printed
    assert months.day_text(months.today()) in printed  # e.g. "December 2, 2026"
    assert spanish_today() not in printed


def test_the_list_of_drives_gives_each_drives_last_day_in_the_visitors_language(app):
    with Session(app.extensions["relief.engine"], expire_on_commit=False) as session:
        drive = session.exec(select(Drive).where(Drive.slug == "mo-2026")).one()
        drive.ends_on = date(2026, 12, 31)
        session.add(drive)
        session.commit()
    client = app.test_client()
    assert "hasta el 31 de diciembre de 2026" in text_of(client.get("/", headers=SPANISH))
    assert "until December 31, 2026" in text_of(client.get("/", headers=ENGLISH))
