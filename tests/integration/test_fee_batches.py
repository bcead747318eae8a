"""Fees read in batches (issue 18): a worker claims up to a hundred fee jobs, asks Stripe once
for the account's recent card payments' balance transactions, and posts every fee found in one
unit of work; a gift the list does not show is read on its own. Each fee is posted once, also
when a worker dies mid-batch, and a refused list (429, 500) loses nothing."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlmodel import func, select

from relief import ledger, outbox
from relief.models import Entry, EntryKind, Gift, Job, JobStatus, utcnow
from relief.outbox.worker import Worker
from tests import stripe_objects as so
from tests.factories import make_coalition
from tests.stripe_fixtures import *  # noqa: F403

META = {"drive": "mo-2026", "chapter": "st-louis"}
LIST = "/v1/balance_transactions"


def fresh(session):
    session.rollback()
    session.expire_all()
    return session


@pytest.fixture
def drive(stripe_session):
    return make_coalition(stripe_session)


def pay(
    client, fake_stripe, intents: list[str], *, charged=True, fee=lambda n: 30 + n, opened_ago=0
):
    """A paid checkout for each payment intent (its session opened ``opened_ago`` seconds
    before the payment), its fee left to the workers; each one's card payment is in the
    account (the list shows it) unless ``charged`` is False."""
    for number, intent in enumerate(intents):
        fake_stripe.fees[f"ch_of_{intent}"] = fee(number)
        if charged:
            fake_stripe.add_charge(intent)
        obj = so.checkout_session(amount_cents=2500, metadata=META, payment_intent=intent)
        obj["created"] -= opened_ago
        assert so.post_only(client, so.event("checkout.session.completed", obj)).status_code == 200


def fee_entries(session) -> dict[int, list[int]]:
    """Each gift's fee entries, in cents."""
    found: dict[int, list[int]] = {}
    for entry in fresh(session).exec(select(Entry).where(Entry.kind == EntryKind.FEE)):
        found.setdefault(entry.gift_id, []).append(entry.amount_cents)
    return found


def pending(session) -> int:
    return fresh(session).exec(select(func.count()).select_from(Gift).where(Gift.fee_pending)).one()


def asked(fake_stripe) -> list[str]:
    return [r["path"] for r in fake_stripe.requests]


def test_a_hundred_fees_are_read_with_one_list_request(
    stripe_session, stripe_app, stripe_client, fake_stripe, drive
):
    intents = [f"pi_batch{n}" for n in range(100)]
    pay(stripe_client, fake_stripe, intents)
    fake_stripe.requests.clear()
    assert Worker(stripe_app, kinds=("fee",)).burst() == {JobStatus.DONE: 100}
    assert asked(fake_stripe) == [LIST]
    first = fake_stripe.requests[0]["params"]
    assert (first["type"], first["limit"], first["expand[0]"]) == ("charge", "100", "data.source")
    assert int(first["created[gte]"]) <= time.time() - 60  # a margin before the earliest gift
    assert pending(stripe_session) == 0
    fees = fee_entries(stripe_session)
    assert sorted(cents for (cents,) in fees.values()) == sorted(30 + n for n in range(100))
    gifts = fresh(stripe_session).exec(select(Gift)).all()
    assert {g.stripe_charge_id for g in gifts} == {f"ch_of_{i}" for i in intents}
    assert ledger.verify(stripe_session, drive) == []


def test_a_donor_who_took_an_hour_to_pay_has_the_fee_found_in_the_list(
    stripe_session, stripe_app, stripe_client, fake_stripe, drive
):
    """A gift is dated by its checkout session's start; the payment, and so its balance
    transaction, can come much later (a session lasts 24 hours). The list asks around when
    the webhook came, not the session's start."""
    pay(stripe_client, fake_stripe, ["pi_slow1", "pi_slow2"], opened_ago=3600)
    fake_stripe.requests.clear()
    Worker(stripe_app, kinds=("fee",)).burst()
    assert asked(fake_stripe) == [LIST]
    assert sorted(c for (c,) in fee_entries(stripe_session).values()) == [30, 31]


