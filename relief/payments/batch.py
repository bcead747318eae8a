"""A run of verified Stripe events processed in one unit of work, ending in the same rows,
answers and ledger as :func:`webhooks.process` gives them one by one, in order: the paid
Checkout Sessions among them are recorded together, in a few bulk statements whatever their
number, and every other event runs one by one between them.

For a drainer of kept events (docs/performance.md, "Next"): one gift recorded by itself costs
about fifteen statements; a hundred recorded together cost about a dozen.

A paid session goes into the bulk record when its outcome needs nothing the bulk statements
do not do: a new gift for a known drive in its currency, or one of our gifts not paid yet,
with no erased donor named and no event parked for its ids. Anything else (a gift paid
already, an unknown drive, another currency, an erased donor, a parked event to replay, a
session or gift named twice in the run) ends the bulk record there, runs one by one, and the
rest is looked at again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, or_
from sqlmodel import Session, col, select

from relief import ledger, members, money, privacy
from relief.db import is_postgres
from relief.models import (
    EntryKind,
    Gift,
    GiftMethod,
    MemberPage,
    ParkedEvent,
    new_public_id,
    table_of,
)
from relief.outbox import due, enqueue_all
from relief.payments import fulfilment, records, screening, webhooks
from relief.payments.webhooks import Outcome

#: Event types that announce a Checkout Session's money.
PAID_SESSION_TYPES = frozenset(
    {"checkout.session.completed", "checkout.session.async_payment_succeeded"}
)


@dataclass
class _Paid:
    """A paid Checkout Session in the run, as its event says."""

    index: int
    event: dict
    payload: bytes | None
    screened: screening.Screened
    obj: dict
    metadata: dict
    #: Our gift's public id, when the session names one.
    ref: str | None
    amount: int
    paid_at: datetime

    @property
    def key(self) -> str:
        return self.event["id"]

    @property
    def type(self) -> str:
        return self.event["type"]


@dataclass
class _Planned:
    """How a paid session is recorded in bulk: one of our gifts brought up to it, or a new
    gift's columns."""

    paid: _Paid
    gift: Gift | None = None
    values: dict | None = None
    email: str | None = None
    known: tuple[str, ...] = ()
    #: The member's page the session names, looked up once for the run.
    page: MemberPage | None = None


def process_all(session: Session, events: Sequence[tuple[dict, bytes | None]]) -> list[Outcome]:
    """Process these verified events (each with its body as signed, or None) in order,
    inside the caller's writer unit of work, which commits: each once per event id, as
    :func:`webhooks.process` would one by one. Their outcomes, in the same order."""
    outcomes: list[Outcome | None] = [None] * len(events)
    run: list[_Paid] = []
    for index, (event, payload) in enumerate(events):
        paid = _paid_session(index, event, payload)
        if paid is not None:
            run.append(paid)
            continue
        _record_run(session, run, outcomes)
        run = []
        outcomes[index] = webhooks.process(session, event, payload)
    _record_run(session, run, outcomes)
    return [outcome for outcome in outcomes if outcome is not None]


def _paid_session(index: int, event: dict, payload: bytes | None) -> _Paid | None:
    """The event as a paid Checkout Session of the usual shape, or None (it runs one by
    one)."""
    if event.get("type") not in PAID_SESSION_TYPES or not screening.is_id(event.get("id")):
        return None
    screened = webhooks.screen(event)
    if isinstance(screened, Exception) or screened.shortened:
        return None
    obj = screened.event["data"]["object"]
    metadata = obj.get("metadata") or {}
    amount = obj.get("amount_total")
    if not (
        isinstance(metadata, dict)
        and obj.get("mode") == "payment"
        and obj.get("payment_status") == "paid"
        and screening.is_id(obj.get("id"))
        and isinstance(obj.get("currency"), str)
        and type(amount) is int
        and 0 < amount <= money.MAX_CENTS
        and type(obj.get("created")) is int
        and isinstance(metadata.get("drive"), str)
        and all(_text_or_none(metadata.get(name)) for name in ("chapter", "member", "ref"))
    ):
        return None
    ref = metadata.get("gift") or obj.get("client_reference_id")
    if not _text_or_none(ref):
        return None
    return _Paid(
        index=index,
        event=event,
        payload=payload,
        screened=screened,
        obj=obj,
        metadata=metadata,
        ref=ref,
        amount=amount,
        paid_at=records.at(obj["created"]),
    )


