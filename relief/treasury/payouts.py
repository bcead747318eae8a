"""Stripe payout reconciliation: sync payouts and their balance transactions, match each
transaction to the ledger, and show per payout what the ledger expects against what Stripe paid.

Payouts belong to the coalition's Stripe account, and one payout carries gifts of many chapters.
Each balance transaction is matched to its gift (by charge, else payment intent) and so to the
gift's chapter: a chapter sees the payouts that carry its gifts, its own lines in full, the other
chapters' lines only as a sum, and the lines nobody's gift explains (those concern everyone, so
every chapter's treasurer sees them). A payout none of whose lines is any chapter's (a manual
payout, say) is shown to every chapter.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import literal, or_
from sqlmodel import Session, select

from relief import ledger
from relief.errors import NotFound
from relief.models import (
    Chapter,
    Entry,
    EntryKind,
    Gift,
    Payout,
    PayoutTransaction,
    utcnow,
)
from relief.payments.gateway import BalanceTransactionInfo, Gateway, PayoutInfo

#: Statuses after which a payout no longer changes.
FINAL = ("paid", "failed", "canceled")
#: Payouts whose money never left (their transactions return to the balance).
NOT_PAID_OUT = ("failed", "canceled")
#: Payouts listed between checkpoints (Stripe's page size).
CHECKPOINT_EVERY = 100

CHARGE_TYPES = ("charge", "payment")
REFUND_TYPES = ("refund", "payment_refund")
#: Stripe's reporting categories of a dispute's adjustments (money withdrawn, and put back).
DISPUTE_CATEGORIES = ("dispute", "dispute_reversal")
#: External id of the ledger's entry for Stripe's fee on a dispute's balance transaction.
DISPUTE_FEE = "dispute-fee:"


@dataclass
class SyncResult:
    test_mode: bool = False
    payouts_seen: int = 0
    payouts_new: int = 0
    transactions_new: int = 0
    transactions_matched: int = 0

    def sentence(self) -> str:
        if self.test_mode:
            return "Test mode: there is no Stripe account, so nothing to sync."
        return (
            f"Synced {self.payouts_seen} payout{'s' if self.payouts_seen != 1 else ''} "
            f"({self.payouts_new} new) and {self.transactions_new} new balance "
            f"transaction{'s' if self.transactions_new != 1 else ''}; "
            f"{self.transactions_matched} matched to gifts."
        )


def _since(session: Session) -> datetime | None:
    """Where the payout list resumes: the oldest payout that can still change (not final, or its
    transactions not all stored), else the newest payout; None (everything) the first time."""
    open_payout = session.exec(
        select(Payout.created)
        .where(
            or_(
                Payout.status.not_in(FINAL),
                (Payout.transactions_complete.is_(False))
                & Payout.automatic.is_(True)
                & Payout.status.not_in(NOT_PAID_OUT),
            )
        )
        .order_by(Payout.created)
    ).first()
    if open_payout is not None:
        return open_payout
    return session.exec(select(Payout.created).order_by(Payout.created.desc())).first()


def _upsert_payout(session: Session, info: PayoutInfo) -> bool:
    """Bring our row up to Stripe's payout; True when it is new."""
    payout = session.exec(select(Payout).where(Payout.stripe_id == info.id)).first()
    new = payout is None
    if new:
        payout = Payout(
            stripe_id=info.id,
            created=info.created,
            arrival_date=info.arrival_date,
            amount_cents=info.amount_cents,
            status=info.status,
        )
        session.add(payout)
    payout.amount_cents = info.amount_cents
    payout.currency = info.currency
    payout.status = info.status
    payout.automatic = info.automatic
    payout.arrival_date = info.arrival_date
    payout.description = info.description[:500]
    payout.failure_message = info.failure_message[:500]
    payout.synced_at = utcnow()
    session.flush()
    return new


def _gift_for(
    session: Session, charge_id: str | None, payment_intent_id: str | None
) -> Gift | None:
    if charge_id:
        gift = session.exec(select(Gift).where(Gift.stripe_charge_id == charge_id)).first()
        if gift is not None:
            return gift
    if payment_intent_id:
        return session.exec(
            select(Gift).where(Gift.stripe_payment_intent_id == payment_intent_id)
        ).first()
    return None