def test_fees_of_events_recorded_hours_late_are_found_in_the_list(
    stripe_session, stripe_app, stripe_client, fake_stripe, drive
):
    """No worker ran for two hours, so the kept events are recorded, and their fee jobs
    written, two hours after the payments: the list still finds them (one request), as it
    would have at once."""
    pay(stripe_client, fake_stripe, ["pi_late1", "pi_late2", "pi_late3"], charged=False)
    for intent in ("pi_late1", "pi_late2", "pi_late3"):
        fake_stripe.add_charge(intent, created=int(time.time()) - 2 * 3600)
    fake_stripe.requests.clear()
    assert Worker(stripe_app, kinds=("fee",)).burst() == {JobStatus.DONE: 3}
    assert asked(fake_stripe) == [LIST]
    assert sorted(c for (c,) in fee_entries(stripe_session).values()) == [30, 31, 32]


def test_a_fee_the_list_does_not_show_is_read_on_its_own(
    stripe_session, stripe_app, stripe_client, fake_stripe, drive
):
    """Another type of payment (or one charged long before its webhook) is not in the list
    of card payments: read with its own request, as before; nothing waits."""
    pay(stripe_client, fake_stripe, ["pi_listed1", "pi_listed2"])
    pay(stripe_client, fake_stripe, ["pi_not_listed"], charged=False, fee=lambda n: 99)
    fake_stripe.requests.clear()
    Worker(stripe_app, kinds=("fee",)).burst()
    assert asked(fake_stripe) == [LIST, "/v1/payment_intents/pi_not_listed"]
    assert sorted(c for (c,) in fee_entries(stripe_session).values()) == [30, 31, 99]
    assert pending(stripe_session) == 0
    assert ledger.verify(stripe_session, drive) == []


def test_the_list_is_paged_only_as_far_as_the_fees_wanted(
    stripe_session, stripe_app, stripe_client, fake_stripe, drive
):
    fake_stripe.page_size = 2
    for older in range(6):  # the account's earlier payments, further down the list
        fake_stripe.add_charge(f"pi_earlier{older}", created=int(time.time()) - 120)
    pay(stripe_client, fake_stripe, ["pi_page1", "pi_page2", "pi_page3"])
    fake_stripe.requests.clear()
    Worker(stripe_app, kinds=("fee",)).burst()
    assert asked(fake_stripe) == [LIST, LIST]  # 4 of 9 listed: all three found
    assert "starting_after" in fake_stripe.requests[1]["params"]
    assert pending(stripe_session) == 0


def paid_meanwhile(fake_stripe, count: int) -> None:
    """Card payments made after the batch's, their webhooks not here yet: the list, newest
    first, shows them before the batch's own (as under a stream of gifts)."""
    later = int(time.time()) + 1
    for number in range(count):
        fake_stripe.add_charge(f"pi_z_meanwhile{number}", created=later)


def test_a_batch_pages_past_the_payments_made_meanwhile(
    stripe_session, stripe_app, stripe_client, fake_stripe, drive
):
    """At ~800 gifts a second, Stripe's whole-second times put pages of newer payments before
    a batch's own. The batch reads on past them, as many pages as it wants fees at most, and
    reads none of its sixteen alone (ten pages at most read six alone before, issue 18)."""
    fake_stripe.page_size = 2
    paid_meanwhile(fake_stripe, 10)
    wanted = [f"pi_wanted{n:02}" for n in range(16)]
    pay(stripe_client, fake_stripe, wanted)
    fake_stripe.requests.clear()
    assert Worker(stripe_app, kinds=("fee",)).burst() == {JobStatus.DONE: 16}
    assert asked(fake_stripe) == [LIST] * 13  # 5 pages of payments meanwhile, 8 of its own
    assert sorted(c for (c,) in fee_entries(stripe_session).values()) == [30 + n for n in range(16)]
    assert pending(stripe_session) == 0
    assert ledger.verify(stripe_session, drive) == []