def _text_or_none(value: object) -> bool:
    return value is None or isinstance(value, str)


def _record_run(session: Session, run: list[_Paid], outcomes: list[Outcome | None]) -> None:
    """Claim a run of paid sessions in one statement, then record them: in bulk as far as
    they allow, one by one where they do not."""
    if not run:
        return
    claimed = webhooks.claim_all(session, [(paid.key, paid.type) for paid in run])
    todo = []
    for paid in run:
        if paid.key in claimed:
            claimed.discard(paid.key)  # a second delivery in the same run is a duplicate
            todo.append(paid)
        else:
            outcomes[paid.index] = Outcome(
                event_id=paid.key, type=paid.type, duplicate=True, messages=["already processed"]
            )
    while todo:
        planned = _plan(session, todo)
        _record(session, planned, outcomes)
        if len(planned) == len(todo):
            return
        odd = todo[len(planned)]
        outcomes[odd.index] = webhooks.process_claimed(
            session, odd.event, odd.payload, odd.screened
        )
        todo = todo[len(planned) + 1 :]


def _plan(session: Session, todo: list[_Paid]) -> list[_Planned]:
    """How the first of these sessions are recorded in bulk, up to the first that must run
    one by one (looked up in a few queries for all of them)."""
    gifts = _our_gifts(session, todo)
    by_session = {gift.stripe_session_id: gift for gift in gifts if gift.stripe_session_id}
    by_public_id = {gift.public_id: gift for gift in gifts}
    drives: dict[tuple[str, str | None], tuple[int | None, int | None, str | None]] = {}
    pages: dict[tuple[int, str | None], MemberPage | None] = {}
    seen: set[str | None] = set()
    planned: list[_Planned] = []
    for paid in todo:
        obj, metadata = paid.obj, paid.metadata
        gift = by_session.get(obj["id"]) or (by_public_id.get(paid.ref) if paid.ref else None)
        if gift is not None and gift.stripe_session_id not in (None, obj["id"]):
            gift = None  # a second payment for our gift: a gift of its own
        names = {obj["id"], paid.ref, gift.public_id if gift is not None else None} - {None}
        if names & seen:
            break  # named earlier in the run: what it finds depends on that one's record
        seen |= names
        currency = obj["currency"].upper()
        if gift is None:
            where = (metadata["drive"], metadata.get("chapter"))
            if where not in drives:
                drives[where] = fulfilment.drive_row(session, *where)
            drive_id, chapter_id, drive_currency = drives[where]
            if drive_id is None or currency != drive_currency:
                break  # no such drive (assigned later), or held: another currency
            member = (drive_id, metadata.get("member"))
            if member not in pages:
                pages[member] = members.credited(session, *member)
            values = fulfilment.new_gift_values(
                obj,
                metadata,
                paid.amount,
                drive_id,
                chapter_id,
                pages[member],
                subscription_mode=False,
                invoice_id=None,
            )
            known: tuple[str | None, ...] = (
                records.stripe_id(obj.get("payment_intent")),
                obj["id"],
            )
            planned.append(
                _Planned(paid, values=values, email=values["donor_email"], known=_ids(known))
            )
            continue
        if (
            gift.status in records.MONEY_RECEIVED  # paid already: one by one says so
            or gift.drive_id is None
            or currency != gift.currency
        ):
            break
        details = obj.get("customer_details") or {}
        email = gift.donor_email or details.get("email") or obj.get("customer_email")
        known = (
            records.stripe_id(obj.get("payment_intent")) or gift.stripe_payment_intent_id,
            gift.stripe_charge_id,
            gift.stripe_invoice_id,
            gift.stripe_subscription_id,
            obj["id"],
        )
        page = None
        if fulfilment.may_credit_member(gift):
            member = (gift.drive_id, metadata.get("member"))
            if member not in pages:
                pages[member] = members.credited(session, *member)
            page = pages[member]
        planned.append(_Planned(paid, gift=gift, email=email, known=_ids(known), page=page))
    return _before_erased_or_parked(session, planned)


