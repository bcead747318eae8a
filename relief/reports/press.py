"""The press impact report's data: a frozen snapshot of one drive, taken from the ledger.

Every figure comes from :func:`relief.drive_pages.drive_view` (hence ``ledger.totals``), the
same call the drive page and the JSON API make, so the PDF cannot disagree with them. The snapshot
holds plain values only (no ORM objects), so rendering touches no database, and its size is
bounded by the drive's chapters and days, never by its number of gifts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlmodel import Session

from relief import drive_pages, ledger, money
from relief.models import DailyTotal, present
from relief.projection import format_ratio


@dataclass(frozen=True)
class ChapterLine:
    """One chapter's part of the drive."""

    slug: str
    name: str
    region: str | None
    raised_cents: int
    #: The chapter's sub-goal, if it set one.
    goal_cents: int | None
    gift_count: int

    @property
    def percent_of_goal(self) -> int | None:
        """Whole percent of the sub-goal raised, as the report's text shows it (may pass
        100); None without a sub-goal."""
        if not self.goal_cents:
            return None
        return money.percent_of(self.raised_cents, self.goal_cents)


@dataclass(frozen=True)
class DayPoint:
    """Money raised on one day (the coalition's) and in all up to the end of it."""

    day: date
    raised_cents: int
    cumulative_cents: int


@dataclass(frozen=True)
class PartnerReport:
    """What the relief partner reported it actually relieved (replaces the estimate)."""

    relieved_cents: int
    people_helped: int | None
    reported_on: date
    #: "people" or "households", as the partner counted.
    people_label: str = "people"


@dataclass(frozen=True)
class PressSnapshot:
    """A drive's figures as of one ledger state, with what the report needs to show them."""

    slug: str
    title: str
    currency: str
    starts_on: date
    ends_on: date | None
    target_region: str | None
    partner_name: str
    goal_cents: int
    raised_cents: int
    gifts_cents: int
    refunds_cents: int
    disputes_cents: int
    fees_cents: int
    net_cents: int
    #: Net × ratio: an estimate until the partner reports.
    projected_relief_cents: int
    #: Whole percent of the goal raised, the true value (may pass 100).
    percent_of_goal: int
    gift_count: int
    ratio_hundredths: int
    ratio_text: str
    ratio_source: str
    ratio_as_of: date
    chapters: tuple[ChapterLine, ...]
    #: Gifts to the whole drive, credited to no chapter.
    unattributed_raised_cents: int
    unattributed_gift_count: int
    #: One point per day from the drive's first day to the snapshot's, for the chart.
    days: tuple[DayPoint, ...]
    fingerprint: str
    entry_count: int
    #: When the ledger last changed, and when this snapshot was taken (both UTC).
    ledger_updated_at: datetime | None
    as_of: datetime
    drive_url: str
    org_name: str
    #: None until the partner has reported; the treasury's partner reports will fill it.
    partner_report: PartnerReport | None = None

    @property
    def short_fingerprint(self) -> str:
        """The first 16 hex digits, as the drive page shows them."""
        return self.fingerprint[:16]

    @property
    def ratio_per_dollar(self) -> str:
        """ "100" for 100:1: the dollars of debt relieved per dollar given."""
        return self.ratio_text.removesuffix(":1")


def _cumulative_days(
    rows: list[DailyTotal], starts_on: date, last_day: date
) -> tuple[DayPoint, ...]:
    """Every day from the first to the last, carrying the running sum over quiet days.

    The ledger keeps one row per day with activity, so this is bounded by the drive's length.
    """
    raised_by_day = {row.day: row.raised_cents for row in rows}
    first = min([starts_on, *raised_by_day])
    last = max([first, last_day, *raised_by_day])
    points = []
    running = 0
    day = first
    while day <= last:
        raised = raised_by_day.get(day, 0)
        running += raised
        points.append(DayPoint(day=day, raised_cents=raised, cumulative_cents=running))
        day += timedelta(days=1)
    return tuple(points)


def build(
    session: Session,
    drive_slug: str,
    now: datetime,
    *,
    drive_url: str = "",
    org_name: str = "",
) -> PressSnapshot:
    """The drive's report data as of ``now`` (aware UTC). Raises UnknownDrive.

    Reads the running totals and one row per day: its cost does not grow with the gifts.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    now = now.astimezone(UTC)
    today = ledger.local_day(now)  # the coalition's day, as the day totals keep it
    view = drive_pages.drive_view(session, drive_slug, today=today)
    drive, totals = view.drive, view.totals
    last_day = min(today, drive.ends_on) if drive.ends_on else today
    days = _cumulative_days(
        ledger.daily_raised(session, present(drive.id)), drive.starts_on, last_day
    )
    return PressSnapshot(
        slug=drive.slug,
        title=drive.title,
        currency=drive.currency,
        starts_on=drive.starts_on,
        ends_on=drive.ends_on,
        target_region=drive.target_region,
        partner_name=drive.partner_name,
        goal_cents=drive.goal_cents,
        raised_cents=totals.raised_cents,
        gifts_cents=totals.figures.gifts_cents,
        refunds_cents=totals.figures.refunds_cents,
        disputes_cents=totals.figures.disputes_cents,
        fees_cents=totals.figures.fees_cents,
        net_cents=totals.net_cents,
        projected_relief_cents=totals.projected_relief_cents,
        percent_of_goal=totals.percent_of_goal,
        gift_count=totals.figures.gift_count,
        ratio_hundredths=drive.ratio_hundredths,
        ratio_text=format_ratio(drive.ratio_hundredths),
        ratio_source=drive.ratio_source,
        ratio_as_of=drive.ratio_as_of,
        chapters=tuple(
            ChapterLine(
                slug=part.slug,
                name=part.name,
                region=part.region,
                raised_cents=part.figures.raised_cents,
                goal_cents=part.goal_cents,
                gift_count=part.figures.gift_count,
            )
            for part in totals.chapters
        ),
        unattributed_raised_cents=totals.unattributed.raised_cents,
        unattributed_gift_count=totals.unattributed.gift_count,
        days=days,
        fingerprint=totals.fingerprint,
        entry_count=totals.entry_count,
        ledger_updated_at=totals.updated_at,
        as_of=now,
        drive_url=drive_url,
        org_name=org_name,
        partner_report=(
            PartnerReport(
                relieved_cents=view.actual.debt_abolished_cents,
                people_helped=view.actual.people_helped,
                reported_on=view.actual.reported_on,
                people_label="households" if view.actual.counts_households else "people",
            )
            if view.actual
            else None
        ),
    )