def test_a_small_batch_reads_no_more_pages_than_fees(
    stripe_session, stripe_app, stripe_client, fake_stripe, drive
):
    """Three fees behind ten newer payments: three pages (one request each, as a fee read
    alone is), then the three read alone; never more than twice the requests of reading
    each alone."""
    fake_stripe.page_size = 2
    paid_meanwhile(fake_stripe, 10)
    pay(stripe_client, fake_stripe, ["pi_small1", "pi_small2", "pi_small3"])
    fake_stripe.requests.clear()
    assert Worker(stripe_app, kinds=("fee",)).burst() == {JobStatus.DONE: 3}
    lists = [path for path in asked(fake_stripe) if path == LIST]
    alone = [path for path in asked(fake_stripe) if path != LIST]
    assert len(lists) == 3
    assert sorted(alone) == [f"/v1/payment_intents/pi_small{n}" for n in (1, 2, 3)]
    assert sorted(c for (c,) in fee_entries(stripe_session).values()) == [30, 31, 32]
    assert ledger.verify(stripe_session, drive) == []


def test_fees_an_earlier_list_showed_are_not_asked_for_again(
    stripe_session, stripe_app, stripe_client, fake_stripe, drive
):
    """The list is newest first, so under a stream of gifts one batch's page also shows the
    payments whose webhooks are still on their way. The next batch finds their fees in what
    that page showed and asks Stripe nothing (reads are rate-limited)."""
    for later in ("pi_later1", "pi_later2"):  # paid, their webhooks not here yet
        fake_stripe.fees[f"ch_of_{later}"] = 77
        fake_stripe.add_charge(later)
    pay(stripe_client, fake_stripe, ["pi_first1", "pi_first2"])
    worker = Worker(stripe_app, kinds=("fee",))
    fake_stripe.requests.clear()
    worker.burst()
    assert asked(fake_stripe) == [LIST]
    pay(stripe_client, fake_stripe, ["pi_later1", "pi_later2"], charged=False, fee=lambda n: 77)
    fake_stripe.requests.clear()
    assert worker.burst() == {JobStatus.DONE: 2}
    assert asked(fake_stripe) == []
    assert sorted(c for (c,) in fee_entries(stripe_session).values()) == [30, 31, 77, 77]
    later = (
        fresh(stripe_session)
        .exec(select(Gift).where(Gift.stripe_payment_intent_id == "pi_later1"))
        .one()
    )
    assert (later.stripe_charge_id, later.fee_pending) == ("ch_of_pi_later1", False)
    assert ledger.verify(stripe_session, drive) == []


@pytest.mark.parametrize("status", [429, 500], ids=["rate limited", "Stripe down"])
def test_a_refused_list_leaves_every_fee_queued_for_the_retry(
    stripe_session, stripe_app, stripe_client, fake_stripe, drive, status
):
    pay(stripe_client, fake_stripe, ["pi_wait1", "pi_wait2", "pi_wait3"])
    fake_stripe.requests.clear()
    fake_stripe.down, fake_stripe.down_status = True, status
    ended = Worker(stripe_app, kinds=("fee",)).burst()
    assert ended == {JobStatus.QUEUED: 3}
    # Not one request per fee meanwhile (a 500 is retried twice by the client, a 429 not).
    assert set(asked(fake_stripe)) == {LIST}
    assert len(fake_stripe.requests) == (1 if status == 429 else 3)
    jobs = fresh(stripe_session).exec(select(Job).where(Job.kind == "fee")).all()
    assert [j.status for j in jobs] == [JobStatus.QUEUED] * 3
    assert all("could not list fees" in (j.last_error or "") for j in jobs)
    assert pending(stripe_session) == 3 and fee_entries(stripe_session) == {}
    fake_stripe.down = False
    fake_stripe.requests.clear()
    later = utcnow() + outbox.FIRST_WAIT + timedelta(seconds=1)
    assert Worker(stripe_app, kinds=("fee",)).burst(later) == {JobStatus.DONE: 3}
    assert asked(fake_stripe) == [LIST]
    assert sorted(c for (c,) in fee_entries(stripe_session).values()) == [30, 31, 32]


