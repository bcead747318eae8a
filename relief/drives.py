"""Chapters, drives, participation, offline gifts, and the data a drive page shows."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import String, and_, bindparam, cast, func, literal_column, update
from sqlalchemy.engine import Connection
from sqlmodel import Session, select

from relief import ledger, money, projection
from relief.errors import Conflict, InvalidInput, UnknownChapter, UnknownDrive
from relief.models import (
    Chapter,
    Drive,
    DriveChapter,
    Entry,
    EntryKind,
    Gift,
    GiftMethod,
    GiftStatus,
    PartnerReport,
    Total,
    utcnow,
)

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
CURRENCIES = ("USD",)
MAX_RATIO_HUNDREDTHS = 100_000  # 1000:1, beyond any reported campaign (50:1 to 260:1)


def _check_slug(slug: str, what: str) -> str:
    slug = (slug or "").strip()
    if not SLUG.match(slug) or len(slug) > 64:
        raise InvalidInput(
            f"The {what} slug “{slug[:40]}” must be lowercase letters, digits and single hyphens "
            "(like mid-missouri), at most 64 characters."
        )
    return slug


def _check_text(value: str, what: str, max_length: int, required: bool = True) -> str:
    # Browsers send a textarea's line breaks as CRLF: one newline each, as typed.
    value = (value or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if required and not value:
        raise InvalidInput(f"The {what} is required.")
    if len(value) > max_length:
        raise InvalidInput(f"The {what} must be at most {max_length} characters.")
    if any(ord(c) < 32 and c not in "\n\t" for c in value):
        raise InvalidInput(f"The {what} contains control characters.")
    return value


def get_chapter(session: Session, slug: str) -> Chapter:
    chapter = session.exec(select(Chapter).where(Chapter.slug == slug)).first()
    if chapter is None:
        raise UnknownChapter(f"There is no chapter “{slug[:64]}”.")
    return chapter


def get_drive(session: Session, slug: str) -> Drive:
    drive = session.exec(select(Drive).where(Drive.slug == slug)).first()
    if drive is None:
        raise UnknownDrive(f"There is no drive “{slug[:64]}”.")
    return drive


def create_chapter(session: Session, slug: str, name: str, region: str | None = None) -> Chapter:
    slug = _check_slug(slug, "chapter")
    name = _check_text(name, "chapter name", 200)
    region = _check_text(region or "", "region", 64, required=False) or None
    if session.exec(select(Chapter.id).where(Chapter.slug == slug)).first() is not None:
        raise Conflict(f"A chapter “{slug}” exists already.")
    chapter = Chapter(slug=slug, name=name, region=region)
    session.add(chapter)
    session.flush()
    return chapter


def _check_goal(goal_cents: int, what: str = "goal") -> int:
    if not isinstance(goal_cents, int) or goal_cents <= 0 or goal_cents > money.MAX_CENTS:
        raise InvalidInput(f"The {what} must be more than zero and at most $10,000,000.")
    return goal_cents


def _check_ratio(ratio_hundredths: int) -> int:
    if not isinstance(ratio_hundredths, int) or not 0 < ratio_hundredths <= MAX_RATIO_HUNDREDTHS:
        raise InvalidInput("The relief ratio must be more than 0 and at most 1000 (to 1).")
    return ratio_hundredths


def _check_ratio_as_of(ratio_as_of: date, today: date | None = None) -> date:
    if ratio_as_of > (today or utcnow().date()):
        raise InvalidInput(
            "The date the ratio was stated cannot be in the future: give the date of the "
            "source you cite."
        )
    return ratio_as_of


def _check_currency(currency: str) -> str:
    if currency not in CURRENCIES:
        raise InvalidInput(f"The currency must be one of {', '.join(CURRENCIES)}.")
    return currency


def create_drive(
    session: Session,
    *,
    slug: str,
    title: str,
    goal_cents: int,
    chapter_slugs: list[str],
    story: str = "",
    ratio_hundredths: int = 10_000,
    starts_on: date | None = None,
    ends_on: date | None = None,
    currency: str = "USD",
    partner_name: str | None = None,
    target_region: str | None = None,
    ratio_source: str | None = None,
    ratio_as_of: date | None = None,
    chapter_goals: dict[str, int] | None = None,
) -> Drive:
    """Create a drive with the chapters taking part (each with an optional sub-goal); the
    one way a drive is made, from the CLI (`drive add`) and the organizer's screens alike.
    Checks everything before writing anything; flushes."""
    slug = _check_slug(slug, "drive")
    title = _check_text(title, "title", 200)
    story = _check_text(story, "story", 10_000, required=False)
    currency = _check_currency(currency)
    goal_cents = _check_goal(goal_cents)
    ratio_hundredths = _check_ratio(ratio_hundredths)
    starts_on = starts_on or utcnow().date()
    if ends_on is not None and ends_on < starts_on:
        raise InvalidInput("The end date must not be before the start date.")
    if ratio_as_of is not None:
        ratio_as_of = _check_ratio_as_of(ratio_as_of)
    target_region = _check_text(target_region or "", "target region", 200, required=False) or None
    if not chapter_slugs:
        raise InvalidInput("A drive needs at least one chapter (--chapters a,b,c).")
    if len(set(chapter_slugs)) != len(chapter_slugs):
        raise InvalidInput("A chapter is named twice in the drive's chapters.")
    if session.exec(select(Drive.id).where(Drive.slug == slug)).first() is not None:
        raise Conflict(f"A drive “{slug}” exists already.")
    chapters = [get_chapter(session, chapter_slug) for chapter_slug in chapter_slugs]
    chapter_goals = chapter_goals or {}
    for chapter_slug, chapter_goal in chapter_goals.items():
        if chapter_slug not in chapter_slugs:
            raise InvalidInput(f"The chapter “{chapter_slug}” with a sub-goal is not in the drive.")
        if chapter_goal <= 0:
            raise InvalidInput("A chapter's sub-goal must be more than zero.")
    drive = Drive(
        slug=slug,
        title=title,
        story=story,
        goal_cents=goal_cents,
        currency=currency,
        starts_on=starts_on,
        ends_on=ends_on,
        ratio_hundredths=ratio_hundredths,
        target_region=target_region,
    )
    if partner_name:
        drive.partner_name = _check_text(partner_name, "relief partner's name", 200)
    if ratio_source:
        drive.ratio_source = _check_text(ratio_source, "ratio's source", 500)
    if ratio_as_of:
        drive.ratio_as_of = ratio_as_of
    session.add(drive)
    session.flush()
    for chapter in chapters:
        session.add(
            DriveChapter(
                drive_id=drive.id, chapter_id=chapter.id, goal_cents=chapter_goals.get(chapter.slug)
            )
        )
    session.flush()
    return drive


#: What :func:`update_drive` may change, in the order the audit line names them.
EDITABLE_DRIVE_FIELDS = (
    "title",
    "story",
    "goal_cents",
    "currency",
    "ends_on",
    "partner_name",
    "target_region",
    "ratio_hundredths",
    "ratio_source",
    "ratio_as_of",
)


def currency_locked(session: Session, drive: Drive) -> bool:
    """True once anything is recorded in the drive's currency: a ledger entry, or a gift
    (even one still pending at checkout)."""
    if ledger.totals(session, drive).entry_count:
        return True
    return (
        session.exec(select(Gift.id).where(Gift.drive_id == drive.id).limit(1)).first() is not None
    )


def update_drive(
    session: Session,
    drive: Drive,
    *,
    title: str,
    story: str,
    goal_cents: int,
    ends_on: date | None,
    partner_name: str,
    target_region: str | None,
    ratio_hundredths: int,
    ratio_source: str,
    ratio_as_of: date,
    currency: str | None = None,
    today: date | None = None,
) -> list[str]:
    """Change what may change about a drive; checks everything before writing anything.

    The slug never changes (it is in every shared link, QR code and Payment Link), nor the
    start date, nor — once the drive has any gift or ledger entry — the currency (every
    figure is in it). A new ratio changes every projection at once: page, API and press PDF.
    Returns the names of the fields that changed (empty if none); flushes.
    """
    wanted = {
        "title": _check_text(title, "title", 200),
        "story": _check_text(story, "story", 10_000, required=False),
        "goal_cents": _check_goal(goal_cents),
        "currency": _check_currency(currency or drive.currency),
        "ends_on": ends_on,
        "partner_name": _check_text(partner_name, "relief partner's name", 200),
        "target_region": _check_text(target_region or "", "target region", 200, required=False)
        or None,
        "ratio_hundredths": _check_ratio(ratio_hundredths),
        "ratio_source": _check_text(ratio_source, "ratio's source", 500),
        "ratio_as_of": _check_ratio_as_of(ratio_as_of, today),
    }
    if ends_on is not None and ends_on < drive.starts_on:
        raise InvalidInput(
            f"The end date must not be before the start date ({drive.starts_on.isoformat()})."
        )
    if wanted["currency"] != drive.currency and currency_locked(session, drive):
        raise InvalidInput(
            f"The currency cannot change: the drive has gifts in {drive.currency}, and every "
            "figure of its ledger is in that currency."
        )
    changed = [name for name in EDITABLE_DRIVE_FIELDS if getattr(drive, name) != wanted[name]]
    for name in changed:
        setattr(drive, name, wanted[name])
    session.flush()
    return changed


def add_chapter_to_drive(
    session: Session, drive: Drive, chapter_slug: str, goal_cents: int | None = None
) -> Chapter:
    """Another chapter takes part in the drive from now on (its own page, its own part of
    the leaderboard); flushes. A chapter already in the drive is a Conflict."""
    chapter = get_chapter(session, chapter_slug)
    if session.get(DriveChapter, (drive.id, chapter.id)) is not None:
        raise Conflict(f"{chapter.name} already takes part in “{drive.title}”.")
    if goal_cents is not None:
        _check_goal(goal_cents, "chapter's sub-goal")
    session.add(DriveChapter(drive_id=drive.id, chapter_id=chapter.id, goal_cents=goal_cents))
    session.flush()
    return chapter


def set_chapter_goal(
    session: Session, drive: Drive, chapter: Chapter, goal_cents: int | None
) -> DriveChapter:
    """The chapter's own sub-goal in the drive (None: no sub-goal); at most the drive's goal.
    Flushes."""
    taking_part = session.get(DriveChapter, (drive.id, chapter.id))
    if taking_part is None:
        raise UnknownChapter(f"{chapter.name} does not take part in “{drive.title}”.")
    if goal_cents is not None:
        _check_goal(goal_cents, "chapter's sub-goal")
        if goal_cents > drive.goal_cents:
            raise InvalidInput(
                f"The sub-goal must be at most the whole drive's goal "
                f"({money.format(drive.goal_cents, drive.currency)})."
            )
    taking_part.goal_cents = goal_cents
    session.flush()
    return taking_part


def update_chapter(
    session: Session, chapter: Chapter, *, name: str, region: str | None, blurb: str
) -> list[str]:
    """The chapter's public details: name, region and blurb (its slug stays: it is in every
    chapter page's link). Returns the names of the fields that changed; flushes."""
    wanted = {
        "name": _check_text(name, "chapter name", 200),
        "region": _check_text(region or "", "region", 64, required=False) or None,
        "blurb": _check_text(blurb, "blurb", 500, required=False),
    }
    changed = [field for field, value in wanted.items() if getattr(chapter, field) != value]
    for field in changed:
        setattr(chapter, field, wanted[field])
    session.flush()
    return changed


