"""What the relief partner reports it bought with a drive's money: one record per purchase.

Each purchase has the partner's reference (unique per drive), the debt abolished, the people
or households helped, the region, the date reported and the remittances that paid for it.
Records are never edited: a correction or a withdrawal is a new record that supersedes the
one before it, with its reason; the old one stays in the history. Only the drive's host
chapter's treasurer or an admin records them (:func:`may_record`); every chapter of the
drive sees them.

Everyone (the public page, the API, the press PDF, the dashboard) reads a drive's reported
relief through :func:`relief.drive_pages.actual_relief`, from the live records only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import object_session
from sqlmodel import Session, col, select

from relief import money
from relief.errors import Conflict, DomainError, InvalidInput, NotFound
from relief.models import (
    Chapter,
    Drive,
    Entry,
    EntryKind,
    Membership,
    PartnerReport,
    PartnerReportRemittance,
    Remittance,
    Role,
    User,
)
from relief.treasury import scope
from relief.validation import check_text


class NotHost(DomainError):
    """A treasurer of another chapter of the drive: they see the reports, they do not write them."""

    status_code = 403


class AlreadyRecorded(Conflict):
    """The purchase (or this record of it) is already recorded; ``report`` is that record."""

    def __init__(self, message: str, report: PartnerReport):
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class Figures:
    """What one record says about a purchase, as the treasurer typed it."""

    debt_abolished_cents: int
    people_helped: int
    counts_households: bool
    region: str
    reported_on: date
    remittance_ids: tuple[int, ...]


def host_chapter_id(drive: Drive) -> int:
    """The drive's host chapter: the one whose treasurer records the drive-wide reports (and
    whose books hold the gifts to the whole drive)."""
    return drive.host_chapter_id


def may_record(user: User | None, chapter: Chapter, drive: Drive) -> bool:
    """Whether ``user``, in ``chapter``'s treasury, may record, correct or withdraw ``drive``'s
    reports: a coalition admin, or a treasurer of the drive's host chapter."""
    if user is None:
        return False
    if getattr(user, "is_admin", False):
        return True
    if chapter.id != host_chapter_id(drive):
        return False
    session = object_session(drive)
    assert session is not None
    membership = session.get(Membership, (user.id, chapter.id))
    return membership is not None and membership.role == Role.TREASURER


def _check_may_record(session: Session, user: User | None, chapter: Chapter, drive: Drive):
    if not may_record(user, chapter, drive):
        host = session.get(Chapter, host_chapter_id(drive))
        raise NotHost(
            f"Only {host.name if host else 'the host chapter'}'s treasurer (the drive's host "
            "chapter) or a coalition admin records the partner's reports for "
            f"“{drive.title}”."
        )


def _check_figures(session: Session, drive: Drive, figures: Figures) -> list[Remittance]:
    """The figures' refusals, with a sentence each; the remittances they name."""
    cents = figures.debt_abolished_cents
    if not isinstance(cents, int) or not 0 < cents:
        raise InvalidInput("The debt abolished must be more than zero.")
    if cents > money.MAX_CENTS * 1000:
        raise InvalidInput("The debt abolished is larger than any drive could relieve.")
    if not isinstance(figures.people_helped, int) or figures.people_helped < 0:
        raise InvalidInput("The number of people or households must be zero or more.")
    if figures.reported_on < drive.starts_on:
        raise InvalidInput("The report's date is before the drive started.")
    wanted = sorted(set(figures.remittance_ids))
    if not wanted:
        raise InvalidInput("Choose the remittances that paid for this purchase.")
    found = {
        remittance.id: remittance
        for remittance in session.exec(
            select(Remittance).where(
                col(Remittance.id).in_(wanted), col(Remittance.drive_id) == drive.id
            )
        )
    }
    for remittance_id in wanted:
        if remittance_id not in found:
            raise InvalidInput(f"Remittance #{remittance_id} is not a remittance to this drive.")
    reversed_ids = set(
        session.exec(
            select(Remittance.id)
            .join(Entry, col(Entry.reverses_id) == col(Remittance.entry_id))
            .where(col(Remittance.id).in_(wanted), col(Entry.kind) == EntryKind.REMITTANCE)
        )
    )
    for remittance_id in wanted:
        if remittance_id in reversed_ids:
            remittance = found[remittance_id]
            raise InvalidInput(
                f"The remittance ref {remittance.reference} was reversed: it paid for nothing."
            )
    return [found[remittance_id] for remittance_id in wanted]


