"""Closing a chapter's month.

A treasurer reconciles a month (payouts and deposits against the ledger) and closes it: a month
closes only when its :func:`checklist` is all done — every Stripe payout arriving in it
reconciled to the cent, every bank deposit of the month matched, every deposit batch of the
month posted, deposited and found on the bank statement, and no card gift of the month waiting
for its Stripe fee. A coalition admin may close a month that is not reconciled with a written
reason (the view writes it, with what was outstanding, to the audit log); a treasurer may not.
After that, nothing new is dated in it: the ledger itself (``ledger.append``, whoever posts —
a treasurer's action or a late Stripe event) moves an entry that would fall in a closed month
to the first moment of the next open month, and says so in its memo
(``frozen_months.late_entries`` finds them there, with the day they were dated).

Closing also freezes the month: the row keeps the month's treasurer's report as it stood
(``freeze``, given by ``reports.monthly``, which treasury may not import) and the fingerprint
of the chapter's books at that moment (``frozen_months.books``), so the closed month reads
the same forever and anyone can check the books it came from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from relief import money
from relief.errors import Conflict, InvalidInput
from relief.ledger import as_utc, first_of_month, month_label, next_month, owner, previous_month
from relief.ledger import month_bounds as ledger_month_bounds
from relief.ledger import today as local_today
from relief.models import (
    CARD_PAYMENT,
    BankLine,
    BatchLine,
    BatchStatus,
    Chapter,
    DepositBatch,
    Gift,
    MonthClose,
    Payout,
    User,
    utcnow,
)
from relief.treasury import payouts, scope
from relief.treasury.frozen_months import Books, books

#: The shortest reason an admin may give for closing a month that is not reconciled.
MIN_REASON_CHARS = 15


def closed_months(session: Session, chapter: Chapter | int) -> list[date]:
    """The chapter's closed months, newest first."""
    chapter_id = chapter if isinstance(chapter, int) else chapter.id
    return list(
        session.exec(
            select(col(MonthClose.month))
            .where(MonthClose.chapter_id == chapter_id)
            .order_by(col(MonthClose.month).desc())
        )
    )


def closable_months(session: Session, chapter: Chapter, today: date | None = None) -> list[date]:
    """Ended months not closed yet, newest first: the last twelve."""
    today = today or local_today()
    closed = set(closed_months(session, chapter))
    month, found = first_of_month(today), []
    for _ in range(12):
        month = previous_month(month)
        if month not in closed:
            found.append(month)
    return found


@dataclass(frozen=True)
class Outstanding:
    """One thing that keeps a month from being reconciled, and the screen where it is fixed."""

    sentence: str
    #: "payout", "payouts", "bank", "batch" or "gifts": the treasurer's screen that fixes it.
    screen: str
    #: The payout's or batch's id on its screen (None for a list).
    object_id: int | None = None

    @property
    def line(self) -> str:
        """The sentence standing alone (a list item): capitalised."""
        return self.sentence[:1].upper() + self.sentence[1:]


@dataclass(frozen=True)
class Check:
    label: str
    outstanding: tuple[Outstanding, ...] = ()

    @property
    def done(self) -> bool:
        return not self.outstanding


@dataclass(frozen=True)
class Checklist:
    """What closing ``month`` needs, each check done or with what is outstanding."""

    month: date
    checks: tuple[Check, ...]

    @property
    def reconciled(self) -> bool:
        return all(check.done for check in self.checks)

    @property
    def outstanding(self) -> tuple[Outstanding, ...]:
        return tuple(item for check in self.checks for item in check.outstanding)

    def sentence(self, most: int = 6) -> str:
        """Why the month cannot close, in one sentence (the first ``most`` items)."""
        items = [item.sentence for item in self.outstanding]
        listed = "; ".join(items[:most])
        if len(items) > most:
            listed += f"; and {len(items) - most} more"
        return f"{month_label(self.month)} is not reconciled, so it cannot be closed yet: {listed}."


class NotReconciled(Conflict):
    """Closing refused: the checklist has outstanding items."""

    def __init__(self, checklist: Checklist):
        super().__init__(checklist.sentence())
        self.checklist = checklist


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """The coalition's month as [start, end) in aware UTC."""
    return ledger_month_bounds(month)