def chapter_in_drive(session: Session, drive: Drive, chapter_slug: str) -> Chapter:
    """The chapter with this slug, if it takes part in the drive; else a clear error."""
    chapter = get_chapter(session, chapter_slug)
    taking_part = session.get(DriveChapter, (drive.id, chapter.id))
    if taking_part is None:
        raise UnknownChapter(f"The chapter “{chapter.slug}” does not take part in “{drive.title}”.")
    return chapter


def record_offline_gift(
    session: Session,
    drive: Drive,
    amount_cents: int,
    *,
    method: GiftMethod,
    chapter: Chapter | None = None,
    donor_name: str = "",
    show_name: bool = False,
    donor_email: str | None = None,
    check_number: str | None = None,
    received_at: datetime | None = None,
) -> Gift:
    """A cash or check gift received by a chapter: recorded as paid and posted to the ledger
    (in the chapter's next open month if it was received in a closed one)."""
    if method not in (GiftMethod.CASH, GiftMethod.CHECK):
        raise InvalidInput("Offline gifts are cash or check.")
    if not isinstance(amount_cents, int) or not 0 < amount_cents <= money.MAX_CENTS:
        raise InvalidInput("The amount must be more than zero and at most $10,000,000.")
    donor_name = _check_text(donor_name, "donor's name", 200, required=False)
    gift = Gift(
        drive_id=drive.id,
        chapter_id=chapter.id if chapter else None,
        amount_cents=amount_cents,
        currency=drive.currency,
        method=method,
        status=GiftStatus.PAID,
        donor_name=donor_name,
        show_name=bool(show_name and donor_name),
        donor_email=donor_email,
        check_number=check_number,
        received_at=received_at or utcnow(),
    )
    session.add(gift)
    session.flush()
    ledger.append(
        session,
        kind=EntryKind.GIFT,
        amount_cents=amount_cents,
        currency=drive.currency,
        drive_id=drive.id,
        chapter_id=gift.chapter_id,
        gift_id=gift.id,
        effective_at=gift.received_at,
        memo=f"{method.value} gift",
    )
    return gift