def _write(
    session: Session,
    chapter: Chapter,
    user: User | None,
    drive: Drive,
    reference: str,
    figures: Figures,
    *,
    before: PartnerReport | None = None,
    withdrawn: bool = False,
    reason: str = "",
) -> PartnerReport:
    assert drive.id is not None and chapter.id is not None
    report = PartnerReport(
        drive_id=drive.id,
        chapter_id=chapter.id,
        partner_reference=reference,
        revision=before.revision + 1 if before else 1,
        supersedes_id=before.id if before else None,
        withdrawn=withdrawn,
        reason=reason,
        debt_abolished_cents=figures.debt_abolished_cents,
        people_helped=figures.people_helped,
        counts_households=figures.counts_households,
        region=check_text(figures.region, "region", 200, required=False),
        reported_on=figures.reported_on,
        recorded_by_id=user.id if user else None,
    )
    session.add(report)
    session.flush()
    assert report.id is not None
    session.add_all(
        PartnerReportRemittance(report_id=report.id, remittance_id=remittance_id)
        for remittance_id in sorted(set(figures.remittance_ids))
    )
    session.flush()
    return report


def _newest(session: Session, drive_id: int, reference: str) -> PartnerReport | None:
    return session.exec(
        select(PartnerReport)
        .where(
            col(PartnerReport.drive_id) == drive_id,
            col(PartnerReport.partner_reference) == reference,
        )
        .order_by(col(PartnerReport.revision).desc())
    ).first()


def record_report(
    session: Session,
    chapter: Chapter,
    user: User | None,
    *,
    drive_id: int | str,
    partner_reference: str,
    figures: Figures,
) -> PartnerReport:
    """Record one purchase the partner reported for a drive; flushes.

    Idempotent per partner's reference: the same letter entered again (by anyone, at any
    time) raises :class:`AlreadyRecorded` with the first record, and writes nothing. Two
    entries at the same moment cannot both be written (a unique key); the loser, run again
    (``boundary.retry_on_conflict``), finds the winner's record."""
    drive = scope.drive_of(session, chapter, drive_id)
    _check_may_record(session, user, chapter, drive)
    reference = check_text(partner_reference, "partner's reference", 200)
    assert drive.id is not None
    existing = _newest(session, drive.id, reference)
    if existing is not None:
        raise AlreadyRecorded(
            f"The partner's report {reference} is already recorded for this drive (shown "
            "below). To change it, correct that report.",
            existing,
        )
    _check_figures(session, drive, figures)
    return _write(session, chapter, user, drive, reference, figures)


def report_of(
    session: Session, chapter: Chapter, user: User | None, report_id: int
) -> PartnerReport:
    """A report of one of the chapter's drives that ``user`` may correct or withdraw: NotFound
    for a drive the chapter does not take part in (as any other chapter's row), NotHost for
    a drive it takes part in but does not host."""
    report = session.get(PartnerReport, report_id)
    drive_ids = {drive.id for drive in scope.drives_of(session, chapter)}
    if report is None or report.drive_id not in drive_ids:
        raise NotFound(f"There is no partner's report #{report_id} for {chapter.name}'s drives.")
    drive = session.get(Drive, report.drive_id)
    assert drive is not None
    _check_may_record(session, user, chapter, drive)
    return report