def _ids(values: Sequence[str | None]) -> tuple[str, ...]:
    return tuple(value for value in values if value)


def _our_gifts(session: Session, todo: list[_Paid]) -> list[Gift]:
    """Our gifts these sessions name, by session id or public id, in one query (held for
    the transaction on PostgreSQL, as one by one each would be)."""
    sessions = [paid.obj["id"] for paid in todo]
    refs = [paid.ref for paid in todo if paid.ref]
    query = select(Gift).where(
        or_(col(Gift.stripe_session_id).in_(sessions), col(Gift.public_id).in_(refs))
    )
    if is_postgres(session):
        query = query.with_for_update()
    return list(session.exec(query).all())


def _before_erased_or_parked(session: Session, planned: list[_Planned]) -> list[_Planned]:
    """The plan up to the first session naming an erased donor or the ids of a parked
    event: those run one by one (scrubbed, or replaying what waited)."""
    erased = privacy.erased_among(session, [(one.email, one.paid.obj) for one in planned])
    wanted = {value for one in planned for value in one.known}
    waiting = (
        set(
            session.connection()
            .execute(
                select(col(ParkedEvent.waits_for)).where(col(ParkedEvent.waits_for).in_(wanted))
            )
            .scalars()
        )
        if wanted
        else set()
    )
    for number, one in enumerate(planned):
        if number in erased or waiting.intersection(one.known):
            return planned[:number]
    return planned


def _record(session: Session, planned: list[_Planned], outcomes: list[Outcome | None]) -> None:
    """Record these paid sessions: new gifts inserted in one statement, ours updated, their
    entries and sums posted together (``ledger.append_many``), their jobs in one insert."""
    if not planned:
        return
    new = [one for one in planned if one.gift is None]
    rows = []
    for one, gift_id in zip(new, ledger.reserve_ids(session, Gift, len(new)), strict=True):
        assert one.values is not None
        rows.append(
            {
                **records.gift_row(one.values, one.paid.paid_at),
                "id": gift_id,
                "public_id": new_public_id(),
            }
        )
    if rows:
        session.execute(insert(table_of(Gift)), rows)
    inserted = iter(rows)
    entries: list[ledger.NewEntry] = []
    facts: dict[int, ledger.GiftFacts] = {}
    jobs = []
    for one in planned:
        paid = one.paid
        if one.gift is None:
            row = next(inserted)
            gift_id, public_id, amount = row["id"], row["public_id"], row["amount_cents"]
            drive_id, chapter_id, currency = row["drive_id"], row["chapter_id"], row["currency"]
            memo = records.gift_memo(False, False)
            facts[gift_id] = ledger.GiftFacts(
                paid.paid_at, GiftMethod.CARD, chapter_id, row["ref"], None
            )
            jobs += due.paid_gift_jobs(gift_id, row["donor_email"], None, row["fee_pending"])
        else:
            gift = one.gift
            fulfilment.take_session(gift, paid.obj, paid.amount, False, None)
            if fulfilment.may_credit_member(gift):
                fulfilment.credit_member(gift, one.page)
            records.set_paid(gift, paid.paid_at)
            gift_id, public_id, amount = records.saved_id(gift), gift.public_id, gift.amount_cents
            drive_id, chapter_id, currency = gift.drive_id, gift.chapter_id, gift.currency
            memo = records.gift_memo(gift.test_mode, gift.monthly)
            jobs += due.paid_gift_jobs(gift_id, gift.donor_email, gift.card_email, gift.fee_pending)
        assert drive_id is not None, "planned gifts are in a drive"
        entries.append(
            ledger.NewEntry(
                kind=EntryKind.GIFT,
                amount_cents=amount,
                currency=currency,
                drive_id=drive_id,
                chapter_id=chapter_id,
                gift_id=gift_id,
                effective_at=paid.paid_at,
                external_id=f"gift:{public_id}",
                memo=memo,
            )
        )
        outcomes[paid.index] = Outcome(
            event_id=paid.key, type=paid.type, messages=[f"gift {public_id} paid"]
        )
    ledger.append_many(session, entries, gifts=facts)
    enqueue_all(session, jobs)