def _store(session: Session, payout: Payout, info: BalanceTransactionInfo) -> bool:
    """Store one balance transaction once (its Stripe id is UNIQUE); True when new."""
    if session.exec(
        select(PayoutTransaction.id).where(PayoutTransaction.stripe_id == info.id)
    ).first():
        return False
    gift = _gift_for(session, info.charge_id, info.payment_intent_id)
    session.add(
        PayoutTransaction(
            stripe_id=info.id,
            payout_id=payout.id,
            type=info.type,
            reporting_category=info.reporting_category,
            source_id=info.source_id,
            charge_id=info.charge_id,
            payment_intent_id=info.payment_intent_id,
            amount_cents=info.amount_cents,
            fee_cents=info.fee_cents,
            net_cents=info.net_cents,
            currency=info.currency,
            created=info.created,
            gift_id=gift.id if gift else None,
            chapter_id=gift.chapter_id if gift else None,
        )
    )
    session.flush()
    return True


def sync(
    session: Session,
    gateway: Gateway,
    *,
    checkpoint: Callable[[], None],
    progress: Callable[[int, int], None] | None = None,
) -> SyncResult:
    """Fetch payouts and, for each automatic one, its balance transactions; store each once.

    Idempotent (every Stripe id is UNIQUE) and resumable: each payout remembers the last
    balance transaction stored, and ``checkpoint`` (the caller's commit) runs after each one,
    so a sync cut off halfway resumes where it stopped and doubles nothing. ``progress(done,
    total)`` is told after each payout's transactions. Raises GatewayError when Stripe fails
    (what was checkpointed stays).
    """
    result = SyncResult(test_mode=gateway.test_mode)
    if gateway.test_mode:
        return result
    for info in gateway.list_payouts(_since(session)):
        result.payouts_seen += 1
        result.payouts_new += _upsert_payout(session, info)
        if result.payouts_seen % CHECKPOINT_EVERY == 0:
            checkpoint()
    checkpoint()
    todo = list(
        session.exec(
            select(Payout)
            .where(
                Payout.transactions_complete.is_(False),
                Payout.automatic.is_(True),
                Payout.status.not_in(NOT_PAID_OUT),
            )
            .order_by(Payout.created, Payout.id)
        )
    )
    for done, payout in enumerate(todo, start=1):
        for info in gateway.payout_transactions(payout.stripe_id, payout.transactions_cursor):
            result.transactions_new += _store(session, payout, info)
            payout.transactions_cursor = info.id
            session.flush()
            # Each transaction is kept with the cursor after it (a commit costs about a
            # millisecond): an outage loses nothing already fetched.
            checkpoint()
        payout.transactions_complete = True
        session.flush()
        checkpoint()
        if progress:
            progress(done, len(todo))
    rematch(session)
    post_dispute_fees(session)
    session.flush()
    checkpoint()
    result.transactions_matched = len(
        session.exec(
            select(PayoutTransaction.id).where(PayoutTransaction.gift_id.is_not(None))
        ).all()
    )
    return result


def rematch(session: Session) -> int:
    """Match transactions still without a gift (the gift's webhook may have come later), and
    follow a gift credited to a chapter since; flushes. Returns how many changed."""
    changed = 0
    rows = session.exec(
        select(PayoutTransaction).where(
            or_(PayoutTransaction.gift_id.is_(None), PayoutTransaction.chapter_id.is_(None))
        )
    ).all()
    for txn in rows:
        gift = (
            session.get(Gift, txn.gift_id)
            if txn.gift_id
            else _gift_for(session, txn.charge_id, txn.payment_intent_id)
        )
        if gift is not None and (txn.gift_id, txn.chapter_id) != (gift.id, gift.chapter_id):
            txn.gift_id, txn.chapter_id = gift.id, gift.chapter_id
            changed += 1
    session.flush()
    return changed


def is_dispute(txn: PayoutTransaction) -> bool:
    """A dispute's withdrawal or reinstatement (an "adjustment" whose source is the dispute)."""
    return txn.type == "adjustment" and (
        txn.reporting_category in DISPUTE_CATEGORIES
        or (txn.source_id or "").startswith(("dp_", "du_"))
    )


