"""How match pledges share the donors' gifts (relief/matches._matched), as properties over
random pledges and gifts: the same as the README's rule read gift by gift, the cap holds, a
pledge matches only what its window, kinds and chapter take, a donor's cent is matched once,
and a pledge made later never changes what an earlier one matched."""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from relief import matches
from relief.models import MatchCounts, MatchPledge

DAY0 = date(2026, 12, 1)
CHAPTERS = (0, 1, 2)  # 0: gifts to the whole drive


@st.composite
def pledges(draw, one_to_one=False):
    count = draw(st.integers(1, 4))
    made = []
    for number in range(1, count + 1):
        start = draw(st.integers(0, 6))
        made.append(
            MatchPledge(
                id=number,
                drive_id=1,
                chapter_id=draw(st.sampled_from((None, 1, 2))),
                sponsor_name=f"Sponsor {number}",
                ratio_sponsor=1 if one_to_one else draw(st.integers(1, 3)),
                ratio_donor=1 if one_to_one else draw(st.integers(1, 3)),
                cap_cents=draw(st.integers(1, 20_000)),
                starts_on=DAY0 + timedelta(days=start),
                ends_on=DAY0 + timedelta(days=start + draw(st.integers(0, 6))),
                counts=draw(st.sampled_from(list(MatchCounts))),
                made_by_chapter_id=1,
            )
        )
    return made


def segments(made: list[MatchPledge]) -> list:
    """The windows' boundaries as ``standings`` makes them (the instants are not used here)."""
    days = sorted({p.starts_on for p in made} | {p.ends_on + timedelta(days=1) for p in made})
    return [(day, None) for day in days]


@st.composite
def given_gifts(draw):
    """Donors' gifts in the order received: (day, online, chapter credited, net cents)."""
    gift = st.tuples(
        st.integers(0, 13), st.booleans(), st.sampled_from(CHAPTERS), st.integers(0, 10_000)
    )
    return sorted(draw(st.lists(gift, max_size=14)), key=lambda g: g[0])  # stable: same day kept


def segment_of(bounds, day: date) -> int | None:
    index = bisect_right([first for first, _ in bounds], day) - 1
    return index if 0 <= index < len(bounds) - 1 else None


def by_segment(bounds, gifts):
    """What ``standings`` reads: the sums by (segment, online, chapter), and a reader of one
    segment's gifts in the order received."""
    eligible: dict = defaultdict(int)
    each: dict = defaultdict(list)
    for day, online, chapter, cents in gifts:
        segment = segment_of(bounds, DAY0 + timedelta(days=day))
        if segment is not None:
            eligible[(segment, online, chapter)] += cents
            each[segment].append((online, chapter, cents))
    return dict(eligible), lambda index: each[index]


@st.composite
def gifts(draw, bounds):
    """Donors' net cents per (segment, online, chapter credited), and their reader."""
    return by_segment(bounds, draw(given_gifts()))


