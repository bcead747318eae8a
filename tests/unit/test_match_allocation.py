"""How match pledges share the donors' gifts (relief/matches._matched), as properties over
random pledges and gifts: the cap holds, a pledge matches only what its window, kinds and
chapter take, a donor's cent is matched once, and a pledge made later never changes what an
earlier one matched."""

from __future__ import annotations

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
def gifts(draw, bounds):
    """Donors' net cents per (segment, online, chapter credited)."""
    keys = st.tuples(st.integers(0, len(bounds) - 2), st.booleans(), st.sampled_from(CHAPTERS))
    return draw(st.dictionaries(keys, st.integers(0, 10_000), max_size=12))


def accepted(pledge: MatchPledge, bounds, key) -> bool:
    segment, online, chapter = key
    first, after = bounds[segment][0], bounds[segment + 1][0]
    return (
        pledge.starts_on <= first
        and after <= pledge.ends_on + timedelta(days=1)
        and (pledge.counts is MatchCounts.ALL or online)
        and pledge.chapter_id in (None, chapter)
    )


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_caps_hold_and_a_pledge_matches_only_the_gifts_it_takes(data):
    made = data.draw(pledges())
    bounds = segments(made)
    eligible = data.draw(gifts(bounds))
    result = matches._matched(made, bounds, eligible)
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
    eligible = data.draw(gifts(bounds))
    everything = matches._matched(made, bounds, eligible)
    for count in range(1, len(made)):
        # The same gifts, cut at the same boundaries, with only the first pledges made.
        earlier = matches._matched(made[:count], bounds, eligible)
        assert all(earlier[p.id] == everything[p.id] for p in made[:count])


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_a_donors_cent_is_matched_once(data):
    made = data.draw(pledges(one_to_one=True))
    bounds = segments(made)
    eligible = data.draw(gifts(bounds))
    result = matches._matched(made, bounds, eligible)
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
    eligible = data.draw(gifts(bounds))
    result = matches._matched(made, bounds, eligible)
    given_cents = sum(eligible.values())
    assert sum(result.values()) == min(sum(caps), given_cents)
    left = given_cents
    for pledge in made:  # in the order made
        assert result[pledge.id] == min(pledge.cap_cents, left)
        left -= result[pledge.id]