def post_dispute_fees(session: Session) -> int:
    """Post Stripe's fee on each dispute balance transaction of a known gift to the ledger, once
    (external id ``dispute-fee:<txn>``); flushes. Returns how many were posted.

    The dispute's webhook says how much was withdrawn or put back but not what Stripe charged
    for the dispute: only the balance transaction does (a withdrawal's fee, and a negative fee
    when a won dispute's fee is given back). Without it the chapter's net overstates what it
    holds and the payout never reconciles. Posted to the gift's drive and chapter (not to the
    gift itself), dated when Stripe took it (in the next open month if that month is closed)."""

    rows = session.exec(
        select(PayoutTransaction, Gift)
        .join(Gift, Gift.id == PayoutTransaction.gift_id)
        .where(
            PayoutTransaction.type == "adjustment",
            PayoutTransaction.fee_cents != 0,
            ~select(Entry.id)
            .where(Entry.external_id == literal(DISPUTE_FEE) + PayoutTransaction.stripe_id)
            .exists(),
        )
        .order_by(PayoutTransaction.created, PayoutTransaction.id)
    ).all()
    posted = 0
    for txn, gift in rows:
        if not is_dispute(txn):
            continue
        what = "Stripe's dispute fee" if txn.fee_cents > 0 else "Stripe's dispute fee given back"
        entry = ledger.append(
            session,
            kind=EntryKind.FEE,
            amount_cents=txn.fee_cents,
            currency=gift.currency,
            drive_id=gift.drive_id,
            chapter_id=gift.chapter_id,
            # Not the gift's own fee: kept off the gift, so the donor's receipt and the donor
            # CSV still show what processing the gift cost; the chapter's figures carry it.
            effective_at=txn.created,
            external_id=f"{DISPUTE_FEE}{txn.stripe_id}",
            memo=f"{what} ({txn.source_id}, balance transaction {txn.stripe_id})",
        )
        posted += entry is not None
    session.flush()
    return posted


# --- Matching against the ledger ---------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One balance transaction beside what the ledger says about it."""

    txn: PayoutTransaction
    #: "gift", "fee", "refund", "dispute" or "" when nothing in the ledger explains it.
    matched_as: str
    #: What the ledger has for it: gross, fee and net (None when unmatched).
    expected_gross_cents: int | None = None
    expected_fee_cents: int | None = None
    #: Belongs to the chapter looking (else another chapter's, or nobody's when unmatched).
    mine: bool = False
    #: Why it does not agree to the cent ("" when it does).
    problem: str = ""

    @property
    def matched(self) -> bool:
        return bool(self.matched_as)

    @property
    def expected_net_cents(self) -> int | None:
        if self.expected_gross_cents is None:
            return None
        return self.expected_gross_cents - (self.expected_fee_cents or 0)


@dataclass(frozen=True)
class PayoutView:
    payout: Payout
    lines: tuple[Line, ...]
    #: Sum of the ledger's net for every matched line; the payout's amount is the actual.
    expected_cents: int
    #: This chapter's part of the payout: Stripe's net of its lines, and the ledger's.
    share_cents: int
    share_expected_cents: int
    share_count: int
    #: Lines of other chapters, summed (their details are theirs).
    others_cents: int
    others_count: int
    #: Lines nothing in the ledger explains.
    unmatched: tuple[Line, ...] = field(default=())

    @property
    def actual_cents(self) -> int:
        return self.payout.amount_cents

    @property
    def difference_cents(self) -> int:
        return self.actual_cents - self.expected_cents

    @property
    def mine(self) -> tuple[Line, ...]:
        return tuple(line for line in self.lines if line.mine)

    @property
    def problems(self) -> tuple[Line, ...]:
        return tuple(line for line in self.lines if line.problem)

    @property
    def can_be_split(self) -> bool:
        """Stripe lists the balance transactions of automatic payouts only."""
        return self.payout.automatic

    @property
    def reconciled(self) -> bool:
        return (
            self.payout.automatic
            and self.payout.transactions_complete
            and not self.unmatched
            and not self.problems
            and self.difference_cents == 0
        )

    @property
    def state(self) -> str:
        if self.payout.status in NOT_PAID_OUT:
            return self.payout.status
        if not self.payout.automatic:
            return "manual"
        if not self.payout.transactions_complete:
            return "syncing"
        return "reconciled" if self.reconciled else "differs"


