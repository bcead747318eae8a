"""Match pledges: a sponsor promises to match a drive's gifts; a treasurer records the
sponsor's payment. A pledge is a promise, not money.

- **Matched** is derived from the ledger each time it is shown: the eligible gifts' net
  (gifts, refunds, disputes and corrections: the raised kinds) by the day each gift was
  received (the day a correction of its date moved it to: ``ledger.moves``), × the pledge's
  ratio, capped. The nets by day come from the ledger's running sums by day received
  (``ReceivedTotal``, kept by ``ledger.append``), so its cost does not grow with the number
  of gifts; the drive page and the API keep the answer in the page cache (``match_pledge``
  is in its key).
- Several pledges share the gifts **in the order they were made**, the gifts taken in the
  order they were received: a donor's cent is matched once, by the first pledge whose
  window, kinds and chapter take it and whose cap is not yet full; the next pledge matches
  what is left. Which gifts came first matters only where a pledge fills up and a later one
  takes other gifts (a chapter's, say, after a whole drive's): only there are the gifts
  read one by one, so the answer never depends on how the database numbers chapters.
- **Received** is the sponsor's own gifts recorded against the pledge (:class:`MatchPayment`):
  ordinary gifts in the ledger, so *raised* counts them exactly once and only once paid; the
  sponsor's gift is never itself matched. **Remaining** is what the match has earned and the
  sponsor has not paid yet: the only figure a "with the match" projection may add.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import and_, func, or_
from sqlalchemy import select as sql_select
from sqlmodel import Session, col, select

from relief import ledger
from relief.errors import Conflict, InvalidInput, NotFound
from relief.ledger import moves
from relief.ledger.figures import RAISED_KINDS
from relief.ledger.months import day_text
from relief.models import (
    ONLINE_METHODS,
    Chapter,
    Drive,
    Entry,
    Gift,
    MatchCounts,
    MatchPayment,
    MatchPledge,
    ReceivedTotal,
    User,
    present,
    utcnow,
)
from relief.validation import check_text

#: The largest number either side of a ratio (10:1 … 1:10 cover every real match).
MAX_RATIO_TERM = 10


def parse_ratio(text: str) -> tuple[int, int]:
    """ "1:1" → (1, 1): sponsor cents per donor cents. Whole numbers from 1 to 10."""
    parts = (text or "").replace(" ", "").split(":")
    if len(parts) == 2 and all(part.isdigit() for part in parts):
        sponsor, donor = int(parts[0]), int(parts[1])
        if 1 <= sponsor <= MAX_RATIO_TERM and 1 <= donor <= MAX_RATIO_TERM:
            return sponsor, donor
    raise InvalidInput(
        "Give the ratio as sponsor's dollars : donors' dollars, such as 1:1 (every gift "
        "doubled), 2:1 or 1:2, with whole numbers from 1 to 10."
    )


def ratio_text(pledge: MatchPledge) -> str:
    return f"{pledge.ratio_sponsor}:{pledge.ratio_donor}"


@dataclass(frozen=True)
class PledgeTerms:
    """What an organizer types for a pledge, checked by :func:`_checked`."""

    sponsor_name: str
    ratio: str
    cap_cents: int
    starts_on: date
    ends_on: date
    counts: MatchCounts
    #: The pledge matches only gifts credited to the organizer's own chapter.
    chapter_only: bool = False


def _checked(drive: Drive, terms: PledgeTerms) -> tuple[str, int, int]:
    name = check_text(terms.sponsor_name, "sponsor's name", 200)
    sponsor, donor = parse_ratio(terms.ratio)
    if not 0 < terms.cap_cents <= 1_000_000_000:
        raise InvalidInput("The cap must be more than zero and at most $10,000,000.")
    if terms.ends_on < terms.starts_on:
        raise InvalidInput("The pledge must end on or after the day it starts.")
    if terms.starts_on < drive.starts_on:
        raise InvalidInput(
            f"The pledge cannot start before the drive does ({day_text(drive.starts_on)})."
        )
    if drive.ends_on is not None and terms.ends_on > drive.ends_on:
        raise InvalidInput(
            f"The pledge cannot end after the drive does ({day_text(drive.ends_on)})."
        )
    return name, sponsor, donor


def create_pledge(
    session: Session,
    chapter: Chapter,
    drive: Drive,
    terms: PledgeTerms,
    created_by: User | None = None,
) -> MatchPledge:
    """A new pledge on ``drive`` (which ``chapter`` takes part in), made by its organizer;
    flushes."""
    name, sponsor, donor = _checked(drive, terms)
    assert drive.id is not None and chapter.id is not None, "stored rows"
    pledge = MatchPledge(
        drive_id=drive.id,
        chapter_id=chapter.id if terms.chapter_only else None,
        sponsor_name=name,
        ratio_sponsor=sponsor,
        ratio_donor=donor,
        cap_cents=terms.cap_cents,
        starts_on=terms.starts_on,
        ends_on=terms.ends_on,
        counts=terms.counts,
        made_by_chapter_id=chapter.id,
        created_by_id=created_by.id if created_by is not None else None,
    )
    session.add(pledge)
    session.flush()
    return pledge


def pledge_of(session: Session, chapter: Chapter, drive: Drive, pledge_id: int) -> MatchPledge:
    """A pledge on ``drive`` an organizer of ``chapter`` may change: one of the drive's
    whole-drive pledges or one for the chapter; anything else is not found."""
    pledge = session.get(MatchPledge, pledge_id)
    if (
        pledge is None
        or pledge.drive_id != drive.id
        or pledge.withdrawn_at is not None
        or pledge.chapter_id not in (None, chapter.id)
    ):
        raise NotFound(f"There is no match pledge #{pledge_id} in “{drive.title}”.")
    return pledge


def update_pledge(
    session: Session, pledge: MatchPledge, drive: Drive, terms: PledgeTerms, chapter: Chapter
) -> MatchPledge:
    """Change a pledge's terms: only before it starts (after that, donors have been told
    them; it can still be ended early or withdrawn)."""
    if ledger.today() >= pledge.starts_on:
        raise Conflict(
            "This pledge has started: its terms can no longer change. End it early, or "
            "withdraw it with a reason."
        )
    name, sponsor, donor = _checked(drive, terms)
    pledge.sponsor_name = name
    pledge.ratio_sponsor, pledge.ratio_donor = sponsor, donor
    pledge.cap_cents = terms.cap_cents
    pledge.starts_on, pledge.ends_on = terms.starts_on, terms.ends_on
    pledge.counts = terms.counts
    pledge.chapter_id = chapter.id if terms.chapter_only else None
    session.add(pledge)
    session.flush()
    return pledge


def end_early(session: Session, pledge: MatchPledge) -> MatchPledge:
    """End a running pledge today: gifts received through today still count."""
    today = ledger.today()
    if today < pledge.starts_on:
        raise Conflict("This pledge has not started yet: change its dates, or withdraw it.")
    if pledge.ends_on <= today:
        raise Conflict("This pledge has already ended.")
    pledge.ends_on = today
    pledge.ended_early_at = utcnow()
    session.add(pledge)
    session.flush()
    return pledge


def withdraw(session: Session, pledge: MatchPledge, reason: str) -> MatchPledge:
    """Withdraw a pledge the sponsor has not paid anything against; it then matches nothing
    and is shown nowhere. The reason is kept (and in the audit line)."""
    reason = check_text(reason, "reason", 500)
    paid = session.exec(select(MatchPayment).where(MatchPayment.pledge_id == pledge.id)).first()
    if paid is not None:
        raise Conflict(
            "The sponsor has paid against this pledge, so it cannot be withdrawn; end it early "
            "instead."
        )
    pledge.withdrawn_at = utcnow()
    pledge.withdrawn_reason = reason
    session.add(pledge)
    session.flush()
    return pledge


@dataclass(frozen=True)
class Standing:
    """A pledge as every screen shows it: its terms and what it has matched and received."""

    id: int
    sponsor_name: str
    ratio_sponsor: int
    ratio_donor: int
    cap_cents: int
    starts_on: date
    ends_on: date
    counts: MatchCounts
    chapter_slug: str | None
    chapter_name: str | None
    ended_early: bool
    #: Donors' eligible gifts × the ratio, capped: what the sponsor owes for the match.
    matched_cents: int
    #: The sponsor's gifts recorded against the pledge (money received, in raised).
    received_cents: int
    #: Today, on the coalition's calendar, when the standing was read.
    today: date

    @property
    def pledged_cents(self) -> int:
        return self.cap_cents

    @property
    def remaining_cents(self) -> int:
        """Matched and not yet paid by the sponsor."""
        return max(0, self.matched_cents - self.received_cents)

    @property
    def fulfilled(self) -> bool:
        return self.matched_cents > 0 and self.received_cents >= self.matched_cents

    @property
    def state(self) -> str:
        if self.today < self.starts_on:
            return "upcoming"
        return "ended" if self.today > self.ends_on else "running"

    @property
    def multiple(self) -> int | None:
        """2 when every gift is doubled, 3 tripled…; None for a ratio like 1:2."""
        return self.ratio_sponsor + 1 if self.ratio_donor == 1 else None


def _instants(pledges: list[MatchPledge]) -> list:
    days = sorted({p.starts_on for p in pledges} | {p.ends_on + timedelta(days=1) for p in pledges})
    return [(day, ledger.day_start(day)) for day in days]


def _segment(bounds: list, moment: datetime) -> int | None:
    """The window segment ``moment`` falls in ([bounds[i], bounds[i + 1])), or None."""
    index = bisect_right([instant for _, instant in bounds], moment) - 1
    return index if 0 <= index < len(bounds) - 1 else None


def _gifts_placed(*more):
    """Gifts as the pledges place them: id, when received, given online or not, chapter
    credited (0: none), then ``more``."""
    return sql_select(
        col(Gift.id),
        col(Gift.received_at),
        col(Gift.method).in_(ONLINE_METHODS),
        func.coalesce(Gift.chapter_id, 0),
        *more,
    )


def _eligible(
    session: Session, drive: Drive, bounds: list, moved: dict[int, datetime]
) -> dict[tuple[int, bool, int], int]:
    """The drive's donors' net cents by (window segment, given online, chapter credited),
    from the gifts' sums by day received (``ReceivedTotal``, kept with each entry): a few
    rows per day of the windows, whatever the number of gifts. Two kinds of gift are summed
    apart, gift by gift, and few: those a correction moved to another day count on that
    day (``ledger.moves``), and the sponsors' own gifts count for no pledge."""
    days = [day for day, _ in bounds]
    eligible: dict[tuple[int, bool, int], int] = defaultdict(int)
    for day, online, chapter_id, cents in session.exec(
        select(
            col(ReceivedTotal.day),
            col(ReceivedTotal.online),
            col(ReceivedTotal.chapter_id),
            col(ReceivedTotal.net_cents),
        ).where(
            ReceivedTotal.drive_id == drive.id,
            col(ReceivedTotal.day) >= days[0],
            col(ReceivedTotal.day) < days[-1],
        )
    ):
        eligible[(bisect_right(days, day) - 1, bool(online), chapter_id)] += int(cents)
    sponsors = set(
        session.exec(
            select(MatchPayment.gift_id)
            .join(MatchPledge, col(MatchPledge.id) == MatchPayment.pledge_id)
            .where(MatchPledge.drive_id == drive.id)
        )
    )
    apart = set(moved) | sponsors
    if not apart:
        return dict(eligible)
    nets = (
        _gifts_placed(func.sum(Entry.amount_cents))
        .join(Entry, col(Entry.gift_id) == Gift.id)
        .where(
            col(Gift.id).in_(apart),
            col(Entry.drive_id) == drive.id,
            col(Entry.kind).in_(RAISED_KINDS),
            col(Gift.received_at).is_not(None),
        )
        .group_by(col(Gift.id), col(Gift.received_at), col(Gift.method), col(Gift.chapter_id))
    )
    for gift_id, received_at, online, credited, cents in session.connection().execute(nets):
        where = [(present(received_at), -int(cents))]
        if gift_id not in sponsors:
            where.append((moved[present(gift_id)], int(cents)))
        for moment, change in where:
            segment = _segment(bounds, ledger.as_utc(moment))
            if segment is not None:
                eligible[(segment, bool(online), int(credited))] += change
    return dict(eligible)


