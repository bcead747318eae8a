"""Deposit-slip batches as a treasurer enters an event's checks and cash."""

from datetime import date, timedelta

from sqlmodel import func, select

from relief import ledger
from relief.models import BatchLine, DepositBatch, Entry, Gift
from tests.factories import make_coalition
from tests.treasury_helpers import SignedIn, data, make_user


def setup(app):
    with data(app) as session:
        make_coalition(session)
        make_user(session, "t@stl.org", "st-louis")
    return SignedIn(app, "t@stl.org")


def open_batch(treasurer, count="3", total="175.00", held_by="Dana"):
    response = treasurer.post(
        "/treasurer/st-louis/batches",
        {
            "drive": "1",
            "label": "Potluck",
            "expected_count": count,
            "expected_total": total,
            "held_by": held_by,
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.headers["Location"]


def add(treasurer, batch_url, amount, method="check", **fields):
    """A line of the batch, received the day it is entered unless ``received`` says."""
    return treasurer.post(
        batch_url + "/lines",
        {"amount": amount, "method": method, "received": date.today().isoformat(), **fields},
    )


def raised(app):
    with data(app) as session:
        from relief.drives import get_drive

        return ledger.totals(session, get_drive(session, "mo-2026"))


def test_a_batch_posts_only_when_count_and_total_agree(app):
    treasurer = setup(app)
    batch = open_batch(treasurer)
    assert add(treasurer, batch, "100", check_number="1041", name="Ann Lee").status_code == 302
    assert add(treasurer, batch, "50", name="Bo", anonymous="y").status_code == 302
    page = treasurer.get(batch).get_data(as_text=True)
    assert "Does not balance yet" in page and "disabled" in page
    refused = treasurer.post(batch + "/post")
    assert refused.status_code == 409
    text = refused.get_data(as_text=True)
    assert "2 gifts entered, 3 stated" in text and "$150.00 entered, $175.00 stated" in text
    assert raised(app).raised_cents == 0

    assert add(treasurer, batch, "25", method="cash").status_code == 302
    assert "Balanced — ready to post" in treasurer.get(batch).get_data(as_text=True)
    assert treasurer.post(batch + "/post").status_code == 302
    totals = raised(app)
    assert totals.raised_cents == 17_500 and totals.figures.gift_count == 3
    assert totals.by_chapter_id[2].raised_cents == 17_500  # st-louis
    # A second click posts nothing more.
    assert treasurer.post(batch + "/post").status_code == 409
    assert raised(app).raised_cents == 17_500
    with data(app) as session:
        gifts = session.exec(select(Gift).order_by(Gift.id)).all()
        assert [(g.amount_cents, g.method.value, g.check_number) for g in gifts] == [
            (10_000, "check", "1041"),
            (5_000, "check", None),
            (2_500, "cash", None),
        ]
        assert [g.show_name for g in gifts] == [True, False, False]
        assert all(line.gift_id for line in session.exec(select(BatchLine)))
        from relief.drives import get_drive

        assert ledger.verify(session, get_drive(session, "mo-2026")) == []


def test_a_posted_batch_cannot_be_edited(app):
    treasurer = setup(app)
    batch = open_batch(treasurer, count="1", total="10")
    add(treasurer, batch, "10")
    treasurer.post(batch + "/post")
    assert add(treasurer, batch, "5").status_code == 409
    with data(app) as session:
        line_id = session.exec(select(BatchLine.id)).one()
    assert treasurer.post(f"{batch}/lines/{line_id}/remove").status_code == 409
    assert raised(app).raised_cents == 1_000


def test_bad_lines_are_refused_with_a_sentence_and_keep_what_was_typed(app):
    treasurer = setup(app)
    batch = open_batch(treasurer)
    future = (date.today() + timedelta(days=2)).isoformat()
    response = add(treasurer, batch, "12.345", name="Keep Me")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "at most two decimals" in page and 'value="Keep Me"' in page
    response = add(treasurer, batch, "20", received=future)
    assert response.status_code == 400 and "cannot be in the future" in response.get_data(
        as_text=True
    )
    response = add(treasurer, batch, "20", method="cash", check_number="77")
    assert response.status_code == 400 and "cash has none" in response.get_data(as_text=True)
    with data(app) as session:
        assert session.exec(select(func.count()).select_from(BatchLine)).one() == 0


def test_a_mistyped_line_can_be_removed_before_posting(app):
    treasurer = setup(app)
    batch = open_batch(treasurer, count="1", total="40")
    add(treasurer, batch, "400")
    with data(app) as session:
        line_id = session.exec(select(BatchLine.id)).one()
    assert treasurer.post(f"{batch}/lines/{line_id}/remove").status_code == 302
    add(treasurer, batch, "40")
    assert treasurer.post(batch + "/post").status_code == 302
    assert raised(app).raised_cents == 4_000


def test_csv_import_writes_every_row_or_none(app, today):
    treasurer = setup(app)
    batch = open_batch(treasurer, count="3", total="1,050")
    bad = (
        "Amount,Name,Anonymous,Method,Check_Number,Received\n"
        f"20,Ann,no,check,101,{today.isoformat()}\n"
        f"abc,Bo,no,check,102,{today.isoformat()}\n"
        f"20,Cy,maybe,cash,,{today.isoformat()}\n"
        "20,Di,no,check,103,yesterday\n"
    )
    import io

    response = treasurer.post(
        batch + "/import",
        {"file": (io.BytesIO(bad.encode()), "slip.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Nothing was imported" in page
    assert (
        "Row 3: Amount:" in page and "Row 4: Anonymous" in page and "Row 5: Date received" in page
    )
    assert "Row 2" not in page
    with data(app) as session:
        assert session.exec(select(func.count()).select_from(BatchLine)).one() == 0

    good = (
        "\ufeffamount,name,anonymous,method,check_number,received\n"
        f"20,Ann,no,check,101,{today.isoformat()}\n"
        f'"1,000.00",,yes,cash,,{today.isoformat()}\n'
        f"30,Cy,yes,check,103,{today.isoformat()}\n"
    )
    response = treasurer.post(
        batch + "/import",
        {"file": (io.BytesIO(good.encode()), "slip.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    assert treasurer.post(batch + "/post").status_code == 302
    assert raised(app).raised_cents == 105_000


def test_custody_and_deposit_date_are_kept_and_shown_until_deposited(app, today):
    treasurer = setup(app)
    batch = open_batch(treasurer, count="1", total="10", held_by="")
    add(treasurer, batch, "10", received=today.isoformat())
    treasurer.post(batch + "/post")
    treasurer.post(batch + "/custody", {"held_by": "Dana R."})
    dashboard = treasurer.get("/treasurer/st-louis/").get_data(as_text=True)
    assert "is not deposited (Dana R. holds it)" in dashboard
    response = treasurer.post(
        batch + "/custody", {"held_by": "Dana R.", "deposited_on": today.isoformat()}
    )
    assert response.status_code == 302
    with data(app) as session:
        stored = session.exec(select(DepositBatch)).one()
        # The date typed on the form, even when the run crosses midnight after it was read.
        assert stored.deposited_on == today and stored.held_by == "Dana R."
        # Paperwork only: the ledger holds just the gift.
        assert session.exec(select(func.count()).select_from(Entry)).one() == 1
    assert "not deposited" not in treasurer.get("/treasurer/st-louis/").get_data(as_text=True)


def test_a_batch_entered_days_late_takes_the_real_deposit_date_but_not_an_impossible_one(app):
    treasurer = setup(app)
    batch = open_batch(treasurer, count="2", total="30", held_by="Dana")
    received = (date.today() - timedelta(days=9), date.today() - timedelta(days=6))
    for amount, day in zip(("10", "20"), received, strict=True):
        assert add(treasurer, batch, amount, received=day.isoformat()).status_code == 302
    treasurer.post(batch + "/post")

    def deposit(day):
        return treasurer.post(batch + "/custody", {"held_by": "Dana", "deposited_on": day})

    # Before the latest gift came in: refused with a sentence, nothing saved.
    refused = deposit((received[1] - timedelta(days=1)).isoformat())
    text = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert f"before the latest gift in the batch was received ({received[1].isoformat()})" in text
    # In the future: refused.
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    assert "cannot be in the future" in deposit(tomorrow).get_data(as_text=True)
    with data(app) as session:
        assert session.exec(select(DepositBatch)).one().deposited_on is None
    # The day the last check came in — days before the batch was started here — is accepted.
    assert deposit(received[1].isoformat()).status_code == 302
    with data(app) as session:
        assert session.exec(select(DepositBatch)).one().deposited_on == received[1]


def test_a_batch_needs_a_count_and_total_up_front(app):
    treasurer = setup(app)
    response = treasurer.post(
        "/treasurer/st-louis/batches",
        {"drive": "1", "label": "Potluck", "expected_count": "0", "expected_total": "10"},
    )
    assert response.status_code == 400
    response = treasurer.post(
        "/treasurer/st-louis/batches",
        {"drive": "1", "label": "Potluck", "expected_count": "2", "expected_total": "-5"},
    )
    assert response.status_code == 400 and "more than zero" in response.get_data(as_text=True)