def _lines(session: Session, txns: list[PayoutTransaction], chapter: Chapter | None) -> list[Line]:
    """Match each transaction to the ledger, in three queries whatever the count."""
    gift_ids = {t.gift_id for t in txns if t.gift_id}
    gifts = (
        {g.id: g for g in session.exec(select(Gift).where(Gift.id.in_(gift_ids)))}
        if gift_ids
        else {}
    )
    by_gift: dict[int, list[Entry]] = defaultdict(list)
    if gift_ids:
        for entry in session.exec(select(Entry).where(Entry.gift_id.in_(gift_ids))):
            # A gift's entries in its drive (a gift assigned later also has its first,
            # driveless copies: count each once).
            gift = gifts[entry.gift_id]
            if entry.drive_id == gift.drive_id:
                by_gift[entry.gift_id].append(entry)
    wanted = set()
    for t in txns:
        if t.source_id and t.type in REFUND_TYPES:
            wanted.add(f"refund:{t.source_id}")
        elif t.source_id and t.type == "adjustment":
            wanted |= {
                f"dispute-withdrawn:{t.source_id}",
                f"dispute-reinstated:{t.source_id}",
                f"{DISPUTE_FEE}{t.stripe_id}",
            }
    by_external = (
        {e.external_id: e for e in session.exec(select(Entry).where(Entry.external_id.in_(wanted)))}
        if wanted
        else {}
    )

    def total(gift_id, *kinds):
        return sum(e.amount_cents for e in by_gift.get(gift_id, ()) if e.kind in kinds)

    def charge_fee(gift_id):
        # The payment's own fee: a dispute's fee is matched on the dispute's line.
        return sum(
            e.amount_cents
            for e in by_gift.get(gift_id, ())
            if e.kind is EntryKind.FEE and not (e.external_id or "").startswith(DISPUTE_FEE)
        )

    # Refunds the ledger holds only as a charge's running total (API versions that do not
    # list a charge's refunds): Stripe's refunds of each gift, oldest first, are matched while
    # their running sum stays within what the ledger says was refunded.
    refund_gifts = {t.gift_id for t in txns if t.type in REFUND_TYPES and t.gift_id}
    refunded_through: dict[int, int] = {}
    if refund_gifts:
        running: dict[int, int] = defaultdict(int)
        for other in session.exec(
            select(PayoutTransaction)
            .where(
                PayoutTransaction.gift_id.in_(refund_gifts),
                PayoutTransaction.type.in_(REFUND_TYPES),
            )
            .order_by(PayoutTransaction.created, PayoutTransaction.id)
        ):
            running[other.gift_id] += -other.amount_cents
            refunded_through[other.id] = running[other.gift_id]

    lines = []
    for t in txns:
        mine = chapter is not None and t.chapter_id == chapter.id
        if t.type in CHARGE_TYPES and t.gift_id and total(t.gift_id, EntryKind.GIFT):
            gross = total(t.gift_id, EntryKind.GIFT)
            fee = charge_fee(t.gift_id)
            problems = []
            if gross != t.amount_cents:
                problems.append(
                    f"the ledger has the gift at {gross} cents, Stripe {t.amount_cents}"
                )
            if fee != t.fee_cents:
                problems.append(
                    "the fee is not in the ledger yet"
                    if fee == 0
                    else f"the ledger's fee is {fee} cents, Stripe's {t.fee_cents}"
                )
            lines.append(Line(t, "gift", gross, fee, mine, "; ".join(problems)))
            continue
        if t.type in REFUND_TYPES:
            entry = by_external.get(f"refund:{t.source_id}")
            gross = entry.amount_cents if entry else None
            if (
                gross is None
                and t.gift_id
                and t.amount_cents < 0
                and 0 < refunded_through.get(t.id, 0) <= -total(t.gift_id, EntryKind.REFUND)
            ):
                gross = t.amount_cents  # within the charge's running total of refunds
            if gross is not None:
                problem = (
                    ""
                    if gross == t.amount_cents
                    else (f"the ledger's refund is {gross} cents, Stripe's {t.amount_cents}")
                )
                lines.append(Line(t, "refund", gross, 0, mine, problem))
                continue
        if t.type == "adjustment" and t.source_id:
            kind = "dispute-withdrawn" if t.amount_cents < 0 else "dispute-reinstated"
            entry = by_external.get(f"{kind}:{t.source_id}")
            if entry is not None:
                problems = []
                if entry.amount_cents != t.amount_cents:
                    problems.append(
                        f"the ledger's dispute is {entry.amount_cents} cents, Stripe's "
                        f"{t.amount_cents}"
                    )
                fee_entry = by_external.get(f"{DISPUTE_FEE}{t.stripe_id}")
                fee = fee_entry.amount_cents if fee_entry else 0
                if fee != t.fee_cents:
                    problems.append(
                        f"Stripe's dispute fee of {t.fee_cents} cents is not in the ledger"
                        if fee == 0
                        else f"the ledger's dispute fee is {fee} cents, Stripe's {t.fee_cents}"
                    )
                lines.append(Line(t, "dispute", entry.amount_cents, fee, mine, "; ".join(problems)))
                continue
        lines.append(Line(t, "", mine=mine))
    return lines


