"""Hostile input: fuzzed donate form, CSV import and webhook bodies (hypothesis), request size
limits, and donor names made of unicode, control characters and markup — each refused with a
4xx that writes nothing, or stored as typed and shown escaped. Never a 500."""

from __future__ import annotations

import csv
import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, func, select

from relief import drives, ledger
from relief.models import BatchLine, Entry, EntryKind, Gift, GiftStatus
from relief.treasury.exports import neutralise
from tests import stripe_objects as so
from tests.conftest import make_app
from tests.factories import make_coalition, make_gift
from tests.read_back import pdf_text
from tests.stripe_fixtures import *  # noqa: F403
from tests.treasury_helpers import SignedIn, csrf_token, data, make_user

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

#: Characters that break naive code: NUL and other controls, bidi overrides, a BOM, surrogate
#: neighbours, combining marks, emoji, markup and spreadsheet formula starts.
NASTY = st.sampled_from(
    list("\x00\x01\x07\x08\x1b\x7f\u202e\u200b\ufeff\u0301\U0001f600<>&\"'=+-@\t\r\n;,")
    + ["<script>alert(1)</script>", '=HYPERLINK("http://x")', "{{7*7}}", "%s%n", "\\x00"]
)
HOSTILE_TEXT = st.lists(st.one_of(NASTY, st.text(max_size=20)), max_size=30).map("".join)
AMOUNTS = st.one_of(
    st.sampled_from(
        [
            "-5",
            "-0",
            "0",
            "1e3",
            "1E2",
            "25.001",
            "5.5.5",
            "NaN",
            "inf",
            "0x10",
            "1_000",
            "٥٠",
            "25,00",
            "$-25",
            "+25",
            " 25 ",
            "25\x00",
            "9" * 40,
            "25.5",
            "50000.01",
            "4.99",
        ]
    ),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    HOSTILE_TEXT,
)


def count(app, model, *where) -> int:
    with data(app) as session:
        return session.exec(select(func.count()).select_from(model).where(*where)).one()


@pytest.fixture
def fuzz_app(database_url):
    app = make_app(database_url, RATELIMIT_ENABLED=False)
    with data(app) as session:
        make_coalition(session)
    yield app
    app.extensions["relief.engine"].dispose()


# --- the donate form ---------------------------------------------------------------------


@FUZZ
@given(
    amount=AMOUNTS,
    name=st.one_of(HOSTILE_TEXT, st.text(min_size=190, max_size=5000)),
    message=HOSTILE_TEXT,
    email=st.one_of(HOSTILE_TEXT, st.just("donor@example.org")),
    chapter=st.one_of(st.just("st-louis"), HOSTILE_TEXT),
)
def test_fuzzed_donate_form_never_500s_and_refusals_create_no_gift(
    fuzz_app, amount, name, message, email, chapter
):
    client = fuzz_app.test_client()
    token = csrf_token(client, "/drives/mo-2026")
    before = count(fuzz_app, Gift)
    response = client.post(
        "/drives/mo-2026/donate",
        data={
            "csrf_token": token,
            "amount_choice": "other",
            "custom_amount": amount,
            "donor_name": name,
            "message": message,
            "email": email,
            "chapter": chapter,
            "show_name": "show",
        },
    )
    assert response.status_code in (303, 400), response.status_code
    if response.status_code == 400:
        assert count(fuzz_app, Gift) == before
        return
    with data(fuzz_app) as session:
        gift = session.exec(select(Gift).order_by(Gift.id.desc())).first()
    assert gift.status == GiftStatus.PENDING
    assert 500 <= gift.amount_cents <= 5_000_000


def donate_25(client, **fields):
    """The drive page's donate form, $25 chosen, sent with ``fields``."""
    return client.post(
        "/drives/mo-2026/donate",
        data={
            "csrf_token": csrf_token(client, "/drives/mo-2026"),
            "amount_choice": "2500",
            "show_name": "show",
            **fields,
        },
    )


