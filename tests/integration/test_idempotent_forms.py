"""Every money form records once: sent twice (a double click, the back button, a browser's
resend) or entered again from a fresh form with the same paper (partner reference and check
number, remittance reference, deposit slip number), it answers "already recorded", links to
the first record and records nothing a second time — on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import date
from html.parser import HTMLParser

import pytest
from sqlalchemy import func
from sqlmodel import select

from relief import boundary, db, drives, ledger
from relief.models import DepositBatch, Entry, EntryKind, Gift, GiftMethod, Remittance
from relief.treasury import gifts
from tests.factories import make_coalition, make_gift
from tests.treasury_helpers import SignedIn, data, make_user

DIRECT = "/treasurer/st-louis/direct"
REMITTANCES = "/treasurer/st-louis/remittances"
BATCHES = "/treasurer/st-louis/batches"


@pytest.fixture
def check_to_partner(today):
    """The issue's reproduction: a $500 check the donor mailed to the partner."""
    return {
        "drive": "1",
        "amount": "500",
        "method": "check",
        "check_number": "1001",
        "name": "Ana B.",
        "received": today.isoformat(),
        "partner_reference": "UMD-2291",
    }


class _HiddenFields(HTMLParser):
    """The hidden inputs of each form on a page, by the form's action ("" for the page)."""

    def __init__(self):
        super().__init__()
        self.forms: dict[str, dict[str, str]] = {}
        self._current: dict[str, str] | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form":
            self._current = self.forms.setdefault(attributes.get("action") or "", {})
        elif tag == "input" and attributes.get("type") == "hidden" and self._current is not None:
            self._current[attributes["name"]] = attributes.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None


def shown_form(treasurer, url, action=""):
    """What a browser sends besides the typed fields: the hidden fields of the form as shown."""
    parser = _HiddenFields()
    parser.feed(treasurer.get(url).get_data(as_text=True))
    return parser.forms[action]


def setup(app):
    with data(app) as session:
        make_coalition(session)
        make_user(session, "t@stl.org", "st-louis")
    return SignedIn(app, "t@stl.org")


def raised(app):
    with data(app) as session:
        drive = drives.get_drive(session, "mo-2026")
        assert ledger.verify(session, drive) == []
        return ledger.totals(session, drive)


def count(app, model) -> int:
    with data(app) as session:
        return session.exec(select(func.count()).select_from(model)).one()


def gift_ids(app) -> list[int]:
    with data(app) as session:
        return list(session.exec(select(Gift.id).order_by(Gift.id)))


def assert_already_recorded(response, link: str):
    page = response.get_data(as_text=True)
    assert response.status_code == 409, page[:2000]
    assert "Already recorded" in page and "Nothing was recorded a second time" in page
    assert f'href="{link}" data-first-record' in page


# --- The direct-to-partner form ----------------------------------------------------------------


def test_a_direct_gift_sent_twice_is_recorded_once(app, check_to_partner):
    treasurer = setup(app)
    form = {**shown_form(treasurer, DIRECT), **check_to_partner}
    first = treasurer.post(DIRECT, form)
    assert first.status_code == 302
    # The back button and "resend", or a second click: the same form, the same token.
    again = treasurer.post(DIRECT, form)
    [gift_id] = gift_ids(app)
    assert_already_recorded(again, f"/treasurer/st-louis/gifts/{gift_id}")
    assert raised(app).raised_cents == 50_000


def test_the_same_check_to_the_partner_entered_again_on_a_fresh_form_is_recorded_once(
    app, check_to_partner
):
    """The issue's story: the treasurer comes back to the form (a new token) and enters the
    same partner letter again."""
    treasurer = setup(app)
    assert treasurer.post(DIRECT, {**shown_form(treasurer, DIRECT), **check_to_partner}).status_code
    again = treasurer.post(DIRECT, {**shown_form(treasurer, DIRECT), **check_to_partner})
    [gift_id] = gift_ids(app)
    assert_already_recorded(again, f"/treasurer/st-louis/gifts/{gift_id}")
    page = again.get_data(as_text=True)
    assert "check #1001 with the partner’s reference “UMD-2291” is gift" in page
    assert 'value="Ana B."' in page  # what was typed stays in the form
    totals = raised(app)
    assert totals.raised_cents == 50_000 and totals.figures.remitted_cents == 50_000