def gift_by_gift(made: list[MatchPledge], gifts) -> dict[int, int]:
    """The README's rule, read literally: the gifts in the order received, each cent matched
    once, by the first pledge made whose window, kinds and chapter take it and whose cap is
    not full (full once it took the donors' cents its cap covers, the last cent filling it)."""
    took = {p.id: 0 for p in made}
    for day, online, chapter, cents in gifts:
        on = DAY0 + timedelta(days=day)
        for pledge in made:
            takes = (
                pledge.starts_on <= on <= pledge.ends_on
                and (pledge.counts is MatchCounts.ALL or online)
                and pledge.chapter_id in (None, chapter)
            )
            if not takes or cents <= 0:
                continue
            room = (
                -(-pledge.cap_cents * pledge.ratio_donor // pledge.ratio_sponsor) - took[pledge.id]
            )
            taken = max(0, min(room, cents))
            took[pledge.id] += taken
            cents -= taken
    return {p.id: min(p.cap_cents, took[p.id] * p.ratio_sponsor // p.ratio_donor) for p in made}


def accepted(pledge: MatchPledge, bounds, key) -> bool:
    segment, online, chapter = key
    first, after = bounds[segment][0], bounds[segment + 1][0]
    return (
        pledge.starts_on <= first
        and after <= pledge.ends_on + timedelta(days=1)
        and (pledge.counts is MatchCounts.ALL or online)
        and pledge.chapter_id in (None, chapter)
    )


@settings(max_examples=500, deadline=None)
@given(pledges(), given_gifts())
def test_pledges_match_what_the_rule_read_gift_by_gift_says(made, gifts):
    bounds = segments(made)
    eligible, gifts_in = by_segment(bounds, gifts)
    assert matches._matched(made, bounds, eligible, gifts_in) == gift_by_gift(made, gifts)


def wide_then_narrow() -> list[MatchPledge]:
    """The whole drive's $100 pledge (1:1, all gifts), then St. Louis's (chapter 1)."""
    return [
        MatchPledge(
            id=number,
            drive_id=1,
            chapter_id=chapter_id,
            sponsor_name=f"Sponsor {number}",
            ratio_sponsor=1,
            ratio_donor=1,
            cap_cents=10_000,
            starts_on=DAY0,
            ends_on=DAY0 + timedelta(days=30),
            counts=MatchCounts.ALL,
            made_by_chapter_id=1,
        )
        for number, chapter_id in ((1, None), (2, 1))
    ]


def test_a_whole_drive_pledge_full_first_leaves_a_chapters_pledge_what_came_after():
    """The README's example: a whole drive's pledge made first and a chapter's, $100 each;
    $100 to Kansas City (2) and $100 to St. Louis (1) the same day. Which came first decides,
    never which chapter the database numbered first."""
    whole, chapter = wide_then_narrow()
    bounds = segments([whole, chapter])
    for order, expected in (((2, 1), {1: 10_000, 2: 10_000}), ((1, 2), {1: 10_000, 2: 0})):
        gifts = [(3, True, credited, 10_000) for credited in order]
        eligible, gifts_in = by_segment(bounds, gifts)
        assert matches._matched([whole, chapter], bounds, eligible, gifts_in) == expected


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_caps_hold_and_a_pledge_matches_only_the_gifts_it_takes(data):
    made = data.draw(pledges())
    bounds = segments(made)
    eligible, gifts_in = data.draw(gifts(bounds))
    result = matches._matched(made, bounds, eligible, gifts_in)
    for pledge in made:
        mine = sum(cents for key, cents in eligible.items() if accepted(pledge, bounds, key))
        most = mine * pledge.ratio_sponsor // pledge.ratio_donor
        assert 0 <= result[pledge.id] <= pledge.cap_cents
        assert result[pledge.id] <= most
        if len(made) == 1:  # alone, it matches all it takes, up to its cap
            assert result[pledge.id] == min(pledge.cap_cents, most)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_a_later_pledge_never_changes_what_an_earlier_one_matched(data):
    made = data.draw(pledges())
    bounds = segments(made)
    eligible, gifts_in = data.draw(gifts(bounds))
    everything = matches._matched(made, bounds, eligible, gifts_in)
    for count in range(1, len(made)):
        # The same gifts, cut at the same boundaries, with only the first pledges made.
        earlier = matches._matched(made[:count], bounds, eligible, gifts_in)
        assert all(earlier[p.id] == everything[p.id] for p in made[:count])


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_a_donors_cent_is_matched_once(data):
    made = data.draw(pledges(one_to_one=True))
    bounds = segments(made)
    eligible, gifts_in = data.draw(gifts(bounds))
    result = matches._matched(made, bounds, eligible, gifts_in)
    # 1:1 everywhere: what all pledges matched together is at most the gifts any of them took.
    taken = sum(
        cents
        for key, cents in eligible.items()
        if any(accepted(pledge, bounds, key) for pledge in made)
    )
    assert sum(result.values()) <= taken


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 20_000), min_size=1, max_size=4), st.data())
def test_pledges_taking_the_same_gifts_match_them_in_turn_until_caps_or_gifts_run_out(caps, data):
    """Same window, all gifts, 1:1: together they match min(their caps, the gifts), the first
    made filled first."""
    made = [
        MatchPledge(
            id=number,
            drive_id=1,
            sponsor_name=f"Sponsor {number}",
            ratio_sponsor=1,
            ratio_donor=1,
            cap_cents=cap,
            starts_on=DAY0,
            ends_on=DAY0 + timedelta(days=3),
            counts=MatchCounts.ALL,
            made_by_chapter_id=1,
        )
        for number, cap in enumerate(caps, start=1)
    ]
    bounds = segments(made)
    eligible, gifts_in = data.draw(gifts(bounds))
    result = matches._matched(made, bounds, eligible, gifts_in)
    given_cents = sum(eligible.values())
    assert sum(result.values()) == min(sum(caps), given_cents)
    left = given_cents
    for pledge in made:  # in the order made
        assert result[pledge.id] == min(pledge.cap_cents, left)
        left -= result[pledge.id]


def test_gifts_are_read_one_by_one_only_until_their_order_decides_nothing():
    """A thousand $10 gifts, alternating Kansas City's and St. Louis's, under a whole drive's
    $100 pledge and then St. Louis's $100: the gifts are read until both are full, about
    twenty of them, not the thousand."""
    made = wide_then_narrow()
    bounds = segments(made)
    gifts = [(3, True, 1 + number % 2, 1_000) for number in range(1_000)]
    eligible, each = by_segment(bounds, gifts)
    read = []

    def gifts_in(index):
        for gift in each(index):
            read.append(gift)
            yield gift

    assert matches._matched(made, bounds, eligible, gifts_in) == {1: 10_000, 2: 10_000}
    assert len(read) <= 25