#: Gifts read at a time where their order decides (:func:`_gifts_in`).
PAGE = 100


def _gifts_in(session: Session, drive: Drive, bounds: list, moved: dict[int, datetime]):
    """The reader of one window segment's donors' gifts in the order received (when each
    counts now, then the order recorded), as (online, chapter credited, net cents), a page
    at a time as they are taken: :func:`_matched` stops once their order can decide nothing
    more. Pages follow ix_gift_drive_received, so a page costs the same whatever the number
    of gifts before or after it."""

    def nets(gift_ids: list[int]) -> dict[int, int]:
        rows = session.exec(
            select(Entry.gift_id, func.sum(Entry.amount_cents))
            .where(col(Entry.gift_id).in_(gift_ids), col(Entry.kind).in_(RAISED_KINDS))
            .group_by(col(Entry.gift_id))
        ).all()
        return {present(gift_id): int(cents or 0) for gift_id, cents in rows}

    donors = (
        _gifts_placed()
        .outerjoin(MatchPayment, col(MatchPayment.gift_id) == Gift.id)
        .where(Gift.drive_id == drive.id, col(MatchPayment.gift_id).is_(None))
    )

    def in_place(first: datetime, after: datetime) -> Iterator[tuple]:
        """The gifts received in [first, after) that no correction moved, in order."""
        last: tuple | None = None
        while True:
            page = donors.where(col(Gift.received_at) >= first, col(Gift.received_at) < after)
            if last is not None:
                page = page.where(
                    or_(
                        col(Gift.received_at) > last[0],
                        and_(col(Gift.received_at) == last[0], col(Gift.id) > last[1]),
                    )
                )
            if moved:
                page = page.where(col(Gift.id).not_in(list(moved)))
            rows = (
                session.connection()
                .execute(page.order_by(col(Gift.received_at), col(Gift.id)).limit(PAGE))
                .all()
            )
            if not rows:
                return
            net = nets([present(gift_id) for gift_id, *_ in rows])
            for gift_id, at, online, credited in rows:
                gift_id = present(gift_id)
                yield (
                    ledger.as_utc(present(at)),
                    gift_id,
                    bool(online),
                    int(credited),
                    net.get(gift_id, 0),
                )
            if len(rows) < PAGE:
                return
            last = (rows[-1][1], rows[-1][0])

    def gifts_in(index: int) -> Iterator[tuple[bool, int, int]]:
        first, after = bounds[index][1], bounds[index + 1][1]
        moved_here = [gift_id for gift_id, at in moved.items() if first <= at < after]
        moved_rows = []
        if moved_here:
            net = nets(moved_here)
            moved_rows = sorted(
                (
                    moved[present(gift_id)],
                    gift_id,
                    bool(online),
                    int(credited),
                    net.get(present(gift_id), 0),
                )
                for gift_id, _, online, credited in session.connection()
                .execute(donors.where(col(Gift.id).in_(moved_here)))
                .all()
            )
        for _, _, online, credited, cents in heapq.merge(in_place(first, after), moved_rows):
            yield online, credited, cents

    return gifts_in


