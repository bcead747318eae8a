"""What the organizer's screens read, always narrowed to the organizer's chapter.

A drive the chapter does not take part in is reported exactly like one that does not exist
(``NotFound``, a 404). Figures come from ``ledger.totals``; supporter lines are built from
chosen columns only, so a donor's email is never even loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement
from sqlmodel import Session, col, select

from relief import drives, ledger, money, projection
from relief.errors import NotFound
from relief.models import Chapter, Drive, DriveChapter, Gift, GiftStatus
from relief.treasury import scope

SUPPORTERS_PAGE = 100


@dataclass(frozen=True)
class DriveRow:
    """One of the chapter's drives with its headline figures."""

    drive: Drive
    totals: ledger.DriveTotals
    #: This chapter's part of the drive (its raised figure and sub-goal).
    part: ledger.ChapterPart
    #: "running", "ended" or "starts later".
    state: str


def _state(drive: Drive, today: date) -> str:
    if drive.starts_on > today:
        return "starts later"
    if drive.ends_on is not None and drive.ends_on < today:
        return "ended"
    return "running"


def _row(session: Session, chapter: Chapter, drive: Drive, today: date) -> DriveRow:
    totals = ledger.totals(session, drive)
    part = next(part for part in totals.chapters if part.slug == chapter.slug)
    return DriveRow(drive=drive, totals=totals, part=part, state=_state(drive, today))


def chapter_drives(session: Session, chapter: Chapter, today: date | None = None) -> list[DriveRow]:
    """The drives the chapter takes part in, newest first, each with ``ledger.totals``."""
    today = today or ledger.today()
    return [_row(session, chapter, drive, today) for drive in scope.drives_of(session, chapter)]


def drive_of(session: Session, chapter: Chapter, slug: str) -> Drive:
    """The drive with this slug if the chapter takes part in it; else NotFound."""
    drive = session.exec(
        select(Drive)
        .join(DriveChapter, col(DriveChapter.drive_id) == Drive.id)
        .where(DriveChapter.chapter_id == chapter.id, Drive.slug == slug)
    ).first()
    if drive is None:
        raise NotFound(f"{chapter.name} takes part in no drive “{slug[:64]}”.")
    return drive


@dataclass(frozen=True)
class DriveDetail:
    row: DriveRow
    #: A gift or ledger entry exists: the currency can no longer change.
    currency_locked: bool
    #: Chapters that could be added to the drive, by name.
    other_chapters: tuple[Chapter, ...]


def drive_detail(
    session: Session, chapter: Chapter, slug: str, today: date | None = None
) -> DriveDetail:
    drive = drive_of(session, chapter, slug)
    taking_part = select(DriveChapter.chapter_id).where(DriveChapter.drive_id == drive.id)
    others = session.exec(
        select(Chapter).where(col(Chapter.id).not_in(taking_part)).order_by(Chapter.name)
    ).all()
    return DriveDetail(
        row=_row(session, chapter, drive, today or ledger.today()),
        currency_locked=drives.currency_locked(session, drive),
        other_chapters=tuple(others),
    )


def amount_text(cents: int) -> str:
    """160050 → "1,600.50": an amount as an organizer types it in a form (no currency sign)."""
    return money.format(cents, "USD").removeprefix("$")


def ratio_text(ratio_hundredths: int) -> str:
    """10000 → "100", 8750 → "87.5": the ratio as an organizer types it."""
    return projection.format_ratio(ratio_hundredths).removesuffix(":1")


_FIELD_LABELS = {
    "title": "title",
    "story": "story",
    "goal_cents": "goal",
    "currency": "currency",
    "ends_on": "end date",
    "partner_name": "relief partner",
    "target_region": "target region",
    "ratio_hundredths": "ratio",
    "ratio_source": "ratio's source",
    "ratio_as_of": "ratio as of",
    "name": "name",
    "region": "region",
    "blurb": "blurb",
}


