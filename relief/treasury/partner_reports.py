"""What the relief partner reports it abolished with a drive's money, beside the projection.

Everyone (the public page, the API, the press PDF, the dashboard) reads a drive's reported
relief through :func:`relief.drive_pages.actual_relief`; it is None until the partner has reported.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import func
from sqlmodel import Session, col, select

from relief import money
from relief.errors import InvalidInput
from relief.models import Chapter, Drive, PartnerReport, User
from relief.treasury import scope
from relief.validation import check_text


def record_report(
    session: Session,
    chapter: Chapter,
    *,
    drive_id: int | str,
    debt_abolished_cents: int,
    people_helped: int,
    counts_households: bool,
    region: str,
    reported_on: date,
    recorded_by: User | None = None,
) -> PartnerReport:
    """Record a report from the partner for one of the chapter's drives; flushes."""
    drive = scope.drive_of(session, chapter, drive_id)
    if not isinstance(debt_abolished_cents, int) or not 0 < debt_abolished_cents:
        raise InvalidInput("The debt abolished must be more than zero.")
    if debt_abolished_cents > money.MAX_CENTS * 1000:
        raise InvalidInput("The debt abolished is larger than any drive could relieve.")
    if not isinstance(people_helped, int) or people_helped < 0:
        raise InvalidInput("The number of people or households must be zero or more.")
    if reported_on < drive.starts_on:
        raise InvalidInput("The report's date is before the drive started.")
    assert drive.id is not None and chapter.id is not None, "both are stored rows"
    report = PartnerReport(
        drive_id=drive.id,
        chapter_id=chapter.id,
        debt_abolished_cents=debt_abolished_cents,
        people_helped=people_helped,
        counts_households=counts_households,
        region=check_text(region, "region", 200, required=False),
        reported_on=reported_on,
        recorded_by_id=recorded_by.id if recorded_by else None,
    )
    session.add(report)
    session.flush()
    return report


def reports_for(session: Session, chapter: Chapter) -> list[tuple[PartnerReport, Drive]]:
    """Reports of the drives the chapter takes part in, newest first."""
    drive_ids = [drive.id for drive in scope.drives_of(session, chapter)]
    if not drive_ids:
        return []
    return list(
        session.exec(
            select(PartnerReport, Drive)
            .join(Drive, col(Drive.id) == PartnerReport.drive_id)
            .where(col(PartnerReport.drive_id).in_(drive_ids))
            .order_by(col(PartnerReport.reported_on).desc(), col(PartnerReport.id).desc())
        ).all()
    )


def report_count(session: Session, drive: Drive) -> int:
    return session.exec(
        select(func.count()).select_from(PartnerReport).where(PartnerReport.drive_id == drive.id)
    ).one()