def test_the_paper_key_needs_both_the_partner_reference_and_the_check_number(app, check_to_partner):
    """Check numbers repeat across donors' accounts; without the partner's reference two
    gifts with check #1001 are two gifts. Another reference, or another drive's letter with
    the same numbers, is another gift too."""
    treasurer = setup(app)
    no_reference = {**check_to_partner, "partner_reference": ""}
    for fields in (no_reference, no_reference, {**check_to_partner, "partner_reference": "X-1"}):
        assert (
            treasurer.post(DIRECT, {**shown_form(treasurer, DIRECT), **fields}).status_code == 302
        )
    assert raised(app).raised_cents == 150_000


# --- Remittances --------------------------------------------------------------------------------


def held_money(app):
    with data(app) as session:
        make_gift(session, drives.get_drive(session, "mo-2026"), 90_000, chapter="st-louis")


@pytest.fixture
def remittance(today):
    """A $300 check sent to the partner today, as the remittance form posts it."""
    return {"drive": "1", "amount": "300", "sent_on": today.isoformat(), "reference": "check 2044"}


def test_a_remittance_sent_twice_or_entered_again_is_recorded_once(app, remittance):
    treasurer = setup(app)
    held_money(app)
    form = {**shown_form(treasurer, REMITTANCES), **remittance}
    assert treasurer.post(REMITTANCES, form).status_code == 302
    [remittance_id] = [r.id for r in _remittances(app)]
    link = f"/treasurer/st-louis/remittances#remittance-{remittance_id}"
    assert_already_recorded(treasurer.post(REMITTANCES, form), link)
    fresh = treasurer.post(REMITTANCES, {**shown_form(treasurer, REMITTANCES), **remittance})
    assert_already_recorded(fresh, link)
    assert "reference “check 2044” is remittance" in fresh.get_data(as_text=True)
    assert raised(app).figures.remitted_cents == 30_000
    assert f'id="remittance-{remittance_id}"' in treasurer.get(REMITTANCES).get_data(as_text=True)


def test_a_reversed_remittance_frees_its_reference_to_be_recorded_again(app, remittance):
    """Typed $300 for a $200 check: reverse it, then record the check correctly."""
    treasurer = setup(app)
    held_money(app)
    treasurer.post(REMITTANCES, {**shown_form(treasurer, REMITTANCES), **remittance})
    [wrong] = _remittances(app)
    reversed_ = treasurer.post(f"{REMITTANCES}/{wrong.id}/reverse", {"reason": "typed $300"})
    assert reversed_.status_code == 302
    right = {**shown_form(treasurer, REMITTANCES), **remittance, "amount": "200"}
    assert treasurer.post(REMITTANCES, right).status_code == 302
    assert raised(app).figures.remitted_cents == 20_000
    # Another chapter's check with the same number is its own.
    with data(app) as session:
        make_user(session, "k@kc.org", "kansas-city")
        make_gift(session, drives.get_drive(session, "mo-2026"), 50_000, chapter="kansas-city")
    other = SignedIn(app, "k@kc.org")
    kc = "/treasurer/kansas-city/remittances"
    assert other.post(kc, {**shown_form(other, kc), **remittance}).status_code == 302
    assert raised(app).figures.remitted_cents == 50_000


def _remittances(app):
    with data(app) as session:
        return list(session.exec(select(Remittance).order_by(Remittance.id)))


# --- Corrections ----------------------------------------------------------------------------------


def test_a_correction_sent_twice_is_posted_once(app):
    treasurer = setup(app)
    with data(app) as session:
        gift = make_gift(session, drives.get_drive(session, "mo-2026"), 2_500, chapter="st-louis")
    page = f"/treasurer/st-louis/gifts/{gift.id}"
    form = {
        **shown_form(treasurer, page, f"{page}/correct"),
        "correct_amount": "20",
        "reason": "The check says $20",
    }
    assert treasurer.post(f"{page}/correct", form).status_code == 302
    assert_already_recorded(treasurer.post(f"{page}/correct", form), page)
    with data(app) as session:
        corrections = session.exec(select(Entry).where(Entry.kind == EntryKind.CORRECTION)).all()
    assert [entry.amount_cents for entry in corrections] == [-500]
    assert raised(app).raised_cents == 2_000


# --- Deposit batches ------------------------------------------------------------------------------

NEW_BATCH = {
    "drive": "1",
    "label": "Potluck, March 3",
    "slip_number": "000417",
    "expected_count": "1",
    "expected_total": "40",
}