def _shown(name: str, value, currency: str) -> str:
    if value is None or value == "":
        return "none"
    if name == "goal_cents":
        return money.format(value, currency)
    if name == "ratio_hundredths":
        return projection.format_ratio(value)
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "…"


def describe_changes(before: dict, after, changed: list[str], currency: str = "USD") -> str:
    """ "goal: $1,600.00 → $2,000.00; story edited" — the audit line of an edit."""
    parts = []
    for name in changed:
        label = _FIELD_LABELS.get(name, name)
        if name in ("story", "blurb"):
            parts.append(f"{label} edited")
        else:
            old = _shown(name, before[name], currency)
            new = _shown(name, getattr(after, name), currency)
            parts.append(f"{label}: {old} → {new}")
    return "; ".join(parts) or "nothing changed"


@dataclass(frozen=True)
class SupporterLine:
    """A gift as the organizers see it to thank the donor: the real name, even of a gift
    anonymous to the public, and the private message — never the email."""

    gift_id: int
    donor_name: str
    #: The donor asked to stay off the public supporter list.
    anonymous_to_public: bool
    amount_cents: int
    currency: str
    received_at: datetime
    drive_title: str | None
    drive_slug: str | None
    message: str | None
    method: str
    monthly: bool
    test_mode: bool


@dataclass(frozen=True)
class SupporterPage:
    lines: tuple[SupporterLine, ...]
    page: int
    has_more: bool
    #: The drive the list is narrowed to, if any.
    drive: Drive | None = None


def supporters(
    session: Session,
    chapter: Chapter,
    page: int = 1,
    per_page: int = SUPPORTERS_PAGE,
    drive: Drive | None = None,
) -> SupporterPage:
    """The chapter's paid gifts (to one of its drives, if given), newest first, ``per_page``
    at a time (``page`` from 1).

    Only the columns listed are read: the donor's email is not among them.
    """
    page = max(1, page)
    wanted: list[ColumnElement[bool]] = [col(Gift.status) == GiftStatus.PAID]
    if drive is None:  # by ix_gift_chapter_status_received
        wanted.append(col(Gift.chapter_id) == chapter.id)
    else:
        # By ix_gift_drive_status_received: the chapter compared as an expression no index
        # serves, or SQLite (no statistics) takes the chapter's index and passes over the
        # chapter's newer gifts to its other drives.
        wanted += [col(Gift.chapter_id) + 0 == chapter.id, col(Gift.drive_id) == drive.id]
    rows = session.exec(
        # sqlmodel types select() for at most four columns; this one reads twelve.
        select(  # type: ignore[call-overload]
            Gift.id,
            Gift.donor_name,
            Gift.show_name,
            Gift.amount_cents,
            Gift.currency,
            Gift.received_at,
            Drive.title,
            Drive.slug,
            Gift.message,
            Gift.method,
            Gift.monthly,
            Gift.test_mode,
        )
        .outerjoin(Drive, col(Drive.id) == Gift.drive_id)
        .where(*wanted)
        .order_by(col(Gift.received_at).desc(), col(Gift.id).desc())
        .offset((page - 1) * per_page)
        .limit(per_page + 1)
    ).all()
    lines = tuple(
        SupporterLine(
            gift_id=gift_id,
            donor_name=name or "",
            anonymous_to_public=not (show_name and name),
            amount_cents=amount_cents,
            currency=currency,
            received_at=received_at,
            drive_title=drive_title,
            drive_slug=drive_slug,
            message=message or None,
            method=str(method),
            monthly=monthly,
            test_mode=test_mode,
        )
        for (
            gift_id,
            name,
            show_name,
            amount_cents,
            currency,
            received_at,
            drive_title,
            drive_slug,
            message,
            method,
            monthly,
            test_mode,
        ) in rows[:per_page]
    )
    return SupporterPage(lines=lines, page=page, has_more=len(rows) > per_page, drive=drive)
