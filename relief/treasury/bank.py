"""Bank statement import: each deposit on the statement is matched to a Stripe payout (same
amount, arriving within a few days) or to a posted deposit batch (same total, deposited within a
few days). Lines are stored once (importing the same statement again adds nothing), and nothing
is stored when any line of the file is invalid.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, col, select

from relief import money
from relief.errors import DomainError, InvalidInput
from relief.models import BankLine, BatchStatus, DepositBatch, Payout, User
from relief.treasury import payouts, scope
from relief.treasury.batches import unreadable_csv

#: How far a deposit's date may be from the payout's arrival or the batch's deposit date.
DAYS_APART = 3
MAX_BYTES = 5_000_000

#: Column names banks use, compared lowercased with spaces and punctuation dropped.
DATE_NAMES = (
    "date",
    "posteddate",
    "postingdate",
    "transactiondate",
    "bookingdate",
    "valuedate",
    "effectivedate",
    "transdate",
)
DESCRIPTION_NAMES = (
    "description",
    "memo",
    "details",
    "payee",
    "name",
    "narrative",
    "transactiondescription",
    "reference",
    "transactiondetails",
)
AMOUNT_NAMES = ("amount", "amountusd", "transactionamount", "value", "netamount")
CREDIT_NAMES = ("credit", "credits", "deposit", "deposits", "moneyin", "creditamount")
DEBIT_NAMES = ("debit", "debits", "withdrawal", "withdrawals", "moneyout", "debitamount")
DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%m/%d/%y", "%Y/%m/%d", "%d-%b-%Y", "%b %d, %Y")


def _key(name: str) -> str:
    return "".join(c for c in name.lower() if c.isalnum())


def _find(header: list[str], names: tuple[str, ...]) -> int | None:
    keys = [_key(h) for h in header]
    for name in names:
        if name in keys:
            return keys.index(name)
    return None


def _date(text: str) -> date:
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(text.strip(), fmt).date()
        except ValueError:
            continue
    raise InvalidInput(f"“{text}” is not a date (use YYYY-MM-DD or MM/DD/YYYY)")


def _signed_cents(text: str) -> int:
    raw = text.strip().replace("USD", "").strip()
    negative = raw.startswith("-") or (raw.startswith("(") and raw.endswith(")"))
    raw = raw.strip("()-+ ").lstrip("$")
    if raw.strip("0.,$ ") == "":
        return 0
    cents = money.parse(raw)
    return -cents if negative else cents


@dataclass(frozen=True)
class Deposit:
    row: int
    posted_on: date
    description: str
    amount_cents: int


@dataclass(frozen=True)
class Parsed:
    deposits: list[Deposit]
    withdrawals: int
    errors: list[str]


def parse_statement(data: bytes) -> Parsed:
    """The deposits (money in) of a bank's CSV export; withdrawals are counted and skipped.
    Raises InvalidInput when the file is not a CSV with recognisable columns; row problems are
    returned as sentences."""
    if len(data) > MAX_BYTES:
        raise InvalidInput("The file is larger than 5 MB; export a shorter period.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    reader = csv.reader(io.StringIO(text))
    try:
        rows = list(reader)
    except csv.Error as error:
        raise unreadable_csv(error, reader.line_num) from None
    # Some banks put account details above the header: take the first row naming a date.
    start = next((i for i, row in enumerate(rows[:15]) if _find(row, DATE_NAMES) is not None), None)
    if start is None:
        first = ", ".join(rows[0]) if rows else "(the file is empty)"
        raise InvalidInput(
            "No date column was found. The statement needs a header row with a date column "
            "(Date, Posted Date, Transaction Date), a description (Description, Memo, Payee) "
            "and an amount (Amount, or Credit and Debit). The file's first row is: "
            f"{first[:300]}"
        )
    header = rows[start]
    at_date = _find(header, DATE_NAMES)
    at_text = _find(header, DESCRIPTION_NAMES)
    at_amount = _find(header, AMOUNT_NAMES)
    at_credit, at_debit = _find(header, CREDIT_NAMES), _find(header, DEBIT_NAMES)
    if at_amount is None and at_credit is None:
        raise InvalidInput(
            "No amount column was found: name it Amount (deposits positive), or give Credit "
            f"and Debit columns. The header row has: {', '.join(header)[:300]}"
        )
    assert at_date is not None  # the header row is the first naming a date
    deposits, errors, withdrawals = [], [], 0
    for number, row in enumerate(rows[start + 1 :], start=start + 2):
        if not any(cell.strip() for cell in row):
            continue
        try:
            cell = row[at_date] if at_date < len(row) else ""
            posted_on = _date(cell)
            if at_amount is not None:
                cents = _signed_cents(row[at_amount] if at_amount < len(row) else "")
            else:
                assert at_credit is not None  # (refused above when neither is there)
                credit = row[at_credit].strip() if at_credit < len(row) else ""
                debit = (
                    row[at_debit].strip() if at_debit is not None and at_debit < len(row) else ""
                )
                cents = _signed_cents(credit) if credit else -abs(_signed_cents(debit or "0"))
        except (DomainError, IndexError) as error:
            message = error.message if isinstance(error, DomainError) else "too few cells"
            errors.append(f"Row {number}: {message}.")
            continue
        if cents <= 0:
            withdrawals += 1
            continue
        description = row[at_text].strip() if at_text is not None and at_text < len(row) else ""
        deposits.append(Deposit(number, posted_on, description[:500], cents))
    if not deposits and not errors:
        raise InvalidInput("The file has no deposits (no line with money coming in).")
    return Parsed(deposits, withdrawals, errors)


@dataclass(frozen=True)
class ImportResult:
    added: int
    already: int
    matched: int
    withdrawals: int
    errors: list[str]


def _fingerprint(chapter_id: int, deposit: Deposit, repeat: int) -> str:
    text = f"{chapter_id}|{deposit.posted_on}|{deposit.amount_cents}|{deposit.description}|{repeat}"
    return hashlib.sha256(text.encode()).hexdigest()


def import_statement(
    session, chapter, data: bytes, imported_by: User | None = None
) -> ImportResult:
    """Store the statement's deposits once each and match them; flushes. With any row error
    nothing is stored and the errors are returned."""
    parsed = parse_statement(data)
    if parsed.errors:
        return ImportResult(0, 0, 0, parsed.withdrawals, parsed.errors)
    seen: Counter = Counter()
    added = already = 0
    new_lines = []
    for deposit in parsed.deposits:
        same = (deposit.posted_on, deposit.amount_cents, deposit.description)
        seen[same] += 1
        fingerprint = _fingerprint(chapter.id, deposit, seen[same])
        if session.exec(select(BankLine.id).where(BankLine.fingerprint == fingerprint)).first():
            already += 1
            continue
        line = BankLine(
            chapter_id=chapter.id,
            posted_on=deposit.posted_on,
            description=deposit.description,
            amount_cents=deposit.amount_cents,
            fingerprint=fingerprint,
            imported_by_id=imported_by.id if imported_by else None,
        )
        session.add(line)
        new_lines.append(line)
        added += 1
    session.flush()
    matched = match_lines(session, chapter)
    return ImportResult(added, already, matched, parsed.withdrawals, [])


def match_lines(session: Session, chapter) -> int:
    """Match the chapter's unmatched bank lines to payouts and posted batches not matched yet,
    nearest date first; flushes. Returns how many were matched."""
    lines = list(
        session.exec(
            scope.rows_of(BankLine, chapter).where(
                col(BankLine.payout_id).is_(None), col(BankLine.batch_id).is_(None)
            )
        )
    )
    taken_payouts = {
        line.payout_id
        for line in session.exec(
            scope.rows_of(BankLine, chapter).where(col(BankLine.payout_id).is_not(None))
        )
    }
    taken_batches = {
        line.batch_id
        for line in session.exec(
            scope.rows_of(BankLine, chapter).where(col(BankLine.batch_id).is_not(None))
        )
    }
    open_payouts: list[Payout] = [
        p
        for p in payouts.visible_payouts(session, chapter)
        if p.id not in taken_payouts and p.status not in payouts.NOT_PAID_OUT
    ]
    open_batches = [
        b
        for b in session.exec(
            scope.rows_of(DepositBatch, chapter).where(
                DepositBatch.status == BatchStatus.POSTED,
                col(DepositBatch.deposited_on).is_not(None),
            )
        )
        if b.id not in taken_batches
    ]
    matched = 0
    for line in sorted(lines, key=lambda x: (x.posted_on, x.id)):
        candidates: list[tuple[int, int, int | None, Payout | DepositBatch]] = [
            (abs((p.arrival_date - line.posted_on).days), 0, p.id, p)
            for p in open_payouts
            if p.amount_cents == line.amount_cents
            and abs((p.arrival_date - line.posted_on).days) <= DAYS_APART
        ]
        candidates += [
            (abs((b.deposited_on - line.posted_on).days), 1, b.id, b)
            for b in open_batches
            if b.deposited_on is not None
            and b.expected_total_cents == line.amount_cents
            and abs((b.deposited_on - line.posted_on).days) <= DAYS_APART
        ]
        if not candidates:
            continue
        *_, best = min(candidates, key=lambda c: c[:3])
        if isinstance(best, DepositBatch):
            line.batch_id = best.id
            open_batches.remove(best)
        else:
            line.payout_id = best.id
            open_payouts.remove(best)
        matched += 1
    session.flush()
    return matched


@dataclass(frozen=True)
class BankView:
    unmatched: list[BankLine]
    matched: list[tuple[BankLine, str]]


def bank_view(session: Session, chapter, limit: int = 200) -> BankView:
    """The chapter's imported deposits, newest first: unmatched, and matched with what to."""
    lines = list(
        session.exec(
            scope.rows_of(BankLine, chapter)
            .order_by(col(BankLine.posted_on).desc(), col(BankLine.id).desc())
            .limit(limit)
        )
    )
    payout_ids = {line.payout_id for line in lines if line.payout_id}
    batch_ids = {line.batch_id for line in lines if line.batch_id}
    payout_names = (
        {
            p.id: p.stripe_id
            for p in session.exec(select(Payout).where(col(Payout.id).in_(payout_ids)))
        }
        if payout_ids
        else {}
    )
    batch_names = (
        {
            b.id: b.label
            for b in session.exec(select(DepositBatch).where(col(DepositBatch.id).in_(batch_ids)))
        }
        if batch_ids
        else {}
    )
    matched = []
    for line in lines:
        if line.payout_id:
            matched.append((line, f"Stripe payout {payout_names[line.payout_id]}"))
        elif line.batch_id:
            matched.append((line, f"deposit batch “{batch_names[line.batch_id]}”"))
    return BankView(
        unmatched=[line for line in lines if not line.payout_id and not line.batch_id],
        matched=matched,
    )
