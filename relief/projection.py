"""Projected relief, pace and forecast. Pure functions of figures the ledger computed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from relief import money

PACE_DAYS = 7
#: Forecast dates further away than this are not dates anyone can act on.
MAX_FORECAST_DAYS = 36_500


@dataclass(frozen=True)
class Pace:
    """How fast the drive is raising money, from the last ``PACE_DAYS`` days."""

    window_days: int
    raised_in_window_cents: int
    #: Average per day over the window, rounded to the cent.
    per_day_cents: int
    #: The day the goal will be reached at this pace; None if reached or no pace.
    goal_reached_on: date | None
    #: What the drive will have raised by its end date at this pace; None without an end date.
    projected_at_end_cents: int | None
    goal_met: bool
    days_left: int | None


def relief_for(net_cents: int, ratio_hundredths: int) -> int:
    """Debt relieved by ``net_cents`` at the ratio (hundredths), rounded to the cent."""
    return money.apply_ratio(net_cents, ratio_hundredths)


def pace(
    *,
    raised_cents: int,
    goal_cents: int,
    raised_last_days_cents: int,
    today: date,
    ends_on: date | None,
    window_days: int = PACE_DAYS,
) -> Pace:
    per_day = money.divide_half_up(raised_last_days_cents, window_days)
    goal_met = raised_cents >= goal_cents
    days_left = (ends_on - today).days if ends_on is not None else None
    reached_on = None
    if not goal_met and per_day > 0:
        remaining = goal_cents - raised_cents
        days_to_goal = -(-remaining // per_day)
        # A trickle against a large goal can point past the calendar's end (year 9999, an
        # OverflowError that took the drive page down): beyond a century, say "no date".
        if days_to_goal <= MAX_FORECAST_DAYS:
            reached_on = today + timedelta(days=days_to_goal)
    projected_at_end = None
    if days_left is not None:
        projected_at_end = raised_cents + per_day * max(0, days_left)
    return Pace(
        window_days=window_days,
        raised_in_window_cents=raised_last_days_cents,
        per_day_cents=per_day,
        goal_reached_on=reached_on,
        projected_at_end_cents=projected_at_end,
        goal_met=goal_met,
        days_left=days_left,
    )


def format_ratio(ratio_hundredths: int) -> str:
    """10000 → "100:1"; 8750 → "87.5:1"."""
    whole, hundredths = divmod(ratio_hundredths, 100)
    if hundredths == 0:
        return f"{whole}:1"
    return f"{whole}.{hundredths:02d}".rstrip("0") + ":1"
