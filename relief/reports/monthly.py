"""The treasurer's monthly report of one chapter: a frozen snapshot of plain data.

Every figure comes from the services the treasurer's dashboard uses: the month's money from
``dashboard.by_month_and_drive`` (the dashboard's own month totals, split by drive, so the
month's total is the dashboard's row for that month), the balance carried in (held: net −
remitted) from the same rows of earlier months, the lists from ``treasury.batches``,
``remittances``, ``partner_reports`` and ``gifts``, and what needs attention from
``dashboard.attention``.

The report holds donor names (treasurers may see them) but never a donor's email or message:
it gets forwarded. Its size grows with the month's batches, remittances and corrections, not
with its gifts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from sqlmodel import Session

from relief.errors import InvalidInput, NotFound
from relief.ledger import Figures, month_label, next_month
from relief.models import BatchStatus, Chapter
from relief.treasury import (
    batches,
    dashboard,
    gifts,
    partner_reports,
    payouts,
    remittances,
    scope,
)

MONTH = re.compile(r"^(\d{4})-(\d{2})$")
#: How many unassigned gifts the report lists by name (the count is always complete).
UNASSIGNED_LISTED = 15
#: Said under the payouts, whatever the month holds.
PAYOUTS_NOTE = (
    "Payouts that reached the bank in the month (by Stripe's arrival date), as reconciled "
    "on the Stripe payouts screen: the ledger's expected net of the payout's balance "
    "transactions against what Stripe paid. One payout carries gifts of every chapter; "
    "the chapter's share is the net of its own gifts' transactions. Stripe itemises "
    "automatic payouts only: a manual payout cannot be reconciled line by line."
)


def parse_month(text: str, today: date) -> date:
    """ "2026-03" → date(2026, 3, 1). InvalidInput for anything else; NotFound for a month
    that has not begun (there is nothing to report yet)."""
    match = MONTH.match((text or "").strip())
    if not match or not 1 <= int(match[2]) <= 12 or int(match[1]) < 2000:
        raise InvalidInput(
            f"“{(text or '')[:20]}” is not a month: write it as YYYY-MM, e.g. 2026-03."
        )
    first = date(int(match[1]), int(match[2]), 1)
    if first > today:
        raise NotFound(f"{month_label(first)} has not begun: there is no report for it yet.")
    return first


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), UTC)


@dataclass(frozen=True)
class DriveMonth:
    """One drive's money for the chapter in the month, and the money held around it."""

    title: str
    currency: str
    #: What moved in the month (gross, fees, refunds, disputes, corrections, remitted).
    month: Figures
    #: Net − remitted of everything before the month / up to its end.
    held_at_start_cents: int
    held_at_end_cents: int

    @property
    def change_in_held_cents(self) -> int:
        return self.month.held_cents


@dataclass(frozen=True)
class BatchRow:
    label: str
    drive_title: str
    posted: bool
    posted_on: date | None
    expected_count: int
    expected_total_cents: int
    entered_count: int
    entered_total_cents: int
    held_by: str
    deposited_on: date | None

    @property
    def balanced(self) -> bool:
        return (
            self.expected_count == self.entered_count
            and self.expected_total_cents == self.entered_total_cents
        )


@dataclass(frozen=True)
class RemittanceRow:
    sent_on: date
    drive_title: str
    amount_cents: int
    reference: str
    #: The day it was reversed and why, when it was recorded by mistake.
    reversed_on: date | None
    reversal_reason: str


@dataclass(frozen=True)
class PayoutRow:
    """One Stripe payout as the payouts service reconciles it (copied, not recomputed)."""

    stripe_id: str
    arrival_date: date
    currency: str
    #: reconciled, differs, manual, syncing, failed or canceled (PayoutView.state).
    state: str
    actual_cents: int
    #: None for a manual payout: Stripe does not itemise it, so the ledger expects nothing.
    expected_cents: int | None
    difference_cents: int
    unmatched_count: int
    share_cents: int
    share_count: int


@dataclass(frozen=True)
class DirectGiftRow:
    received_on: date
    donor_name: str
    amount_cents: int
    partner_reference: str


@dataclass(frozen=True)
class PartnerReportRow:
    reported_on: date
    drive_title: str
    debt_abolished_cents: int
    people_helped: int
    people_label: str
    region: str


@dataclass(frozen=True)
class CorrectionRow:
    on: date
    gift_number: int
    donor_name: str
    first_recorded_cents: int
    #: Signed: what the correction added to (or, negative, took from) the gift.
    change_cents: int
    reason: str


