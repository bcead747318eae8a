"""Gifts in honour or in memory of someone (issue 17): the donate form's "Dedicate this gift",
a card by email to the person the donor names, sent once through the outbox (a real SMTP
server on loopback) naming the donor as they chose to be shown and the honoree, never the
amount; the card's recipient email on no public page, API, public CSV or press report;
erased with the donor. On SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, select

from relief.config import smtp_settings
from relief.models import Gift, Job
from tests.conftest import make_app
from tests.factories import make_coalition
from tests.integration.test_donate import csrf_token, give, text_of
from tests.integration.test_outbox_mail import burst
from tests.mailbox import parts
from tests.read_back import pdf_text
from tests.treasury_helpers import data

CARD_TO = "luis.card@example.org"
DEDICATED = {
    "dedication_kind": "memory",
    "honoree_name": "Rose Alvarez",
    "card_name": "Luis Alvarez",
    "card_email": CARD_TO,
    "card_message": "Thinking of you and of Rose.",
}


@pytest.fixture
def app(database_url, mailbox):
    app = make_app(
        database_url,
        SMTP=smtp_settings(mailbox.url),
        MAIL_FROM="Relief <receipts@relief.example.org>",
        RELIEF_PUBLIC_URL="https://relief.example.org",
    )
    with Session(app.extensions["relief.engine"], expire_on_commit=False) as session:
        make_coalition(session)
    yield app
    app.extensions["relief.engine"].dispose()


def give_and_pay(client, **fields) -> str:
    checkout = give(client, amount_choice="2500", **fields)
    assert checkout.status_code == 303, text_of(checkout)[:600]
    public_id = checkout.headers["Location"].split("?")[0].rsplit("/", 1)[1]
    token = csrf_token(client, checkout.headers["Location"])
    assert (
        client.post(f"/test-checkout/{public_id}/pay", data={"csrf_token": token}).status_code
        == 303
    )
    return public_id


def cards(mailbox):
    return [message for message in mailbox.messages if CARD_TO in message["To"]]


def test_a_card_goes_once_to_the_named_person_without_the_amount(app, mailbox):
    client = app.test_client()
    public_id = give_and_pay(client, **DEDICATED)
    burst(app)
    burst(app)  # a second worker run sends nothing again
    sent = cards(mailbox)
    assert len(sent) == 1
    card = sent[0]
    assert card["Subject"].endswith("A gift in memory of Rose Alvarez")
    for body in (parts(card)["text"], parts(card)["html"]):
        assert "Dana Donor" in body and "in memory of" in body and "Rose Alvarez" in body
        assert "Thinking of you and of Rose." in body
        assert "$" not in body and "25" not in body  # never the amount
        assert "<img" not in body
    assert "dana@example.org" not in card["To"]
    with data(app) as session:
        keys = [job.key for job in session.exec(select(Job))]
    assert keys.count(f"honour-card:gift:{gift_id(app, public_id)}") == 1

    # The donor's receipt email, gift page and receipt mention the dedication.
    receipt_mail = next(m for m in mailbox.messages if "dana@example.org" in m["To"])
    assert (
        "It is in memory of Rose Alvarez. We are emailing a card to Luis Alvarez."
        in (parts(receipt_mail)["text"])
    )
    page = text_of(client.get(f"/gifts/{public_id}"))
    assert "Your gift is in memory of Rose Alvarez." in page
    assert "We are emailing a card to Luis Alvarez." in page
    receipt = pdf_text(client.get(f"/gifts/{public_id}/receipt.pdf").data)
    assert "In memory of Rose Alvarez" in receipt


def gift_id(app, public_id) -> int:
    with data(app) as session:
        return session.exec(select(Gift.id).where(Gift.public_id == public_id)).one()


def test_an_anonymous_donor_is_someone_on_the_card(app, mailbox):
    give_and_pay(
        app.test_client(), show_name="anonymous", **{**DEDICATED, "dedication_kind": "honour"}
    )
    burst(app)
    text = parts(cards(mailbox)[0])["text"]
    assert "Someone gave a gift in honour of Rose Alvarez" in text and "Dana" not in text


def test_the_card_recipients_email_is_on_no_public_page_api_csv_or_press_report(app, mailbox):
    client = app.test_client()
    give_and_pay(client, **DEDICATED)
    burst(app)
    public = [
        client.get(path).get_data(as_text=True)
        for path in (
            "/drives/mo-2026",
            "/drives/mo-2026/st-louis",
            "/api/drives/mo-2026",
            "/drives/mo-2026/ledger",
            "/drives/mo-2026/ledger.csv",
            "/api/drives/mo-2026/entries",
        )
    ]
    public.append(pdf_text(client.get("/drives/mo-2026/report.pdf").data))
    for body in public:
        assert CARD_TO not in body and "Luis Alvarez" not in body and "Thinking of you" not in body


def test_a_card_needs_an_honoree_and_a_good_address_and_keeps_what_was_typed(app, mailbox):
    client = app.test_client()
    refused = give(client, **{**DEDICATED, "honoree_name": "", "card_email": "luis@"})
    assert refused.status_code == 400
    shown = text_of(refused).replace("&#39;", "'")
    assert "Enter the name of the person you dedicate this gift to." in shown
    assert "Enter the card's email address, such as name@example.org." in shown
    assert "Luis Alvarez" in refused.get_data(as_text=True)  # what was typed is kept
    with data(app) as session:
        assert session.exec(select(Gift)).first() is None


def test_erasing_the_donor_erases_the_dedication_and_the_card(app, mailbox):
    give_and_pay(app.test_client(), **DEDICATED)
    runner = app.test_cli_runner()
    exported = json.loads(runner.invoke(args=["donor", "export", "dana@example.org"]).output)
    assert exported["gifts"][0]["card_email"] == CARD_TO
    erased = runner.invoke(args=["donor", "erase", "dana@example.org", "--yes"])
    assert erased.exit_code == 0, erased.output
    with data(app) as session:
        gift = session.exec(select(Gift)).one()
        assert (gift.honoree_name, gift.card_name, gift.card_email, gift.card_message) == (
            None,
            None,
            None,
            None,
        )
    burst(app)  # the card queued before the erasure is not sent
    assert cards(mailbox) == []


def test_a_card_for_a_gift_given_in_spanish_is_written_in_spanish(app, mailbox):
    """The donor chose the language they gave in; the card they asked us to send speaks it."""
    client = app.test_client()
    client.get("/language/es?next=/drives/mo-2026")  # the switcher's choice sticks
    give_and_pay(client, **DEDICATED)
    burst(app)
    (card,) = cards(mailbox)
    assert card["Subject"].endswith("Una donación en memoria de Rose Alvarez")
    text, html = parts(card)["text"], parts(card)["html"]
    assert '<html lang="es">' in html
    for body in (text, html):
        assert "Hola, Luis Alvarez:" in body
        assert "hizo una donación en memoria de" in body and "Rose Alvarez" in body
        assert "Dana Donor escribió:" in body and "Thinking of you and of Rose." in body
        assert "deuda médica" in body
        assert "gave a gift" not in body and "$" not in body