def _payout_check(session: Session, chapter: Chapter, month: date) -> Check:
    """Payouts arriving in the month that the chapter sees must agree to the cent on what
    concerns it: its own lines, and the lines nobody's gift explains (those concern every
    chapter). Another chapter's line that disagrees is that chapter's to fix."""
    items = []
    _, end = month_bounds(month)
    card_gifts = session.exec(
        select(Gift.id).where(
            owner.owned_by(Gift, chapter.id),
            CARD_PAYMENT,  # as ix_gift_chapter_card says it, so the index serves
            col(Gift.test_mode).is_(False),
            func.coalesce(Gift.received_at, Gift.created_at) < end,
        )
    ).first()
    if card_gifts is not None:
        # Payouts are known only as of the last sync: one after the month's end has seen
        # every payout of the month (Stripe pays out within days).
        last_sync = session.exec(select(func.max(Payout.synced_at))).one()
        if last_sync is None or as_utc(last_sync) < end:
            since = f" (last sync {last_sync:%Y-%m-%d})" if last_sync else " (never synced)"
            sentence = (
                f"Stripe has not been synced since {month_label(month)} ended{since}"
                if end <= utcnow()
                # A month-to-date report: the month has not ended, so it cannot say it did.
                else f"Stripe is synced once {month_label(month)} has ended{since}"
            )
            items.append(Outstanding(sentence, "payouts"))
    for view in payouts.payouts_of(
        session, chapter, None, arriving_from=month, arriving_before=next_month(month)
    ):
        payout = view.payout
        if payout.status in payouts.NOT_PAID_OUT or view.reconciled:
            continue  # money that never left Stripe, or agrees to the cent
        name = f"Stripe payout {payout.stripe_id} arriving {payout.arrival_date.isoformat()}"
        currency = payout.currency
        if not payout.automatic:
            # Stripe does not itemise a manual payout: it is reconciled once the statement of
            # the account it went to (whichever chapter imported it) shows it.
            found = session.exec(select(BankLine.id).where(BankLine.payout_id == payout.id)).first()
            if found is None:
                items.append(
                    Outstanding(
                        f"{name} is a manual payout not found on an imported bank statement",
                        "payout",
                        payout.id,
                    )
                )
            continue
        if not payout.transactions_complete:
            sentence = f"{name}: its transactions are not all fetched (sync with Stripe again)"
        elif payout.status != "paid":
            sentence = f"{name}: Stripe says it is {payout.status.replace('_', ' ')}, not paid"
        else:
            parts = []
            if view.unmatched:
                count = len(view.unmatched)
                amount = sum(line.txn.net_cents for line in view.unmatched)
                parts.append(
                    f"{count} transaction{'s' if count != 1 else ''} not in the ledger "
                    f"({money.format(amount, currency)} unexplained)"
                )
            mine = [line for line in view.mine if line.problem]
            if mine:
                count = len(mine)
                difference = view.share_cents - view.share_expected_cents
                parts.append(
                    f"{chapter.name}'s share differs from the ledger by "
                    f"{money.format(difference, currency)} ({count} transaction"
                    f"{'s' if count != 1 else ''} not agreeing to the cent)"
                )
            if not parts:
                continue  # what differs is another chapter's
            sentence = f"{name}: {'; '.join(parts)}"
        items.append(Outstanding(sentence, "payout", payout.id))
    return Check("Stripe payouts arriving this month reconciled to the cent", tuple(items))


def _bank_check(session: Session, chapter: Chapter, month: date) -> Check:
    lines = session.exec(
        scope.rows_of(BankLine, chapter)
        .where(
            col(BankLine.payout_id).is_(None),
            col(BankLine.batch_id).is_(None),
            BankLine.posted_on >= month,
            BankLine.posted_on < next_month(month),
        )
        .order_by(col(BankLine.posted_on), col(BankLine.id))
    ).all()
    return Check(
        "Bank deposits of the month matched to a payout or a batch",
        tuple(
            Outstanding(
                f"the bank deposit of {money.format(line.amount_cents)} on "
                f"{line.posted_on.isoformat()}"
                + (f" (“{line.description[:60]}”)" if line.description else "")
                + " matches no payout or batch",
                "bank",
            )
            for line in lines
        ),
    )


