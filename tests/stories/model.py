"""The reference model: what a drive's books must say, written from issue 13's rules and the
README's for match pledges and members' pages (never from the app's code). Plain dicts of
integer cents keyed by (owner, kind, month).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

CHAPTERS = ("mid-missouri", "st-louis", "kansas-city")
#: The drive's host chapter (make_coalition's default, the first): its books hold the gifts to
#: the whole drive.
HOST = "mid-missouri"
TIMEZONE = "America/Chicago"
#: Kinds of money, each as the figure it changes (refunds and disputes: amounts taken out).
KINDS = ("gift", "refund", "dispute", "correction", "fee", "remittance")
#: Members' pages on the drive (their address -> their chapter): a gift made on one is the
#: member's and goes to the member's chapter, whatever chapter its checkout names.
MEMBERS = {"ana": "st-louis", "bo": "kansas-city", "cy": "mid-missouri"}


def zone():
    return ZoneInfo(TIMEZONE)


def month_of(moment: datetime) -> date:
    local = moment.astimezone(zone())
    return date(local.year, local.month, 1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


@dataclass
class CardGift:
    """A Stripe payment as Stripe sees it (its current state)."""

    key: str  # our name for it: the payment intent id
    owner: str
    amount: int
    fee: int
    paid_at: datetime
    #: Given to no chapter (the host's books hold it).
    whole_drive: bool
    monthly: bool = False
    #: refund id -> (amount, status); statuses as Stripe's refund object
    refunds: dict[str, tuple[int, str]] = field(default_factory=dict)
    dispute: str | None = None  # the dispute's last status
    dispute_id: str | None = None
    dispute_amount: int = 0
    prevented: bool = False
    member: str | None = None  # the member's page it was given on

    @property
    def refunded(self) -> int:
        return sum(a for a, status in self.refunds.values() if status != "failed")

    @property
    def any_failed(self) -> bool:
        return any(status == "failed" for _, status in self.refunds.values())

    @property
    def withheld(self) -> int:
        """What the dispute takes out now: opened or lost; won or an inquiry takes nothing."""
        if self.dispute in ("needs_response", "under_review", "lost"):
            return self.dispute_amount
        return 0

    @property
    def counts_for(self) -> int:
        """What the gift counts for now: its amount less refunds and what a dispute holds."""
        return self.amount - self.refunded - self.withheld


@dataclass
class Pledge:
    """A sponsor's match pledge: ``sponsor`` cents per ``donor`` cents of the gifts received
    from ``starts`` to ``ends`` (the coalition's days), up to ``cap``."""

    id: int
    sponsor: int
    donor: int
    cap: int
    starts: date
    ends: date
    online_only: bool
    chapter: str | None  # gifts credited to this chapter only
    received: int = 0  # the sponsor's own gifts recorded against it
    withdrawn: bool = False
    organizer: str = ""  # the chapter whose organizer made it

    def takes(self, gift: DonorGift) -> bool:
        return (
            self.starts <= gift.moment.astimezone(zone()).date() <= self.ends
            and (gift.online or not self.online_only)
            and (self.chapter is None or gift.chapter == self.chapter)
        )


@dataclass(frozen=True)
class DonorGift:
    """A donor's gift as a match sees it: when it counts (received, or the day a correction
    of its date moved it to), given online or not, the chapter credited, what it counts for,
    and the order it was recorded in (for gifts received at the same instant)."""

    moment: datetime
    online: bool
    chapter: str | None
    cents: int
    recorded: int


def matched(pledges: list[Pledge], gifts: list[DonorGift]) -> dict[int, int]:
    """What each pledge (not withdrawn) has matched: the donors' gifts in the order received,
    each cent matched once, by the first pledge made that takes the gift and is not full; a
    pledge is full once it has taken the donors' cents its cap covers (the last cent fills
    it), and has matched what it took × its ratio, at most its cap."""
    live = [p for p in pledges if not p.withdrawn]
    took = {p.id: 0 for p in live}
    for gift in sorted(gifts, key=lambda g: (g.moment, g.recorded)):
        left = gift.cents
        for pledge in live:
            if left <= 0 or not pledge.takes(gift):
                continue
            room = -(-pledge.cap * pledge.donor // pledge.sponsor) - took[pledge.id]
            taken = max(0, min(room, left))
            took[pledge.id] += taken
            left -= taken
    return {p.id: min(p.cap, took[p.id] * p.sponsor // p.donor) for p in live}


@dataclass
class Model:
    """The drive's books as issue 13 says they must be."""

    #: (owner, kind, month) -> cents
    books: dict[tuple[str, str, date], int] = field(default_factory=lambda: defaultdict(int))
    #: Stripe-side money, counted once every event about it has arrived (see the machine)
    cards: dict[str, CardGift] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    closed: dict[str, set[date]] = field(default_factory=lambda: defaultdict(set))
    #: remittance reference -> (chapter, cents, reversed)
    remittances: dict[str, tuple[str, int]] = field(default_factory=dict)
    #: partner reference -> (debt cents, people, remittance references) or None once withdrawn
    reports: dict[str, tuple[int, int, tuple[str, ...]] | None] = field(default_factory=dict)

    def owner(self, chapter: str | None) -> str:
        """Whose books hold a gift: its chapter's, or the host's for a gift to the whole drive."""
        return HOST if chapter is None else chapter

    def landing(self, owner: str, month: date) -> date:
        """A chapter's closed month never changes: an entry dated in one lands in the next
        open month."""
        while month in self.closed[owner]:
            month = next_month(month)
        return month

    def book(self, owner: str, kind: str, moment: datetime | date, cents: int) -> None:
        month = month_of(moment) if isinstance(moment, datetime) else moment.replace(day=1)
        self.books[(owner, kind, self.landing(owner, month))] += cents

    def gift_received(self, owner: str, moment, cents: int, fee: int = 0) -> None:
        self.book(owner, "gift", moment, cents)
        if fee:
            self.book(owner, "fee", moment, fee)
        self.counts[owner] += 1

    # --- figures ------------------------------------------------------------------------------

    def figures(self, owners=None) -> dict[str, int]:
        """Sums per kind of the chosen owners' books (all when None), Stripe's refunds and
        disputes included, and what they mean: raised, net, held, count."""
        chosen = (lambda o: True) if owners is None else (lambda o: o in owners)
        sums = dict.fromkeys(KINDS, 0)
        for (owner, kind, _), cents in self.books.items():
            if chosen(owner):
                sums[kind] += cents
        for card in self.cards.values():
            if chosen(card.owner):
                sums["refund"] += card.refunded
                sums["dispute"] += card.withheld
        raised = sums["gift"] - sums["refund"] - sums["dispute"] + sums["correction"]
        count = sum(n for owner, n in self.counts.items() if chosen(owner))
        return {
            **sums,
            "raised": raised,
            "net": raised - sums["fee"],
            "held": raised - sums["fee"] - sums["remittance"],
            "count": count,
        }

    def by_month(self, owner: str, this_month: date) -> dict[tuple[str, date], int]:
        """The owner's books per kind and month. Every refund and dispute of a story happens
        this month, so booked at its own time it lands in this one (never closed)."""
        months: dict[tuple[str, date], int] = defaultdict(int)
        for (o, kind, month), cents in self.books.items():
            if o == owner:
                months[(kind, month)] += cents
        for card in self.cards.values():
            if card.owner == owner:
                months[("refund", this_month)] += card.refunded
                months[("dispute", this_month)] += card.withheld
        return {key: cents for key, cents in months.items() if cents}

    def whole_drive(self, paid: set[str]) -> tuple[int, int]:
        """(raised, count) of the paid gifts to the whole drive."""
        cards = [c for c in self.cards.values() if c.whole_drive and c.key in paid]
        return sum(c.amount - c.refunded - c.withheld for c in cards), len(cards)

    def actual(self) -> tuple[int, int, int] | None:
        """(debt abolished, people, money behind it) of the counting partner reports."""
        counting = [r for r in self.reports.values() if r is not None]
        if not counting:
            return None
        named = {ref for _, _, refs in counting for ref in refs}
        return (
            sum(debt for debt, _, _ in counting),
            sum(people for _, people, _ in counting),
            sum(self.remittances[ref][1] for ref in named),
        )