def _newest_of(session: Session, report: PartnerReport, doing: str) -> Drive:
    """The report's drive, if the report is still its purchase's newest record."""
    newest = _newest(session, report.drive_id, report.partner_reference)
    if newest is not None and newest.id != report.id:
        what = "withdrawn" if newest.withdrawn else "corrected"
        raise AlreadyRecorded(
            f"The partner's report {report.partner_reference} was already {what} (shown "
            f"below); {doing} its newest record instead.",
            newest,
        )
    drive = session.get(Drive, report.drive_id)
    assert drive is not None
    return drive


def correct_report(
    session: Session,
    chapter: Chapter,
    user: User | None,
    report_id: int,
    *,
    figures: Figures,
    reason: str,
) -> PartnerReport:
    """A new record of the same purchase, with corrected figures and the reason, superseding
    ``report_id`` (which must be the purchase's newest record: a correction sent twice is
    refused the second time). Correcting a withdrawal reinstates the purchase. Flushes."""
    report = report_of(session, chapter, user, report_id)
    reason = check_text(reason, "reason for the correction", 400)
    drive = _newest_of(session, report, "correct")
    _check_figures(session, drive, figures)
    return _write(
        session,
        chapter,
        user,
        drive,
        report.partner_reference,
        figures,
        before=report,
        reason=reason,
    )


def withdraw_report(
    session: Session, chapter: Chapter, user: User | None, report_id: int, reason: str
) -> PartnerReport:
    """A new record withdrawing the purchase (it counts nowhere from now on), with the reason;
    the records before it stay in the history. Flushes."""
    report = report_of(session, chapter, user, report_id)
    reason = check_text(reason, "reason for withdrawing it", 400)
    drive = _newest_of(session, report, "withdraw")
    if report.withdrawn:
        raise Conflict(f"The partner's report {report.partner_reference} is already withdrawn.")
    return _write(
        session,
        chapter,
        user,
        drive,
        report.partner_reference,
        figures_of(session, report),
        before=report,
        withdrawn=True,
        reason=reason,
    )


def figures_of(session: Session, report: PartnerReport) -> Figures:
    """What the record says, as a correction form starts from."""
    return Figures(
        debt_abolished_cents=report.debt_abolished_cents,
        people_helped=report.people_helped,
        counts_households=report.counts_households,
        region=report.region,
        reported_on=report.reported_on,
        remittance_ids=tuple(
            session.exec(
                select(PartnerReportRemittance.remittance_id)
                .where(col(PartnerReportRemittance.report_id) == report.id)
                .order_by(col(PartnerReportRemittance.remittance_id))
            )
        ),
    )


@dataclass(frozen=True)
class Record:
    """One record of a purchase, as the history shows it."""

    report: PartnerReport
    remittances: tuple[Remittance, ...]
    recorded_by: str
    #: The money behind it: its remittances' amounts (before any later reversal).
    remitted_cents: int


@dataclass(frozen=True)
class Purchase:
    """A purchase the partner reported: its records, newest first."""

    drive: Drive
    records: tuple[Record, ...]
    #: Whether the user looking may correct or withdraw it.
    editable: bool

    @property
    def newest(self) -> PartnerReport:
        return self.records[0].report

    @property
    def live(self) -> bool:
        return not self.newest.withdrawn


def purchases_for(session: Session, chapter: Chapter, user: User | None = None) -> list[Purchase]:
    """The purchases reported for the drives the chapter takes part in, each with its whole
    history; the newest report date first."""
    drives = scope.drives_of(session, chapter)
    if not drives:
        return []
    by_id = {drive.id: drive for drive in drives}
    rows = list(
        session.exec(
            select(PartnerReport, User.email)
            .outerjoin(User, col(User.id) == col(PartnerReport.recorded_by_id))
            .where(col(PartnerReport.drive_id).in_(list(by_id)))
            .order_by(col(PartnerReport.revision).desc(), col(PartnerReport.id).desc())
        )
    )
    links = _remittances_of(session, [report.id for report, _ in rows if report.id])
    grouped: dict[tuple[int, str], list[Record]] = {}
    for report, email in rows:
        used = links.get(report.id or 0, ())
        grouped.setdefault((report.drive_id, report.partner_reference), []).append(
            Record(
                report=report,
                remittances=used,
                recorded_by=email or "",
                remitted_cents=sum(remittance.amount_cents for remittance in used),
            )
        )
    allowed = {drive.id: may_record(user, chapter, drive) for drive in drives}
    purchases = [
        Purchase(drive=by_id[drive_id], records=tuple(records), editable=allowed[drive_id])
        for (drive_id, _), records in grouped.items()
    ]
    purchases.sort(key=lambda p: (p.newest.reported_on, p.newest.id or 0), reverse=True)
    return purchases


