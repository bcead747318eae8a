"""Closing a month: refused, with what is outstanding and where to fix it, until the month is
reconciled — payouts to the cent, bank deposits matched, batches posted, deposited and on the
statement, fees known; a coalition admin may close anyway with a reason, which is audited."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlmodel import func, select

from relief import drives, ledger
from relief.models import (
    AuditEvent,
    BankLine,
    EntryKind,
    Gift,
    GiftMethod,
    GiftStatus,
    MonthClose,
    Payout,
    PayoutTransaction,
)
from relief.treasury import bank, batches, frozen_months, months
from tests.factories import make_coalition
from tests.treasury_helpers import SignedIn, data, make_user

CLOSE = "/treasurer/st-louis/months/close"


@pytest.fixture
def day(last_month) -> date:
    """A day in last month."""
    return last_month + timedelta(days=9)


def at(day: date) -> datetime:
    return datetime.combine(day, time(15), UTC)


def card_gift(session, drive, amount_cents, fee_cents, charge_id, day, fee_pending=False):
    """A St. Louis card gift received on ``day``, in the ledger as the webhook leaves it."""
    chapter = drives.get_chapter(session, "st-louis")
    gift = Gift(
        drive_id=drive.id,
        chapter_id=chapter.id,
        amount_cents=amount_cents,
        method=GiftMethod.CARD,
        status=GiftStatus.PAID,
        stripe_charge_id=charge_id,
        received_at=at(day),
        fee_pending=fee_pending,
    )
    session.add(gift)
    session.flush()
    common = dict(drive_id=drive.id, chapter_id=chapter.id, gift_id=gift.id, effective_at=at(day))
    ledger.append(session, kind=EntryKind.GIFT, amount_cents=amount_cents, **common)
    if not fee_pending:
        ledger.append(
            session,
            kind=EntryKind.FEE,
            amount_cents=fee_cents,
            external_id=f"fee:{charge_id}",
            **common,
        )
    return gift


def stored_payout(session, stripe_id, arrival, lines):
    """A synced automatic payout (what `stripe sync` stores) carrying ``lines``: (txn id, gift
    or None, amount, fee)."""
    payout = Payout(
        stripe_id=stripe_id,
        amount_cents=sum(amount - fee for _, _, amount, fee in lines),
        status="paid",
        automatic=True,
        arrival_date=arrival,
        created=at(arrival - timedelta(days=2)),
        transactions_complete=True,
    )
    session.add(payout)
    session.flush()
    for txn_id, gift, amount, fee in lines:
        session.add(
            PayoutTransaction(
                stripe_id=txn_id,
                payout_id=payout.id,
                type="charge",
                reporting_category="charge",
                source_id=gift.stripe_charge_id if gift else f"ch_{txn_id}",
                charge_id=gift.stripe_charge_id if gift else f"ch_{txn_id}",
                amount_cents=amount,
                fee_cents=fee,
                net_cents=amount - fee,
                created=at(arrival - timedelta(days=3)),
                gift_id=gift.id if gift else None,
                chapter_id=gift.chapter_id if gift else None,
            )
        )
    session.flush()
    return payout


def checks_batch(session, drive, label, amounts, day, post=True, deposited_on=None):
    """A batch of checks received on ``day`` and started that day; posted unless not ``post``,
    and deposited when ``deposited_on`` is given."""
    chapter = drives.get_chapter(session, "st-louis")
    batch = batches.open_batch(
        session,
        chapter,
        drive_id=drive.id,
        label=label,
        expected_count=len(amounts),
        expected_total_cents=sum(amounts),
    )
    batch.created_at = at(day)
    for cents in amounts:
        batches.add_line(
            session,
            chapter,
            batch.id,
            batches.LineInput(amount=f"{cents / 100:.2f}", received=day),
        )
    if post:
        batches.post_batch(session, chapter, batch.id)
    if deposited_on is not None:
        batches.set_custody(session, chapter, batch.id, held_by="", deposited_on=deposited_on)
    return batch


def users(app):
    with data(app) as session:
        make_user(session, "t@stl.org", "st-louis")
        make_user(session, "admin@relief.example.org", admin=True)
    return SignedIn(app, "t@stl.org")


def close(client, month, reason=None):
    form = {"month": month.isoformat(), "reconciled": "y"}
    if reason is not None:
        form["override_reason"] = reason
    return client.post(CLOSE, form)


def closed_months(app) -> int:
    with data(app) as session:
        return session.exec(select(func.count()).select_from(MonthClose)).one()


def checks_on(page: str) -> list[str]:
    return re.findall(r'data-check="(done|open)"', page)


def test_a_month_that_is_not_reconciled_is_refused_with_what_is_outstanding_and_where(
    app, last_month, day
):
    with data(app) as session:
        drive = make_coalition(session)
        known = card_gift(session, drive, 5_000, 175, "ch_known", day)
        payout = stored_payout(
            session,
            "po_off",
            day + timedelta(days=2),
            [("txn_known", known, 5_000, 175), ("txn_stranger", None, 4_000, 118)],
        )
        card_gift(session, drive, 2_500, 0, "ch_waiting", day, fee_pending=True)
        raffle = checks_batch(session, drive, "Raffle cash", [1_500], day, post=False)
        potluck = checks_batch(session, drive, "Potluck checks", [10_000, 6_000], day)
        chapter = drives.get_chapter(session, "st-louis")
        bank.import_statement(
            session, chapter, f"Date,Description,Amount\n{day},INTEREST,12.34\n".encode()
        )
        session.commit()
        ids = {"payout": payout.id, "raffle": raffle.id, "potluck": potluck.id}
    treasurer = users(app)

    dashboard = treasurer.get("/treasurer/st-louis/").get_data(as_text=True)
    assert f"Before closing {last_month.strftime('%B %Y')}" in dashboard
    assert checks_on(dashboard) == ["open", "open", "open", "open"]
    assert 'data-month-state="open"' in dashboard

    refused = close(treasurer, last_month)
    page = html.unescape(refused.get_data(as_text=True))
    assert refused.status_code == 409
    assert f"{last_month.strftime('%B %Y')} is not reconciled, so it cannot be closed yet" in page
    assert "Stripe payout po_off" in page
    assert "1 transaction not in the ledger ($38.82 unexplained)" in page
    assert f'href="/treasurer/st-louis/payouts/{ids["payout"]}"' in page
    assert "The bank deposit of $12.34" in page and "(“INTEREST”)" in page
    assert 'href="/treasurer/st-louis/bank"' in page
    assert "Batch “Raffle cash” is not posted to the ledger" in page
    assert f'href="/treasurer/st-louis/batches/{ids["raffle"]}"' in page
    assert "Batch “Potluck checks” is not deposited" in page
    assert f'href="/treasurer/st-louis/batches/{ids["potluck"]}"' in page
    assert "1 card gift received by the month's end waits for Stripe's fee" in page
    assert closed_months(app) == 0

    # A treasurer cannot talk their way past it, and is not offered to.
    assert "override_reason" not in dashboard
    refused = close(treasurer, last_month, reason="The bank is wrong, trust me on this one")
    assert refused.status_code == 409
    assert "Only a coalition admin may close" in refused.get_data(as_text=True)
    assert closed_months(app) == 0


def test_a_reconciled_month_shows_every_check_done_and_closes(app, this_month, last_month, day):
    with data(app) as session:
        drive = make_coalition(session)
        gifts = [card_gift(session, drive, 5_000 + n, 175, f"ch_ok{n}", day) for n in range(2)]
        payout = stored_payout(
            session,
            "po_ok",
            day + timedelta(days=2),
            [(f"txn_ok{n}", gift, gift.amount_cents, 175) for n, gift in enumerate(gifts)],
        )
        # Deposited on the statement's day: an event's checks, entered days later.
        checks_batch(session, drive, "Potluck checks", [10_000, 6_000], day, deposited_on=day)
        # A payout arriving this month that does not reconcile concerns this month only.
        stored_payout(session, "po_later", this_month, [("txn_x", None, 900, 30)])
        chapter = drives.get_chapter(session, "st-louis")
        statement = (
            "Date,Description,Amount\n"
            f"{payout.arrival_date},STRIPE TRANSFER,{payout.amount_cents / 100:.2f}\n"
            f"{day},DEPOSIT,160.00\n"
        )
        assert bank.import_statement(session, chapter, statement.encode()).matched == 2
        session.commit()
    treasurer = users(app)

    dashboard = treasurer.get("/treasurer/st-louis/").get_data(as_text=True)
    assert checks_on(dashboard) == ["done", "done", "done", "done"]
    assert f"{last_month.strftime('%B %Y')} is reconciled: it can be closed." in dashboard

    response = close(treasurer, last_month)
    assert response.status_code == 302
    assert closed_months(app) == 1
    with data(app) as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "month.close")).one()
        assert event.detail == f"{last_month.strftime('%B %Y')} reconciled and closed"
    # Once closed it is off the list, and the checklist moves to the month before.
    after = treasurer.get("/treasurer/st-louis/").get_data(as_text=True)
    before_last = months.first_of_month(last_month - timedelta(days=1))
    assert f"Before closing {before_last.strftime('%B %Y')}" in after


def test_a_deposited_batch_missing_from_the_bank_statement_keeps_the_month_open(
    app, last_month, day
):
    with data(app) as session:
        drive = make_coalition(session)
        batch = checks_batch(session, drive, "Car wash", [2_000], day, deposited_on=day)
        session.commit()
        batch_id = batch.id
    treasurer = users(app)
    page = close(treasurer, last_month).get_data(as_text=True)
    assert f"batch “Car wash”, deposited {day.isoformat()}, is not on an imported bank" in page
    assert f'href="/treasurer/st-louis/batches/{batch_id}"' in page
    # The checklist of another month can be looked at before choosing it.
    two_ago = months.first_of_month(last_month - timedelta(days=1))
    other = treasurer.get(f"/treasurer/st-louis/?month={two_ago.strftime('%Y-%m')}")
    text = other.get_data(as_text=True)
    assert f"Before closing {two_ago.strftime('%B %Y')}" in text
    assert checks_on(text) == ["done", "done", "done", "done"]
    assert close(treasurer, month=two_ago).status_code == 302


def test_an_admin_may_close_an_unreconciled_month_with_a_reason_that_is_audited(
    app, last_month, day
):
    with data(app) as session:
        make_coalition(session)
        chapter = drives.get_chapter(session, "st-louis")
        bank.import_statement(
            session, chapter, f"Date,Description,Amount\n{day},INTEREST,0.42\n".encode()
        )
        session.commit()
    users(app)
    admin = SignedIn(app, "admin@relief.example.org")
    dashboard = admin.get("/treasurer/st-louis/").get_data(as_text=True)
    assert 'name="override_reason"' in dashboard

    assert close(admin, last_month).status_code == 409  # no reason: refused like anyone
    short = close(admin, last_month, reason="interest")
    assert short.status_code == 400 and "at least 15 characters" in short.get_data(as_text=True)
    assert closed_months(app) == 0

    reason = "Bank interest, not Relief money; the chapter's bank books it separately."
    assert close(admin, last_month, reason=reason).status_code == 302
    assert closed_months(app) == 1
    with data(app) as session:
        event = session.exec(
            select(AuditEvent).where(AuditEvent.action == "month.close.override")
        ).one()
        assert event.actor_email == "admin@relief.example.org"
        assert reason in event.detail
        assert "the bank deposit of $0.42" in event.detail
        assert session.exec(select(BankLine)).one().payout_id is None  # nothing pretended


def test_only_what_concerns_the_chapter_in_a_shared_payout_keeps_its_month_open(
    app, last_month, day
):
    with data(app) as session:
        drive = make_coalition(session)
        mine = card_gift(session, drive, 5_000, 175, "ch_mine", day)
        theirs = card_gift(session, drive, 2_000, 88, "ch_theirs", day)
        kansas_city = drives.get_chapter(session, "kansas-city")
        theirs.chapter_id = kansas_city.id
        session.flush()
        # Kansas City's line disagrees with the ledger (Stripe kept 90 cents, not 88).
        stored_payout(
            session,
            "po_shared",
            day,
            [("txn_mine", mine, 5_000, 175), ("txn_theirs", theirs, 2_000, 90)],
        )
        session.commit()
    treasurer = users(app)
    # The payout does not reconcile, but St. Louis's share does: its month can close.
    page = treasurer.get("/treasurer/st-louis/payouts").get_data(as_text=True)
    assert "unexplained" in page
    dashboard = treasurer.get("/treasurer/st-louis/").get_data(as_text=True)
    assert checks_on(dashboard) == ["done", "done", "done", "done"]
    assert close(treasurer, last_month).status_code == 302

    # St. Louis's own line disagreeing (in the month before) keeps that month open.
    two_ago = months.first_of_month(last_month - timedelta(days=1))
    with data(app) as session:
        drive = drives.get_drive(session, "mo-2026")
        early = card_gift(session, drive, 5_000, 175, "ch_early", day=two_ago)
        stored_payout(session, "po_early", two_ago, [("txn_early", early, 5_000, 180)])
        session.commit()
    refused = close(treasurer, month=two_ago)
    text = html.unescape(refused.get_data(as_text=True))
    assert refused.status_code == 409
    assert "St. Louis's share differs from the ledger by -$0.05" in text
    assert "(1 transaction not agreeing to the cent)" in text


def test_a_month_with_card_gifts_waits_for_a_stripe_sync_after_its_end(app, last_month, day):
    with data(app) as session:
        drive = make_coalition(session)
        card_gift(session, drive, 5_000, 175, "ch_unsynced", day)
        session.commit()
    treasurer = users(app)
    refused = close(treasurer, last_month)
    text = html.unescape(refused.get_data(as_text=True))
    assert refused.status_code == 409
    assert f"Stripe has not been synced since {last_month.strftime('%B %Y')} ended" in text
    assert "(never synced)" in text and 'href="/treasurer/st-louis/payouts"' in text
    # A sync made after the month ended (here, the payout it stored) is enough.
    with data(app) as session:
        gift = session.exec(select(Gift)).one()
        stored_payout(session, "po_synced", day, [("txn_synced", gift, 5_000, 175)])
        session.commit()
    assert close(treasurer, last_month).status_code == 302


def test_closing_keeps_the_months_report_and_the_fingerprint_of_the_books(
    app, this_month, last_month, day
):
    """Even a month an admin closes unreconciled keeps its report and the fingerprint of the
    chapter's books as they were; entries booked later leave both alone."""
    with data(app) as session:
        drive = make_coalition(session)
        card_gift(session, drive, 5_000, 175, "ch_kept", day)  # never synced: not reconciled
        session.commit()
    users(app)
    admin = SignedIn(app, "admin@relief.example.org")
    reason = "Stripe's dashboard shows the payout; the sync is broken this week."
    assert close(admin, last_month, reason=reason).status_code == 302
    with data(app) as session:
        chapter = drives.get_chapter(session, "st-louis")
        row = frozen_months.closed_month(session, chapter, last_month)
        assert row.snapshot and f'"month_key": "{last_month:%Y-%m}"' in row.snapshot
        kept = frozen_months.books(session, chapter, up_to=row.last_entry_id)
        assert (kept.fingerprint, kept.entry_count) == (row.fingerprint, 2)  # gift and fee
        drive = drives.get_drive(session, "mo-2026")
        card_gift(session, drive, 2_500, 85, "ch_late", day)  # dated in the closed month
        session.commit()
        assert frozen_months.books(session, chapter, up_to=row.last_entry_id) == kept
        assert frozen_months.books(session, chapter).entry_count == 4
        late = frozen_months.late_entries(session, chapter, this_month)
        assert [(e.entry.kind, e.dated) for e in late] == [
            (EntryKind.GIFT, day),
            (EntryKind.FEE, day),
        ]


def test_a_month_not_over_does_not_say_it_ended(app, today, this_month):
    """The month-to-date report's checklist (the walk through a host's month found it saying
    "Stripe has not been synced since December 2026 ended" on December 2)."""
    from tests.read_back import pdf_text

    with data(app) as session:
        drive = make_coalition(session)
        card_gift(session, drive, 5_000, 175, "ch_this_month", day=today)
        session.commit()
    treasurer = users(app)
    report = treasurer.get(f"/treasurer/st-louis/reports/{this_month:%Y-%m}.pdf")
    text = " ".join(pdf_text(report.data).split())
    name = this_month.strftime("%B %Y")
    assert f"since {name} ended" not in text
    assert f"Stripe is synced once {name} has ended (never synced)" in text