def test_a_worker_dying_after_posting_a_batch_leaves_it_to_the_next_worker_and_posts_once(
    stripe_session, stripe_app, stripe_client, fake_stripe, drive, monkeypatch
):
    """The fees are posted; the worker dies before it records the jobs' ends. After the lease,
    another worker claims them, finds every fee filled, asks Stripe nothing, posts nothing."""
    intents = [f"pi_dies{n}" for n in range(4)]
    pay(stripe_client, fake_stripe, intents)
    fake_stripe.requests.clear()

    def dies(*args, **kwargs):
        raise SystemExit("killed")

    monkeypatch.setattr(outbox, "finish", dies)
    monkeypatch.setattr(outbox, "finish_done", dies)
    with pytest.raises(SystemExit):
        Worker(stripe_app, kinds=("fee",)).run_next()
    monkeypatch.undo()
    assert asked(fake_stripe) == [LIST]
    assert pending(stripe_session) == 0
    jobs = fresh(stripe_session).exec(select(Job).where(Job.kind == "fee")).all()
    assert {j.status for j in jobs} == {JobStatus.RUNNING}
    # Before the lease ends, no other worker takes them.
    assert Worker(stripe_app, kinds=("fee",)).burst() == {}
    after_lease = utcnow() + outbox.DEFAULT_LEASE + timedelta(seconds=1)
    assert Worker(stripe_app, kinds=("fee",)).burst(after_lease) == {JobStatus.DONE: 4}
    assert asked(fake_stripe) == [LIST]  # nothing asked again
    assert sorted(fee_entries(stripe_session).values()) == [[30], [31], [32], [33]]
    assert ledger.verify(stripe_session, drive) == []


def test_a_failure_while_posting_a_batch_posts_none_and_the_retry_posts_each_once(
    stripe_session, stripe_app, stripe_client, fake_stripe, drive, monkeypatch
):
    """The batch's fees are posted in one unit of work: an exception after every entry is
    written (here, while the parked events are looked up) undoes them all; the jobs are
    queued again and the retry posts every fee once."""
    from relief.payments import fees

    pay(stripe_client, fake_stripe, [f"pi_half{n}" for n in range(4)])
    posted = []

    def fails_after_posting(session, ids):
        posted.extend(
            session.exec(select(Entry.id).where(Entry.kind == EntryKind.FEE)).all()
        )  # the entries are written in the unit…
        raise RuntimeError("the database went away (test)")  # …which then fails

    monkeypatch.setattr(fees.webhooks, "replay", fails_after_posting)
    assert Worker(stripe_app, kinds=("fee",)).burst() == {JobStatus.QUEUED: 4}
    monkeypatch.undo()
    assert len(posted) == 4 and pending(stripe_session) == 4
    assert fee_entries(stripe_session) == {}
    later = utcnow() + outbox.FIRST_WAIT + timedelta(seconds=1)
    assert Worker(stripe_app, kinds=("fee",)).burst(later) == {JobStatus.DONE: 4}
    assert sorted(fee_entries(stripe_session).values()) == [[30], [31], [32], [33]]
    assert ledger.verify(stripe_session, drive) == []


def test_a_worker_killed_after_claiming_a_batch_loses_none_of_it(
    stripe_session, stripe_app, stripe_client, fake_stripe, drive
):
    pay(stripe_client, fake_stripe, [f"pi_claimed{n}" for n in range(5)])
    with stripe_app.app_context():
        from relief import boundary

        with boundary.command() as session:
            held = outbox.claim_batch(session, "a worker then killed", 100, kinds=("fee",))
    assert len(held) == 5
    fake_stripe.requests.clear()
    assert Worker(stripe_app, kinds=("fee",)).burst() == {}  # held under the lease
    after_lease = utcnow() + outbox.DEFAULT_LEASE + timedelta(seconds=1)
    assert Worker(stripe_app, kinds=("fee",)).burst(after_lease) == {JobStatus.DONE: 5}
    assert asked(fake_stripe) == [LIST]
    assert sorted(fee_entries(stripe_session).values()) == [[30], [31], [32], [33], [34]]


def test_sync_fees_reads_the_pending_fees_in_one_list_request(
    stripe_session, stripe_app, stripe_client, fake_stripe, drive
):
    pay(stripe_client, fake_stripe, ["pi_sync1", "pi_sync2", "pi_sync3"])
    fake_stripe.requests.clear()
    result = stripe_app.test_cli_runner().invoke(args=["stripe", "sync-fees"])
    assert result.exit_code == 0, result.output
    assert "3 of 3 pending fees filled." in result.output
    assert asked(fake_stripe) == [LIST]
    assert sorted(c for (c,) in fee_entries(stripe_session).values()) == [30, 31, 32]