def test_a_deposit_slip_is_entered_once(app):
    treasurer = setup(app)
    form = {**shown_form(treasurer, BATCHES), **NEW_BATCH}
    started = treasurer.post(BATCHES, form)
    assert started.status_code == 302
    batch_url = started.headers["Location"]
    assert_already_recorded(treasurer.post(BATCHES, form), batch_url)
    fresh = treasurer.post(
        BATCHES, {**shown_form(treasurer, BATCHES), **NEW_BATCH, "label": "Potluck"}
    )
    assert_already_recorded(fresh, batch_url)
    assert "deposit slip 000417 is the batch “Potluck, March 3”" in fresh.get_data(as_text=True)
    assert count(app, DepositBatch) == 1
    # Without a slip number, or with another, a batch is its own.
    for slip in ("", "000418"):
        fields = {**shown_form(treasurer, BATCHES), **NEW_BATCH, "slip_number": slip}
        assert treasurer.post(BATCHES, fields).status_code == 302
    assert count(app, DepositBatch) == 3


def test_posting_a_batch_twice_posts_it_once_and_says_so(app, today):
    treasurer = setup(app)
    started = treasurer.post(BATCHES, {**shown_form(treasurer, BATCHES), **NEW_BATCH})
    batch = started.headers["Location"]
    line = {"amount": "40", "method": "cash", "received": today.isoformat()}
    assert treasurer.post(batch + "/lines", line).status_code == 302
    form = shown_form(treasurer, batch, batch + "/post")
    assert treasurer.post(batch + "/post", form).status_code == 302
    assert_already_recorded(treasurer.post(batch + "/post", form), batch)
    # From the page shown again after posting (no button now, but a resent old page):
    assert_already_recorded(treasurer.post(batch + "/post"), batch)
    assert raised(app).raised_cents == 4_000


def test_a_money_form_without_its_token_is_refused_with_a_sentence(app, check_to_partner):
    treasurer = setup(app)
    refused = treasurer.post(DIRECT, {**check_to_partner, "form_token": ""})
    assert refused.status_code == 400
    assert "This form is out of date; reload the page" in refused.get_data(as_text=True)
    assert gift_ids(app) == []


# --- A double click: two identical POSTs at the same moment ---------------------------------------


def test_a_double_click_on_a_money_form_records_once(app, check_to_partner):
    """Two requests of one form at once (each with its own connection, as two workers would
    serve them). No partner reference: only the token can tell they are one gift."""
    treasurer = setup(app)
    second_click = SignedIn(app, "t@stl.org")
    form = {**shown_form(treasurer, DIRECT), **check_to_partner, "partner_reference": ""}
    both_ready = threading.Barrier(2)
    answers = {}

    def click(name, browser):
        both_ready.wait(5)
        answers[name] = browser.post(DIRECT, {**form, "csrf_token": browser.token})

    threads = [
        threading.Thread(target=click, args=("first", treasurer)),
        threading.Thread(target=click, args=("second", second_click)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    [gift_id] = gift_ids(app)
    statuses = sorted(answer.status_code for answer in answers.values())
    assert statuses == [302, 409]
    [repeat] = [answer for answer in answers.values() if answer.status_code == 409]
    assert_already_recorded(repeat, f"/treasurer/st-louis/gifts/{gift_id}")
    assert raised(app).raised_cents == 50_000


def test_the_second_of_two_racing_forms_waits_for_the_first_and_records_nothing(app):
    """The race made certain: the first request holds its unit open after recording; the
    second, with the same token, runs meanwhile (on PostgreSQL it waits on the token's key,
    then loses it and its retry finds the first record; on SQLite it waits for the write
    lock). Exactly what the view runs: the service inside ``boundary.retry_on_conflict``."""
    with data(app) as session:
        make_coalition(session)
    token = "double-click-token-0123456789"
    first_recorded = threading.Event()
    outcomes = {}

    def request(name):
        with app.app_context():
            try:
                with boundary.command():
                    if name == "second":
                        first_recorded.wait(5)
                    chapter = drives.get_chapter(db.session(), "st-louis")
                    gift = boundary.retry_on_conflict(
                        lambda: gifts.record_direct_gift(
                            db.session(),
                            chapter,
                            drive_id=1,
                            amount_cents=50_000,
                            method=GiftMethod.CHECK,
                            donor_name="Ana B.",
                            show_name=True,
                            check_number="1001",
                            received_on=date.today(),
                            form_token=token,
                        )
                    )
                    outcomes[name] = f"gift #{gift.id}"
                    if name == "first":
                        first_recorded.set()
                        time.sleep(0.5)  # still inside the unit: not committed yet
            except gifts.once.AlreadyRecorded as repeat:
                outcomes[name] = f"already: gift #{repeat.record_id}"

    threads = [threading.Thread(target=request, args=(name,)) for name in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    [gift_id] = gift_ids(app)
    assert outcomes == {"first": f"gift #{gift_id}", "second": f"already: gift #{gift_id}"}
    assert raised(app).raised_cents == 50_000
