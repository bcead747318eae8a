"""The treasurer's dashboard: a chapter's money per drive and per month, and what needs
attention. Every figure comes from the ledger.

Everything is the chapter's books (``ledger.owner``): what it was credited and, in a drive
it hosts, the gifts to the whole drive. Per drive, the figures are the chapter's ``books``
from ``ledger.totals`` (one indexed read per drive). Per month they come from the chapter's
month totals (``MonthTotal``), which ``ledger.append`` keeps in the same transaction as each
entry: a few rows per month and drive (one per kind of entry), however many gifts, so the
dashboard's cost does not grow with the chapter's gifts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from sqlmodel import Session, select

from relief import drive_pages, ledger
from relief.ledger import Figures, first_of_month, month_short_label
from relief.models import Chapter, DepositBatch, Drive, MonthTotal
from relief.treasury import batches, gifts, months, payouts, scope
from relief.treasury.months import Checklist


@dataclass(frozen=True)
class MoneyRow:
    """One line of the dashboard: a drive or a month."""

    label: str
    figures: Figures
    #: The month as "YYYY-MM" on a month's row (for links); None on a drive's row.
    key: str | None = None

    @property
    def held_cents(self) -> int:
        """The figures' held (net − remitted), for the row's template."""
        return self.figures.held_cents


@dataclass(frozen=True)
class DriveRow(MoneyRow):
    drive: Drive | None = None
    drive_totals: ledger.DriveTotals | None = None
    actual: drive_pages.ActualRelief | None = None


@dataclass(frozen=True)
class Attention:
    unassigned_gifts: int
    fee_pending_gifts: int
    open_batches: tuple[DepositBatch, ...]
    undeposited_batches: tuple[DepositBatch, ...]
    #: Recent Stripe payouts carrying the chapter's gifts that do not reconcile to the cent.
    differing_payouts: int = 0

    @property
    def anything(self) -> bool:
        return bool(
            self.differing_payouts
            or self.unassigned_gifts
            or self.fee_pending_gifts
            or self.open_batches
            or self.undeposited_batches
        )


@dataclass(frozen=True)
class Dashboard:
    chapter: Chapter
    drives: tuple[DriveRow, ...]
    months: tuple[MoneyRow, ...]
    total: MoneyRow
    attention: Attention
    #: Months the chapter closed (newest first), and ended months it can still close.
    closed_months: tuple[date, ...] = ()
    closable_months: tuple[date, ...] = ()
    #: What closing a month needs (the newest closable month, or the one asked for).
    checklist: Checklist | None = None


def by_drive(session: Session, chapter: Chapter) -> tuple[DriveRow, ...]:
    assert chapter.id is not None, "a stored chapter"
    rows = []
    for drive in scope.drives_of(session, chapter):
        totals = ledger.totals(session, drive)
        rows.append(
            DriveRow(
                label=drive.title,
                figures=totals.books(chapter.id),
                drive=drive,
                drive_totals=totals,
                actual=drive_pages.actual_relief(session, drive),
            )
        )
    return tuple(rows)


def _grouped(
    session: Session, chapter: Chapter, *, before: date | None = None, per_drive: bool = False
) -> dict[tuple[date, int | None], Figures]:
    """The chapter's figures keyed by (month's first day, drive id — or None unless
    ``per_drive``), for every month (or every month before ``before``, a month's first day),
    from the month totals the ledger keeps with each entry: a few rows per month, however
    many gifts. Entries outside any drive (unassigned gifts' fees) are left out, as in totals."""
    # sqlmodel types select() for at most four columns; this one reads five.
    statement = select(  # type: ignore[call-overload]
        MonthTotal.month, MonthTotal.drive_id, MonthTotal.kind, MonthTotal.amount_cents,
        MonthTotal.gift_count,
    ).where(MonthTotal.chapter_id == chapter.id)  # fmt: skip
    if before is not None:
        statement = statement.where(MonthTotal.month < before)
    grouped: dict[tuple[date, int | None], Figures] = {}
    for month, drive_id, kind, amount, gift_count in session.exec(statement):
        key = (month, drive_id if per_drive else None)
        figures = grouped.get(key, Figures()).plus(kind, amount)
        # plus() counts a gift entry as one gift; the row holds the month's own count.
        grouped[key] = replace(
            figures,
            gift_count=figures.gift_count - ledger.gift_count_delta(kind, amount) + gift_count,
        )
    return grouped


def by_month(session: Session, chapter: Chapter) -> tuple[MoneyRow, ...]:
    """The chapter's figures per calendar month (UTC) of the money's effective date, newest
    first; entries outside any drive (unassigned gifts' fees) are left out, as in totals."""
    per_month = {month: figures for (month, _), figures in _grouped(session, chapter).items()}
    return tuple(
        MoneyRow(label=month_short_label(month), figures=per_month[month], key=f"{month:%Y-%m}")
        for month in sorted(per_month, reverse=True)
    )


def by_month_and_drive(
    session: Session, chapter: Chapter, before: date
) -> dict[tuple[date, int | None], Figures]:
    """The same figures as :func:`by_month`, split by drive, for every month before
    ``before`` (a month's first day): what the monthly report needs for the month and the
    balance carried into it, from the same query. Keyed by (month's first day, drive id)."""
    return _grouped(session, chapter, before=before, per_drive=True)


def dashboard(session: Session, chapter: Chapter, checklist_month: date | None = None) -> Dashboard:
    """The chapter's dashboard; its close-month checklist is for ``checklist_month`` when that
    month can be closed, else for the newest month that can."""
    drive_rows = by_drive(session, chapter)
    closable = tuple(months.closable_months(session, chapter))
    if checklist_month is not None:
        checklist_month = first_of_month(checklist_month)
    if checklist_month not in closable:
        checklist_month = closable[0] if closable else None
    return Dashboard(
        chapter=chapter,
        drives=drive_rows,
        months=by_month(session, chapter),
        total=MoneyRow(label="All drives", figures=Figures.sum(row.figures for row in drive_rows)),
        attention=attention(session, chapter),
        closed_months=tuple(months.closed_months(session, chapter)),
        closable_months=closable,
        checklist=months.checklist(session, chapter, checklist_month) if checklist_month else None,
    )


def attention(session: Session, chapter: Chapter) -> Attention:
    """What needs the treasurer now: unassigned gifts, unknown fees, unposted and undeposited
    batches, payouts that do not reconcile."""
    return Attention(
        unassigned_gifts=gifts.count_unassigned(session, chapter),
        fee_pending_gifts=gifts.count_fee_pending(session, chapter),
        open_batches=tuple(batches.open_batches(session, chapter)),
        undeposited_batches=tuple(batches.undeposited(session, chapter)),
        differing_payouts=sum(
            view.state == "differs" for view in payouts.payouts_of(session, chapter, limit=20)
        ),
    )
