"""What a drive page shows: the drive (or one chapter's side of it) with its totals, pace,
recent supporters and the relief its partner reported; the list of active drives.

The same :class:`DriveView` feeds the page, the JSON API and the press report, so they cannot
disagree. A cached page is keyed on the rows read here (relief.pagecache.state): a change to
what a page shows without a ledger entry calls :func:`public_pages_changed`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, union, update
from sqlmodel import Session, col, select

from relief import ledger, matches, members, money, projection
from relief.drives import chapter_in_drive, get_drive
from relief.models import (
    Chapter,
    Drive,
    Entry,
    EntryKind,
    Gift,
    GiftStatus,
    PartnerReport,
    PartnerReportRemittance,
    Remittance,
)


def active_drives(session: Session, today: date | None = None) -> list[Drive]:
    """Drives that have started and not ended, soonest ending first."""
    today = today or ledger.today()
    statement = (
        select(Drive)
        .where(Drive.starts_on <= today)
        .where((col(Drive.ends_on).is_(None)) | (col(Drive.ends_on) >= today))
        .order_by(col(Drive.ends_on).is_(None), col(Drive.ends_on), Drive.title)
    )
    return list(session.exec(statement))


@dataclass(frozen=True)
class DriveCard:
    """An active drive as the home page lists it: its figures from the running sums."""

    drive: Drive
    totals: ledger.DriveTotals


def active_drive_cards(session: Session, today: date | None = None) -> list[DriveCard]:
    """:func:`active_drives`, each with its totals (one read of its running sums)."""
    return [
        DriveCard(drive, ledger.totals(session, drive)) for drive in active_drives(session, today)
    ]


@dataclass(frozen=True)
class Supporter:
    """A public line of the supporter list: a name only where the donor allowed it."""

    display_name: str
    amount_cents: int
    chapter_name: str | None
    received_at: datetime


@dataclass(frozen=True)
class DriveView:
    """Everything a drive page, its API and its reports show, computed once."""

    drive: Drive
    totals: ledger.DriveTotals
    pace: projection.Pace
    supporters: tuple[Supporter, ...]
    #: The chapter whose side of the page this is, if any.
    chapter: Chapter | None
    #: What the relief partner reported it actually relieved; None until it reports.
    actual: ActualRelief | None = None
    #: The sponsors' match pledges (relief/matches.py): promises, shown apart from raised.
    matches: tuple[matches.Standing, ...] = ()

    @property
    def match_unpaid_cents(self) -> int:
        """What the pledges have matched and the sponsors have not paid yet: never in raised."""
        return sum(standing.remaining_cents for standing in self.matches)

    @property
    def projected_with_match_cents(self) -> int | None:
        """Projected relief if the sponsors pay what their pledges have matched (labelled
        apart from the projection, which counts only money received); None without any."""
        if not self.match_unpaid_cents:
            return None
        return money.apply_ratio(
            self.totals.net_cents + self.match_unpaid_cents, self.drive.ratio_hundredths
        )

    #: The members' leaderboard: approved, visible members' pages, most raised first.
    leaders: tuple[members.LeaderRow, ...] = ()

    @property
    def chapter_part(self) -> ledger.ChapterPart | None:
        if self.chapter is None:
            return None
        return next(part for part in self.totals.chapters if part.slug == self.chapter.slug)

    @property
    def lead(self) -> Lead:
        """The progress the page opens with: a chapter's own (against its sub-goal, when it
        has one) on its page, else the whole drive's."""
        part = self.chapter_part
        if part is not None and part.goal_cents:
            return Lead(
                raised_cents=part.figures.raised_cents,
                goal_cents=part.goal_cents,
                percent=part.percent_of_goal,
                bar_percent=part.bar_percent,
                gift_count=part.figures.gift_count,
                chapter=part.name,
                goal_met=part.figures.raised_cents >= part.goal_cents,
                projected_relief_cents=self.relief_of(part.figures.net_cents),
            )
        return Lead(
            raised_cents=self.totals.raised_cents,
            goal_cents=self.drive.goal_cents,
            percent=self.totals.percent_of_goal,
            bar_percent=self.totals.bar_percent,
            gift_count=self.totals.figures.gift_count,
            chapter=None,
            goal_met=self.pace.goal_met,
            projected_relief_cents=self.totals.projected_relief_cents,
        )

    @property
    def region(self) -> str | None:
        """Where the debt is bought: the drive's target region, else the chapter's."""
        return self.drive.target_region or (self.chapter.region if self.chapter else None)

    def relief_of(self, amount_cents: int) -> int:
        """The debt ``amount_cents`` given relieves at the drive's ratio (an estimate)."""
        return projection.relief_for(amount_cents, self.drive.ratio_hundredths)

    @property
    def relief_per_unit_cents(self) -> int:
        """What one unit of the currency ($1) relieves: "Every $1 relieves about $100"."""
        return self.relief_of(100)


