"""Reading the running sums: a drive's totals (what every screen renders) and its days."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func
from sqlmodel import Session, col, select

from relief.ledger import fingerprint
from relief.ledger.figures import FIGURE_FIELDS, WHOLE_DRIVE, ChapterPart, DriveTotals, Figures
from relief.models import Chapter, DailyTotal, Drive, DriveChapter, Total


def figures_of(row: Total | None) -> Figures:
    """A running-totals row's sums (all zero without a row)."""
    if row is None:
        return Figures()
    return Figures(**{name: getattr(row, name) for name in FIGURE_FIELDS})


def totals(session: Session, drive: Drive) -> DriveTotals:
    """The drive's figures from its running totals: two indexed queries, whatever its size."""
    # populate_existing: the sums change under the session's feet (Core upserts).
    rows = {
        row.chapter_id: row
        for row in session.exec(
            select(Total)
            .where(Total.drive_id == drive.id)
            .execution_options(populate_existing=True)
        )
    }
    participants = session.exec(
        select(Chapter, DriveChapter.goal_cents)
        .join(DriveChapter, col(DriveChapter.chapter_id) == Chapter.id)
        .where(DriveChapter.drive_id == drive.id)
        .order_by(Chapter.name)
    ).all()
    return _assemble(drive, rows, participants)


def _assemble(drive: Drive, rows: dict[int, Total], participants) -> DriveTotals:
    assert drive.id is not None, "totals are of a stored drive"
    whole = rows.get(WHOLE_DRIVE)
    by_chapter = {chapter_id: figures_of(row) for chapter_id, row in rows.items() if chapter_id}
    figures = figures_of(whole)
    unattributed = figures - Figures.sum(by_chapter.values())
    chapters = tuple(
        ChapterPart(
            slug=chapter.slug,
            name=chapter.name,
            region=chapter.region,
            goal_cents=goal_cents,
            figures=by_chapter.get(chapter.id, Figures()),
            host=chapter.id == drive.host_chapter_id,
            whole_drive=unattributed if chapter.id == drive.host_chapter_id else Figures(),
        )
        for chapter, goal_cents in participants
    )
    return DriveTotals(
        drive_id=drive.id,
        currency=drive.currency,
        goal_cents=drive.goal_cents,
        ratio_hundredths=drive.ratio_hundredths,
        figures=figures,
        chapters=chapters,
        unattributed=unattributed,
        entry_count=whole.entry_count if whole else 0,
        fingerprint=(whole.chain_hash if whole and whole.chain_hash else fingerprint.EMPTY),
        updated_at=whole.updated_at if whole else None,
        host_chapter_id=drive.host_chapter_id,
        by_chapter_id=by_chapter,
    )


def daily_raised(session: Session, drive_id: int, since: date | None = None) -> list[DailyTotal]:
    """Money raised per day, oldest first (one row per day with activity)."""
    statement = (
        select(DailyTotal)
        .where(DailyTotal.drive_id == drive_id)
        .execution_options(populate_existing=True)
    )
    if since is not None:
        statement = statement.where(DailyTotal.day >= since)
    return list(session.exec(statement.order_by(col(DailyTotal.day))))


def raised_since(session: Session, drive_id: int, since: date) -> int:
    """Cents raised on ``since`` (a day of the coalition's calendar) and after: one sum over
    the drive's day rows."""
    return int(
        session.exec(
            select(func.coalesce(func.sum(DailyTotal.raised_cents), 0)).where(
                DailyTotal.drive_id == drive_id, DailyTotal.day >= since
            )
        ).one()
    )
