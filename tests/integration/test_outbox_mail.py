"""Email through the outbox, read back from a real SMTP server on loopback: receipts when a gift
is paid (once, however often Stripe delivers), with the PDF attached; notices when it is
refunded or disputed; an outage that delays mail and loses none; an address refused for good,
failed and shown to the admin; no server at all, mail kept for the admin; never to an erased
donor. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlmodel import Session, select

from relief import boundary
from relief.config import smtp_settings
from relief.models import Gift, Job, JobStatus, utcnow
from relief.outbox import due
from relief.outbox.worker import Worker
from tests import stripe_objects as so
from tests.conftest import make_app
from tests.factories import make_coalition
from tests.mailbox import parts
from tests.read_back import pdf_text
from tests.stripe_fixtures import fake_stripe  # noqa: F401
from tests.treasury_helpers import SignedIn, make_user

META = {"drive": "mo-2026", "chapter": "st-louis"}
FROM = "Relief coalition <receipts@relief.example.org>"
DONOR = "donor@example.org"


def mail_app(database_url, fake_stripe, mailbox=None, **config):  # noqa: F811
    return make_app(
        database_url,
        STRIPE_SECRET_KEY="sk_test_relief",
        STRIPE_WEBHOOK_SECRET=so.WEBHOOK_SECRET,
        STRIPE_API_BASE=fake_stripe.url,
        SMTP=smtp_settings(mailbox.url) if mailbox else None,
        MAIL_FROM=FROM,
        RELIEF_PUBLIC_URL="https://relief.example.org",
        **config,
    )


@pytest.fixture
def app(database_url, fake_stripe, mailbox):  # noqa: F811
    app = mail_app(database_url, fake_stripe, mailbox)
    with Session(app.extensions["relief.engine"], expire_on_commit=False) as session:
        make_coalition(session)
    yield app
    app.extensions["relief.engine"].dispose()


def burst(app, now=None) -> dict:
    ended = Worker(app).burst(now)
    return {status.value: number for status, number in ended.items()}


def jobs(app) -> dict[str, Job]:
    with Session(app.extensions["relief.engine"]) as session:
        return {job.key: job for job in session.exec(select(Job))}


def gift_of(app, payment_intent: str) -> Gift:
    with Session(app.extensions["relief.engine"]) as session:
        return session.exec(
            select(Gift).where(Gift.stripe_payment_intent_id == payment_intent)
        ).one()


def pay(client, amount_cents=2_500, payment_intent="pi_mail", email=DONOR, twice=False):
    obj = so.checkout_session(
        amount_cents=amount_cents, metadata=META, payment_intent=payment_intent, email=email
    )
    evt = so.event("checkout.session.completed", obj)
    for _ in range(2 if twice else 1):
        assert so.post_only(client, evt).status_code == 200
    return gift_of(client.application, payment_intent)


def test_a_paid_gift_delivered_twice_sends_one_receipt_with_its_pdf_and_its_links(app, mailbox):
    client = app.test_client()
    gift = pay(client, 2_500, twice=True)
    assert burst(app) == {"done": 2}  # the fee and the receipt, once each
    assert burst(app) == {}
    [message] = mailbox.messages
    assert str(message["To"]) == f"Dana Donor <{DONOR}>"
    assert str(message["From"]) == FROM
    assert str(message["Subject"]) == "Your receipt: $25.00 to Missouri Medical Debt Jubilee"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["List-Unsubscribe"] is None  # about the donor's own money: not a list
    shown = parts(message)
    assert "received your gift of $25.00 to Missouri Medical Debt Jubilee" in shown["text"]
    assert "$25.00" in shown["html"]
    # No tracking pixel: nothing in the HTML fetches anything.
    assert "<img" not in shown["html"] and "src=" not in shown["html"]
    [pdf] = shown["pdfs"]
    printed = pdf_text(pdf)
    assert "Receipt for your gift" in printed and "$25.00" in printed
    assert "Missouri Medical Debt Jubilee" in printed and "Dana Donor" in printed
    assert shown["filenames"] == [f"receipt-MO-2026-{gift.id:06d}.pdf"]
    assert "Test mode" not in printed
    # The links work: the donor's gift page and the same receipt on the site.
    page_url = f"https://relief.example.org/gifts/{gift.public_id}"
    assert page_url in shown["text"] and f'href="{page_url}"' in shown["html"]
    assert client.get(urlsplit(page_url).path).status_code == 200
    online = client.get(urlsplit(page_url).path + "/receipt.pdf")
    assert online.status_code == 200 and "$25.00" in pdf_text(online.data)


def test_each_month_of_a_monthly_gift_sends_its_own_receipt(app, mailbox):
    client = app.test_client()
    first = so.checkout_session(
        amount_cents=1_000,
        metadata=META,
        mode="subscription",
        subscription="sub_mail",
        invoice="in_mail_1",
        email="monthly@example.org",
    )
    so.post_only(client, so.event("checkout.session.completed", first))
    so.post_only(
        client,
        so.event(
            "invoice.paid",
            so.invoice(
                invoice_id="in_mail_2",
                subscription="sub_mail",
                amount_cents=1_000,
                billing_reason="subscription_cycle",
            ),
        ),
    )
    burst(app)
    receipts = mailbox.to("monthly@example.org")
    assert len(receipts) == 2
    assert all("monthly gift of $10.00" in parts(m)["text"] for m in receipts)
    assert len({m["Message-ID"] for m in receipts}) == 2


def test_a_refund_and_a_dispute_send_their_notices_once(app, mailbox):
    client = app.test_client()
    pay(client, 4_000, payment_intent="pi_back")
    burst(app)
    refunded = so.event(
        "charge.refunded",
        so.charge(
            charge_id="ch_of_pi_back",
            payment_intent="pi_back",
            amount_cents=4_000,
            amount_refunded=1_500,
        ),
    )
    for _ in range(2):  # Stripe delivers it twice
        so.post_only(client, refunded)
    burst(app)
    disputed = so.dispute(
        dispute_id="du_mail",
        charge_id="ch_of_pi_back",
        payment_intent="pi_back",
        amount_cents=2_500,
        status="needs_response",
    )
    so.post_only(client, so.event("charge.dispute.created", disputed))
    so.post_only(client, so.event("charge.dispute.funds_withdrawn", disputed))
    burst(app)
    subjects = [str(m["Subject"]) for m in mailbox.to(DONOR)]
    assert subjects == [
        "Your receipt: $40.00 to Missouri Medical Debt Jubilee",
        "Your gift to Missouri Medical Debt Jubilee was refunded",
        "A dispute about your gift to Missouri Medical Debt Jubilee",
    ]
    notice = parts(mailbox.to(DONOR)[1])["text"]
    assert "$15.00 in all went back to you" in notice
    assert "The drive now counts $25.00 of your gift" in notice


def test_an_smtp_outage_delays_mail_and_then_delivers_everything_once(app, mailbox):
    client = app.test_client()
    mailbox.stop()
    for number in range(3):
        pay(
            client, 1_000 + number, payment_intent=f"pi_out{number}", email=f"d{number}@example.org"
        )
    assert burst(app) == {"done": 3, "queued": 3}  # fees read; mail waits
    waiting = [job for key, job in jobs(app).items() if key.startswith("receipt:")]
    assert all(job.status is JobStatus.QUEUED and job.attempts == 1 for job in waiting)
    assert all("could not be reached" in job.last_error for job in waiting)
    mailbox.start()  # back, on the same port
    assert burst(app) == {}  # each waits its backoff
    later = utcnow() + timedelta(hours=2)
    assert burst(app, now=later) == {"done": 3}
    assert burst(app, now=later + timedelta(hours=2)) == {}
    assert sorted(str(m["To"]) for m in mailbox.messages) == [
        f"Dana Donor <d{n}@example.org>" for n in range(3)
    ]


def test_an_address_refused_for_good_fails_at_once_and_the_admin_sees_it(app, mailbox):
    mailbox.refuse["gone@example.org"] = "550 5.1.1 <gone@example.org>: no such user"
    client = app.test_client()
    gift = pay(client, email="gone@example.org")
    burst(app)
    job = jobs(app)[f"receipt:gift:{gift.id}"]
    assert (job.status, job.attempts) == (JobStatus.FAILED, 1)
    assert "refused the address for good (550 5.1.1" in job.last_error
    assert "gone@example.org" not in job.last_error  # the admin's list needs no address
    assert burst(app, now=utcnow() + timedelta(days=2)) == {}  # never retried by itself
    with Session(app.extensions["relief.engine"]) as session:
        make_user(session, "admin@mo.org", admin=True)
    admin = SignedIn(app, "admin@mo.org")
    page = admin.get("/admin/outbox").get_data(as_text=True)
    assert "Failed: <strong>1</strong>" in page
    assert f"receipt:gift:{gift.id}" in page and "no such user" in page
    assert f"/admin/outbox/{job.id}/retry" in page
    # The donor gives a right address; the admin retries: sent once.
    mailbox.refuse.clear()
    assert admin.post(f"/admin/outbox/{job.id}/retry").status_code == 302
    assert burst(app) == {"done": 1}
    assert len(mailbox.to("gone@example.org")) == 1
    assert "outbox.retry" in admin.get("/admin/audit").get_data(as_text=True)


def test_without_a_mail_server_emails_are_kept_for_the_admin_and_sent_on_retry(
    database_url,
    fake_stripe,  # noqa: F811
    mailbox,
):
    unsent = mail_app(database_url, fake_stripe)
    with Session(unsent.extensions["relief.engine"], expire_on_commit=False) as session:
        make_coalition(session)
        make_user(session, "admin@mo.org", admin=True)
    gift = pay(unsent.test_client(), 3_000)
    assert burst(unsent) == {"done": 1, "kept": 1}
    page = SignedIn(unsent, "admin@mo.org").get("/admin/outbox").get_data(as_text=True)
    assert "No mail server is set" in page and "Kept: <strong>1</strong>" in page
    assert "Your receipt: $30.00 to Missouri Medical Debt Jubilee" in page
    assert "received your gift of $30.00" in page
    job = jobs(unsent)[f"receipt:gift:{gift.id}"]
    # A mail server is set and the app restarted: the admin retries the kept email.
    sending = mail_app(database_url, fake_stripe, mailbox)
    assert (
        SignedIn(sending, "admin@mo.org").post(f"/admin/outbox/{job.id}/retry").status_code == 302
    )
    assert burst(sending) == {"done": 1}
    [message] = mailbox.messages
    assert len(parts(message)["pdfs"]) == 1
    for each in (unsent, sending):
        each.extensions["relief.engine"].dispose()


def test_an_erased_donor_gets_no_receipt(app, mailbox, tmp_path, monkeypatch):
    monkeypatch.setenv("RELIEF_ERASURE_LIST", str(tmp_path / "erased-donors"))
    client = app.test_client()
    gift = pay(client, email="erase-me@example.org")
    result = app.test_cli_runner().invoke(args=["donor", "erase", "erase-me@example.org", "--yes"])
    assert result.exit_code == 0, result.output
    burst(app)
    assert mailbox.messages == []
    job = jobs(app)[f"receipt:gift:{gift.id}"]
    assert job.status is JobStatus.DONE
    # A later event naming the erased address writes no job at all.
    pay(client, payment_intent="pi_after_erasure", email="erase-me@example.org")
    assert not [key for key in jobs(app) if key.startswith("receipt:") and key != job.key]


def test_a_test_mode_gift_sends_its_receipt_marked_test_mode(database_url, mailbox):
    from tests.integration.test_donate import csrf_token, give

    app = make_app(database_url, SMTP=smtp_settings(mailbox.url), MAIL_FROM=FROM)
    with Session(app.extensions["relief.engine"], expire_on_commit=False) as session:
        make_coalition(session)
    client = app.test_client()
    checkout_url = give(client, "/drives/mo-2026/st-louis").headers["Location"]
    public_id = urlsplit(checkout_url).path.rsplit("/", 1)[-1]
    token = csrf_token(client, checkout_url)  # the test checkout's form: the session's token
    assert (
        client.post(f"/test-checkout/{public_id}/pay", data={"csrf_token": token}).status_code
        == 303
    )
    assert burst(app) == {"done": 1}  # a test gift has no fee to read
    [message] = mailbox.messages
    assert str(message["Subject"]).startswith("[Test mode — no money moved] Your receipt")
    shown = parts(message)
    assert shown["text"].startswith("TEST MODE: this gift was made without real money")
    assert "Test mode" in pdf_text(shown["pdfs"][0])
    app.extensions["relief.engine"].dispose()


def test_a_job_exists_only_if_the_unit_that_wrote_it_committed(app):
    """The job is written in the request's own unit: an answer of 400 or more, or an
    exception, rolls it back with everything else; an answer below 400 keeps exactly one."""

    @app.post("/test-only/enqueue/<int:status>")
    def enqueue_then_answer(status):
        from relief import db

        session = db.session()
        gift = session.exec(select(Gift)).one()
        due.receipt(session, gift)  # already there: enqueues nothing
        due.dispute_notice(session, gift, f"du_unit_{status}")
        if status == 599:
            raise RuntimeError("the request fails after writing the job")
        boundary.audit("test", "wrote a job")
        return "", status

    pay(app.test_client(), payment_intent="pi_unit")
    client = app.test_client()
    app.config["WTF_CSRF_ENABLED"] = False
    app.config["PROPAGATE_EXCEPTIONS"] = False  # answer 500, as in production
    assert client.post("/test-only/enqueue/409").status_code == 409
    assert client.post("/test-only/enqueue/599").status_code == 500
    assert client.post("/test-only/enqueue/200").status_code == 200
    assert client.post("/test-only/enqueue/200").status_code == 200  # the same key: no second
    notices = sorted(key for key in jobs(app) if key.startswith("notice:"))
    assert notices == ["notice:dispute:du_unit_200"]