def _takes(pledge: MatchPledge, online: bool, chapter_id: int) -> bool:
    """Whether the pledge's kinds and chapter take a gift (its window is the caller's)."""
    return (pledge.counts is MatchCounts.ALL or online) and pledge.chapter_id in (None, chapter_id)


def _room(pledge: MatchPledge) -> int:
    """The donors' cents that fill the pledge's cap (rounded up: the last cent fills it)."""
    return -(-pledge.cap_cents * pledge.ratio_donor // pledge.ratio_sponsor)


def _share(pledges: list[MatchPledge], parts, took: dict[int, int]) -> None:
    """Each part's cents, in turn, to the first pledges that take them and are not full."""
    for online, chapter_id, cents in parts:
        for pledge in pledges:
            if cents <= 0:
                break
            if not _takes(pledge, online, chapter_id):
                continue
            taken = max(0, min(_room(pledge) - took[present(pledge.id)], cents))
            took[present(pledge.id)] += taken
            cents -= taken


def _order_matters(pledges: list[MatchPledge], parts, took: dict[int, int]) -> bool:
    """Whether which of a segment's gifts came first can change what its pledges match: only
    when a pledge not yet full is offered more than its room and a later pledge takes other
    gifts than it does (the later one's share then depends on which cents the first took)."""
    for index, pledge in enumerate(pledges):
        room = _room(pledge) - took[present(pledge.id)]
        if room <= 0:
            continue  # full before the segment: it takes none of it, in any order
        offered = sum(
            cents for online, chapter_id, cents in parts if _takes(pledge, online, chapter_id)
        )
        if offered > room and any(
            (later.counts, later.chapter_id) != (pledge.counts, pledge.chapter_id)
            for later in pledges[index + 1 :]
        ):
            return True
    return False


def _matched(pledges: list[MatchPledge], bounds: list, eligible: dict, gifts_in) -> dict[int, int]:
    """Walk the windows' segments in time; in each, the donors' gifts in the order received
    go to the pledges in the order they were made, each cent to the first that takes it and
    is not full. Most segments need only their sums by (online, chapter): the order of the
    gifts decides nothing unless a pledge fills up there and a later one takes other gifts.
    Only then are that segment's gifts read one by one (``gifts_in``), and only until the
    rest's order can decide nothing more: as many as the caps take, not as many as given."""
    took = {present(p.id): 0 for p in pledges}
    for index in range(len(bounds) - 1):
        first_day, next_day = bounds[index][0], bounds[index + 1][0]
        running = [
            p for p in pledges if p.starts_on <= first_day and next_day <= p.ends_on + timedelta(1)
        ]
        left = {
            (online, chapter_id): cents
            for (seg, online, chapter_id), cents in sorted(eligible.items())
            if seg == index and cents > 0
        }
        if not running or not left:
            continue
        if _order_matters(running, _parts(left), took):
            for online, chapter_id, cents in gifts_in(index):
                _share(running, [(online, chapter_id, cents)], took)
                left[(online, chapter_id)] = left.get((online, chapter_id), 0) - cents
                if not _order_matters(running, _parts(left), took):
                    break
        _share(running, _parts(left), took)
    return {
        pledge_id: min(p.cap_cents, took[pledge_id] * p.ratio_sponsor // p.ratio_donor)
        for p in pledges
        if (pledge_id := present(p.id))
    }


def _parts(left: dict[tuple[bool, int], int]) -> list[tuple[bool, int, int]]:
    return [
        (online, chapter_id, cents) for (online, chapter_id), cents in left.items() if cents > 0
    ]


def _received(session: Session, pledge_ids: list[int]) -> dict[int, int]:
    rows = session.exec(
        select(MatchPayment.pledge_id, func.sum(Entry.amount_cents))
        .join(Entry, col(Entry.gift_id) == MatchPayment.gift_id)
        .where(col(MatchPayment.pledge_id).in_(pledge_ids), col(Entry.kind).in_(RAISED_KINDS))
        .group_by(col(MatchPayment.pledge_id))
    ).all()
    return {pledge_id: int(cents or 0) for pledge_id, cents in rows}


def standings(session: Session, drive: Drive) -> tuple[Standing, ...]:
    """Every pledge on the drive not withdrawn, in the order they were made, with what each
    has matched and received: six small queries, whatever the number of gifts (a seventh for
    the gifts summed apart — moved by a correction, or a sponsor's — when there are any), and
    a read of the gifts of each window segment where their order decides (:func:`_matched`)."""
    pledges = list(
        session.exec(
            select(MatchPledge)
            .where(MatchPledge.drive_id == drive.id, col(MatchPledge.withdrawn_at).is_(None))
            .order_by(col(MatchPledge.id))
        )
    )
    if not pledges:
        return ()
    bounds = _instants(pledges)
    moved = moves.moved_on_drive(session, present(drive.id))
    eligible = _eligible(session, drive, bounds, moved)
    matched = _matched(pledges, bounds, eligible, _gifts_in(session, drive, bounds, moved))
    received = _received(session, [p.id for p in pledges if p.id is not None])
    chapters = {
        c.id: c
        for c in session.exec(
            select(Chapter).where(col(Chapter.id).in_({p.chapter_id for p in pledges}))
        )
    }
    today = ledger.today()
    return tuple(
        Standing(
            id=p.id,
            sponsor_name=p.sponsor_name,
            ratio_sponsor=p.ratio_sponsor,
            ratio_donor=p.ratio_donor,
            cap_cents=p.cap_cents,
            starts_on=p.starts_on,
            ends_on=p.ends_on,
            counts=p.counts,
            chapter_slug=chapters[p.chapter_id].slug if p.chapter_id else None,
            chapter_name=chapters[p.chapter_id].name if p.chapter_id else None,
            ended_early=p.ended_early_at is not None,
            matched_cents=matched[p.id],
            received_cents=received.get(p.id, 0),
            today=today,
        )
        for p in pledges
        if p.id is not None
    )
