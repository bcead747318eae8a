from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relief import money
from relief.errors import InvalidAmount


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("1,600.50", 160050),
        ("25", 2500),
        ("25.5", 2550),
        ("$5", 500),
        ("0.01", 1),
        (".5", 50),
        ("1600", 160000),
        (" 7.00 ", 700),
        ("1,000,000", 100_000_000),
        ("5.", 500),
    ],
)
def test_parse_reads_amounts_people_type(text, cents):
    assert money.parse(text) == cents


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("0", "more than zero"),
        ("-5", "more than zero"),
        ("abc", "not an amount"),
        ("1.234", "two decimals"),
        ("", "not an amount"),
        ("99999999999", "at most"),
        ("1,60", "not an amount"),
        ("1e3", "not an amount"),
        ("NaN", "not an amount"),
        ("١٢", "not an amount"),
    ],
)
def test_parse_refuses_bad_amounts_with_a_clear_message(text, says):
    with pytest.raises(InvalidAmount, match=says):
        money.parse(text)


def test_format_uses_currency_rules():
    assert money.format(160050) == "$1,600.50"
    assert money.format(0) == "$0.00"
    assert money.format(-1234) == "-$12.34"
    assert money.format_whole(16_000_000) == "$160,000"
    assert money.format_whole(16_000_050) == "$160,001"


def test_format_refuses_floats():
    with pytest.raises(TypeError):
        money.format(16.5)


@given(st.integers(min_value=1, max_value=money.MAX_CENTS))
def test_parse_reads_back_what_format_writes(cents):
    assert money.parse(money.format(cents)) == cents


@given(
    st.integers(min_value=-(10**12), max_value=10**12),
    st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=20).filter(
        lambda w: sum(w) > 0
    ),
)
def test_allocate_never_loses_or_creates_a_cent(total, weights):
    parts = money.allocate(total, weights)
    assert sum(parts) == total
    assert len(parts) == len(weights)
    for part, weight in zip(parts, weights, strict=True):
        exact = total * weight / sum(weights)
        assert abs(part - exact) < 1
        if weight == 0:
            assert part == 0


def test_allocate_gives_remainders_to_largest_fractions():
    assert money.allocate(100, [1, 1, 1]) == [34, 33, 33]
    assert money.allocate(160000, [600, 500, 500]) == [60000, 50000, 50000]


@given(
    st.integers(min_value=1, max_value=10**9),
    st.integers(min_value=0, max_value=1000),
    st.integers(min_value=0, max_value=100),
)
def test_gross_up_is_the_smallest_charge_that_nets_the_gift(net, bps, fixed):
    charge = money.gross_up(net, bps, fixed)
    assert charge - money.fee_for(charge, bps, fixed) >= net
    assert (charge - 1) - money.fee_for(charge - 1, bps, fixed) < net


def test_gross_up_at_stripe_nonprofit_rates():
    # $25 at 2.2% + 30¢: charge $25.87, fee 57¢ + 30¢ = 87¢... drive keeps at least $25.00
    charge = money.gross_up(2500, 220, 30)
    assert charge == 2587
    assert charge - money.fee_for(charge, 220, 30) == 2500


@given(
    st.integers(min_value=-(10**12), max_value=10**12), st.integers(min_value=1, max_value=10**5)
)
def test_apply_ratio_rounds_half_away_from_zero(cents, ratio):
    exact_times_100 = cents * ratio
    result = money.apply_ratio(cents, ratio)
    assert abs(result * 100 - exact_times_100) <= 50


@pytest.mark.parametrize(
    ("cents", "goal", "percent"),
    [(0, 100_00, 0), (99_49, 100_00, 99), (99_50, 100_00, 100), (100_00, 100_00, 100),
     (102_50, 100_00, 103),  # 102.5%: half rounds up, and past the goal is not capped
     (7_98, 100_00, 8),  # 7.98%: rounded, not cut down to 7
     (1_847_83, 1_00, 184_783),  # a goal passed eighteen-hundred-fold says so
     (250_00, 100_00, 250), (-5_00, 100_00, -5), (5_00, None, 0), (5_00, 0, 0)],
)  # fmt: skip
def test_percent_of_a_goal_is_the_true_whole_percent_rounded_half_up(cents, goal, percent):
    assert money.percent_of(cents, goal) == percent


@pytest.mark.parametrize(
    ("cents", "goal", "bar"),
    [(0, 100_00, 0), (7_98, 100_00, 8), (99_49, 100_00, 99), (102_50, 100_00, 100),
     (1_847_83, 1_00, 100), (-5_00, 100_00, 0), (5_00, None, 0)],
)  # fmt: skip
def test_a_progress_bar_is_the_percent_held_between_empty_and_full(cents, goal, bar):
    assert money.bar_percent(cents, goal) == bar


@given(st.integers(-(10**12), 10**12), st.integers(1, 10**12))
def test_percent_of_is_within_half_a_percent_of_the_exact_ratio(cents, goal):
    percent = money.percent_of(cents, goal)
    assert abs(percent * goal - cents * 100) * 2 <= goal
    assert money.bar_percent(cents, goal) == max(0, min(100, percent))


@pytest.mark.parametrize(
    ("cents", "text"),
    [(1205, "12.05"), (-1205, "-12.05"), (5, "0.05"), (-5, "-0.05"), (0, "0.00"),
     (160050, "1600.50"), (1_000_000_000, "10000000.00")],
)  # fmt: skip
def test_decimal_text_keeps_the_sign_and_has_no_symbol_or_grouping(cents, text):
    assert money.to_decimal_text(cents) == text


@given(st.integers(-(10**15), 10**15))
def test_decimal_text_reads_back_as_the_same_cents(cents):
    text = money.to_decimal_text(cents)
    assert Decimal(text) * 100 == cents
    if cents > 0:
        assert money.parse(text, max_cents=10**15) == cents


def test_decimal_text_refuses_floats():
    with pytest.raises(TypeError):
        money.to_decimal_text(12.05)


@pytest.mark.parametrize(
    ("cents", "goal", "text"),
    [(102_50, 100_00, "102.5%"),  # past the goal: the true figure, not capped at 100%
     (7_98, 100_00, "8.0%"),  # 7.98%: rounded half up, never cut down to 7%
     (7_94, 100_00, "7.9%"), (7_95, 100_00, "8.0%"), (0, 100_00, "0.0%"),
     (1_847_83, 1_00, "184,783.0%"), (1_847_826, 1_000, "184,782.6%"),
     (-5_00, 100_00, "-5.0%"), (5_00, None, "—"), (5_00, 0, "—")],
)  # fmt: skip
def test_percent_text_is_the_true_percent_to_one_decimal(cents, goal, text):
    assert money.percent_text(cents, goal) == text


@pytest.mark.parametrize(
    ("bps", "text"), [(290, "2.9%"), (220, "2.2%"), (70, "0.7%"), (1234, "12.34%"), (300, "3%")]
)
def test_basis_points_read_as_the_percent_stripe_states(bps, text):
    assert money.bps_text(bps) == text
