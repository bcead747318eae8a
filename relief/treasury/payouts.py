"""Stripe payout reconciliation, as the treasurer's screens show it: per payout, each balance
transaction matched to the ledger, and what the ledger expects against what Stripe paid.
(:mod:`relief.treasury.payout_sync` fetches the payouts and their transactions.)

Payouts belong to the coalition's Stripe account, and one payout carries gifts of many chapters.
Each balance transaction is matched to its gift (by charge, else payment intent) and so to the
gift's chapter: a chapter sees the payouts that carry its gifts, its own lines in full, the other
chapters' lines only as a sum, and the lines nobody's gift explains (those concern everyone, so
every chapter's treasurer sees them). A payout none of whose lines is any chapter's (a manual
payout, say) is shown to every chapter.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import or_
from sqlmodel import Session, col, select

from relief.errors import NotFound
from relief.models import (
    Chapter,
    Entry,
    EntryKind,
    Gift,
    Payout,
    PayoutTransaction,
    StripeRefund,
)
from relief.payments.reversals import REFUND_UNDONE

#: Payouts whose money never left (their transactions return to the balance).
NOT_PAID_OUT = ("failed", "canceled")

CHARGE_TYPES = ("charge", "payment")
REFUND_TYPES = ("refund", "payment_refund")
#: A refund that failed: its money back in the balance (source: the refund).
REFUND_FAILURE_TYPES = ("refund_failure", "payment_failure_refund")
#: Balance transactions of the coalition's Stripe account itself, no gift's: shown as what
#: they are and counted as explained (they are Stripe's figures, in no chapter's books).
ACCOUNT_LINES = {
    "stripe_fee": "Stripe's fee (Billing, Radar, …)",
    "stripe_fx_fee": "Stripe's currency conversion fee",
    "tax_fee": "Stripe Tax's fee",
    "payout_cancel": "a canceled payout's money back",
    "payout_failure": "a failed payout's money back",
    "payout_minimum_balance_hold": "held back as the minimum balance",
    "payout_minimum_balance_release": "minimum balance released",
    "reserve_hold": "held in Stripe's reserve",
    "reserve_release": "released from Stripe's reserve",
    "reserved_funds": "held in Stripe's reserve",
    "contribution": "Stripe Climate contribution",
}
#: External id of the ledger's entry for Stripe's fee on a dispute's balance transaction.
DISPUTE_FEE = "dispute-fee:"


@dataclass(frozen=True)
class Line:
    """One balance transaction beside what the ledger says about it."""

    txn: PayoutTransaction
    #: "gift", "refund", "refund failed", "dispute", "stripe" (the account's own line, see
    #: ACCOUNT_LINES) or "" when nothing explains it.
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
    def label(self) -> str:
        """What the line is, in words."""
        if self.matched_as == "stripe":
            description = (self.txn.description or "").strip()
            what = ACCOUNT_LINES.get(self.txn.type, self.txn.type.replace("_", " "))
            return f"{what}: {description}" if description else what
        if self.matched_as == "refund failed":
            return "refund that failed: money back"
        return self.matched_as or self.txn.type.replace("_", " ")

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
    #: Lines of other chapters, summed (their details are theirs), and how many of them do
    #: not agree with the ledger (their chapters' treasurers see which).
    others_cents: int
    others_count: int
    others_off_count: int
    #: Lines no chapter's gift explains: they concern everyone, so every chapter sees them.
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
    def account_lines(self) -> tuple[Line, ...]:
        """The Stripe account's own lines (a Stripe fee, a failed payout's money back)."""
        return tuple(line for line in self.lines if line.matched_as == "stripe")

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
            and all(line.matched for line in self.lines)
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
        {g.id: g for g in session.exec(select(Gift).where(col(Gift.id).in_(gift_ids)))}
        if gift_ids
        else {}
    )
    by_gift: dict[int | None, list[Entry]] = defaultdict(list)
    if gift_ids:
        for entry in session.exec(select(Entry).where(col(Entry.gift_id).in_(gift_ids))):
            # A gift's entries in its drive (a gift assigned later also has its first,
            # driveless copies: count each once).
            gift = gifts[entry.gift_id]
            if entry.drive_id == gift.drive_id:
                by_gift[entry.gift_id].append(entry)
    wanted = set()
    refund_ids = set()
    for t in txns:
        if t.source_id and t.type in REFUND_TYPES + REFUND_FAILURE_TYPES:
            wanted |= {f"refund:{t.source_id}", f"refund-failed:{t.source_id}"}
            refund_ids.add(t.source_id)
        elif t.source_id and t.type == "adjustment":
            wanted |= {
                f"dispute-withdrawn:{t.source_id}",
                f"dispute-reinstated:{t.source_id}",
                f"{DISPUTE_FEE}{t.stripe_id}",
            }
    by_external = (
        {
            e.external_id: e
            for e in session.exec(select(Entry).where(col(Entry.external_id).in_(wanted)))
        }
        if wanted
        else {}
    )

    #: Refund objects that failed or were canceled: their refund and its failure cancel out
    #: in Stripe's balance, as in the ledger (where a refund that failed first is never posted).
    undone = (
        set(
            session.exec(
                select(StripeRefund.stripe_id).where(
                    col(StripeRefund.stripe_id).in_(refund_ids),
                    col(StripeRefund.status).in_(REFUND_UNDONE),
                )
            )
        )
        if refund_ids
        else set()
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
    refunded_through: dict[int | None, int] = {}
    if refund_gifts:
        running: dict[int | None, int] = defaultdict(int)
        for other in session.exec(
            select(PayoutTransaction)
            .where(
                col(PayoutTransaction.gift_id).in_(refund_gifts),
                col(PayoutTransaction.type).in_(REFUND_TYPES),
            )
            .order_by(col(PayoutTransaction.created), col(PayoutTransaction.id))
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
        if t.type in ACCOUNT_LINES:
            lines.append(Line(t, "stripe", t.amount_cents, t.fee_cents, mine))
            continue
        if t.type in REFUND_FAILURE_TYPES and t.gift_id:
            back = by_external.get(f"refund-failed:{t.source_id}")
            if (
                back is None
                and t.source_id in undone
                and not by_external.get(f"refund:{t.source_id}")
            ):
                # Failed before the ledger counted it: neither it nor its failure is posted.
                lines.append(Line(t, "refund failed", t.amount_cents, 0, mine))
                continue
            if back is not None:
                problem = (
                    ""
                    if back.amount_cents == t.amount_cents
                    else f"the ledger put back {back.amount_cents} cents, Stripe {t.amount_cents}"
                )
                lines.append(Line(t, "refund failed", back.amount_cents, 0, mine, problem))
                continue
        if t.type in REFUND_TYPES:
            refund = by_external.get(f"refund:{t.source_id}")
            gross = refund.amount_cents if refund else None
            if gross is None and t.source_id in undone:
                gross = t.amount_cents  # never counted; its failure's line cancels it
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
            dispute = by_external.get(f"{kind}:{t.source_id}")
            if dispute is not None:
                problems = []
                if dispute.amount_cents != t.amount_cents:
                    problems.append(
                        f"the ledger's dispute is {dispute.amount_cents} cents, Stripe's "
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
                lines.append(
                    Line(t, "dispute", dispute.amount_cents, fee, mine, "; ".join(problems))
                )
                continue
        lines.append(Line(t, "", mine=mine))
    return lines


#: Most balance transactions matched in one pass (their gift ids go into one IN list).
MATCH_CHUNK = 5_000


def _views(session: Session, rows: list[Payout], chapter: Chapter | None) -> list[PayoutView]:
    """Each payout with its lines matched to the ledger: the transactions of all of them in
    one query, matched a few thousand at a time (not a handful of queries per payout)."""
    by_payout: dict[int | None, list[PayoutTransaction]] = {payout.id: [] for payout in rows}
    if rows:
        for txn in session.exec(
            select(PayoutTransaction)
            .where(col(PayoutTransaction.payout_id).in_(list(by_payout)))
            .order_by(col(PayoutTransaction.created), col(PayoutTransaction.id))
        ):
            by_payout[txn.payout_id].append(txn)
    lines_of: dict[int | None, list[Line]] = {}
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
    # Another chapter's line, even one the ledger does not explain yet, is only summed.
    others = [line for line in lines if not line.mine and line.txn.chapter_id is not None]
    nobodys = [line for line in lines if line.txn.chapter_id is None]
    return PayoutView(
        payout=payout,
        lines=tuple(lines),
        expected_cents=sum(line.expected_net_cents or 0 for line in lines if line.matched),
        share_cents=sum(line.txn.net_cents for line in mine),
        share_expected_cents=sum(line.expected_net_cents or 0 for line in mine),
        share_count=len(mine),
        others_cents=sum(line.txn.net_cents for line in others),
        others_count=len(others),
        others_off_count=sum(1 for line in others if not line.matched or line.problem),
        unmatched=tuple(line for line in nobodys if not line.matched),
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
        .where(
            PayoutTransaction.payout_id == Payout.id, col(PayoutTransaction.chapter_id).is_not(None)
        )
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
    query = query.order_by(col(Payout.created).desc(), col(Payout.id).desc())
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