#: Most balance transactions matched in one pass (their gift ids go into one IN list).
MATCH_CHUNK = 5_000


def _views(session: Session, rows: list[Payout], chapter: Chapter | None) -> list[PayoutView]:
    """Each payout with its lines matched to the ledger: the transactions of all of them in
    one query, matched a few thousand at a time (not a handful of queries per payout)."""
    by_payout: dict[int, list[PayoutTransaction]] = {payout.id: [] for payout in rows}
    if rows:
        for txn in session.exec(
            select(PayoutTransaction)
            .where(PayoutTransaction.payout_id.in_(list(by_payout)))
            .order_by(PayoutTransaction.created, PayoutTransaction.id)
        ):
            by_payout[txn.payout_id].append(txn)
    lines_of: dict[int, list[Line]] = {}
    chunk: list[PayoutTransaction] = []

    def match(chunk):
        for line in _lines(session, chunk, chapter):
            lines_of.setdefault(line.txn.payout_id, []).append(line)

    for txns in by_payout.values():
        if chunk and len(chunk) + len(txns) > MATCH_CHUNK:
            match(chunk)
            chunk = []
        chunk.extend(txns)
    if chunk:
        match(chunk)
    return [_view(payout, lines_of.get(payout.id, [])) for payout in rows]


def _view(payout: Payout, lines: list[Line]) -> PayoutView:
    mine = [line for line in lines if line.mine]
    others = [line for line in lines if not line.mine and line.txn.chapter_id is not None]
    return PayoutView(
        payout=payout,
        lines=tuple(lines),
        expected_cents=sum(line.expected_net_cents for line in lines if line.matched),
        share_cents=sum(line.txn.net_cents for line in mine),
        share_expected_cents=sum(line.expected_net_cents or 0 for line in mine),
        share_count=len(mine),
        others_cents=sum(line.txn.net_cents for line in others),
        others_count=len(others),
        unmatched=tuple(line for line in lines if not line.matched),
    )


def _visible_to(chapter: Chapter):
    """A payout that carries one of the chapter's gifts, or nobody's gift at all."""
    mine = (
        select(PayoutTransaction.id)
        .where(PayoutTransaction.payout_id == Payout.id, PayoutTransaction.chapter_id == chapter.id)
        .exists()
    )
    anyones = (
        select(PayoutTransaction.id)
        .where(PayoutTransaction.payout_id == Payout.id, PayoutTransaction.chapter_id.is_not(None))
        .exists()
    )
    return or_(mine, ~anyones)


def payouts_of(
    session: Session,
    chapter: Chapter,
    limit: int | None = 50,
    *,
    arriving_from: date | None = None,
    arriving_before: date | None = None,
) -> list[PayoutView]:
    """The newest payouts the chapter sees, each with its reconciliation; only those arriving
    in [arriving_from, arriving_before) when given (a month's report)."""
    query = select(Payout).where(_visible_to(chapter))
    if arriving_from is not None:
        query = query.where(Payout.arrival_date >= arriving_from)
    if arriving_before is not None:
        query = query.where(Payout.arrival_date < arriving_before)
    query = query.order_by(Payout.created.desc(), Payout.id.desc())
    if limit is not None:
        query = query.limit(limit)
    rows = session.exec(query).all()
    return _views(session, list(rows), chapter)


def payout_view(session: Session, chapter: Chapter, payout_id: int) -> PayoutView:
    """One payout as the chapter sees it; NotFound when it carries none of its gifts."""
    payout = session.exec(
        select(Payout).where(Payout.id == payout_id, _visible_to(chapter))
    ).first()
    if payout is None:
        raise NotFound(f"There is no payout #{payout_id} for {chapter.name}.")
    return _views(session, [payout], chapter)[0]


def visible_payouts(session: Session, chapter: Chapter) -> list[Payout]:
    """Every payout the chapter sees (for matching bank lines)."""
    return list(session.exec(select(Payout).where(_visible_to(chapter))))
