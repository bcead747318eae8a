""" "Find my gifts": a one-time link by email (a real SMTP server on loopback), valid 30
minutes, used once; the same answer for an unknown address (and no mail); the donor's page
lists their gifts and cancels a monthly test gift; another donor's gift id is a 404; the form
is rate-limited per address. On SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from relief.config import smtp_settings
from relief.models import DonorLink, MonthlyGift
from relief.outbox.worker import Worker
from tests.conftest import make_app
from tests.factories import make_coalition
from tests.integration.test_donate import csrf_token, give, text_of
from tests.integration.test_outbox_mail import burst
from tests.mailbox import parts
from tests.read_back import pdf_text
from tests.treasury_helpers import SignedIn, make_user

DANA = "dana@example.org"


@pytest.fixture
def app(database_url, mailbox):
    app = make_app(
        database_url,
        SMTP=smtp_settings(mailbox.url),
        MAIL_FROM="Relief <receipts@relief.example.org>",
        RELIEF_PUBLIC_URL="https://relief.example.org",
        RATELIMIT_ENABLED=True,
    )
    with Session(app.extensions["relief.engine"], expire_on_commit=False) as session:
        make_coalition(session)
    yield app
    app.extensions["relief.engine"].dispose()


def test_give(client, email=DANA, frequency="once", amount="2500"):
    checkout = give(client, email=email, frequency=frequency, amount_choice=amount)
    public_id = checkout.headers["Location"].split("?")[0].rsplit("/", 1)[1]
    token = csrf_token(client, checkout.headers["Location"])
    client.post(f"/test-checkout/{public_id}/pay", data={"csrf_token": token})
    return public_id


test_give.__test__ = False  # a helper, not a test


def ask(client, email):
    return client.post(
        "/my-gifts", data={"csrf_token": csrf_token(client, "/my-gifts"), "email": email}
    )


def link_in(message) -> str:
    return re.search(r"https://relief\.example\.org(/my-gifts/link/\S+)", parts(message)["text"])[1]


def open_link(client, path):
    return client.post(path, data={"csrf_token": csrf_token(client, path)})


def test_a_link_opens_the_donors_page_once_and_cancels_a_monthly_test_gift(app, mailbox):
    client = app.test_client()
    test_give(client, frequency="monthly", amount="1000")
    test_give(client, amount="2500")
    other = test_give(app.test_client(), email="someone@example.org", amount="5000")
    burst(app)
    mailbox.messages.clear()

    asked = ask(client, "Dana@Example.org")
    unknown = ask(app.test_client(), "nobody@example.org")
    assert text_of(asked) == text_of(unknown)  # the same answer for an unknown address
    assert "a link to your gifts is on its way" in text_of(asked)
    burst(app)
    [message] = mailbox.messages  # none to the unknown address
    assert DANA in str(message["To"])
    path = link_in(message)

    donor = app.test_client()
    opened = open_link(donor, path)
    assert opened.status_code == 303
    page = text_of(donor.get("/my-gifts"))
    assert "$10.00 each month" in page and "$25.00" in page and "$50.00" not in page
    assert "Receipt (PDF)" in page and "giving statement (PDF)" in page
    year = re.search(r"(\d{4}) giving statement", page)[1]
    statement = pdf_text(donor.get(f"/my-gifts/year-end/{year}.pdf").data)
    assert "$35.00" in statement

    # Once only: a second use (another browser) is refused with a sentence.
    again = open_link(app.test_client(), path)
    assert again.status_code == 400 and "expired or was already used" in text_of(again)

    # Another donor's gift id: 404, nothing cancelled.
    with Session(app.extensions["relief.engine"]) as session:
        from relief.models import Gift

        theirs = session.exec(select(Gift).where(Gift.public_id == other)).one()
        mine = session.exec(select(Gift).where(Gift.monthly)).one()
    token = {"csrf_token": csrf_token(donor, "/my-gifts")}
    assert donor.post(f"/my-gifts/monthly/{theirs.id}/cancel", data=token).status_code == 404
    assert donor.post(f"/my-gifts/monthly/{theirs.id}/manage", data=token).status_code == 404
    # Without the donor's session nothing is reachable.
    assert app.test_client().get(f"/my-gifts/year-end/{year}.pdf").status_code == 404

    cancelled = donor.post(f"/my-gifts/monthly/{mine.id}/cancel", data=token)
    assert cancelled.status_code == 303
    assert "cancelled; the months you gave still count" in text_of(donor.get("/my-gifts"))
    with Session(app.extensions["relief.engine"]) as session:
        plan = session.get(MonthlyGift, mine.stripe_subscription_id)
        assert plan is not None and plan.canceled_at is not None


def test_a_link_expires_after_30_minutes(app, mailbox):
    client = app.test_client()
    test_give(client)
    burst(app)
    mailbox.messages.clear()
    ask(client, DANA)
    burst(app)
    path = link_in(mailbox.messages[-1])
    with Session(app.extensions["relief.engine"]) as session:
        link = session.exec(select(DonorLink)).one()
        link.expires_at = link.expires_at - timedelta(minutes=30, seconds=1)
        session.add(link)
        session.commit()
    late = open_link(app.test_client(), path)
    assert late.status_code == 400 and "expired or was already used" in text_of(late)


def test_the_form_is_rate_limited_per_address(app, mailbox):
    answers = [ask(app.test_client(), DANA).status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]


def test_the_admins_outbox_hides_a_donors_one_time_link(database_url):
    """An admin reading the outbox (no mail server: the email is kept there) must not be able
    to open a donor's gifts: the link is hidden in the preview, as account links are."""
    app = make_app(database_url, MAIL_FROM="Relief <r@relief.example.org>")
    with Session(app.extensions["relief.engine"], expire_on_commit=False) as session:
        make_coalition(session)
        make_user(session, "admin@mo.org", admin=True)
    test_give(app.test_client())
    ask(app.test_client(), DANA)
    Worker(app).burst()
    page = SignedIn(app, "admin@mo.org").get("/admin/outbox").get_data(as_text=True)
    assert "Your link to your gifts" in page
    assert "(the one-time link: hidden here)" in page
    assert "/my-gifts/link/" not in page
    app.extensions["relief.engine"].dispose()
