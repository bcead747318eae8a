from datetime import date

from relief import projection


def test_pace_says_when_the_goal_will_be_reached():
    pace = projection.pace(
        raised_cents=100_000,
        goal_cents=160_000,
        raised_last_days_cents=70_000,
        today=date(2026, 11, 25),
        ends_on=date(2026, 12, 31),
    )
    assert pace.per_day_cents == 10_000
    assert pace.goal_reached_on == date(2026, 12, 1)
    assert pace.projected_at_end_cents == 100_000 + 36 * 10_000
    assert not pace.goal_met


def test_pace_without_recent_gifts_projects_nothing_new():
    pace = projection.pace(
        raised_cents=5_000,
        goal_cents=160_000,
        raised_last_days_cents=0,
        today=date(2026, 11, 25),
        ends_on=None,
    )
    assert pace.goal_reached_on is None
    assert pace.projected_at_end_cents is None


def test_pace_when_goal_met():
    pace = projection.pace(
        raised_cents=160_000,
        goal_cents=160_000,
        raised_last_days_cents=1,
        today=date(2026, 11, 25),
        ends_on=date(2026, 11, 20),
    )
    assert pace.goal_met and pace.goal_reached_on is None
    assert pace.days_left == -5 and pace.projected_at_end_cents == 160_000


def test_ratio_text():
    assert projection.format_ratio(10_000) == "100:1"
    assert projection.format_ratio(8_750) == "87.5:1"
    assert projection.format_ratio(26_025) == "260.25:1"


def test_relief_of_the_missouri_example():
    assert projection.relief_for(160_000, 10_000) == 16_000_000
