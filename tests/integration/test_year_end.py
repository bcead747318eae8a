"""Year-end statements: one PDF per donor and calendar year, every gift net of refunds, sent by
``flask receipts year-end YEAR`` through the outbox to a real SMTP server on loopback; a
second run sends nothing new; an erased donor gets nothing. On SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest
from sqlmodel import Session

from relief.ledger import months
from tests import stripe_objects as so
from tests.factories import make_coalition
from tests.integration.test_donor_receipts import ORG
from tests.integration.test_outbox_mail import burst, gift_of, mail_app, pay
from tests.mailbox import parts
from tests.read_back import pdf_text
from tests.stripe_fixtures import fake_stripe  # noqa: F401

MONTHLY = "monthly@example.org"
OTHER = "other@example.org"


@pytest.fixture
def app(database_url, fake_stripe, mailbox):  # noqa: F811
    app = mail_app(database_url, fake_stripe, mailbox, **ORG)
    with Session(app.extensions["relief.engine"], expire_on_commit=False) as session:
        make_coalition(session)
    yield app
    app.extensions["relief.engine"].dispose()


def give_monthly_and_refund(client):
    """Two months of $10 and a one-time $40 gift of which $15 was refunded: $45 in all."""
    first = so.checkout_session(
        amount_cents=1_000,
        metadata={"drive": "mo-2026", "chapter": "st-louis"},
        mode="subscription",
        subscription="sub_ye",
        invoice="in_ye_1",
        email=MONTHLY,
    )
    so.post_only(client, so.event("checkout.session.completed", first))
    second = so.invoice(
        invoice_id="in_ye_2",
        subscription="sub_ye",
        amount_cents=1_000,
        billing_reason="subscription_cycle",
    )
    so.post_only(client, so.event("invoice.paid", second))
    gift = pay(client, 4_000, payment_intent="pi_ye", email=MONTHLY)
    refund = so.charge(
        charge_id="ch_of_pi_ye", payment_intent="pi_ye", amount_cents=4_000, amount_refunded=1_500
    )
    so.post_only(client, so.event("charge.refunded", refund))
    return gift


def year_end(app, year):
    result = app.test_cli_runner().invoke(args=["receipts", "year-end", str(year)])
    assert result.exit_code == 0, result.output
    return result.output


def test_year_end_statements_go_once_to_each_donor_with_every_gift_net_of_refunds(app, mailbox):
    client = app.test_client()
    gift = give_monthly_and_refund(client)
    pay(client, 2_500, payment_intent="pi_other", email=OTHER)
    burst(app)  # receipts and notices go first
    mailbox.messages.clear()
    year = months.local(gift_of(app, "pi_ye").received_at).year
    assert gift.id is not None

    first = year_end(app, year)
    assert "2 of 2 donors checked" in first and "2 year-end statement(s)" in first
    burst(app)
    second = year_end(app, year)
    assert "0 year-end statement(s)" in second
    burst(app)
    assert [len(mailbox.to(MONTHLY)), len(mailbox.to(OTHER))] == [1, 1]

    [message] = mailbox.to(MONTHLY)
    assert str(message["Subject"]) == f"Your {year} giving statement from Missouri Relief"
    shown = parts(message)
    assert "3 gifts, $45.00 in all" in shown["text"]
    assert shown["filenames"] == [f"giving-statement-{year}.pdf"]
    printed = " ".join(pdf_text(shown["pdfs"][0]).split())
    assert f"Your {year} giving statement" in printed
    # Each gift as received and as it is now; the refunded one at $25.00; the total.
    assert len(re.findall(r"\$10\.00 \$10\.00", printed)) == 2
    assert "$40.00 $25.00" in printed
    assert f"Total {year} $45.00" in printed
    assert "Received by Missouri Medical Debt Relief Fund, Inc." in printed
    assert "EIN 12-3456789" in printed
    assert "No goods or services were provided in exchange for this gift." in printed
    other = " ".join(pdf_text(parts(mailbox.to(OTHER)[0])["pdfs"][0]).split())
    assert f"Total {year} $25.00" in other and "$45.00" not in other
    # Nothing for the year before.
    assert "0 year-end statement(s)" in year_end(app, year - 1)


def test_an_erased_donor_gets_no_year_end_statement(app, mailbox):
    client = app.test_client()
    pay(client, 2_500, payment_intent="pi_gone", email="gone@example.org")
    pay(client, 3_000, payment_intent="pi_stays", email=OTHER)
    burst(app)
    mailbox.messages.clear()
    year = months.local(gift_of(app, "pi_gone").received_at).year
    erased = app.test_cli_runner().invoke(args=["donor", "erase", "gone@example.org", "--yes"])
    assert erased.exit_code == 0, erased.output
    assert "1 year-end statement(s)" in year_end(app, year)
    burst(app)
    assert [str(m["To"]) for m in mailbox.messages] == [f"Dana Donor <{OTHER}>"]
