"""The press impact report's data: a frozen snapshot of one drive, taken from the ledger.

Every figure comes from ``ledger.totals`` and ``drive_pages.actual_relief``, the calls behind
the drive page and the JSON API, so the PDF cannot disagree with them; it reads nothing the
report does not print (not the page's recent supporters). The snapshot holds plain values
only (no ORM objects), so rendering touches no database, and its size is bounded by the
drive's chapters and days, never by its number of gifts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlmodel import Session, col, select

from relief import drive_pages, drives, ledger, matches, money
from relief.models import DailyTotal, Gift, present
from relief.projection import format_ratio

#: A ratio stated longer ago than this is flagged as old on the report.
RATIO_STALE_AFTER = timedelta(days=365)
_URL = re.compile(r"https?://[^\s<>\"')]+[^\s<>\"').,;:]", re.ASCII)


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
    #: How long its bar is, in percent of the longest part's (the chapters table's chart).
    bar_percent: int = 0

    @property
    def percent_text(self) -> str:
        """The true percent of the sub-goal raised, one decimal ("102.5%"); "—" without one."""
        return money.percent_text(self.raised_cents, self.goal_cents)


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
    #: The money remitted for the reported purchases (each remittance once, net of reversals).
    remitted_cents: int = 0
    #: Debt relieved per dollar of that money, in hundredths; None while it is nothing.
    actual_ratio_hundredths: int | None = None
    report_count: int = 1

    @property
    def actual_ratio_text(self) -> str | None:
        if self.actual_ratio_hundredths is None:
            return None
        return format_ratio(self.actual_ratio_hundredths)


@dataclass(frozen=True)
class MatchLine:
    """A sponsor's match pledge (relief/matches.py): a promise, printed apart from raised,
    which counts only what the sponsor has paid (``received_cents``)."""

    sponsor_name: str
    ratio_text: str
    starts_on: date
    ends_on: date
    pledged_cents: int
    matched_cents: int
    received_cents: int
    remaining_cents: int


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
    #: Sent to the relief partner so far (net of reversals).
    remitted_cents: int
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
    #: None until the partner has reported (its live reports summed).
    partner_report: PartnerReport | None = None
    #: True when the figures count a test-mode gift, in which no money moved.
    test_money: bool = False
    #: A link found in the ratio's source, if it gives one.
    ratio_source_url: str | None = None
    #: True when the ratio was stated more than a year before the snapshot.
    ratio_stale: bool = False
    #: Who the press should write to (the RELIEF_PRESS_CONTACT setting).
    press_contact: str = ""
    #: Sponsors' match pledges, in the order they were made.
    matches: tuple[MatchLine, ...] = ()
    #: Projected relief if the sponsors pay what their pledges matched; None without any.
    projected_with_match_cents: int | None = None
    #: The host chapter, whose books hold the gifts to the whole drive (the API counts them
    #: in its entry): named beside them so the two read the same.
    host_name: str | None = None

    @property
    def percent_text(self) -> str:
        """The true percent of the goal raised, one decimal: "102.5%", "8.0%"."""
        return money.percent_text(self.raised_cents, self.goal_cents)

    @property
    def unattributed_bar_percent(self) -> int:
        """The bar of gifts to the whole drive, on the chapters' scale."""
        return money.bar_percent(self.unattributed_raised_cents, self.largest_part_cents)

    @property
    def largest_part_cents(self) -> int:
        return max([0, self.unattributed_raised_cents, *(c.raised_cents for c in self.chapters)])

    @property
    def unreported_net_cents(self) -> int:
        """Net money no reported purchase accounts for yet (not yet remitted, or remitted
        for purchases the partner has not reported)."""
        reported = self.partner_report.remitted_cents if self.partner_report else 0
        return self.net_cents - reported

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


def counts_test_money(session: Session, drive_id: int) -> bool:
    """Whether any test-mode gift (no money moved) is in the drive's books: one lookup in
    the partial index of test-mode gifts, whatever the number of real ones."""
    found = session.exec(
        select(Gift.id)
        .where(Gift.drive_id == drive_id, col(Gift.test_mode) == True)  # noqa: E712 — as the index says
        .where(col(Gift.received_at).is_not(None))
        .limit(1)
    ).first()
    return found is not None


def source_url(source: str) -> str | None:
    """The first web address written in the ratio's source, if any."""
    found = _URL.search(source or "")
    return found.group() if found else None


def build(
    session: Session,
    drive_slug: str,
    now: datetime,
    *,
    drive_url: str = "",
    org_name: str = "",
    press_contact: str = "",
) -> PressSnapshot:
    """The drive's report data as of ``now`` (aware UTC). Raises UnknownDrive.

    Reads the running totals, the partner's live reports and one row per day: its cost does
    not grow with the gifts.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    now = now.astimezone(UTC)
    today = ledger.local_day(now)  # the coalition's day, as the day totals keep it
    drive = drives.get_drive(session, drive_slug)
    drive_id = present(drive.id)
    totals = ledger.totals(session, drive)
    actual = drive_pages.actual_relief(session, drive)
    last_day = min(today, drive.ends_on) if drive.ends_on else today
    days = _cumulative_days(ledger.daily_raised(session, drive_id), drive.starts_on, last_day)
    pledges = matches.standings(session, drive)
    unpaid = sum(pledge.remaining_cents for pledge in pledges)
    largest = max(
        [0, totals.unattributed.raised_cents, *(p.figures.raised_cents for p in totals.chapters)]
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
        remitted_cents=totals.figures.remitted_cents,
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
                bar_percent=money.bar_percent(part.figures.raised_cents, largest),
            )
            for part in totals.chapters
        ),
        unattributed_raised_cents=totals.unattributed.raised_cents,
        unattributed_gift_count=totals.unattributed.gift_count,
        host_name=totals.host.name if totals.host else None,
        days=days,
        fingerprint=totals.fingerprint,
        entry_count=totals.entry_count,
        ledger_updated_at=totals.updated_at,
        as_of=now,
        drive_url=drive_url,
        org_name=org_name,
        partner_report=(
            PartnerReport(
                relieved_cents=actual.debt_abolished_cents,
                people_helped=actual.people_helped,
                reported_on=actual.reported_on,
                people_label=actual.people_label,
                remitted_cents=actual.remitted_cents,
                actual_ratio_hundredths=actual.actual_ratio_hundredths,
                report_count=actual.report_count,
            )
            if actual
            else None
        ),
        test_money=counts_test_money(session, drive_id),
        ratio_source_url=source_url(drive.ratio_source),
        ratio_stale=today - drive.ratio_as_of > RATIO_STALE_AFTER,
        press_contact=press_contact,
        matches=tuple(
            MatchLine(
                sponsor_name=pledge.sponsor_name,
                ratio_text=f"{pledge.ratio_sponsor}:{pledge.ratio_donor}",
                starts_on=pledge.starts_on,
                ends_on=pledge.ends_on,
                pledged_cents=pledge.pledged_cents,
                matched_cents=pledge.matched_cents,
                received_cents=pledge.received_cents,
                remaining_cents=pledge.remaining_cents,
            )
            for pledge in pledges
        ),
        projected_with_match_cents=(
            money.apply_ratio(totals.net_cents + unpaid, drive.ratio_hundredths) if unpaid else None
        ),
    )