def _batch_check(session: Session, chapter: Chapter, month: date) -> Check:
    _, end = month_bounds(month)
    first, after = first_of_month(month), next_month(first_of_month(month))
    received_by_end = (
        select(BatchLine.id)
        .where(col(BatchLine.batch_id) == col(DepositBatch.id), BatchLine.received_on < after)
        .exists()
    )
    rows = session.exec(
        scope.rows_of(DepositBatch, chapter)
        .where(
            # Open or undeposited at the month's end: started (or holding a gift received)
            # by then, whenever it was posted.
            (
                (col(DepositBatch.status) == BatchStatus.OPEN)
                & ((col(DepositBatch.created_at) < end) | received_by_end)
            )
            | (
                (col(DepositBatch.status) == BatchStatus.POSTED)
                & col(DepositBatch.deposited_on).is_(None)
                & ((col(DepositBatch.posted_at) < end) | received_by_end)
            )
            # Deposited in the month: the bank statement must show it.
            | ((col(DepositBatch.deposited_on) >= first) & (col(DepositBatch.deposited_on) < after))
        )
        .order_by(col(DepositBatch.id))
    ).all()
    matched = set(
        session.exec(
            select(BankLine.batch_id).where(col(BankLine.batch_id).in_([b.id for b in rows]))
        ).all()
        if rows
        else ()
    )
    items = []
    for batch in rows:
        name = f"batch “{batch.label}”"
        if batch.status is BatchStatus.OPEN:
            items.append(Outstanding(f"{name} is not posted to the ledger", "batch", batch.id))
        elif batch.deposited_on is None:
            holder = f" ({batch.held_by} holds it)" if batch.held_by else ""
            items.append(Outstanding(f"{name} is not deposited{holder}", "batch", batch.id))
        elif batch.id not in matched:
            items.append(
                Outstanding(
                    f"{name}, deposited {batch.deposited_on.isoformat()}, is not on an imported "
                    "bank statement",
                    "batch",
                    batch.id,
                )
            )
    return Check("Deposit batches posted, deposited and on the bank statement", tuple(items))


def _fee_check(session: Session, chapter: Chapter, month: date) -> Check:
    _, end = month_bounds(month)
    pending = session.exec(
        select(func.count())
        .select_from(Gift)
        .where(
            owner.owned_by(Gift, chapter.id),
            col(Gift.fee_pending).is_(True),
            func.coalesce(Gift.received_at, Gift.created_at) < end,
        )
    ).one()
    items: tuple[Outstanding, ...] = ()
    if pending:
        items = (
            Outstanding(
                f"{pending} card gift{'s' if pending != 1 else ''} received by the month's end "
                f"{'wait' if pending != 1 else 'waits'} for Stripe's fee (it arrives with Stripe's "
                "notice, or run `flask stripe sync-fees`)",
                "gifts",
            ),
        )
    return Check("Stripe fees known for the month's card gifts", items)


def checklist(session: Session, chapter: Chapter, month: date) -> Checklist:
    """What closing the chapter's ``month`` needs: each check, done or with what is
    outstanding (and where it is fixed). Reads only."""
    month = first_of_month(month)
    return Checklist(
        month=month,
        checks=(
            _payout_check(session, chapter, month),
            _bank_check(session, chapter, month),
            _batch_check(session, chapter, month),
            _fee_check(session, chapter, month),
        ),
    )


@dataclass(frozen=True)
class Closed:
    row: MonthClose
    checklist: Checklist
    #: The admin's reason for closing a month that was not reconciled ("" when it was).
    override_reason: str = ""

    @property
    def label(self) -> str:
        return month_label(self.row.month)


def close_month(
    session: Session,
    chapter: Chapter,
    month: date,
    closed_by: User | None = None,
    *,
    freeze: Callable[[MonthClose, Books], str],
    override_reason: str | None = None,
) -> Closed:
    """Close one of the chapter's ended months (once), keeping the fingerprint of the
    chapter's books and ``freeze(row, books)``: the month's report as JSON (reports.monthly's
    ``close`` passes it); flushes.

    Refused (NotReconciled, with the checklist) while anything of the month is outstanding,
    unless a coalition admin gives a reason of at least MIN_REASON_CHARS characters; the
    caller audits the reason with what was outstanding."""
    month = first_of_month(month)
    if month >= first_of_month(utcnow()):  # the coalition's months
        raise InvalidInput(f"{month_label(month)} has not ended; only ended months close.")
    if session.get(MonthClose, (chapter.id, month)) is not None:
        raise Conflict(f"{month_label(month)} is already closed.")
    checked = checklist(session, chapter, month)
    reason = (override_reason or "").strip()
    if not checked.reconciled:
        if not reason:
            raise NotReconciled(checked)
        if closed_by is None or not closed_by.is_admin:
            raise Conflict(
                f"Only a coalition admin may close {month_label(month)} while it is not "
                "reconciled; reconcile it first."
            )
        if len(reason) < MIN_REASON_CHARS:
            raise InvalidInput(
                f"Say why {month_label(month)} closes without being reconciled, in at least "
                f"{MIN_REASON_CHARS} characters."
            )
    else:
        reason = ""  # nothing to override
    assert chapter.id is not None  # a chapter from the database
    kept = books(session, chapter)
    closed = MonthClose(
        chapter_id=chapter.id,
        month=month,
        closed_by_id=closed_by.id if closed_by else None,
        fingerprint=kept.fingerprint,
        last_entry_id=kept.last_entry_id,
    )
    # Frozen before the row is added: the report is built from the ledger, as it stands.
    closed.snapshot = freeze(closed, kept)
    session.add(closed)
    session.flush()
    return Closed(closed, checked, reason[:1000])