@pytest.mark.parametrize("field", ["donor_name", "message", "email"])
def test_a_nul_in_what_the_donor_types_is_refused_with_a_sentence_not_a_500(fuzz_app, field):
    """Found by the fuzz test above on PostgreSQL, which cannot store a NUL: a 500."""
    client = fuzz_app.test_client()
    values = {"donor_name": "Ana", "message": "Thanks", "email": "donor@example.org"}
    values[field] = values[field][:2] + "\x00" + values[field][2:]
    response = donate_25(client, **values)
    assert response.status_code == 400
    assert "Remove the invisible control characters" in response.get_data(as_text=True)
    assert count(fuzz_app, Gift) == 0


def test_a_nul_in_the_link_a_donor_came_through_is_dropped_and_the_gift_goes_ahead(fuzz_app):
    client = fuzz_app.test_client()
    response = donate_25(client, email="donor@example.org", ref="news\x00letter", utm_source="\x00")
    assert response.status_code == 303
    with data(fuzz_app) as session:
        gift = session.exec(select(Gift)).one()
    assert (gift.ref, gift.utm_source) == ("newsletter", None)


def test_a_nul_in_the_sign_in_email_is_refused_with_a_sentence(fuzz_app):
    client = fuzz_app.test_client()
    response = client.post(
        "/login",
        data={
            "csrf_token": csrf_token(client, "/login"),
            "email": "dana\x00@stl.org",
            "password": "correct horse battery",
        },
    )
    assert response.status_code < 500
    assert "Remove the invisible control characters" in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/drives/mo%002026", "/api/drives/mo%002026"])
def test_a_nul_in_a_url_is_a_clear_refusal_not_a_500(fuzz_app, path):
    """No form stands in front of a URL: the database's refusal is the backstop."""
    client = fuzz_app.test_client()
    response = client.get(path)
    assert response.status_code in (400, 404), response.status_code
    assert client.get("/api/drives/mo-2026").status_code == 200  # and the next visitor is served


# --- the CSV batch import ----------------------------------------------------------------

CSV_CELL = st.one_of(
    HOSTILE_TEXT, AMOUNTS, st.sampled_from(["check", "cash", "yes", "no", "2026-01-01", ""])
)
CSV_BODY = st.one_of(
    st.binary(max_size=2000),
    st.lists(st.lists(CSV_CELL, max_size=8), max_size=12).map(
        lambda rows: "\n".join(",".join(row) for row in rows)
    ),
).flatmap(
    lambda body: st.sampled_from(["plain", "bom", "latin-1", "utf-16"]).map(
        lambda encoding: (body, encoding)
    )
)


def encoded(body, encoding) -> bytes:
    if isinstance(body, bytes):
        return body
    header = "amount,name,anonymous,method,check_number,received\n"
    text = header + body
    if encoding == "bom":
        return ("\ufeff" + text).encode("utf-8", "surrogatepass")
    if encoding == "latin-1":
        return text.encode("latin-1", "replace")
    if encoding == "utf-16":
        return text.encode("utf-16")
    return text.encode("utf-8", "surrogatepass")


@pytest.fixture
def treasurer_batch(fuzz_app):
    with data(fuzz_app) as session:
        make_user(session, "t@stl.org", "st-louis")
    treasurer = SignedIn(fuzz_app, "t@stl.org")
    response = treasurer.post(
        "/treasurer/st-louis/batches",
        {"drive": "1", "label": "Fuzz", "expected_count": "1", "expected_total": "1"},
    )
    assert response.status_code == 302
    return treasurer, response.headers["Location"]


