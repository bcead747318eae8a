"""Stripe payout reconciliation, end to end: the official client over real HTTP against a local
server answering with Stripe's payout and balance_transaction shapes (tests/fixtures/stripe/,
from Stripe's fixtures3.json), the CLI and the screens; the bank statement import; closing a
month."""

from __future__ import annotations

import io
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import func, select

from relief import drives, ledger
from relief.models import (
    BankLine,
    Entry,
    EntryKind,
    Gift,
    GiftMethod,
    GiftStatus,
    Payout,
    PayoutTransaction,
)
from relief.treasury import bank, batches, months, payouts
from tests import stripe_objects as so
from tests.factories import make_coalition
from tests.stripe_fixtures import *  # noqa: F403
from tests.treasury_helpers import SignedIn, data, make_user


def card_gift(session, drive, amount_cents, fee_cents, charge_id, chapter="st-louis", when=None):
    """A paid card gift and its fee in the ledger, as the webhook leaves them (received
    ``when``, else now)."""
    chapter_obj = drives.chapter_in_drive(session, drive, chapter) if chapter else None
    gift = Gift(
        drive_id=drive.id,
        chapter_id=chapter_obj.id if chapter_obj else None,
        amount_cents=amount_cents,
        method=GiftMethod.CARD,
        status=GiftStatus.PAID,
        stripe_charge_id=charge_id,
        stripe_payment_intent_id=f"pi_{charge_id}",
        received_at=when or datetime.now(UTC),
    )
    session.add(gift)
    session.flush()
    common = dict(drive_id=drive.id, chapter_id=gift.chapter_id, gift_id=gift.id, effective_at=when)
    ledger.append(session, kind=EntryKind.GIFT, amount_cents=amount_cents, **common)
    ledger.append(
        session,
        kind=EntryKind.FEE,
        amount_cents=fee_cents,
        external_id=f"fee:{charge_id}",
        **common,
    )
    session.commit()
    return gift


def txn(txn_id, amount, fee, source, type_="charge", created=None):
    """A balance transaction, created ``created`` (Stripe's seconds), else now."""
    return so.shape(
        "balance_transaction",
        id=txn_id,
        amount=amount,
        fee=fee,
        net=amount - fee,
        source=source,
        type=type_,
        reporting_category=type_,
        created=int(time.time()) if created is None else created,
    )


def payout(payout_id, amount, *, created=None, automatic=True, arrival=None):
    """A paid payout, created ``created`` (Stripe's seconds), else now."""
    created = int(time.time()) if created is None else created
    return so.shape(
        "payout",
        id=payout_id,
        amount=amount,
        created=created,
        automatic=automatic,
        status="paid",
        arrival_date=arrival or created,
    )


def count(session, model) -> int:
    session.rollback()
    return session.exec(select(func.count()).select_from(model)).one()


@pytest.fixture
def drive(stripe_session):
    return make_coalition(stripe_session)


def five_gifts_payout(session, drive, fake, payout_id="po_five", prefix="a", created=None):
    """Five St. Louis and Kansas City card gifts paid out in one payout, to the cent (the
    payout and its transactions created ``created``, else now)."""
    created = int(time.time()) if created is None else created
    lines = []
    for n in range(5):
        amount, fee = 1000 * (n + 1), 30 + 22 * (n + 1)
        chapter = "st-louis" if n % 2 == 0 else "kansas-city"
        card_gift(session, drive, amount, fee, f"ch_{prefix}{n}", chapter=chapter)
        lines.append(txn(f"txn_{prefix}{n}", amount, fee, f"ch_{prefix}{n}", created=created))
    fake.payout_transactions[payout_id] = lines
    total = sum(t["net"] for t in lines)
    fake.payouts.insert(0, payout(payout_id, total, created=created))
    return total


def test_sync_pages_through_stripe_and_the_payout_reconciles_to_the_cent(
    stripe_app, stripe_session, fake_stripe, drive
):
    total = five_gifts_payout(stripe_session, drive, fake_stripe)
    fake_stripe.page_size = 2  # five transactions come in three pages
    result = stripe_app.test_cli_runner().invoke(args=["stripe", "sync"])
    assert result.exit_code == 0, result.output
    assert "1 payout (1 new) and 5 new balance transactions; 5 matched" in result.output
    pages = [r for r in fake_stripe.requests if r["path"] == "/v1/balance_transactions"]
    assert len(pages) == 3 and pages[1]["params"]["starting_after"] == "txn_a1"
    assert count(stripe_session, PayoutTransaction) == 5

    with stripe_app.app_context():
        chapter = drives.get_chapter(stripe_session, "st-louis")
        view = payouts.payout_view(
            stripe_session, chapter, stripe_session.exec(select(Payout)).one().id
        )
        assert view.reconciled and view.expected_cents == view.actual_cents == total
        # St. Louis's share: its three gifts (1, 3 and 5 thousand cents), net of fees.
        assert view.share_count == 3
        assert view.share_cents == (1000 - 52) + (3000 - 96) + (5000 - 140)
        assert view.others_count == 2

    # Running it again changes nothing.
    again = stripe_app.test_cli_runner().invoke(args=["stripe", "sync"])
    assert "0 new balance transactions" in again.output
    assert count(stripe_session, PayoutTransaction) == 5

    with data(stripe_app) as session:
        make_user(session, "t@stl.org", "st-louis")
    treasurer = SignedIn(stripe_app, "t@stl.org")
    page = treasurer.get("/treasurer/st-louis/payouts").get_data(as_text=True)
    assert "Reconciled to the cent" in page and "$148.50" not in page


