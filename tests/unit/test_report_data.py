"""The report's chart series and axis marks: integer cents, every day, round numbers."""

from datetime import date

from relief.models import DailyTotal
from relief.reports.charts import _money_ticks
from relief.reports.press import _cumulative_days


def test_cumulative_series_carries_quiet_days_and_ends_at_the_total():
    rows = [
        DailyTotal(drive_id=1, day=date(2026, 11, 3), raised_cents=20_000),
        DailyTotal(drive_id=1, day=date(2026, 11, 5), raised_cents=-2_500),
        DailyTotal(drive_id=1, day=date(2026, 11, 6), raised_cents=142_500),
    ]
    days = _cumulative_days(rows, starts_on=date(2026, 11, 1), last_day=date(2026, 11, 8))
    assert [d.day.day for d in days] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [d.cumulative_cents for d in days] == [0, 0, 20_000, 20_000, 17_500, 160_000] + [
        160_000
    ] * 2


def test_series_starts_at_a_gift_received_before_the_drive_started():
    rows = [DailyTotal(drive_id=1, day=date(2026, 10, 30), raised_cents=500)]
    days = _cumulative_days(rows, starts_on=date(2026, 11, 1), last_day=date(2026, 11, 1))
    assert days[0].day == date(2026, 10, 30) and days[-1].cumulative_cents == 500


def test_money_axis_marks_are_round_and_cover_the_top():
    assert _money_ticks(160_000) == [0, 50_000, 100_000, 150_000, 200_000]
    assert _money_ticks(0) == [0, 2_000, 4_000, 6_000, 8_000, 10_000]
    for top in (99, 1_100, 12_345, 295_653_500, 1_000_000_000):
        marks = _money_ticks(top)
        assert marks[-1] >= top and len(marks) <= 6
        assert all(mark % 100 == 0 for mark in marks)  # whole dollars