@FUZZ
@given(upload=CSV_BODY)
def test_fuzzed_csv_import_gives_row_errors_and_writes_all_or_nothing(
    fuzz_app, treasurer_batch, upload
):
    treasurer, batch = treasurer_batch
    payload = encoded(*upload)
    before = count(fuzz_app, BatchLine)
    response = treasurer.post(
        batch + "/import",
        {"file": (io.BytesIO(payload), "slip.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code in (302, 400), response.status_code
    after = count(fuzz_app, BatchLine)
    if response.status_code == 400:
        assert after == before
        page = response.get_data(as_text=True)
        if payload:  # (an empty upload is refused by the form itself)
            sentences = ("Nothing was imported", "not UTF-8", "header row")
            assert any(sentence in page for sentence in sentences), page[-2000:]
    else:
        assert after > before


def test_formula_cells_are_imported_as_text_and_exported_neutralised(fuzz_app, treasurer_batch):
    treasurer, batch = treasurer_batch
    rows = (
        "amount,name,anonymous,method,check_number,received\n"
        '1,"=HYPERLINK(""http://evil.example"",""x"")",no,check,=1+1,2026-01-02\n'
    )
    response = treasurer.post(
        batch + "/import",
        {"file": (io.BytesIO(rows.encode()), "slip.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    assert treasurer.post(batch + "/post").status_code == 302
    exported = treasurer.get("/treasurer/st-louis/donors.csv").get_data(as_text=True)
    cells = [cell for row in csv.reader(io.StringIO(exported)) for cell in row]
    assert '\'=HYPERLINK("http://evil.example","x")' in cells
    assert "'=1+1" in cells
    assert not any(cell[:1] in ("=", "+", "-", "@", "\t", "\r") for cell in cells if cell[:1])


# --- the webhook body --------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | HOSTILE_TEXT,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
EVENT_TYPES = st.sampled_from(
    [
        "checkout.session.completed",
        "charge.refunded",
        "charge.dispute.created",
        "invoice.paid",
        "invoice.payment_failed",
        "refund.updated",
        "checkout.session.expired",
        "customer.subscription.updated",
        "customer.subscription.deleted",
    ]
)


def _wrong_shape(draw_type, obj):
    return {"id": "evt_fuzz", "type": draw_type, "data": {"object": obj}}


@st.composite
def webhook_bodies(draw) -> bytes:
    kind = draw(st.sampled_from(["bytes", "json", "event", "mutated"]))
    if kind == "bytes":
        return draw(st.binary(max_size=500))
    if kind == "json":
        return json.dumps(draw(JSON_VALUES)).encode()
    event_id = "evt_fuzz_" + str(draw(st.integers(0, 10**9)))
    if kind == "event":
        evt = _wrong_shape(draw(EVENT_TYPES), draw(JSON_VALUES))
        evt["id"] = event_id
        return json.dumps(evt).encode()
    # A real checkout session with one field (or one of its metadata or donor's fields, or the
    # event's own id) replaced by junk or removed.
    obj = so.checkout_session(amount_cents=2500, metadata={"drive": "mo-2026"})
    evt = so.event("checkout.session.completed", obj, event_id=event_id)
    place = draw(st.sampled_from(["object", "metadata", "customer_details", "event id"]))
    if place == "event id":
        evt["id"] = draw(JSON_VALUES)
        return so.body(evt)
    holder = obj if place == "object" else obj[place]
    field = draw(st.sampled_from(sorted(holder) + ["drive", "ref"] * (place == "metadata")))
    if draw(st.booleans()):
        holder.pop(field, None)
    else:
        holder[field] = draw(JSON_VALUES)
    return so.body(evt)


def _a_signed_event(body: bytes) -> bool:
    """Is the body a JSON object with an id and a type (what the webhook must keep)?"""
    try:
        parsed = json.loads(body)
    except ValueError:
        return False
    return isinstance(parsed, dict) and "id" in parsed and "type" in parsed


def _all_paid_gifts_have_their_entry(session) -> None:
    paid = session.exec(
        select(func.count()).select_from(Gift).where(Gift.status == GiftStatus.PAID)
    ).one()
    entries = session.exec(
        select(func.count(func.distinct(Entry.gift_id))).where(Entry.kind == EntryKind.GIFT)
    ).one()
    assert paid == entries


@pytest.fixture
def webhook_drive(stripe_session):
    return make_coalition(stripe_session)


@FUZZ
@given(body=webhook_bodies())
def test_fuzzed_signed_webhook_bodies_are_kept_or_refused_never_500(
    stripe_app, webhook_drive, body
):
    """A signed event is recorded, ignored or held with a reason: always 200 (Stripe retries
    anything else for days). Only a body that is no event at all is refused (400)."""
    client = stripe_app.test_client()
    response = client.post("/stripe/webhook", data=body, headers=so.webhook_headers(body))
    expected = 200 if _a_signed_event(body) else 400
    assert response.status_code == expected, (response.status_code, body[:300])
    assert response.is_json
    with data(stripe_app) as session:
        drive = drives.get_drive(session, "mo-2026")
        assert ledger.verify(session, drive) == []
        _all_paid_gifts_have_their_entry(session)


# --- sizes -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/drives/mo-2026/donate", "/stripe/webhook", "/login"])
def test_a_body_over_the_size_limit_is_refused_with_413(fuzz_app, path):
    limit = fuzz_app.config["MAX_CONTENT_LENGTH"]
    assert limit <= 1024 * 1024
    body = b"x" * (limit + 1)
    response = fuzz_app.test_client().post(
        path, data=body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 413
    assert count(fuzz_app, Gift) == 0


# --- hostile names stored safely and shown escaped ----------------------------------------

HOSTILE_NAME = (
    "<script>alert('x')</script> Zoë \u202eevil\u202c 名前 \U0001f600 & <b>bold</b> "
    "=cmd|' /C calc'!A0 " + "L" * 80
)


def test_a_hostile_donor_name_is_stored_as_typed_and_shown_escaped_everywhere(fuzz_app):
    with data(fuzz_app) as session:
        drive = drives.get_drive(session, "mo-2026")
        gift = make_gift(
            session, drive, 2_500, chapter="st-louis", donor_name=HOSTILE_NAME, show_name=True
        )
        make_user(session, "t@stl.org", "st-louis")
        stored = session.get(Gift, gift.id).donor_name
        public_id = gift.public_id
    assert stored == HOSTILE_NAME
    client = fuzz_app.test_client()
    page = client.get("/drives/mo-2026").get_data(as_text=True)
    assert "<script>alert" not in page and "<b>bold</b>" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert "Zoë" in page and "名前" in page
    # The donor CSV: a spreadsheet would run a cell starting with "=", "+", "-", "@".
    treasurer = SignedIn(fuzz_app, "t@stl.org")
    exported = treasurer.get("/treasurer/st-louis/donors.csv").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert any(HOSTILE_NAME in " ".join(row.values()) for row in rows)
    evil = neutralise("=cmd|' /C calc'!A0")
    assert evil.startswith("'=")
    # The receipt PDF shows the literal text, not markup.
    receipt = client.get(f"/gifts/{public_id}/receipt.pdf")
    assert receipt.status_code == 200 and receipt.mimetype == "application/pdf"
    text = " ".join(pdf_text(receipt.data, layout=False).split())
    assert "<script>alert('x')</script>" in text and "<b>bold</b>" in text


def test_a_hostile_drive_title_is_literal_text_in_the_press_pdf(database_url):
    app = make_app(database_url)
    title = "<h1>Fake</h1> <img src=x onerror=alert(1)> & Jubilee \u202e"
    with Session(app.extensions["relief.engine"], expire_on_commit=False) as session:
        drives.create_chapter(session, "st-louis", "St. Louis <i>x</i>", "MO")
        drive = drives.create_drive(
            session, slug="hostile", title=title, goal_cents=100_000, chapter_slugs=["st-louis"]
        )
        session.commit()
        make_gift(session, drive, 1_000, chapter="st-louis")
    response = app.test_client().get("/drives/hostile/report.pdf")
    assert response.status_code == 200
    text = " ".join(pdf_text(response.data, layout=False).split())
    assert "<h1>Fake</h1> <img src=x onerror=alert(1)> & Jubilee" in text
    assert "St. Louis <i>x</i>" in text
    app.extensions["relief.engine"].dispose()
