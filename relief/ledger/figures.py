"""What the ledger's sums are: the figures of a drive or a chapter, and the records it hands back.

The one place that says how entries add up (:meth:`Figures.plus`), how figures add
(``+``, :meth:`Figures.sum`), and what raised, net and held mean.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from datetime import datetime

from relief import money
from relief.models import EntryKind

#: Kinds that change what a drive has raised (the others: fees and remittances).
RAISED_KINDS = frozenset(
    {
        EntryKind.GIFT,
        EntryKind.REFUND,
        EntryKind.DISPUTE_WITHDRAWN,
        EntryKind.DISPUTE_REINSTATED,
        EntryKind.CORRECTION,
    }
)
#: The chapter id of a drive's whole-drive totals row.
WHOLE_DRIVE = 0


def gift_count_delta(kind: EntryKind, amount_cents: int) -> int:
    """A gift entry counts one gift; a negative gift entry (reversing a gift that never was
    real, e.g. a purged test-mode gift) takes it back out of the count."""
    if kind is not EntryKind.GIFT:
        return 0
    return 1 if amount_cents > 0 else -1


@dataclass(frozen=True)
class Figures:
    """Sums of a drive's (or one chapter's) entries. Refunds and disputes are positive
    amounts taken out; ``disputes_cents`` is what open or lost disputes withhold now."""

    gifts_cents: int = 0
    refunds_cents: int = 0
    disputes_cents: int = 0
    corrections_cents: int = 0
    fees_cents: int = 0
    remitted_cents: int = 0
    gift_count: int = 0

    @property
    def raised_cents(self) -> int:
        """Gifts received − refunds − disputed amounts withheld ± corrections."""
        return self.gifts_cents - self.refunds_cents - self.disputes_cents + self.corrections_cents

    @property
    def net_cents(self) -> int:
        """Raised − processor fees."""
        return self.raised_cents - self.fees_cents

    @property
    def held_cents(self) -> int:
        """Money the chapter holds and still owes the partner: net − remitted (gifts sent
        directly to the partner carry their own remittance, so they are never held)."""
        return self.net_cents - self.remitted_cents

    def plus(self, kind: EntryKind, amount_cents: int) -> Figures:
        """These figures with one entry (or a sum of entries of one kind) added."""
        match kind:
            case EntryKind.GIFT:
                return replace(
                    self,
                    gifts_cents=self.gifts_cents + amount_cents,
                    gift_count=self.gift_count + gift_count_delta(kind, amount_cents),
                )
            case EntryKind.REFUND:
                return replace(self, refunds_cents=self.refunds_cents - amount_cents)
            case EntryKind.DISPUTE_WITHDRAWN | EntryKind.DISPUTE_REINSTATED:
                return replace(self, disputes_cents=self.disputes_cents - amount_cents)
            case EntryKind.CORRECTION:
                return replace(self, corrections_cents=self.corrections_cents + amount_cents)
            case EntryKind.FEE:
                return replace(self, fees_cents=self.fees_cents + amount_cents)
            case EntryKind.REMITTANCE:
                return replace(self, remitted_cents=self.remitted_cents + amount_cents)
        raise ValueError(f"unknown entry kind {kind!r}")

    def __add__(self, other: Figures) -> Figures:
        if not isinstance(other, Figures):
            return NotImplemented
        return Figures(*(getattr(self, name) + getattr(other, name) for name in FIGURE_FIELDS))

    def __sub__(self, other: Figures) -> Figures:
        if not isinstance(other, Figures):
            return NotImplemented
        return Figures(*(getattr(self, name) - getattr(other, name) for name in FIGURE_FIELDS))

    @classmethod
    def sum(cls, many: Iterable[Figures]) -> Figures:
        """Several figures added up, field by field (empty: all zero)."""
        total = cls()
        for figures in many:
            total += figures
        return total


#: The summed fields, in order: the columns of the running-totals rows too.
FIGURE_FIELDS = tuple(part.name for part in fields(Figures))


@dataclass(frozen=True)
class ChapterPart:
    slug: str
    name: str
    region: str | None
    goal_cents: int | None
    #: Raised by gifts credited to the chapter (its sub-goal and the leaderboard count these).
    figures: Figures
    #: The drive's host chapter: its books also hold what no chapter claims.
    host: bool = False
    #: What no chapter claims (gifts to the whole drive): non-zero on the host's part only.
    whole_drive: Figures = Figures()

    @property
    def books(self) -> Figures:
        """Everything in the chapter's books for the drive (``ledger.owner``): what it was
        credited and, for the host, what came to the whole drive. The chapters' books add up
        to the drive's figures exactly."""
        return self.figures + self.whole_drive

    @property
    def percent_of_goal(self) -> int:
        """Whole percent of the chapter's sub-goal raised, as text shows it (may pass 100;
        0 without a sub-goal)."""
        return money.percent_of(self.figures.raised_cents, self.goal_cents)

    @property
    def bar_percent(self) -> int:
        """How full the sub-goal's progress bar is: 0 to 100."""
        return money.bar_percent(self.figures.raised_cents, self.goal_cents)