def _remittances_of(session: Session, report_ids: list[int]) -> dict[int, tuple[Remittance, ...]]:
    found: dict[int, list[Remittance]] = {}
    if report_ids:
        for report_id, remittance in session.exec(
            select(PartnerReportRemittance.report_id, Remittance)
            .join(Remittance, col(Remittance.id) == col(PartnerReportRemittance.remittance_id))
            .where(col(PartnerReportRemittance.report_id).in_(report_ids))
            .order_by(col(Remittance.sent_on), col(Remittance.id))
        ):
            found.setdefault(report_id, []).append(remittance)
    return {report_id: tuple(used) for report_id, used in found.items()}


@dataclass(frozen=True)
class RemittanceChoice:
    """A remittance a report may name: one of a drive's, not reversed."""

    remittance: Remittance
    drive: Drive
    chapter_name: str

    @property
    def label(self) -> str:
        r = self.remittance
        return (
            f"{money.format(r.amount_cents, self.drive.currency)} sent {r.sent_on.isoformat()} "
            f"by {self.chapter_name}, ref {r.reference}"
        )


def remittance_choices(
    session: Session, chapter: Chapter, user: User | None
) -> list[RemittanceChoice]:
    """The remittances of the drives ``user`` may record reports for (every chapter's),
    oldest first, leaving out those reversed."""
    drives = [d for d in scope.drives_of(session, chapter) if may_record(user, chapter, d)]
    if not drives:
        return []
    by_id = {drive.id: drive for drive in drives}
    # Looked up per remittance by ix_entry_reverses_id: a list of every reversing entry (a
    # purged or assigned gift's too) cost 0.1 s on SQLite at 1,000,000 gifts.
    reversal = (
        select(Entry.id)
        .where(
            col(Entry.reverses_id) == Remittance.entry_id,
            col(Entry.kind) == EntryKind.REMITTANCE,
        )
        .correlate(Remittance)
    )
    rows = session.exec(
        select(Remittance, Chapter.name)
        .join(Chapter, col(Chapter.id) == col(Remittance.chapter_id))
        .where(col(Remittance.drive_id).in_(list(by_id)), ~reversal.exists())
        .order_by(col(Remittance.sent_on), col(Remittance.id))
    )
    return [RemittanceChoice(r, by_id[r.drive_id], name) for r, name in rows]


def recordable_drives(session: Session, chapter: Chapter, user: User | None) -> list[Drive]:
    """The chapter's drives whose reports ``user`` may record from this treasury."""
    return [d for d in scope.drives_of(session, chapter) if may_record(user, chapter, d)]


def describe(report: PartnerReport, currency: str, remittance_ids: Iterable[int] = ()) -> str:
    """One line for the audit log: what the record says."""
    paid = ", ".join(f"#{remittance_id}" for remittance_id in sorted(remittance_ids))
    return (
        f"report #{report.id} ({report.partner_reference}, revision {report.revision}) for "
        f"drive #{report.drive_id}: {money.format(report.debt_abolished_cents, currency)} "
        f"abolished, {report.people_helped} "
        f"{'households' if report.counts_households else 'people'}"
        + (f", paid by remittances {paid}" if paid else "")
        + (f" — {report.reason}" if report.reason else "")
    )
