"""The shape of the treasurer's monthly report: frozen dataclasses of plain values, built by
``reports.monthly`` and formatted by ``templates/reports/monthly.html``; a closed month keeps
one as JSON (``reports.snapshots``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from relief.ledger import Figures


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
    #: The chapter hosts the drive: its figures include the gifts to the whole drive
    #: (``ledger.owner``), of which these so far (as of the report).
    hosted: bool = False
    whole_drive_raised_cents: int = 0
    whole_drive_gift_count: int = 0

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
class LateEntryRow:
    """An entry dated in a month the chapter had closed, booked (and counted) in this one."""

    dated_on: date
    #: The closed month it was dated in ("November 2026").
    closed_month_name: str
    what: str
    gift_number: int | None
    donor_name: str
    drive_title: str
    #: Signed as in the ledger: a refund is negative, a fee positive (charged).
    amount_cents: int


@dataclass(frozen=True)
class Closing:
    """When the month was closed, and the chapter's books it was frozen from."""

    closed_at: datetime
    #: The ledger's hash chained over the chapter's entries at closing (treasury.frozen_months).
    fingerprint: str
    entry_count: int
    last_entry_id: int


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
class CheckRow:
    """One check of the month's close checklist (treasury.months.checklist)."""

    label: str
    #: What keeps it from being done, one sentence each; empty when it is done.
    outstanding: tuple[str, ...]

    @property
    def done(self) -> bool:
        return not self.outstanding


@dataclass(frozen=True)
class CloseStatus:
    """Whether the month is closed, and its checklist (as it stands, or as it stood at
    closing) with the admin's reason when it was closed without being reconciled."""

    closed: bool
    closed_at: datetime | None
    #: Who closed it (their sign-in email); "" when not known.
    closed_by: str
    #: Why a coalition admin closed it though it was not reconciled; "" otherwise.
    override_reason: str
    checks: tuple[CheckRow, ...]

    @property
    def reconciled(self) -> bool:
        return all(check.done for check in self.checks)


@dataclass(frozen=True)
class UnmatchedDeposit:
    posted_on: date
    amount_cents: int
    description: str


@dataclass(frozen=True)
class BankReconciliation:
    """The month's deposits on the chapter's bank statement against the money it received:
    Stripe payouts that arrived and deposit batches deposited in the month."""

    #: Whether a statement covering the month was imported at all.
    statement_lines: int
    deposits_cents: int
    payouts_cents: int
    payout_count: int
    batches_cents: int
    batch_count: int
    unmatched: tuple[UnmatchedDeposit, ...]

    @property
    def received_cents(self) -> int:
        return self.payouts_cents + self.batches_cents

    @property
    def difference_cents(self) -> int:
        """Deposits − money received: 0 when they agree."""
        return self.deposits_cents - self.received_cents


@dataclass(frozen=True)
class GiftRow:
    """One gift received in the month. The donor's name only if they chose to show it."""

    gift_number: int
    received_on: date
    donor: str
    method: str
    status: str
    drive_title: str
    amount_cents: int


@dataclass(frozen=True)
class Signatures:
    """Who prepared the report (who closed the month; "" for a line to sign) and a line for
    whoever approves it."""

    prepared_by: str


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
    #: Entries dated in an earlier, closed month that were booked in this one.
    late_entries: tuple[LateEntryRow, ...] = ()
    #: Set once the month is closed: the report is then this snapshot, frozen at closing.
    closing: Closing | None = None
    # Kept by months closed after the report grew these parts; None in older snapshots, whose
    # report shows them as it always did (without these parts).
    close_status: CloseStatus | None = None
    bank: BankReconciliation | None = None
    #: January 1 to the month's end, every drive of the chapter.
    year_to_date: DriveMonth | None = None
    #: The month's gifts (the first 300) and how many there are in all: kept by months closed
    #: while the report listed them; None since.
    gifts: tuple[GiftRow, ...] | None = None
    gift_total_count: int = 0
    #: The report says where every gift of the month is listed (the month's ledger and donors
    #: CSVs) instead of listing them; False in snapshots kept before.
    gifts_in_csv: bool = False
    signatures: Signatures | None = None
    #: The time zone its days and months are counted in (RELIEF_TIMEZONE when it was made);
    #: snapshots kept before the setting existed were counted in UTC.
    time_zone: str = "UTC"

    @property
    def title(self) -> str:
        return f"{self.chapter_name} — treasurer's report for {self.month_name}"
