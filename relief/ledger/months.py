"""The coalition's calendar: days and months in its time zone (``RELIEF_TIMEZONE``), the one
home of day and month arithmetic, of month names and of how dates are shown.

Stored instants stay UTC. The day and month an instant belongs to is read in the coalition's
zone: an 8:30 pm Central gift on December 31 is a December gift in Chicago. The ledger's day
and month totals, closed months, the treasurer's dashboard, the monthly report, receipts and
CSV dates all count this way. The zone is set once per process by ``create_app``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, tzinfo
from zoneinfo import ZoneInfo

from babel.dates import format_date

from relief import i18n

_zone: tzinfo = ZoneInfo("UTC")


def set_zone(name: str) -> None:
    """Make ``name`` the coalition's zone for this process (``create_app`` does, from
    RELIEF_TIMEZONE, which config checked)."""
    global _zone
    _zone = ZoneInfo(name)


def zone() -> tzinfo:
    return _zone


def zone_name() -> str:
    return str(_zone)


def as_utc(moment: datetime) -> datetime:
    """The instant, aware, in UTC: SQLite hands datetimes back without their zone, and they
    are UTC."""
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def local(moment: datetime, in_zone: tzinfo | None = None) -> datetime:
    """The instant as the coalition's clocks (or ``in_zone``'s) show it; naive moments are
    UTC."""
    return as_utc(moment).astimezone(in_zone or _zone)


def local_day(moment: date | datetime, in_zone: tzinfo | None = None) -> date:
    """The coalition's (or ``in_zone``'s) calendar day an instant falls on (a date is its own
    day)."""
    if isinstance(moment, datetime):
        return local(moment, in_zone).date()
    return moment


def today(now: datetime | None = None) -> date:
    """Today on the coalition's calendar."""
    return local(now or datetime.now(UTC)).date()


def day_start(day: date) -> datetime:
    """The first instant (aware UTC) of the coalition's calendar day ``day``."""
    return datetime.combine(day, time(0), _zone).astimezone(UTC)


def noon(day: date) -> datetime:
    """Noon of the coalition's day ``day`` (aware UTC): what a day typed on a form (a check
    received, a gift's corrected date) is booked at, safely inside that day."""
    return datetime.combine(day, time(12), _zone).astimezone(UTC)


def first_of_month(moment: date | datetime, in_zone: tzinfo | None = None) -> date:
    """The first day of the coalition's (or ``in_zone``'s) calendar month a day or instant
    falls in; naive instants are UTC."""
    day = local_day(moment, in_zone)
    return date(day.year, day.month, 1)


def month_start(month: date) -> datetime:
    """The first instant (aware UTC) of the coalition's month holding the day ``month``."""
    return day_start(first_of_month(month))


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """The coalition's month holding ``month`` as [start, end) in aware UTC."""
    first = first_of_month(month)
    return day_start(first), day_start(next_month(first))


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


# --- How dates are shown: the Jinja filters |day, |isoday, |shortday and |when ---------------


def day_text(moment: date | datetime) -> str:
    """December 31, 2026 (in Spanish, 31 de diciembre de 2026): the coalition's day of an
    instant, or a day, in the language being written in."""
    day = local_day(moment)
    if i18n.current() != "en":
        return format_date(day, "long", locale=i18n.current())
    return f"{day.strftime('%B')} {day.day}, {day.year}"


def iso_day(moment: date | datetime | None) -> str:
    """2026-12-31 (CSV columns, tables); empty for None."""
    return "" if moment is None else local_day(moment).isoformat()


def short_day(moment: date | datetime) -> str:
    """Dec 31, 2026 (in Spanish, 31 dic 2026)."""
    day = local_day(moment)
    if i18n.current() != "en":
        return format_date(day, "medium", locale=i18n.current())
    return f"{day.strftime('%b')} {day.day}, {day.year}"


def when_text(moment: datetime) -> str:
    """December 31, 2026, 20:30 CST: an instant on the coalition's clocks, naming the zone."""
    shown = local(moment)
    return f"{day_text(shown.date())}, {shown.strftime('%H:%M')} {shown.tzname()}"


#: The Jinja filters every template (pages and PDFs) shows dates with.
DATE_FILTERS = {"day": day_text, "isoday": iso_day, "shortday": short_day, "when": when_text}
