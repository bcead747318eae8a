"""Calendar months (UTC), as the ledger keeps them: a month is its first day.

The one home of month arithmetic and month names; the ledger's month totals, closed months,
the treasurer's dashboard and the monthly report all count months this way.
"""

from __future__ import annotations

from datetime import UTC, date, datetime


def first_of_month(moment: date | datetime) -> date:
    """The first day of the calendar month (UTC) a day or moment falls in; naive moments are
    UTC."""
    if isinstance(moment, datetime) and moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return date(moment.year, moment.month, 1)


def next_month(month: date) -> date:
    """The first day of the month after ``month`` (a month's first day)."""
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def previous_month(month: date) -> date:
    """The first day of the month before ``month`` (a month's first day)."""
    return date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)


def month_label(month: date) -> str:
    """A month as people read it in a sentence or a title: March 2026."""
    return month.strftime("%B %Y")


def month_short_label(month: date) -> str:
    """A month as a table row or a link names it: Mar 2026."""
    return month.strftime("%b %Y")