@dataclass(frozen=True)
class DriveTotals:
    """A drive's figures as of one ledger state; what every screen renders."""

    drive_id: int
    currency: str
    goal_cents: int
    ratio_hundredths: int
    figures: Figures
    chapters: tuple[ChapterPart, ...]
    #: Raised by gifts credited to no chapter (gifts to the whole drive): in the host's books.
    unattributed: Figures
    entry_count: int
    fingerprint: str
    updated_at: datetime | None
    #: The chapter whose books hold ``unattributed`` (``ledger.owner``).
    host_chapter_id: int
    #: Per chapter, what was credited to it (its totals row); :meth:`books` adds the rule.
    by_chapter_id: dict[int, Figures] = field(default_factory=dict, compare=False, repr=False)

    @property
    def host(self) -> ChapterPart | None:
        """The host chapter's part (None only for a drive read without its chapters)."""
        return next((part for part in self.chapters if part.host), None)

    def books(self, chapter_id: int | None) -> Figures:
        """The chapter's books in this drive: what it was credited and, for the host, what
        no chapter claims (``ledger.owner``). What its treasurer accounts for and remits."""
        credited = self.by_chapter_id.get(chapter_id, Figures()) if chapter_id else Figures()
        return credited + self.unattributed if chapter_id == self.host_chapter_id else credited

    @property
    def raised_cents(self) -> int:
        return self.figures.raised_cents

    @property
    def net_cents(self) -> int:
        return self.figures.net_cents

    @property
    def projected_relief_cents(self) -> int:
        """Net × the drive's ratio, rounded to the cent. An estimate until the partner reports."""
        return money.apply_ratio(self.figures.net_cents, self.ratio_hundredths)

    @property
    def percent_of_goal(self) -> int:
        """Whole percent of the goal raised, as text shows it (may pass 100)."""
        return money.percent_of(self.figures.raised_cents, self.goal_cents)

    @property
    def bar_percent(self) -> int:
        """How full the goal's progress bar is: 0 to 100."""
        return money.bar_percent(self.figures.raised_cents, self.goal_cents)


@dataclass(frozen=True, slots=True)
class Posted:
    """An entry just appended, as written. Entries never change, so :func:`append` hands
    back this plain record rather than an ORM object (which costs more to build than the
    entry's four statements cost to run); read an ``Entry`` to follow its relations."""

    id: int
    kind: EntryKind
    amount_cents: int
    currency: str
    drive_id: int | None
    chapter_id: int | None
    gift_id: int | None
    effective_at: datetime
    recorded_at: datetime
    external_id: str | None
    reverses_id: int | None
    memo: str
    dated_at: datetime | None = None