def active_drives(session: Session, today: date | None = None) -> list[Drive]:
    """Drives that have started and not ended, soonest ending first."""
    today = today or utcnow().date()
    statement = (
        select(Drive)
        .where(Drive.starts_on <= today)
        .where((Drive.ends_on.is_(None)) | (Drive.ends_on >= today))
        .order_by(Drive.ends_on.is_(None), Drive.ends_on, Drive.title)
    )
    return list(session.exec(statement))


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

    @property
    def chapter_part(self) -> ledger.ChapterPart | None:
        if self.chapter is None:
            return None
        return next(part for part in self.totals.chapters if part.slug == self.chapter.slug)


@dataclass(frozen=True)
class ActualRelief:
    """The sum of the partner's reports for a drive."""

    debt_abolished_cents: int
    people_helped: int
    #: True if any report counted households rather than people.
    counts_households: bool
    regions: tuple[str, ...]
    #: The latest report's date.
    reported_on: date
    report_count: int
    #: Debt abolished per dollar that reached the partner, in hundredths (10000 = 100:1);
    #: None while nothing has been remitted.
    actual_ratio_hundredths: int | None

    @property
    def people_label(self) -> str:
        return "households" if self.counts_households else "people"


def actual_relief(
    session: Session, drive: Drive, totals: ledger.DriveTotals | None = None
) -> ActualRelief | None:
    """The relief the partner reported for ``drive`` (all its reports summed), or None.

    The actual ratio divides the debt abolished by the money the partner received for the
    drive — remittances plus gifts sent directly to it — from ``ledger.totals``.
    """
    reports = list(
        session.exec(
            select(PartnerReport)
            .where(PartnerReport.drive_id == drive.id)
            .order_by(PartnerReport.reported_on, PartnerReport.id)
        )
    )
    if not reports:
        return None
    debt = sum(report.debt_abolished_cents for report in reports)
    received = (totals or ledger.totals(session, drive)).figures.remitted_cents
    regions = tuple(dict.fromkeys(r.region for r in reports if r.region))
    return ActualRelief(
        debt_abolished_cents=debt,
        people_helped=sum(report.people_helped for report in reports),
        counts_households=any(report.counts_households for report in reports),
        regions=regions,
        reported_on=max(report.reported_on for report in reports),
        report_count=len(reports),
        actual_ratio_hundredths=(
            money.divide_half_up(debt * 100, received) if received > 0 else None
        ),
    )