@dataclass(frozen=True)
class UnassignedRow:
    gift_number: int
    received_on: date | None
    donor_name: str
    method: str
    amount_cents: int


@dataclass(frozen=True)
class OpenItems:
    """What needs the treasurer as of the report's time (not the month's end)."""

    unassigned_count: int
    unassigned: tuple[UnassignedRow, ...]
    fee_pending_count: int
    open_batches: tuple[str, ...]
    #: (batch label, who holds the money) for posted batches not yet deposited.
    undeposited_batches: tuple[tuple[str, str], ...]

    @property
    def anything(self) -> bool:
        return bool(
            self.unassigned_count
            or self.fee_pending_count
            or self.open_batches
            or self.undeposited_batches
        )


@dataclass(frozen=True)
class MonthlySnapshot:
    chapter_slug: str
    chapter_name: str
    #: The month's first day, its key ("2026-03") and its name ("March 2026").
    month: date
    month_key: str
    month_name: str
    #: False while the month is still running (figures are month to date).
    month_complete: bool
    currency: str
    drives: tuple[DriveMonth, ...]
    total: DriveMonth
    batches: tuple[BatchRow, ...]
    remittances: tuple[RemittanceRow, ...]
    direct_gifts: tuple[DirectGiftRow, ...]
    partner_reports: tuple[PartnerReportRow, ...]
    corrections: tuple[CorrectionRow, ...]
    open_items: OpenItems
    payouts: tuple[PayoutRow, ...]
    payouts_note: str
    as_of: datetime
    org_name: str

    @property
    def title(self) -> str:
        return f"{self.chapter_name} — treasurer's report for {self.month_name}"


def _money_by_drive(session: Session, chapter: Chapter, first: date):
    """Per drive: (drive, the month's figures, everything before it)."""
    grouped = dashboard.by_month_and_drive(session, chapter, before=next_month(first))
    rows = []
    for drive in scope.drives_of(session, chapter):
        month = Figures.sum(
            figures
            for (month_of, drive_id), figures in grouped.items()
            if drive_id == drive.id and month_of == first
        )
        before = Figures.sum(
            figures
            for (month_of, drive_id), figures in grouped.items()
            if drive_id == drive.id and month_of < first
        )
        if month == Figures() and before.held_cents == 0:
            continue  # nothing moved and nothing held: not this month's business
        rows.append(
            DriveMonth(
                title=drive.title,
                currency=drive.currency,
                month=month,
                held_at_start_cents=before.held_cents,
                held_at_end_cents=(before + month).held_cents,
            )
        )
    return tuple(rows)


def _batches(session, chapter, start, end) -> tuple[BatchRow, ...]:
    return tuple(
        BatchRow(
            label=view.batch.label,
            drive_title=view.drive.title,
            posted=view.batch.status is BatchStatus.POSTED,
            posted_on=view.batch.posted_at.date() if view.batch.posted_at else None,
            expected_count=view.batch.expected_count,
            expected_total_cents=view.batch.expected_total_cents,
            entered_count=view.entered_count,
            entered_total_cents=view.entered_total_cents,
            held_by=view.batch.held_by,
            deposited_on=view.batch.deposited_on,
        )
        for view in batches.batches_between(session, chapter, start, end)
    )


def _remittances(session, chapter, start, end) -> tuple[RemittanceRow, ...]:
    """Remittances sent in the month, and older ones reversed in it."""
    rows = []
    for line in reversed(remittances.remittances_of(session, chapter)):
        sent_in_month = start.date() <= line.remittance.sent_on < end.date()
        reversed_at = line.reversal.effective_at if line.reversal else None
        reversed_in_month = reversed_at is not None and start <= reversed_at < end
        if not (sent_in_month or reversed_in_month):
            continue
        rows.append(
            RemittanceRow(
                sent_on=line.remittance.sent_on,
                drive_title=line.drive.title,
                amount_cents=line.remittance.amount_cents,
                reference=line.remittance.reference,
                reversed_on=reversed_at.astimezone(UTC).date() if reversed_at else None,
                # The reversal's memo is "reversal of remittance ref …: <reason>".
                reversal_reason=line.reversal.memo.partition(": ")[2] if line.reversal else "",
            )
        )
    return tuple(rows)


