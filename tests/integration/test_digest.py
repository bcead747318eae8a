"""The treasurers' daily digest (issue 15): opt-in, one email a day per person at the hour the
coalition set, what needs attention in their own chapters only, none when nothing does, and a
one-click unsubscribe (RFC 8058) that needs no sign-in. Read back from a real SMTP server on
loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from relief.config import smtp_settings
from relief.ledger import months
from relief.models import AuditEvent, User
from relief.outbox.worker import Worker
from tests.conftest import make_app
from tests.factories import make_coalition
from tests.mailbox import parts
from tests.treasury_helpers import SignedIn, make_user

FROM = "Relief coalition <relief@relief.example.org>"


@pytest.fixture
def app(database_url, mailbox):
    app = make_app(
        database_url,
        SMTP=smtp_settings(mailbox.url),
        MAIL_FROM=FROM,
        RELIEF_PUBLIC_URL="https://relief.example.org",
        RELIEF_DIGEST_HOUR=7,
    )
    with Session(app.extensions["relief.engine"], expire_on_commit=False) as session:
        make_coalition(session)
        make_user(session, "t@stl.org", "st-louis")
        make_user(session, "t@kc.org", "kansas-city")
    yield app
    app.extensions["relief.engine"].dispose()


def morning(hour: int) -> datetime:
    today = months.today()
    return datetime(today.year, today.month, today.day, hour, 5, tzinfo=UTC)


def run_worker(app, clock):
    """The worker's minute: queue the digests as at ``clock``, then run what is due now."""
    worker = Worker(app)
    worker.queue_digests(clock)
    worker.burst()


def test_a_treasurer_who_asked_gets_one_digest_a_day_of_their_own_chapters(app, mailbox):
    treasurer = SignedIn(app, "t@stl.org")
    page = treasurer.get("/account/digest").get_data(as_text=True)
    assert "One email each morning (after 07:00, UTC)" in page
    assert treasurer.post("/account/digest", {"digest": "y"}).status_code == 302

    run_worker(app, morning(6))  # before the hour: nothing yet
    assert mailbox.messages == []
    run_worker(app, morning(7))
    run_worker(app, morning(9))  # again the same day: nothing new
    [message] = mailbox.messages
    assert str(message["To"]) == "t@stl.org"
    text = parts(message)["text"]
    last_month = months.month_label(months.previous_month(months.first_of_month(months.today())))
    assert "St. Louis — https://relief.example.org/treasurer/st-louis/" in text
    assert f"{last_month} has ended and is not closed" in text
    assert "Kansas City" not in text  # another chapter's treasurer's business
    # RFC 8058: the mail client's one-click unsubscribe.
    link = re.fullmatch(
        r"<(https://relief\.example\.org/account/digest/stop/\S+)>", message["List-Unsubscribe"]
    )
    assert link and message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert link.group(1) in text and link.group(1) in parts(message)["html"]


def test_nothing_needs_attention_sends_nothing(app, mailbox):
    treasurer = SignedIn(app, "t@stl.org")
    treasurer.post("/account/digest", {"digest": "y"})
    last_month = months.previous_month(months.first_of_month(months.today()))
    closed = treasurer.post(
        "/treasurer/st-louis/months/close", {"month": last_month.isoformat(), "reconciled": "y"}
    )
    assert closed.status_code == 302
    run_worker(app, morning(8))
    assert mailbox.messages == []


def test_the_unsubscribe_link_stops_it_in_one_click_without_signing_in(app, mailbox):
    SignedIn(app, "t@stl.org").post("/account/digest", {"digest": "y"})
    run_worker(app, morning(7))
    [message] = mailbox.messages
    path = message["List-Unsubscribe"].strip("<>").removeprefix("https://relief.example.org")
    stranger = app.test_client()
    assert "Stop the daily email" in stranger.get(path).get_data(as_text=True)
    forged = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    assert stranger.post(forged, data={"List-Unsubscribe": "One-Click"}).status_code == 404
    stopped = stranger.post(path, data={"List-Unsubscribe": "One-Click"})
    assert stopped.status_code == 200 and "no more digest emails" in stopped.get_data(as_text=True)
    with Session(app.extensions["relief.engine"]) as session:
        assert session.exec(select(User.digest).where(User.email == "t@stl.org")).one() is False
        assert session.exec(
            select(AuditEvent).where(AuditEvent.detail == "stopped it from the email's link")
        ).one()
    mailbox.messages.clear()
    run_worker(app, morning(23))  # still queued for no one
    assert mailbox.messages == []