def recent_supporters(session: Session, drive: Drive, limit: int = 10) -> tuple[Supporter, ...]:
    """The latest paid gifts, each at what it now counts for: a gift corrected, voided or
    partly refunded shows its amount after those entries, and one brought to zero drops out.
    Two indexed queries over ``limit`` gifts, whatever the drive's size."""
    rows = session.exec(
        select(Gift, Chapter.name)
        .outerjoin(Chapter, Chapter.id == Gift.chapter_id)
        .where(Gift.drive_id == drive.id, Gift.status == GiftStatus.PAID)
        .order_by(Gift.received_at.desc(), Gift.id.desc())
        .limit(limit)
    ).all()
    counted = dict(
        session.exec(
            select(Entry.gift_id, func.sum(Entry.amount_cents))
            .where(
                Entry.gift_id.in_([gift.id for gift, _ in rows]),
                Entry.drive_id == drive.id,
                Entry.kind.in_(tuple(ledger.RAISED_KINDS)),
            )
            .group_by(Entry.gift_id)
        ).all()
    )
    return tuple(
        Supporter(
            display_name=gift.donor_name if gift.show_name and gift.donor_name else "Anonymous",
            amount_cents=int(counted[gift.id]),
            chapter_name=chapter_name,
            received_at=gift.received_at,
        )
        for gift, chapter_name in rows
        if counted.get(gift.id, 0) > 0
    )