def _partner_reports(session, chapter, first, end_day) -> tuple[PartnerReportRow, ...]:
    rows = []
    # Each purchase as it stands (its newest record; a withdrawn one is left out).
    for purchase in reversed(partner_reports.purchases_for(session, chapter)):
        report = purchase.newest
        if purchase.live and first <= report.reported_on < end_day:
            rows.append(
                PartnerReportRow(
                    reported_on=report.reported_on,
                    drive_title=purchase.drive.title,
                    debt_abolished_cents=report.debt_abolished_cents,
                    people_helped=report.people_helped,
                    people_label="households" if report.counts_households else "people",
                    region=report.region,
                )
            )
    return tuple(rows)


def _corrections(session, chapter, start, end) -> tuple[CorrectionRow, ...]:
    return tuple(
        CorrectionRow(
            on=entry.effective_at.astimezone(UTC).date(),
            gift_number=gift.id,
            donor_name=gift.donor_name,
            first_recorded_cents=gift.amount_cents,
            change_cents=entry.amount_cents,
            reason=entry.memo.removeprefix("correction: "),
        )
        for entry, gift in gifts.corrections_between(session, chapter, start, end)
    )


def _payouts(session, chapter, first, end_day) -> tuple[PayoutRow, ...]:
    """The month's payouts (arrived in it), oldest first, from the payouts service."""
    views = payouts.payouts_of(
        session, chapter, limit=None, arriving_from=first, arriving_before=end_day
    )
    return tuple(
        PayoutRow(
            stripe_id=view.payout.stripe_id,
            arrival_date=view.payout.arrival_date,
            currency=view.payout.currency,
            state=view.state,
            actual_cents=view.actual_cents,
            expected_cents=view.expected_cents if view.can_be_split else None,
            difference_cents=view.difference_cents,
            unmatched_count=len(view.unmatched),
            share_cents=view.share_cents,
            share_count=view.share_count,
        )
        for view in sorted(views, key=lambda v: (v.payout.arrival_date, v.payout.id))
    )


def _open_items(session, chapter) -> OpenItems:
    attention = dashboard.attention(session, chapter)
    unassigned = gifts.unassigned(session, chapter)[:UNASSIGNED_LISTED]
    return OpenItems(
        unassigned_count=attention.unassigned_gifts,
        unassigned=tuple(
            UnassignedRow(
                gift_number=gift.id,
                received_on=gift.received_at.astimezone(UTC).date() if gift.received_at else None,
                donor_name=gift.donor_name,
                method=gift.method.value,
                amount_cents=gift.amount_cents,
            )
            for gift in unassigned
        ),
        fee_pending_count=attention.fee_pending_gifts,
        open_batches=tuple(batch.label for batch in attention.open_batches),
        undeposited_batches=tuple(
            (batch.label, batch.held_by) for batch in attention.undeposited_batches
        ),
    )


def build(
    session: Session, chapter: Chapter, month: str | date, *, now: datetime, org_name: str = ""
) -> MonthlySnapshot:
    """The chapter's report for ``month`` ("YYYY-MM" or its first day) as of ``now`` (aware
    UTC). Months are calendar months in UTC, like the dashboard's."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    now = now.astimezone(UTC)
    first = month if isinstance(month, date) else parse_month(month, now.date())
    end_day = next_month(first)
    start, end = _midnight(first), _midnight(end_day)
    drive_months = _money_by_drive(session, chapter, first)
    currency = drive_months[0].currency if drive_months else "USD"
    total_month = Figures.sum(row.month for row in drive_months)
    held_at_start = sum(row.held_at_start_cents for row in drive_months)
    total = DriveMonth(
        title="All drives",
        currency=currency,
        month=total_month,
        held_at_start_cents=held_at_start,
        held_at_end_cents=held_at_start + total_month.held_cents,
    )
    return MonthlySnapshot(
        chapter_slug=chapter.slug,
        chapter_name=chapter.name,
        month=first,
        month_key=f"{first:%Y-%m}",
        month_name=month_label(first),
        month_complete=now >= end,
        currency=currency,
        drives=drive_months,
        total=total,
        batches=_batches(session, chapter, start, end),
        remittances=_remittances(session, chapter, start, end),
        direct_gifts=tuple(
            DirectGiftRow(
                received_on=gift.received_at.astimezone(UTC).date(),
                donor_name=gift.donor_name,
                amount_cents=gift.amount_cents,
                partner_reference=direct.partner_reference,
            )
            for gift, direct in gifts.direct_gifts_between(session, chapter, start, end)
        ),
        partner_reports=_partner_reports(session, chapter, first, end_day),
        corrections=_corrections(session, chapter, start, end),
        open_items=_open_items(session, chapter),
        payouts=_payouts(session, chapter, first, end_day),
        payouts_note=PAYOUTS_NOTE,
        as_of=now,
        org_name=org_name,
    )
