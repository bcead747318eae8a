"""The treasurer's monthly report of one chapter: a frozen snapshot of plain data.

Every figure comes from the services the treasurer's dashboard uses: the month's money from
``dashboard.by_month_and_drive`` (the dashboard's own month totals, split by drive, so the
month's total is the dashboard's row for that month), the balance carried in (held: net −
remitted) from the same rows of earlier months, the lists from ``treasury.batches``,
``remittances``, ``partner_reports`` and ``gifts``, and what needs attention from the
services of ``dashboard.attention``.

A closed month's report is the snapshot taken when it closed (:func:`close`; kept as JSON on
the month's ``MonthClose`` row with the fingerprint of the chapter's books): it reads the
same forever. Entries dated in a closed month that arrive later are booked in the next open
month, and that month's report lists them with the day they were dated.

The report holds donor names (treasurers may see them) but never a donor's email or message:
it gets forwarded. Its size grows with the month's batches, remittances and corrections, not
with its gifts.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime

from sqlmodel import Session, col

from relief import ledger
from relief.errors import InvalidInput, NotFound
from relief.ledger import (
    Figures,
    as_utc,
    local_day,
    month_bounds,
    month_label,
    next_month,
    zone_name,
)
from relief.models import (
    BankLine,
    BatchStatus,
    Chapter,
    EntryKind,
    MonthClose,
    User,
)
from relief.reports import snapshots
from relief.reports.monthly_snapshot import (
    BankReconciliation,
    BatchRow,
    CheckRow,
    CloseStatus,
    Closing,
    CorrectionRow,
    DirectGiftRow,
    DriveMonth,
    LateEntryRow,
    MonthlySnapshot,
    OpenItems,
    PartnerReportRow,
    PayoutRow,
    RemittanceRow,
    Signatures,
    UnassignedRow,
    UnmatchedDeposit,
)
from relief.treasury import (
    batches,
    dashboard,
    frozen_months,
    gifts,
    months,
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


#: What a late entry was, in the report's words.
LATE_KIND_LABELS = {
    EntryKind.GIFT: "Gift",
    EntryKind.FEE: "Processing fee",
    EntryKind.REFUND: "Refund",
    EntryKind.DISPUTE_WITHDRAWN: "Dispute: money withdrawn",
    EntryKind.DISPUTE_REINSTATED: "Dispute won: money back",
    EntryKind.REMITTANCE: "Remittance to the partner",
    EntryKind.CORRECTION: "Correction",
}


def _money_by_drive(session: Session, chapter: Chapter, first: date, grouped, drives):
    """Per drive: (drive, the month's figures, everything before it): the chapter's books,
    which for a drive it hosts hold the gifts to the whole drive too (marked so)."""
    rows = []
    for drive in drives:
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
        hosted = drive.host_chapter_id == chapter.id
        whole_drive = ledger.totals(session, drive).unattributed if hosted else Figures()
        rows.append(
            DriveMonth(
                title=drive.title,
                currency=drive.currency,
                month=month,
                held_at_start_cents=before.held_cents,
                held_at_end_cents=(before + month).held_cents,
                hosted=hosted,
                whole_drive_raised_cents=whole_drive.raised_cents,
                whole_drive_gift_count=whole_drive.gift_count,
            )
        )
    return tuple(rows)


def _year_to_date(first: date, currency: str, grouped) -> DriveMonth:
    """January 1 to the end of ``first``'s month, every drive of the chapter: the same
    month_total rows as the month's figures, added up."""
    january = first.replace(month=1)
    year = Figures.sum(f for (month_of, _), f in grouped.items() if january <= month_of <= first)
    before = Figures.sum(f for (month_of, _), f in grouped.items() if month_of < january)
    return DriveMonth(
        title=f"Year to date ({first.year})",
        currency=currency,
        month=year,
        held_at_start_cents=before.held_cents,
        held_at_end_cents=(before + year).held_cents,
    )


def _close_status(
    session: Session, chapter: Chapter, first: date, *, override_reason: str = ""
) -> CloseStatus:
    """The month's close status: closed (by whom, when) or not, with its checklist as it
    stands now (for a month being closed: as it stood at closing)."""
    row = frozen_months.closed_month(session, chapter, first)
    closer = session.get(User, row.closed_by_id) if row and row.closed_by_id else None
    checked = months.checklist(session, chapter, first)
    return CloseStatus(
        closed=row is not None,
        closed_at=as_utc(row.closed_at) if row else None,
        closed_by=closer.email if closer else "",
        override_reason=override_reason,
        checks=tuple(
            CheckRow(check.label, tuple(item.line for item in check.outstanding))
            for check in checked.checks
        ),
    )


def _bank(session, chapter, first, end_day, payouts_rows, batch_rows) -> BankReconciliation:
    """The month's bank deposits against the payouts that arrived and the batches deposited
    in it (the report's own rows of both)."""
    lines = session.exec(
        scope.rows_of(BankLine, chapter)
        .where(BankLine.posted_on >= first, BankLine.posted_on < end_day)
        .order_by(col(BankLine.posted_on), col(BankLine.id))
    ).all()
    deposited = [b for b in batch_rows if b.deposited_on and first <= b.deposited_on < end_day]
    return BankReconciliation(
        statement_lines=len(lines),
        deposits_cents=sum(line.amount_cents for line in lines),
        payouts_cents=sum(p.actual_cents for p in payouts_rows),
        payout_count=len(payouts_rows),
        batches_cents=sum(b.entered_total_cents for b in deposited),
        batch_count=len(deposited),
        unmatched=tuple(
            UnmatchedDeposit(line.posted_on, line.amount_cents, line.description[:80])
            for line in lines
            if line.payout_id is None and line.batch_id is None
        ),
    )


def _batches(session, chapter, start, end) -> tuple[BatchRow, ...]:
    return tuple(
        BatchRow(
            label=view.batch.label,
            drive_title=view.drive.title,
            posted=view.batch.status is BatchStatus.POSTED,
            posted_on=local_day(view.batch.posted_at) if view.batch.posted_at else None,
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
        sent_in_month = local_day(start) <= line.remittance.sent_on < local_day(end)
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
                reversed_on=local_day(reversed_at) if reversed_at else None,
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
            on=local_day(entry.effective_at),
            gift_number=_number(gift.id),
            donor_name=gift.donor_name,
            first_recorded_cents=gift.amount_cents,
            change_cents=entry.amount_cents,
            reason=entry.memo.removeprefix("correction: "),
        )
        for entry, gift in gifts.corrections_between(session, chapter, start, end)
    )


def _late_entries(session, chapter, first, drives) -> tuple[LateEntryRow, ...]:
    drive_titles = {drive.id: drive.title for drive in drives}
    return tuple(
        LateEntryRow(
            dated_on=late.dated,
            closed_month_name=month_label(late.closed_month),
            what=LATE_KIND_LABELS[late.entry.kind],
            gift_number=late.gift.id if late.gift else None,
            donor_name=late.gift.donor_name if late.gift else "",
            drive_title=drive_titles.get(late.entry.drive_id, ""),
            amount_cents=late.entry.amount_cents,
        )
        for late in frozen_months.late_entries(session, chapter, first)
    )


def _day(moment: datetime | None) -> date:
    assert moment is not None, "a gift sent directly to the partner has its date received"
    return local_day(moment)


def _number(row_id: int | None) -> int:
    assert row_id is not None, "rows read from the database have their id"
    return row_id


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
    """What needs the treasurer now, from the services of the dashboard's "needs attention"
    (not ``dashboard.attention`` itself: it also reads payouts, which this part does not
    print)."""
    unassigned = gifts.unassigned(session, chapter, limit=UNASSIGNED_LISTED)
    return OpenItems(
        unassigned_count=gifts.count_unassigned(session, chapter),
        unassigned=tuple(
            UnassignedRow(
                gift_number=_number(gift.id),
                received_on=local_day(gift.received_at) if gift.received_at else None,
                donor_name=gift.donor_name,
                method=gift.method.value,
                amount_cents=gift.amount_cents,
            )
            for gift in unassigned
        ),
        fee_pending_count=gifts.count_fee_pending(session, chapter),
        open_batches=tuple(batch.label for batch in batches.open_batches(session, chapter)),
        undeposited_batches=tuple(
            (batch.label, batch.held_by) for batch in batches.undeposited(session, chapter)
        ),
    )


def build(
    session: Session, chapter: Chapter, month: str | date, *, now: datetime, org_name: str = ""
) -> MonthlySnapshot:
    """The chapter's report for ``month`` ("YYYY-MM" or its first day) as of ``now`` (aware
    UTC): for a closed month, the snapshot taken when it closed. Months are the coalition's
    (RELIEF_TIMEZONE), like the dashboard's."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    now = now.astimezone(UTC)
    first = month if isinstance(month, date) else parse_month(month, local_day(now))
    closed = frozen_months.closed_month(session, chapter, first)
    if closed is not None and closed.snapshot:
        return snapshots.from_json(MonthlySnapshot, closed.snapshot)
    # A month closed before snapshots were kept is read from the ledger, like an open one.
    return _from_the_ledger(session, chapter, first, now=now, org_name=org_name)


def close(
    session: Session,
    chapter: Chapter,
    month: date,
    closed_by: User | None = None,
    *,
    override_reason: str | None = None,
    org_name: str = "",
) -> months.Closed:
    """Close the chapter's ``month`` (``treasury.months.close_month``: refused until it is
    reconciled) and keep its report as it stands, with the fingerprint of the chapter's
    books, so it reads the same forever; flushes."""

    def freeze(row: MonthClose, books: frozen_months.Books) -> str:
        snapshot = _from_the_ledger(
            session, chapter, row.month, now=row.closed_at, org_name=org_name
        )
        closing = Closing(
            closed_at=row.closed_at,
            fingerprint=books.fingerprint,
            entry_count=books.entry_count,
            last_entry_id=books.last_entry_id,
        )
        # The row is not stored yet: the status is said here, with the checklist at closing.
        status = replace(
            _close_status(session, chapter, row.month),
            closed=True,
            closed_at=as_utc(row.closed_at),
            closed_by=closed_by.email if closed_by else "",
            override_reason=(override_reason or "").strip()[:1000],
        )
        signatures = Signatures(prepared_by=closed_by.email if closed_by else "")
        return snapshots.to_json(
            replace(snapshot, closing=closing, close_status=status, signatures=signatures)
        )

    return months.close_month(
        session, chapter, month, closed_by, freeze=freeze, override_reason=override_reason
    )


def _from_the_ledger(
    session: Session, chapter: Chapter, first: date, *, now: datetime, org_name: str
) -> MonthlySnapshot:
    end_day = next_month(first)
    start, end = month_bounds(first)
    # One read of the chapter's month_total rows (the dashboard's) for the month, the balance
    # carried in and the year to date; one of its drives.
    grouped = dashboard.by_month_and_drive(session, chapter, before=end_day)
    drives = scope.drives_of(session, chapter)
    drive_months = _money_by_drive(session, chapter, first, grouped, drives)
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
    batch_rows = _batches(session, chapter, start, end)
    payout_rows = _payouts(session, chapter, first, end_day)
    status = _close_status(session, chapter, first)
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
        batches=batch_rows,
        remittances=_remittances(session, chapter, start, end),
        direct_gifts=tuple(
            DirectGiftRow(
                received_on=_day(gift.received_at),
                donor_name=gift.donor_name,
                amount_cents=gift.amount_cents,
                partner_reference=direct.partner_reference,
            )
            for gift, direct in gifts.direct_gifts_between(session, chapter, start, end)
        ),
        partner_reports=_partner_reports(session, chapter, first, end_day),
        corrections=_corrections(session, chapter, start, end),
        open_items=_open_items(session, chapter),
        payouts=payout_rows,
        payouts_note=PAYOUTS_NOTE,
        as_of=now,
        time_zone=zone_name(),
        org_name=org_name,
        late_entries=_late_entries(session, chapter, first, drives),
        close_status=status,
        bank=_bank(session, chapter, first, end_day, payout_rows, batch_rows),
        year_to_date=_year_to_date(first, currency, grouped),
        # Not listed one by one: the month's ledger CSV has every gift (see the template).
        gifts=None,
        gifts_in_csv=True,
        signatures=Signatures(prepared_by=status.closed_by),
    )