def drive_view(
    session: Session, drive_slug: str, chapter_slug: str | None = None, today: date | None = None
) -> DriveView:
    """The drive (or one chapter's side of it) with totals, pace and recent supporters."""
    drive = get_drive(session, drive_slug)
    chapter = chapter_in_drive(session, drive, chapter_slug) if chapter_slug else None
    totals = ledger.totals(session, drive)
    today = today or utcnow().date()
    since = today - timedelta(days=projection.PACE_DAYS - 1)
    recent = ledger.raised_since(session, drive.id, since)
    pace = projection.pace(
        raised_cents=totals.raised_cents,
        goal_cents=drive.goal_cents,
        raised_last_days_cents=recent,
        today=today,
        ends_on=drive.ends_on,
    )
    return DriveView(
        drive=drive,
        totals=totals,
        pace=pace,
        supporters=recent_supporters(session, drive),
        chapter=chapter,
        actual=actual_relief(session, drive, totals),
    )


def _participants_digest():
    # Each taking part chapter's id, sub-goal, name, region and blurb, as one string per drive.
    part = (
        cast(DriveChapter.chapter_id, String)
        + ":"
        + func.coalesce(cast(DriveChapter.goal_cents, String), "")
        + ":"
        + Chapter.name
        + ":"
        + func.coalesce(Chapter.region, "")
        + ":"
        + func.coalesce(Chapter.blurb, "")
    )
    return (
        # A literal separator, not a bound one: the statement then runs as compiled (db.read_row).
        select(func.aggregate_strings(part, literal_column("'|'")))
        .select_from(DriveChapter)
        .join(Chapter, Chapter.id == DriveChapter.chapter_id)
        .where(DriveChapter.drive_id == Drive.id)
        .scalar_subquery()
    )


#: Everything a drive page shows, bar the ledger's figures, changes only with these columns;
#: the ledger's figures change only with the whole-drive total's entry count and last entry.
DRIVE_STATE = (
    select(
        Drive.slug,
        Drive.title,
        Drive.story,
        Drive.goal_cents,
        Drive.currency,
        Drive.starts_on,
        Drive.ends_on,
        Drive.partner_name,
        Drive.target_region,
        Drive.ratio_hundredths,
        Drive.ratio_source,
        Drive.ratio_as_of,
        Drive.public_revision,
        Total.entry_count,
        Total.last_entry_id,
        _participants_digest(),
        # Partner reports are append-only: the newest id changes with each one.
        select(func.max(PartnerReport.id))
        .where(PartnerReport.drive_id == Drive.id)
        .scalar_subquery(),
    )
    .outerjoin(Total, and_(Total.drive_id == Drive.id, Total.chapter_id == ledger.WHOLE_DRIVE))
    .where(Drive.slug == bindparam("slug"))
)


def drive_state(session: Session | Connection, drive_slug: str) -> tuple | None:
    """A small value that changes whenever anything :func:`drive_view` shows may change, in
    one indexed query: the drive's row, its chapters (names, regions, blurbs, sub-goals), its
    ledger (entry count and last entry id, advanced by every ``ledger.append`` in the same
    transaction as the entry), the partner's latest report and today's date (pace, days
    left). None if no such drive.

    Caches key on it, so a new gift shows at once. A gift's public fields change only with a
    ledger entry (paid, refunded, disputed); a change to them without one calls
    :func:`public_pages_changed`.
    """
    return state_of(session.execute(DRIVE_STATE, {"slug": drive_slug}).first())


def public_pages_changed(session: Session, drive_ids) -> None:
    """Say that these drives' public pages must change though no ledger entry was written
    (a donor's name erased): their state moves on, so no worker serves what it cached."""
    ids = sorted({drive_id for drive_id in drive_ids if drive_id is not None})
    if ids:
        session.execute(
            update(Drive)
            .where(Drive.id.in_(ids))
            .values(public_revision=Drive.public_revision + 1)
            .execution_options(synchronize_session=False)
        )


def state_of(row, today: date | None = None) -> tuple | None:
    """:func:`drive_state` from a row of :data:`DRIVE_STATE`, typed by SQLAlchemy or raw
    from the driver alike (each value as text)."""
    if row is None:
        return None
    return (
        *(None if value is None else str(value) for value in row),
        str(today or utcnow().date()),
    )
