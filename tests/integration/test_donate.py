"""A donor's path: the form on drive and chapter pages, checkout (Stripe or the test-mode
page), the success page, and what reaches the figures."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

from sqlmodel import func, select

from relief import ledger, money
from relief.models import Entry, Gift, GiftStatus
from tests.factories import make_coalition
from tests.stripe_fixtures import *  # noqa: F403
from tests.stripe_objects import checkout_session, deliver, event


def text_of(response):
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


def csrf_token(client, path="/drives/mo-2026"):
    html = client.get(path).get_data(as_text=True)
    tag = re.search(r'<input[^>]*name="csrf_token"[^>]*>', html)[0]
    return re.search(r'value="([^"]+)"', tag)[1]


def give(client, path="/drives/mo-2026", **fields):
    form = {
        "csrf_token": csrf_token(client, path),
        "amount_choice": "2500",
        "custom_amount": "",
        "frequency": "once",
        "donor_name": "Dana Donor",
        "show_name": "show",
        "email": "dana@example.org",
        "message": "",
    }
    form.update(fields)
    return client.post(f"{path.split('?')[0]}/donate", data=form)


def gift_count(session) -> int:
    session.rollback()  # a fresh snapshot
    return session.exec(select(func.count()).select_from(Gift)).one()


def test_the_form_is_on_the_drive_page_and_each_chapter_page(session, client):
    make_coalition(session)
    drive_page = client.get("/drives/mo-2026").get_data(as_text=True)
    assert 'action="/drives/mo-2026/donate#donate"' in drive_page  # errors shown in view
    assert '<select id="chapter" name="chapter"' in drive_page  # the drive page offers a choice
    chapter_page = client.get("/drives/mo-2026/st-louis").get_data(as_text=True)
    assert 'action="/drives/mo-2026/st-louis/donate#donate"' in chapter_page
    assert 'name="chapter"' not in chapter_page
    assert "Your gift is credited to St. Louis" in text_of(client.get("/drives/mo-2026/st-louis"))
    assert "$25.00 becomes $26.06" in text_of(client.get("/drives/mo-2026"))
    assert money.gross_up(2500, 290, 30) == 2606


def test_a_test_mode_gift_from_form_to_success_page_counts_once(session, client):
    drive = make_coalition(session)
    response = give(
        client,
        "/drives/mo-2026/st-louis?ref=flyer-42&utm_source=instagram",
        ref="flyer-42",
        utm_source="instagram",
        message="For my neighbour",
    )
    assert response.status_code == 303
    checkout_url = response.headers["Location"]
    assert checkout_url.startswith("/test-checkout/")
    gift = session.exec(select(Gift)).one()
    assert gift.status is GiftStatus.PENDING and gift.test_mode
    assert (gift.ref, gift.utm_source) == ("flyer-42", "instagram")
    assert session.exec(select(func.count()).select_from(Entry)).one() == 0  # pending: no money

    page = text_of(client.get(checkout_url))
    assert "TEST CHECKOUT" in page and "no money moves" in page and "$25.00" in page
    assert "St. Louis" in page
    assert text_of(client.get(f"/gifts/{gift.public_id}")).count("Processing your gift") == 1

    token = csrf_token(client, checkout_url)
    pay = client.post(f"/test-checkout/{gift.public_id}/pay", data={"csrf_token": token})
    assert pay.status_code == 303 and pay.headers["Location"] == f"/gifts/{gift.public_id}"
    success = text_of(client.get(pay.headers["Location"]))
    assert "Your $25.00 relieves about $2,500 of medical debt" in success
    assert "credited to St. Louis" in success
    assert "receipt goes to" not in success  # no email is sent; never promise one
    receipt = client.get(f"/gifts/{gift.public_id}/receipt.pdf")
    assert f'href="/gifts/{gift.public_id}/receipt.pdf"' in client.get(
        pay.headers["Location"]
    ).get_data(as_text=True)
    assert receipt.status_code == 200 and receipt.data.startswith(b"%PDF")

    again = client.post(f"/test-checkout/{gift.public_id}/pay", data={"csrf_token": token})
    assert again.status_code == 409  # a second click records nothing
    api = client.get("/api/drives/mo-2026").get_json()
    assert api["raised_cents"] == 2500 and api["donation_count"] == 1
    assert {c["slug"]: c["raised_cents"] for c in api["chapters"]}["st-louis"] == 2500
    session.rollback()  # a fresh snapshot
    assert ledger.verify(session, drive) == []
    assert "For my neighbour" not in client.get("/drives/mo-2026").get_data(as_text=True)
    assert "For my neighbour" not in client.get("/api/drives/mo-2026").get_data(as_text=True)
    assert "dana@example.org" not in client.get("/drives/mo-2026").get_data(as_text=True)


def test_covering_the_fee_charges_the_grossed_up_amount(session, client):
    make_coalition(session)
    give(client, amount_choice="other", custom_amount="40", cover_fee="y")
    gift = session.exec(select(Gift)).one()
    # $41.50 − (2.9% of $41.50 = 120.35¢ → 120¢, + 30¢) = $40.00 for the drive.
    assert gift.amount_cents == money.gross_up(4000, 290, 30) == 4150
    assert gift.amount_cents - money.fee_for(4150, 290, 30) == 4000
    assert gift.covered_fee_cents == 150


def test_bad_input_is_refused_clearly_and_nothing_is_created(session, client):
    make_coalition(session)
    cases = [
        ({"amount_choice": "other", "custom_amount": "4.99"}, "Gifts are from $5.00 to $50,000.00"),
        ({"amount_choice": "other", "custom_amount": "50000.01"}, "Gifts are from $5.00"),
        ({"amount_choice": "other", "custom_amount": "ten"}, "is not an amount"),
        ({"amount_choice": "other", "custom_amount": ""}, "Enter the amount you want to give"),
        ({"email": "not-an-email"}, "Enter an email address"),
        ({"email": ""}, "Enter your email for the receipt"),
        ({"chapter": "springfield"}, "Choose a chapter taking part in this drive, or none."),
    ]
    for fields, message in cases:
        response = give(client, **fields)
        assert response.status_code == 400, fields
        assert message in text_of(response), fields
    assert gift_count(session) == 0
    # The refused form keeps what the donor typed.
    response = give(client, amount_choice="other", custom_amount="3", donor_name="Kept Name")
    assert 'value="Kept Name"' in response.get_data(as_text=True)


def test_a_form_without_its_csrf_token_is_refused(session, client):
    make_coalition(session)
    response = client.post(
        "/drives/mo-2026/donate", data={"amount_choice": "2500", "email": "a@b.co"}
    )
    assert response.status_code == 400
    assert gift_count(session) == 0


def test_cancel_returns_to_the_filled_form(session, client):
    make_coalition(session)
    give(
        client,
        amount_choice="other",
        custom_amount="35",
        frequency="monthly",
        donor_name="Rae",
        show_name="anonymous",
        cover_fee="y",
        chapter="kansas-city",
    )
    gift = session.exec(select(Gift)).one()
    checkout = client.get(f"/test-checkout/{gift.public_id}").get_data(as_text=True)
    back = re.search(r'href="([^"]+)">Back to the form', checkout)[1].replace("&amp;", "&")
    assert back == f"/drives/mo-2026?resume={gift.public_id}#donate"
    html = client.get(back.split("#")[0]).get_data(as_text=True)
    assert 'id="custom_amount" inputmode="decimal"' in html and 'value="35.00"' in html
    assert re.search(r'value="monthly"[^>]*checked|checked[^>]*value="monthly"', html)
    assert re.search(
        r'<option selected value="kansas-city">|<option value="kansas-city" selected', html
    )
    assert 'value="Rae"' in html and 'value="dana@example.org"' in html


def test_creating_checkouts_is_rate_limited_per_client(session, client):
    make_coalition(session)
    statuses = [give(client, custom_amount=f"{n + 5}").status_code for n in range(12)]
    assert statuses[:10] == [303] * 10 and statuses[10:] == [429, 429]
    assert gift_count(session) == 10  # the refused ones started no checkout
    from relief.models import RateLimitCounter

    counts = session.exec(select(RateLimitCounter.count)).all()
    assert counts and max(counts) >= 10  # kept in the database every worker shares


def test_forms_refused_for_a_typo_do_not_count_against_the_limit(session, client):
    """A donor's tenth typo in a minute used to answer "Too many attempts" and lose what was
    typed: only checkouts started count."""
    make_coalition(session)
    for typo in range(15):
        refused = give(client, email=f"dana{typo}@example")  # no dot: refused with a sentence
        assert refused.status_code == 400, typo
        assert "Enter an email address such as name@example.org." in text_of(refused)
    assert give(client).status_code == 303
    assert gift_count(session) == 1


def test_the_limit_page_keeps_the_donors_form_and_says_when_to_try_again(session, client):
    make_coalition(session)
    for n in range(10):
        assert give(client, "/drives/mo-2026/st-louis", custom_amount=f"{n + 5}").status_code == 303
    refused = give(
        client,
        "/drives/mo-2026/st-louis",
        amount_choice="other",
        custom_amount="42.50",
        frequency="monthly",
        donor_name="Rosa Parks-Lee",
        email="rosa@example.org",
        message="For my mother",
    )
    assert refused.status_code == 429
    seconds = int(refused.headers["Retry-After"])
    assert 1 <= seconds <= 60
    text = text_of(refused)
    assert "Nothing was recorded or charged" in text and f"Try again in {seconds} second" in text
    html = refused.get_data(as_text=True)
    for kept in ('value="42.50"', 'value="Rosa Parks-Lee"', 'value="rosa@example.org"'):
        assert kept in html, kept
    assert "For my mother" in html
    assert re.search(r'value="monthly"[^>]*checked|checked[^>]*value="monthly"', html)
    assert gift_count(session) == 10


def test_stripe_mode_sends_a_donation_session_with_a_stable_idempotency_key(
    stripe_session, stripe_client, fake_stripe
):
    make_coalition(stripe_session)
    response = give(stripe_client, "/drives/mo-2026/mid-missouri?ref=radio", ref="radio")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("https://checkout.stripe.com/c/pay/cs_")
    gift = stripe_session.exec(select(Gift)).one()
    (call,) = [r for r in fake_stripe.requests if r["path"] == "/v1/checkout/sessions"]
    params = call["params"]
    assert call["idempotency_key"] == f"checkout-{gift.public_id}"
    assert params["mode"] == "payment" and params["submit_type"] == "donate"
    assert params["metadata[drive]"] == "mo-2026" and params["metadata[chapter]"] == "mid-missouri"
    assert params["metadata[gift]"] == gift.public_id
    assert params["line_items[0][price_data][unit_amount]"] == "2500"
    assert params["success_url"] == f"http://localhost/gifts/{gift.public_id}"
    cancel = urlparse(params["cancel_url"])
    assert cancel.path == "/drives/mo-2026/mid-missouri"
    assert parse_qs(cancel.query) == {"resume": [gift.public_id]} and cancel.fragment == "donate"
    assert gift.stripe_session_id == response.headers["Location"].rsplit("/", 1)[1]
    assert "Processing your gift" in text_of(stripe_client.get(f"/gifts/{gift.public_id}"))
    # The test checkout does not exist when a Stripe key is set.
    assert stripe_client.get(f"/test-checkout/{gift.public_id}").status_code == 404

    # The browser's redirect records nothing; the signed webhook does.
    assert stripe_client.get("/api/drives/mo-2026").get_json()["raised_cents"] == 0
    session_obj = checkout_session(
        amount_cents=2500,
        session_id=gift.stripe_session_id,
        metadata={"drive": "mo-2026", "chapter": "mid-missouri", "gift": gift.public_id},
    )
    assert (
        deliver(stripe_client, event("checkout.session.completed", session_obj)).status_code == 200
    )
    assert "Your $25.00 relieves about $2,500" in text_of(
        stripe_client.get(f"/gifts/{gift.public_id}")
    )


def test_monthly_gifts_open_a_subscription_checkout(stripe_session, stripe_client, fake_stripe):
    make_coalition(stripe_session)
    give(stripe_client, frequency="monthly", amount_choice="1000")
    (call,) = [r for r in fake_stripe.requests if r["path"] == "/v1/checkout/sessions"]
    params = call["params"]
    assert params["mode"] == "subscription" and "submit_type" not in params
    assert params["line_items[0][price_data][recurring][interval]"] == "month"
    assert params["subscription_data[metadata][drive]"] == "mo-2026"


def test_stripe_unreachable_keeps_the_form_and_charges_nothing(
    stripe_session, stripe_client, fake_stripe
):
    make_coalition(stripe_session)
    fake_stripe.down = True
    response = give(stripe_client, donor_name="Still Here")
    assert response.status_code == 503
    assert "Nothing was charged" in text_of(response)
    assert 'value="Still Here"' in response.get_data(as_text=True)


def test_test_gifts_can_be_purged_without_deleting_ledger_rows(session, client, runner, app):
    drive = make_coalition(session)
    from tests.factories import make_gift

    make_gift(session, drive, 10_000, chapter="st-louis")
    give(client, "/drives/mo-2026/st-louis")
    gift = session.exec(select(Gift).where(Gift.test_mode)).one()
    client.post(
        f"/test-checkout/{gift.public_id}/pay",
        data={"csrf_token": csrf_token(client, f"/test-checkout/{gift.public_id}")},
    )
    assert client.get("/api/drives/mo-2026").get_json()["raised_cents"] == 12_500
    result = runner.invoke(args=["gift", "purge-test"])
    assert result.exit_code == 0, result.output
    assert "1 test-mode gift" in result.output
    api = client.get("/api/drives/mo-2026").get_json()
    assert api["raised_cents"] == 10_000 and api["donation_count"] == 1
    assert {c["slug"]: c["raised_cents"] for c in api["chapters"]}["st-louis"] == 10_000
    session.rollback()  # a fresh snapshot
    assert session.exec(select(func.count()).select_from(Entry)).one() == 3  # 2 + 1 reversal
    assert ledger.verify(session, drive) == []
    again = runner.invoke(args=["gift", "purge-test"])  # again: nothing more
    assert again.exit_code == 0 and "Purged 0 test-mode gifts: 0 reversing" in again.output
    session.rollback()  # a fresh snapshot
    assert session.exec(select(func.count()).select_from(Entry)).one() == 3
    assert "Dana Donor" not in client.get("/drives/mo-2026").get_data(as_text=True)


def test_rate_limit_counters_live_in_the_database_shared_by_all_workers(database_url):
    """Two workers = two engines on one database: each sees the other's counted requests."""
    from relief.db import make_engine
    from relief.models import RateLimitCounter
    from relief.ratelimit import DatabaseStorage

    engines = [make_engine(make_app_url(database_url)) for _ in range(2)]
    try:
        one, two = (DatabaseStorage(engine=engine) for engine in engines)
        assert one.incr("checkout/127.0.0.1", 60) == 1
        assert two.incr("checkout/127.0.0.1", 60) == 2
        assert one.get("checkout/127.0.0.1") == 2 and two.get("checkout/127.0.0.1") == 2
        from sqlalchemy import update

        with engines[0].connect() as connection, connection.begin():
            connection.execute(update(RateLimitCounter).values(expires_at=0))  # window over
        assert one.get("checkout/127.0.0.1") == 0
        assert two.incr("checkout/127.0.0.1", 60) == 1  # a new window starts from one
        two.clear("checkout/127.0.0.1")
        assert one.get("checkout/127.0.0.1") == 0
    finally:
        for engine in engines:
            engine.dispose()


def make_app_url(database_url: str) -> str:
    from relief.config import database_url_for

    return database_url_for(database_url, "/tmp")


def test_bad_input_sends_nothing_to_stripe(stripe_session, stripe_client, fake_stripe):
    make_coalition(stripe_session)
    for fields in (
        {"amount_choice": "other", "custom_amount": "4.99"},
        {"amount_choice": "other", "custom_amount": "60000"},
        {"email": "nobody"},
    ):
        assert give(stripe_client, **fields).status_code == 400
    assert fake_stripe.requests == []
    assert gift_count(stripe_session) == 0
