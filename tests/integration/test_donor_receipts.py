"""Receipts a donor can file: who received the money (legal name, EIN, address), that nothing
was given in return, "Duplicate" on a copy downloaded after the receipt was emailed, "Test mode
— not a receipt" on a test gift, and a contact address on the gift page. Read back from the PDF
(pdftotext) and the emailed attachment, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from tests.conftest import make_app
from tests.factories import make_coalition
from tests.integration.test_donate import csrf_token, give, text_of
from tests.integration.test_outbox_mail import burst, mail_app, pay
from tests.mailbox import parts
from tests.read_back import pdf_text
from tests.stripe_fixtures import fake_stripe  # noqa: F401

ORG = {
    "RELIEF_ORG_NAME": "Missouri Relief",
    "RELIEF_ORG_LEGAL_NAME": "Missouri Medical Debt Relief Fund, Inc.",
    "RELIEF_ORG_EIN": "12-3456789",
    "RELIEF_ORG_ADDRESS": "100 Main St, St. Louis, MO 63101",
    "RELIEF_CONTACT_EMAIL": "gifts@relief.example.org",
}


@pytest.fixture
def app(database_url, fake_stripe, mailbox):  # noqa: F811
    app = mail_app(database_url, fake_stripe, mailbox, **ORG)
    with Session(app.extensions["relief.engine"], expire_on_commit=False) as session:
        make_coalition(session)
    yield app
    app.extensions["relief.engine"].dispose()


def test_the_receipt_names_who_received_the_money_and_says_duplicate_once_emailed(app, mailbox):
    client = app.test_client()
    gift = pay(client, 2_500)
    before_email = pdf_text(client.get(f"/gifts/{gift.public_id}/receipt.pdf").data)
    assert "Duplicate" not in before_email  # nothing was emailed yet: this is the receipt
    burst(app)
    [message] = mailbox.messages
    [attached] = parts(message)["pdfs"]
    for printed in (before_email, pdf_text(attached)):
        flat = " ".join(printed.split())
        assert "Received by Missouri Medical Debt Relief Fund, Inc." in flat
        assert "EIN 12-3456789" in flat
        assert "Address 100 Main St, St. Louis, MO 63101" in flat
        assert "No goods or services were provided in exchange for this gift." in flat
        assert "gifts@relief.example.org" in flat
        assert "$25.00" in flat and "Test mode" not in flat
    assert "Duplicate" not in pdf_text(attached)  # the emailed receipt is the original
    again = pdf_text(client.get(f"/gifts/{gift.public_id}/receipt.pdf").data)
    assert "Duplicate: a copy of the receipt already emailed to you." in " ".join(again.split())
    page = text_of(client.get(f"/gifts/{gift.public_id}"))
    assert "Questions about your gift? Write to gifts@relief.example.org" in page


def test_a_test_gift_receipt_says_it_is_not_a_receipt(database_url):
    app = make_app(database_url, **ORG)
    with Session(app.extensions["relief.engine"], expire_on_commit=False) as session:
        make_coalition(session)
    client = app.test_client()
    checkout = give(client).headers["Location"]
    public_id = checkout.split("?")[0].rsplit("/", 1)[1]
    token = csrf_token(client, checkout)
    paid = client.post(f"/test-checkout/{public_id}/pay", data={"csrf_token": token})
    assert paid.status_code == 303
    printed = " ".join(pdf_text(client.get(f"/gifts/{public_id}/receipt.pdf").data).split())
    assert "Test mode — not a receipt." in printed
    assert "Received by Missouri Medical Debt Relief Fund, Inc." in printed
    app.extensions["relief.engine"].dispose()