@dataclass(frozen=True)
class Lead:
    """The figures a page opens with: raised of goal, for the drive or one chapter."""

    raised_cents: int
    goal_cents: int
    percent: int
    bar_percent: int
    gift_count: int
    #: The chapter whose progress this is; None for the whole drive's.
    chapter: str | None
    goal_met: bool
    #: What that money relieves at the drive's ratio, after fees: an estimate.
    projected_relief_cents: int


@dataclass(frozen=True)
class ActualRelief:
    """The purchases the partner reported for a drive (their live records), summed."""

    debt_abolished_cents: int
    people_helped: int
    #: True if any report counted households rather than people.
    counts_households: bool
    regions: tuple[str, ...]
    #: The latest report's date.
    reported_on: date
    report_count: int
    #: The money behind the reported purchases: the remittances they used, each once, net of
    #: any reversal.
    remitted_cents: int
    #: Debt abolished per dollar of that money, in hundredths (10000 = 100:1); None while it
    #: is nothing.
    actual_ratio_hundredths: int | None

    @property
    def people_label(self) -> str:
        return "households" if self.counts_households else "people"


def live_reports(drive_id: int):
    """``SELECT`` the drive's live partner reports: for each purchase its newest record,
    unless that record withdraws it."""
    superseded = (
        select(PartnerReport.supersedes_id)
        .where(
            col(PartnerReport.drive_id) == drive_id,
            col(PartnerReport.supersedes_id).is_not(None),
        )
        .correlate(None)  # the drive's records, not a row of the outer query
    )
    return select(PartnerReport).where(
        col(PartnerReport.drive_id) == drive_id,
        col(PartnerReport.withdrawn).is_(False),
        col(PartnerReport.id).not_in(superseded),
    )


def money_behind(session: Session, report_ids: list[int]) -> int:
    """What the remittances these reports used came to, each remittance once, net of its
    reversal if it was reversed: read from the ledger."""
    if not report_ids:
        return 0
    used = select(PartnerReportRemittance.remittance_id).where(
        col(PartnerReportRemittance.report_id).in_(report_ids)
    )
    entries = select(Remittance.entry_id).where(col(Remittance.id).in_(used))
    # The remittances' entries and their reversals, found each by its own index: one
    # condition "id IN … OR reverses_id IN …" is a scan of every entry on PostgreSQL.
    posted = union(
        select(Entry.id).where(col(Entry.id).in_(entries)),
        select(Entry.id).where(col(Entry.reverses_id).in_(entries)),
    ).subquery()
    total = session.exec(
        select(func.coalesce(func.sum(Entry.amount_cents), 0))
        .join_from(Entry, posted, col(Entry.id) == posted.c.id)
        .where(col(Entry.kind) == EntryKind.REMITTANCE)
    ).one()
    return int(total)


def actual_relief(session: Session, drive: Drive) -> ActualRelief | None:
    """The relief the partner reported for ``drive`` (its live reports summed), or None.

    The actual ratio divides the debt abolished by the money of the reported purchases alone
    (:func:`money_behind`), never by other remittances of the drive.
    """
    assert drive.id is not None
    reports = list(
        session.exec(
            live_reports(drive.id).order_by(col(PartnerReport.reported_on), col(PartnerReport.id))
        )
    )
    if not reports:
        return None
    debt = sum(report.debt_abolished_cents for report in reports)
    remitted = money_behind(session, [report.id for report in reports if report.id])
    return ActualRelief(
        debt_abolished_cents=debt,
        people_helped=sum(report.people_helped for report in reports),
        counts_households=any(report.counts_households for report in reports),
        regions=tuple(dict.fromkeys(r.region for r in reports if r.region)),
        reported_on=max(report.reported_on for report in reports),
        report_count=len(reports),
        remitted_cents=remitted,
        actual_ratio_hundredths=(
            money.divide_half_up(debt * 100, remitted) if remitted > 0 else None
        ),
    )