def test_an_outage_halfway_through_a_sync_resumes_and_doubles_nothing(
    stripe_app, stripe_session, fake_stripe, drive
):
    # Both at one moment: the sync takes payouts oldest first, then in the order it stored
    # them, so po_two (listed first) is fetched first.
    now = int(time.time())
    five_gifts_payout(stripe_session, drive, fake_stripe, "po_one", "a", created=now)
    five_gifts_payout(stripe_session, drive, fake_stripe, "po_two", "b", created=now)
    fake_stripe.page_size = 2
    # 1 request lists the payouts, 3 fetch the first payout's pages, 1 the second's first page;
    # then Stripe goes down.
    fake_stripe.down_after = 5
    failed = stripe_app.test_cli_runner().invoke(args=["stripe", "sync"])
    assert failed.exit_code != 0 and "run this again to resume" in failed.output
    kept = count(stripe_session, PayoutTransaction)
    assert kept == 7  # one payout complete, two transactions of the other

    fake_stripe.down, fake_stripe.down_after = False, None
    fake_stripe.requests.clear()
    resumed = stripe_app.test_cli_runner().invoke(args=["stripe", "sync"])
    assert resumed.exit_code == 0, resumed.output
    assert count(stripe_session, PayoutTransaction) == 10
    pages = [r for r in fake_stripe.requests if r["path"] == "/v1/balance_transactions"]
    # Only the unfinished payout is asked for again, from where it stopped.
    assert {r["params"]["payout"] for r in pages} == {"po_one"}
    assert pages[0]["params"]["starting_after"] == "txn_a1"
    with stripe_app.app_context():
        chapter = drives.get_chapter(stripe_session, "st-louis")
        assert all(v.reconciled for v in payouts.payouts_of(stripe_session, chapter))


