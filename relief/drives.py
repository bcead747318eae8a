"""Chapters and drives: making and changing them, who takes part, offline gifts.

What a drive page shows is read in :mod:`relief.drive_pages`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import gettext
from sqlmodel import Session, col, select

from relief import ledger, money
from relief.errors import Conflict, InvalidInput, UnknownChapter, UnknownDrive
from relief.models import (
    Chapter,
    Drive,
    DriveChapter,
    EntryKind,
    Gift,
    GiftMethod,
    GiftStatus,
    utcnow,
)
from relief.validation import check_not_reserved, check_text

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


def get_chapter(session: Session, slug: str) -> Chapter:
    chapter = session.exec(select(Chapter).where(Chapter.slug == slug)).first()
    if chapter is None:
        raise UnknownChapter(f"There is no chapter “{slug[:64]}”.")
    return chapter


def get_drive(session: Session, slug: str) -> Drive:
    drive = session.exec(select(Drive).where(Drive.slug == slug)).first()
    if drive is None:
        raise UnknownDrive(gettext("There is no drive “%(slug)s”.", slug=slug[:64]))
    return drive


def create_chapter(session: Session, slug: str, name: str, region: str | None = None) -> Chapter:
    slug = check_not_reserved(_check_slug(slug, "chapter"), "chapter")
    name = check_text(name, "chapter name", 200)
    region = check_text(region or "", "region", 64, required=False) or None
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
    if ratio_as_of > (today or ledger.today()):
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
    host_slug: str | None = None,
) -> Drive:
    """Create a drive with the chapters taking part (each with an optional sub-goal) and its
    host chapter (``host_slug``, one of them; the first by default), whose books hold the
    gifts no chapter claims; the one way a drive is made, from the CLI (`drive add`), the
    organizer's screens and the demo alike. Checks everything before writing anything;
    flushes."""
    slug = _check_slug(slug, "drive")
    title = check_text(title, "title", 200)
    story = check_text(story, "story", 10_000, required=False)
    currency = _check_currency(currency)
    goal_cents = _check_goal(goal_cents)
    ratio_hundredths = _check_ratio(ratio_hundredths)
    starts_on = starts_on or ledger.today()  # the coalition's today, not UTC's
    if ends_on is not None and ends_on < starts_on:
        raise InvalidInput("The end date must not be before the start date.")
    if ratio_as_of is not None:
        ratio_as_of = _check_ratio_as_of(ratio_as_of)
    target_region = check_text(target_region or "", "target region", 200, required=False) or None
    if not chapter_slugs:
        raise InvalidInput("A drive needs at least one chapter (--chapters a,b,c).")
    if len(set(chapter_slugs)) != len(chapter_slugs):
        raise InvalidInput("A chapter is named twice in the drive's chapters.")
    if session.exec(select(Drive.id).where(Drive.slug == slug)).first() is not None:
        raise Conflict(f"A drive “{slug}” exists already.")
    host_slug = (host_slug or "").strip() or chapter_slugs[0]
    if host_slug not in chapter_slugs:
        raise InvalidInput(
            f"The host chapter “{host_slug[:64]}” must be one of the drive's chapters "
            f"({', '.join(chapter_slugs)})."
        )
    chapters = [get_chapter(session, chapter_slug) for chapter_slug in chapter_slugs]
    host = chapters[chapter_slugs.index(host_slug)]
    assert host.id is not None, "a stored chapter"
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
        host_chapter_id=host.id,
        currency=currency,
        starts_on=starts_on,
        ends_on=ends_on,
        ratio_hundredths=ratio_hundredths,
        target_region=target_region,
    )
    if partner_name:
        drive.partner_name = check_text(partner_name, "relief partner's name", 200)
    if ratio_source:
        drive.ratio_source = check_text(ratio_source, "ratio's source", 500)
    if ratio_as_of:
        drive.ratio_as_of = ratio_as_of
    session.add(drive)
    session.flush()
    for chapter in chapters:
        assert drive.id is not None and chapter.id is not None, "both are stored rows"
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
        "title": check_text(title, "title", 200),
        "story": check_text(story, "story", 10_000, required=False),
        "goal_cents": _check_goal(goal_cents),
        "currency": _check_currency(currency or drive.currency),
        "ends_on": ends_on,
        "partner_name": check_text(partner_name, "relief partner's name", 200),
        "target_region": check_text(target_region or "", "target region", 200, required=False)
        or None,
        "ratio_hundredths": _check_ratio(ratio_hundredths),
        "ratio_source": check_text(ratio_source, "ratio's source", 500),
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


def host_locked(session: Session, drive: Drive) -> bool:
    """True once the drive has a gift in its ledger: from then on the host's books hold the
    gifts no chapter claims, and moving them would rewrite closed months and remittances."""
    return ledger.totals(session, drive).entry_count > 0


def set_host(session: Session, drive: Drive, chapter_slug: str) -> Chapter | None:
    """Make one of the drive's chapters its host (the chapter whose books hold the gifts no
    chapter claims); a coalition admin's decision, until the drive's first gift. Returns the
    new host, or None when it was the host already; flushes."""
    chapter = chapter_in_drive(session, drive, chapter_slug)
    if chapter.id == drive.host_chapter_id:
        return None
    if host_locked(session, drive):
        current = session.get(Chapter, drive.host_chapter_id)
        raise Conflict(
            f"The host of “{drive.title}” can no longer change: the drive has gifts, and those "
            f"given to the whole drive are in {current.name if current else 'its host'}'s books "
            "(its months, reports and remittances). A host changes only before the first gift."
        )
    assert chapter.id is not None, "a stored chapter"
    drive.host_chapter_id = chapter.id
    session.flush()
    return chapter


@dataclass(frozen=True)
class Hosting:
    """A drive, its host and the chapters that could host it: the admin's host screen."""

    drive: Drive
    host: Chapter
    chapters: tuple[Chapter, ...]
    #: The host can no longer change (the drive has a gift).
    locked: bool


def hosting(session: Session, drive: Drive) -> Hosting:
    """The drive with its host and its chapters (by name)."""
    chapters = tuple(
        session.exec(
            select(Chapter)
            .join(DriveChapter, col(DriveChapter.chapter_id) == Chapter.id)
            .where(DriveChapter.drive_id == drive.id)
            .order_by(col(Chapter.name))
        )
    )
    host = next(chapter for chapter in chapters if chapter.id == drive.host_chapter_id)
    return Hosting(drive, host, chapters, host_locked(session, drive))


def hostings(session: Session) -> list[Hosting]:
    """Every drive with its host and its chapters, newest first."""
    return [
        hosting(session, drive)
        for drive in session.exec(
            select(Drive).order_by(col(Drive.starts_on).desc(), col(Drive.id).desc())
        )
    ]


def add_chapter_to_drive(
    session: Session, drive: Drive, chapter_slug: str, goal_cents: int | None = None
) -> Chapter:
    """Another chapter takes part in the drive from now on (its own page, its own part of
    the leaderboard); flushes. A chapter already in the drive is a Conflict."""
    chapter = get_chapter(session, chapter_slug)
    assert drive.id is not None and chapter.id is not None, "both are stored rows"
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
        "name": check_text(name, "chapter name", 200),
        "region": check_text(region or "", "region", 64, required=False) or None,
        "blurb": check_text(blurb, "blurb", 500, required=False),
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
        raise UnknownChapter(
            gettext(
                "The chapter “%(chapter)s” does not take part in “%(drive)s”.",
                chapter=chapter.slug,
                drive=drive.title,
            )
        )
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
    donor_name = check_text(donor_name, "donor's name", 200, required=False)
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