def recent_supporters(session: Session, drive: Drive, limit: int = 10) -> tuple[Supporter, ...]:
    """The latest paid gifts, each at what it now counts for: a gift corrected, voided or
    partly refunded shows its amount after those entries, and one brought to zero drops out.
    Two indexed queries over ``limit`` gifts, whatever the drive's size."""
    rows = session.exec(
        select(Gift, Chapter.name)
        .outerjoin(Chapter, col(Chapter.id) == Gift.chapter_id)
        .where(Gift.drive_id == drive.id, Gift.status == GiftStatus.PAID)
        .order_by(col(Gift.received_at).desc(), col(Gift.id).desc())
        .limit(limit)
    ).all()
    # The drive is compared as an expression no index serves ("+ 0"): SQLite, which keeps no
    # statistics here, otherwise reads the gifts' entries by ix_entry_drive_id, every entry
    # of the drive (10 million steps at 1,000,000 gifts, on every build of the page).
    counted = dict(
        session.exec(
            select(Entry.gift_id, func.sum(Entry.amount_cents))
            .where(
                col(Entry.gift_id).in_([gift.id for gift, _ in rows]),
                col(Entry.drive_id) + 0 == drive.id,
                col(Entry.kind).in_(tuple(ledger.RAISED_KINDS)),
            )
            .group_by(col(Entry.gift_id))
        ).all()
    )
    return tuple(
        Supporter(
            display_name=gift.donor_name if gift.show_name and gift.donor_name else "Anonymous",
            amount_cents=int(counted[gift.id]),
            chapter_name=chapter_name,
            received_at=gift.received_at or gift.created_at,  # set when paid
        )
        for gift, chapter_name in rows
        if counted.get(gift.id, 0) > 0
    )


def drive_view(
    session: Session, drive_slug: str, chapter_slug: str | None = None, today: date | None = None
) -> DriveView:
    """The drive (or one chapter's side of it) with totals, pace and recent supporters."""
    drive = get_drive(session, drive_slug)
    assert drive.id is not None, "a stored drive"
    chapter = chapter_in_drive(session, drive, chapter_slug) if chapter_slug else None
    totals = ledger.totals(session, drive)
    today = today or ledger.today()
    since = today - timedelta(days=projection.PACE_DAYS - 1)
    recent = ledger.raised_since(session, drive.id, since)
    pace = projection.pace(
        raised_cents=totals.raised_cents,
        goal_cents=drive.goal_cents,
        raised_last_days_cents=int(recent),
        today=today,
        ends_on=drive.ends_on,
    )
    return DriveView(
        drive=drive,
        totals=totals,
        pace=pace,
        supporters=recent_supporters(session, drive),
        chapter=chapter,
        actual=actual_relief(session, drive),
        matches=matches.standings(session, drive),
        leaders=members.leaderboard(session, drive),
    )


def public_pages_changed(session: Session, drive_ids) -> None:
    """Say that these drives' public pages must change though no ledger entry was written
    (a donor's name erased): their state (relief.pagecache.state) moves on, so no worker
    serves what it cached."""
    ids = sorted({drive_id for drive_id in drive_ids if drive_id is not None})
    if ids:
        session.execute(
            update(Drive)
            .where(col(Drive.id).in_(ids))
            .values(public_revision=Drive.public_revision + 1)
            .execution_options(synchronize_session=False)
        )


@dataclass(frozen=True)
class MemberPageView:
    """A member's page: their chapter's side of the drive, and the member's own figures."""

    view: DriveView
    member: members.MemberView


def member_view(session: Session, drive_slug: str, name: str) -> MemberPageView:
    """The approved, visible member page ``name`` of the drive (NotFound otherwise)."""
    member = members.public_page(session, get_drive(session, drive_slug), name)
    return MemberPageView(drive_view(session, drive_slug, member.chapter.slug), member)