def test_a_payout_with_a_transaction_the_ledger_does_not_know_shows_it_unmatched(
    stripe_app, stripe_session, fake_stripe, drive
):
    card_gift(stripe_session, drive, 2500, 85, "ch_known")
    lines = [
        txn("txn_known", 2500, 85, "ch_known"),
        txn("txn_stranger", 4000, 118, "ch_stranger"),
        # Stripe's own fee line: no gift's, shown as what it is.
        txn("txn_fee", -1500, 0, None, type_="stripe_fee"),
    ]
    lines[2]["description"] = "Billing - Usage Fee (2026-11-01)"
    fake_stripe.payout_transactions["po_mixed"] = lines
    fake_stripe.payouts = [payout("po_mixed", sum(t["net"] for t in lines))]
    assert stripe_app.test_cli_runner().invoke(args=["stripe", "sync"]).exit_code == 0
    with stripe_app.app_context():
        chapter = drives.get_chapter(stripe_session, "st-louis")
        (view,) = payouts.payouts_of(stripe_session, chapter)
    assert view.state == "differs" and not view.reconciled
    assert view.expected_cents == 2500 - 85 - 1500
    assert view.difference_cents == 4000 - 118
    assert {line.txn.stripe_id for line in view.unmatched} == {"txn_stranger"}
    (fee,) = view.account_lines
    assert fee.label == "Stripe's fee (Billing, Radar, …): Billing - Usage Fee (2026-11-01)"

    with data(stripe_app) as session:
        make_user(session, "t@stl.org", "st-louis")
    page = SignedIn(stripe_app, "t@stl.org").get(f"/treasurer/st-louis/payouts/{view.payout.id}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Not in the ledger (1)" in text and "txn_stranger" in text and "$38.82" in text
    assert "Stripe's own lines (1)" in text and "Billing - Usage Fee (2026-11-01)" in text


def test_a_manual_payout_is_not_itemised_and_says_why(
    stripe_app, stripe_session, fake_stripe, drive
):
    fake_stripe.payouts = [payout("po_manual", 10000, automatic=False)]
    assert stripe_app.test_cli_runner().invoke(args=["stripe", "sync"]).exit_code == 0
    assert not [r for r in fake_stripe.requests if r["path"] == "/v1/balance_transactions"]
    with data(stripe_app) as session:
        make_user(session, "t@stl.org", "st-louis")
        payout_id = session.exec(select(Payout.id)).one()
    text = (
        SignedIn(stripe_app, "t@stl.org")
        .get(f"/treasurer/st-louis/payouts/{payout_id}")
        .get_data(as_text=True)
    )
    assert "This is a manual payout" in text and "automatic payouts" in text


def test_test_mode_has_nothing_to_sync(app, runner):
    result = runner.invoke(args=["stripe", "sync"])
    assert result.exit_code == 0 and "nothing to sync" in result.output


def test_the_sync_button_fetches_payouts(stripe_app, fake_stripe):
    # (No open app context here: the form's CSRF token lives in the request's g.)
    with data(stripe_app) as session:
        five_gifts_payout(session, make_coalition(session), fake_stripe)
        make_user(session, "t@kc.org", "kansas-city")
    treasurer = SignedIn(stripe_app, "t@kc.org")
    response = treasurer.post("/treasurer/kansas-city/payouts/sync", follow_redirects=True)
    assert "5 new balance transactions" in response.get_data(as_text=True)
    with data(stripe_app) as session:
        assert count(session, PayoutTransaction) == 5


STATEMENT = """Posted Date,Payee,Credit,Debit
{payout_day},STRIPE TRANSFER,{payout_amount},
{batch_day},DEPOSIT,250.00,
{batch_day},CHECK 1042,,80.00
{batch_day},UNKNOWN DEPOSIT,12.34,
"""


def test_the_bank_statement_matches_a_payout_and_a_deposit_batch(stripe_app, fake_stripe):
    with data(stripe_app) as session:
        drive = make_coalition(session)
        total = five_gifts_payout(session, drive, fake_stripe)
    arrival = datetime.now(UTC).date()
    assert stripe_app.test_cli_runner().invoke(args=["stripe", "sync"]).exit_code == 0
    deposited = date.today()
    with data(stripe_app) as stripe_session:
        chapter = drives.get_chapter(stripe_session, "st-louis")
        batch = batches.open_batch(
            stripe_session,
            chapter,
            drive_id=drive.id,
            label="Potluck",
            expected_count=1,
            expected_total_cents=25000,
        )
        batches.add_line(
            stripe_session, chapter, batch.id, batches.LineInput(amount="250", received=deposited)
        )
        batches.post_batch(stripe_session, chapter, batch.id)
        batches.set_custody(
            stripe_session, chapter, batch.id, held_by="Ana", deposited_on=deposited
        )
        stripe_session.commit()
    with data(stripe_app) as session:
        make_user(session, "t@stl.org", "st-louis")
    treasurer = SignedIn(stripe_app, "t@stl.org")
    csv_text = STATEMENT.format(
        payout_day=(arrival + timedelta(days=1)).strftime("%m/%d/%Y"),
        payout_amount=f"{total // 100}.{total % 100:02d}",
        batch_day=(deposited - timedelta(days=2)).isoformat(),  # the bank's date, 2 days off
    )

    def upload(text):
        return treasurer.post(
            "/treasurer/st-louis/bank",
            data={"file": (io.BytesIO(text.encode()), "statement.csv")},
            content_type="multipart/form-data",
            follow_redirects=True,
        )

    page = upload(csv_text).get_data(as_text=True)
    assert "Imported 3 deposits; 2 matched" in page
    assert "Stripe payout po_five" in page and "deposit batch “Potluck”" in page
    assert "Unmatched deposits (1)" in page and "UNKNOWN DEPOSIT" in page
    # The same statement again stores nothing twice.
    assert "3 were already imported" in upload(csv_text).get_data(as_text=True)
    with data(stripe_app) as session:
        assert count(session, BankLine) == 3


def test_a_bank_file_without_the_columns_or_with_a_bad_row_writes_nothing(app):
    with data(app) as session:
        make_coalition(session)
        make_user(session, "t@stl.org", "st-louis")
    treasurer = SignedIn(app, "t@stl.org")

    def upload(text):
        return treasurer.post(
            "/treasurer/st-louis/bank",
            data={"file": (io.BytesIO(text.encode()), "statement.csv")},
            content_type="multipart/form-data",
        )

    response = upload("When,What,How much\n2026-01-02,x,3.00\n")
    assert response.status_code == 400
    assert "No date column was found" in response.get_data(as_text=True)
    response = upload("Date,Description,Amount\n2026-01-02,ok,3.00\nnot a day,bad,4.00\n")
    text = response.get_data(as_text=True)
    assert response.status_code == 400 and "Nothing was imported" in text and "Row 3" in text
    with data(app) as session:
        assert session.exec(select(func.count()).select_from(BankLine)).one() == 0


def test_a_late_entry_for_a_closed_month_lands_in_the_next_open_month(app):
    today = date.today()
    this_month = date(today.year, today.month, 1)
    last_month = months.first_of_month(this_month - timedelta(days=1))
    with data(app) as session:
        drive = make_coalition(session)
        make_user(session, "t@stl.org", "st-louis")
    treasurer = SignedIn(app, "t@stl.org")
    response = treasurer.post(
        "/treasurer/st-louis/months/close",
        data={"month": last_month.isoformat(), "reconciled": "y"},
        follow_redirects=True,
    )
    page = response.get_data(as_text=True)
    assert f"{last_month.strftime('%B %Y')} is closed" in page
    with data(app) as session:
        chapter = drives.get_chapter(session, "st-louis")
        # A batch of checks received in the closed month, entered late.
        batch = batches.open_batch(
            session,
            chapter,
            drive_id=drive.id,
            label="Late checks",
            expected_count=1,
            expected_total_cents=4000,
        )
        batches.add_line(
            session,
            chapter,
            batch.id,
            batches.LineInput(amount="40", received=last_month + timedelta(days=9)),
        )
        batches.post_batch(session, chapter, batch.id)
        session.commit()
        entry = session.exec(select(Entry).where(Entry.amount_cents == 4000)).one()
        assert entry.effective_at.date() == this_month
        assert f"in closed {last_month.strftime('%B %Y')}" in entry.memo
        assert f"moved to {this_month.strftime('%B %Y')}" in entry.memo
        # The gift keeps the day it was received.
        assert session.get(Gift, entry.gift_id).received_at.date() == last_month + timedelta(days=9)
        # Kansas City did not close that month: its late entries stay where they fall.
        kansas_city = drives.get_chapter(session, "kansas-city")
        late = datetime.combine(last_month + timedelta(days=3), datetime.min.time(), UTC)
        drives.record_offline_gift(
            session,
            drive,
            2500,
            method=GiftMethod.CHECK,
            chapter=kansas_city,
            received_at=late,
        )
        session.commit()
        kc_entry = session.exec(select(Entry).where(Entry.amount_cents == 2500)).one()
        assert kc_entry.effective_at.replace(tzinfo=UTC) == late
        assert "closed" not in kc_entry.memo
    # The current month cannot be closed (it has not ended).
    refused = treasurer.post(
        "/treasurer/st-louis/months/close",
        data={"month": this_month.isoformat(), "reconciled": "y"},
    )
    assert refused.status_code == 400


def test_bank_statement_columns_are_found_under_common_names():
    parsed = bank.parse_statement(
        b'Account 123\nTransaction Date,Memo,Amount\n01/05/2026,STRIPE,"1,234.56"\n'
        b"01/06/2026,FEE,(5.00)\n"
    )
    assert [(d.posted_on, d.amount_cents) for d in parsed.deposits] == [(date(2026, 1, 5), 123456)]
    assert parsed.withdrawals == 1


# --- Refunds and disputes in a payout ----------------------------------------------------------
# Stripe's shapes: a refund's balance transaction is type "refund" (cards) or "payment_refund"
# (other methods), negative, its source the refund (re_…, naming its charge); a dispute's are
# type "adjustment" with the dispute (dp_…) as source: the withdrawal negative with Stripe's
# dispute fee, the reinstatement positive with the fee given back (a negative fee). The sync
# asks for ``expand[]=data.source``, so the fake serves the refund and dispute objects
# (tests/fixtures/stripe/refund.json and dispute.json) in their place.


def deliver_webhook(app, evt):
    response = so.deliver(app.test_client(), evt)
    assert response.status_code == 200, response.get_data(as_text=True)


def adjustment(txn_id, amount, fee, dispute_id, category):
    line = txn(txn_id, amount, fee, dispute_id, type_="adjustment")
    line["reporting_category"] = category
    line["description"] = f"Chargeback {'withdrawal' if amount < 0 else 'reversal'} for ch_"
    return line


def refunds_and_a_dispute(app, session, drive, fake):
    """Three St. Louis card gifts paid out, then in the next payout: a refund listed on its
    charge, two partial refunds known only from the charge's cumulative figure (API versions
    since 2022-11-15), a dispute withdrawn and won, and a refund of a charge nobody knows."""
    gifts = {
        "a": card_gift(session, drive, 5_000, 175, "ch_ra"),
        "b": card_gift(session, drive, 4_000, 146, "ch_rb"),
        "c": card_gift(session, drive, 3_000, 117, "ch_dc"),
    }
    refund_a = so.refund(
        refund_id="re_a", charge_id="ch_ra", payment_intent="pi_ch_ra", amount_cents=2_000
    )
    refund_b1, refund_b2 = (
        so.refund(
            refund_id=f"re_b{n}", charge_id="ch_rb", payment_intent="pi_ch_rb", amount_cents=cents
        )
        for n, cents in ((1, 1_500), (2, 2_500))
    )
    stranger = so.refund(
        refund_id="re_x", charge_id="ch_nobody", payment_intent="pi_nobody", amount_cents=700
    )
    disputed = so.dispute(
        dispute_id="dp_c",
        charge_id="ch_dc",
        payment_intent="pi_ch_dc",
        amount_cents=3_000,
        status="needs_response",
    )
    # The ledger's side, as Stripe's webhooks leave it.
    charge_a = so.charge(
        charge_id="ch_ra",
        payment_intent="pi_ch_ra",
        amount_cents=5_000,
        amount_refunded=2_000,
        refunds=[refund_a],
    )
    deliver_webhook(app, so.event("charge.refunded", charge_a))
    for refunded in (1_500, 4_000):  # two partial refunds, each told as the running total
        charge_b = so.charge(
            charge_id="ch_rb",
            payment_intent="pi_ch_rb",
            amount_cents=4_000,
            amount_refunded=refunded,
        )
        deliver_webhook(app, so.event("charge.refunded", charge_b))
    deliver_webhook(app, so.event("charge.dispute.funds_withdrawn", disputed))
    deliver_webhook(app, so.event("charge.dispute.funds_reinstated", {**disputed, "status": "won"}))

    fake.sources.update(
        {"re_a": refund_a, "re_b1": refund_b1, "re_b2": refund_b2, "re_x": stranger}
    )
    fake.sources["dp_c"] = disputed
    charges = [
        txn("txn_ca", 5_000, 175, "ch_ra"),
        txn("txn_cb", 4_000, 146, "ch_rb"),
        txn("txn_cc", 3_000, 117, "ch_dc"),
    ]
    fake.payout_transactions["po_charges"] = charges
    reversals = [
        txn("txn_re_a", -2_000, 0, "re_a", type_="refund"),
        txn("txn_re_b1", -1_500, 0, "re_b1", type_="payment_refund"),
        txn("txn_re_b2", -2_500, 0, "re_b2", type_="refund"),
        adjustment("txn_dp_out", -3_000, 1_500, "dp_c", "dispute"),
        adjustment("txn_dp_back", 3_000, -1_500, "dp_c", "dispute_reversal"),
        txn("txn_re_x", -700, 0, "re_x", type_="refund"),
    ]
    # The refunds and the dispute came out of a later payout's balance: it pays out less.
    fake.payout_transactions["po_reversals"] = reversals + [txn("txn_cd", 20_000, 610, "ch_dd")]
    card_gift(session, drive, 20_000, 610, "ch_dd")
    now = int(time.time())
    fake.payouts = [
        payout(
            "po_reversals",
            sum(t["net"] for t in fake.payout_transactions["po_reversals"]),
            created=now,
        ),
        payout("po_charges", sum(t["net"] for t in charges), created=now - 86_400),
    ]
    return gifts


def test_refunds_and_a_dispute_in_a_payout_match_the_ledgers_entries_to_the_cent(
    stripe_app, stripe_session, fake_stripe, drive
):
    gifts = refunds_and_a_dispute(stripe_app, stripe_session, drive, fake_stripe)
    sync = stripe_app.test_cli_runner().invoke(args=["stripe", "sync"])
    assert sync.exit_code == 0, sync.output
    expanded = [r for r in fake_stripe.requests if r["path"] == "/v1/balance_transactions"]
    assert all(r["params"].get("expand[0]") == "data.source" for r in expanded)

    with stripe_app.app_context():
        chapter = drives.get_chapter(stripe_session, "st-louis")
        views = {v.payout.stripe_id: v for v in payouts.payouts_of(stripe_session, chapter)}
    assert views["po_charges"].reconciled
    view = views["po_reversals"]
    lines = {line.txn.stripe_id: line for line in view.lines}
    # Each refund and dispute line is matched to its gift and to the ledger's entry.
    assert (lines["txn_re_a"].matched_as, lines["txn_re_a"].txn.gift_id) == (
        "refund",
        gifts["a"].id,
    )
    assert lines["txn_re_a"].expected_net_cents == -2_000
    # Two partial refunds the ledger holds only as the charge's running total.
    assert lines["txn_re_b1"].matched_as == lines["txn_re_b2"].matched_as == "refund"
    assert lines["txn_re_b1"].expected_net_cents == -1_500
    assert lines["txn_re_b2"].expected_net_cents == -2_500
    out, back = lines["txn_dp_out"], lines["txn_dp_back"]
    assert (out.matched_as, back.matched_as) == ("dispute", "dispute")
    assert out.txn.gift_id == back.txn.gift_id == gifts["c"].id
    # Stripe's dispute fee is in the ledger too (posted from the balance transaction), and
    # given back when the dispute was won.
    assert (out.expected_gross_cents, out.expected_fee_cents) == (-3_000, 1_500)
    assert (back.expected_gross_cents, back.expected_fee_cents) == (3_000, -1_500)
    assert not out.problem and not back.problem
    # The refund of a charge nobody knows is shown unmatched, in no chapter's share.
    assert [line.txn.stripe_id for line in view.unmatched] == ["txn_re_x"]
    assert lines["txn_re_x"].txn.chapter_id is None
    # Expected vs actual, to the cent: everything but the stranger's refund is explained.
    assert view.actual_cents == 20_000 - 610 - 2_000 - 4_000 - 4_500 + 4_500 - 700
    assert view.expected_cents == 20_000 - 610 - 2_000 - 4_000 - 3_000 - 1_500 + 3_000 + 1_500
    assert view.difference_cents == -700
    assert view.state == "differs"
    assert view.share_cents == view.share_expected_cents == 20_000 - 610 - 6_000

    # The dispute fee came out of the chapter's money and went back in: nothing net.
    with stripe_app.app_context():
        fees = stripe_session.exec(
            select(Entry.amount_cents).where(Entry.external_id.like("dispute-fee:%"))
        ).all()
        assert sorted(fees) == [-1_500, 1_500]
    # Syncing again posts nothing twice.
    assert stripe_app.test_cli_runner().invoke(args=["stripe", "sync"]).exit_code == 0
    stripe_session.rollback()
    assert (
        len(
            stripe_session.exec(
                select(Entry.id).where(Entry.external_id.like("dispute-fee:%"))
            ).all()
        )
        == 2
    )

    with data(stripe_app) as session:
        make_user(session, "t@stl.org", "st-louis")
    page = SignedIn(stripe_app, "t@stl.org").get(f"/treasurer/st-louis/payouts/{view.payout.id}")
    text = page.get_data(as_text=True)
    assert "Not in the ledger (1)" in text and "txn_re_x" in text
    assert "$7.00 unexplained, 1 unmatched" in text
    for stripe_id in ("txn_re_a", "txn_re_b1", "txn_re_b2", "txn_dp_out", "txn_dp_back"):
        row = text[text.index(f'data-txn="{stripe_id}"') :].split("</tr>", 1)[0]
        assert "✓ matches" in row, row


def test_a_lost_dispute_costs_the_chapter_stripes_fee_and_the_payout_still_reconciles(
    stripe_app, stripe_session, fake_stripe, drive
):
    gift = card_gift(stripe_session, drive, 3_000, 117, "ch_lost")
    disputed = so.dispute(
        dispute_id="dp_lost",
        charge_id="ch_lost",
        payment_intent="pi_ch_lost",
        amount_cents=3_000,
        status="needs_response",
    )
    deliver_webhook(stripe_app, so.event("charge.dispute.funds_withdrawn", disputed))
    deliver_webhook(stripe_app, so.event("charge.dispute.closed", {**disputed, "status": "lost"}))
    fake_stripe.sources["dp_lost"] = disputed
    lines = [
        txn("txn_big", 10_000, 320, "ch_big"),
        adjustment("txn_lost", -3_000, 1_500, "dp_lost", "dispute"),
    ]
    card_gift(stripe_session, drive, 10_000, 320, "ch_big")
    fake_stripe.payout_transactions["po_lost"] = lines
    fake_stripe.payouts = [payout("po_lost", sum(t["net"] for t in lines))]
    before = ledger.totals(stripe_session, drive).by_chapter_id[gift.chapter_id].fees_cents
    assert stripe_app.test_cli_runner().invoke(args=["stripe", "sync"]).exit_code == 0
    stripe_session.rollback()
    with stripe_app.app_context():
        chapter = drives.get_chapter(stripe_session, "st-louis")
        (view,) = payouts.payouts_of(stripe_session, chapter)
        assert view.reconciled, [line.problem for line in view.lines]
        assert view.actual_cents == view.expected_cents == 10_000 - 320 - 3_000 - 1_500
        after = ledger.totals(stripe_session, drive).by_chapter_id[gift.chapter_id].fees_cents
    assert after - before == 1_500
    # The chapter pays it, not the gift: the donor's page still shows the processing fee only.
    gift_fees = stripe_session.exec(
        select(Entry.amount_cents).where(Entry.gift_id == gift.id, Entry.kind == EntryKind.FEE)
    ).all()
    assert gift_fees == [117]


def test_a_disputed_gift_whose_drive_was_unknown_brings_stripes_dispute_fee_when_assigned(
    stripe_app, stripe_session, fake_stripe, drive
):
    # Paid for a drive we do not know, then disputed: the webhook keeps the gift, its fee and
    # the withdrawal under no drive, and the sync posts Stripe's dispute fee there too.
    gift = Gift(
        drive_id=None,
        unmatched_drive="no-such-drive",
        amount_cents=3_000,
        method=GiftMethod.CARD,
        status=GiftStatus.PAID,
        stripe_charge_id="ch_lost",
        stripe_payment_intent_id="pi_ch_lost",
        received_at=datetime.now(UTC),
    )
    stripe_session.add(gift)
    stripe_session.flush()
    for kind, cents, external_id in ((EntryKind.GIFT, 3_000, None), (EntryKind.FEE, 117, "fee:x")):
        ledger.append(
            stripe_session,
            kind=kind,
            amount_cents=cents,
            drive_id=None,
            gift_id=gift.id,
            external_id=external_id,
        )
    stripe_session.commit()
    disputed = so.dispute(
        dispute_id="dp_lost",
        charge_id="ch_lost",
        payment_intent="pi_ch_lost",
        amount_cents=3_000,
        status="needs_response",
    )
    deliver_webhook(stripe_app, so.event("charge.dispute.funds_withdrawn", disputed))
    fake_stripe.sources["dp_lost"] = disputed
    lines = [
        txn("txn_lost", 3_000, 117, "ch_lost"),
        adjustment("txn_lost_dp", -3_000, 1_500, "dp_lost", "dispute"),
    ]
    fake_stripe.payout_transactions["po_lost_drive"] = lines
    fake_stripe.payouts = [payout("po_lost_drive", sum(t["net"] for t in lines))]
    runner = stripe_app.test_cli_runner()
    assert runner.invoke(args=["stripe", "sync"]).exit_code == 0
    assert ledger.totals(stripe_session, drive).figures.fees_cents == 0

    result = runner.invoke(
        args=["stripe", "assign", gift.public_id, "mo-2026", "--chapter", "st-louis"]
    )
    assert result.exit_code == 0, result.output

    stripe_session.rollback()
    with stripe_app.app_context():
        figures = ledger.totals(stripe_session, drive).by_chapter_id[
            drives.get_chapter(stripe_session, "st-louis").id
        ]
        assert (figures.gifts_cents, figures.disputes_cents, figures.fees_cents) == (
            3_000,
            3_000,
            117 + 1_500,
        )
        assert ledger.verify(stripe_session, drive) == []


def test_a_shared_payout_shows_another_chapters_refund_and_dispute_only_as_a_sum(
    stripe_app, fake_stripe
):
    # One payout: a St. Louis gift, then a Kansas City refund and dispute the ledger does not
    # hold yet (their webhooks are late), and Stripe's own fee line nobody's gift explains.
    # (No app context held open: two treasurers sign in, each in their own requests.)
    with data(stripe_app) as session:
        drive = make_coalition(session)
        card_gift(session, drive, 5_000, 175, "ch_stl")
        card_gift(session, drive, 4_000, 146, "ch_kcr", chapter="kansas-city")
        card_gift(session, drive, 3_000, 117, "ch_kcd", chapter="kansas-city")
    fake_stripe.sources["re_kc"] = so.refund(
        refund_id="re_kc", charge_id="ch_kcr", payment_intent="pi_ch_kcr", amount_cents=1_000
    )
    fake_stripe.sources["dp_kc"] = so.dispute(
        dispute_id="dp_kc",
        charge_id="ch_kcd",
        payment_intent="pi_ch_kcd",
        amount_cents=3_000,
        status="needs_response",
    )
    lines = [
        txn("txn_stl", 5_000, 175, "ch_stl"),
        txn("txn_kc_refund", -1_000, 0, "re_kc", type_="refund"),
        adjustment("txn_kc_dispute", -3_000, 1_500, "dp_kc", "dispute"),
        txn("txn_stripe_fee", -200, 0, None, type_="stripe_fee"),
    ]
    fake_stripe.payout_transactions["po_shared"] = lines
    fake_stripe.payouts = [payout("po_shared", sum(t["net"] for t in lines))]
    assert stripe_app.test_cli_runner().invoke(args=["stripe", "sync"]).exit_code == 0
    with data(stripe_app) as session:
        make_user(session, "t@stl.org", "st-louis")
        make_user(session, "t@kc.org", "kansas-city")
        payout_id = session.exec(select(Payout.id)).one()

    page = SignedIn(stripe_app, "t@stl.org").get(f"/treasurer/st-louis/payouts/{payout_id}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    # Kansas City's lines: not one of their ids or amounts, only their sum and count.
    for theirs in ("txn_kc_refund", "re_kc", "txn_kc_dispute", "dp_kc", "-$10.00", "-$45.00"):
        assert theirs not in text, theirs
    assert (
        "Other chapters' gifts: 2 transactions, -$55.00 net; 2 of them do not agree with the "
        "ledger yet" in text
    )
    # St. Louis's own line in full, and the Stripe account's own line, which concerns everyone.
    assert 'data-txn="txn_stl"' in text and "✓ matches" in text
    assert "Stripe's own lines (1)" in text and 'data-account="txn_stripe_fee"' in text
    assert "Not in the ledger" not in text
    # The payout as a whole still does not reconcile: Kansas City's lines are unexplained.
    assert "-$55.00 unexplained" in text

    # Kansas City's treasurer sees the same lines in full, as Kansas City's.
    theirs = SignedIn(stripe_app, "t@kc.org").get(f"/treasurer/kansas-city/payouts/{payout_id}")
    text = theirs.get_data(as_text=True)
    assert "Kansas City's transactions (2)" in text
    for stripe_id in ("txn_kc_refund", "txn_kc_dispute"):
        row = text[text.index(f'data-txn="{stripe_id}"') :].split("</tr>", 1)[0]
        assert "not in the ledger" in row, row
    assert "Other chapters' gifts: 1 transaction, $48.25 net." in text


@pytest.mark.parametrize("failed_first", [False, True], ids=["failed-later", "failed-at-once"])
def test_a_payout_with_a_refund_that_failed_reconciles(
    stripe_app, stripe_session, fake_stripe, drive, failed_first
):
    """A refund and its refund_failure in one payout: money out and back in Stripe's balance,
    as in the ledger (or neither in the ledger, when it failed before it counted)."""
    gift = card_gift(stripe_session, drive, 3_000, 117, "ch_rf")
    refund = so.refund(
        refund_id="re_rf", charge_id="ch_rf", payment_intent="pi_ch_rf", amount_cents=3_000
    )
    failed = {**refund, "status": "failed"}
    if not failed_first:
        deliver_webhook(stripe_app, so.event("refund.created", refund))
    deliver_webhook(stripe_app, so.event("refund.failed", failed))
    fake_stripe.sources["re_rf"] = refund
    lines = [
        txn("txn_rf_c", 3_000, 117, "ch_rf"),
        txn("txn_rf_out", -3_000, 0, "re_rf", type_="refund"),
        txn("txn_rf_back", 3_000, 0, "re_rf", type_="refund_failure"),
        txn("txn_po_back", 5_000, 0, "po_earlier", type_="payout_failure"),
    ]
    lines[3]["description"] = "Payout po_earlier failed"
    fake_stripe.payout_transactions["po_rf"] = lines
    fake_stripe.payouts = [payout("po_rf", sum(t["net"] for t in lines))]
    assert stripe_app.test_cli_runner().invoke(args=["stripe", "sync"]).exit_code == 0
    with stripe_app.app_context():
        chapter = drives.get_chapter(stripe_session, "st-louis")
        (view,) = payouts.payouts_of(stripe_session, chapter)
    by_id = {line.txn.stripe_id: line for line in view.lines}
    assert by_id["txn_rf_back"].label == "refund that failed: money back"
    assert by_id["txn_rf_back"].txn.gift_id == by_id["txn_rf_out"].txn.gift_id == gift.id
    assert by_id["txn_po_back"].label == "a failed payout's money back: Payout po_earlier failed"
    assert view.unmatched == () and view.problems == ()
    assert view.reconciled and view.expected_cents == view.actual_cents == 3_000 - 117 + 5_000

    with data(stripe_app) as session:
        make_user(session, "t@stl.org", "st-louis")
    text = (
        SignedIn(stripe_app, "t@stl.org")
        .get(f"/treasurer/st-louis/payouts/{view.payout.id}")
        .get_data(as_text=True)
    )
    assert "Refund that failed: money back · gift #" in text
    assert "Reconciled to the cent" in text


def test_a_whole_drive_gift_in_a_payout_is_the_host_chapters_line(stripe_app, fake_stripe):
    """A card gift to the whole drive is in the host chapter's books (issue 13): in a payout
    it is the host's own line, reconciled on its screen, not a line nobody's gift explains."""
    with data(stripe_app) as session:
        drive = make_coalition(session)  # host: mid-missouri
        card_gift(session, drive, 5_000, 175, "ch_whole", chapter=None)
        card_gift(session, drive, 2_000, 88, "ch_stl_2")
        make_user(session, "t@mm.org", "mid-missouri")
        make_user(session, "t@stl.org", "st-louis")
    lines = [txn("txn_whole", 5_000, 175, "ch_whole"), txn("txn_stl_2", 2_000, 88, "ch_stl_2")]
    fake_stripe.payout_transactions["po_host"] = lines
    fake_stripe.payouts = [payout("po_host", sum(t["net"] for t in lines))]
    assert stripe_app.test_cli_runner().invoke(args=["stripe", "sync"]).exit_code == 0
    with data(stripe_app) as session:
        payout_id = session.exec(select(Payout.id)).one()

    host = SignedIn(stripe_app, "t@mm.org").get(f"/treasurer/mid-missouri/payouts/{payout_id}")
    text = host.get_data(as_text=True)
    assert host.status_code == 200
    assert "Mid-Missouri's transactions (1)" in text and 'data-txn="txn_whole"' in text
    assert "Other chapters' gifts: 1 transaction, $19.12 net." in text
    other = SignedIn(stripe_app, "t@stl.org").get(f"/treasurer/st-louis/payouts/{payout_id}")
    text = other.get_data(as_text=True)
    assert "txn_whole" not in text
    assert "Other chapters' gifts: 1 transaction, $48.25 net." in text
