"""Deposit-slip batches: an event's cash and checks, entered against a count and total stated
first, posted to the ledger only when they agree.

Lines are a draft (they can be added and removed while the batch is open); posting turns each
into a paid Gift with its ledger entry, through the same code as every offline gift, in one
unit of work. A posted batch is never edited: a wrong gift is corrected with a new entry.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from relief import drives, ledger, money
from relief.db import is_postgres
from relief.errors import Conflict, DomainError, InvalidInput, NotFound
from relief.models import (
    BatchLine,
    BatchStatus,
    Chapter,
    DepositBatch,
    Drive,
    FormPurpose,
    GiftMethod,
    User,
    utcnow,
)
from relief.treasury import once, scope
from relief.validation import check_text

MAX_LINES = 2_000
CSV_COLUMNS = ("amount", "name", "anonymous", "method", "check_number", "received")
YES = {"yes", "y", "true", "1", "x"}
NO = {"no", "n", "false", "0", ""}


@dataclass(frozen=True)
class BatchView:
    batch: DepositBatch
    drive: Drive
    lines: tuple[BatchLine, ...]
    entered_count: int
    entered_total_cents: int

    @property
    def count_difference(self) -> int:
        """Entered − expected: negative means gifts still to enter."""
        return self.entered_count - self.batch.expected_count

    @property
    def total_difference_cents(self) -> int:
        return self.entered_total_cents - self.batch.expected_total_cents

    @property
    def balanced(self) -> bool:
        return self.count_difference == 0 and self.total_difference_cents == 0

    @property
    def is_open(self) -> bool:
        return self.batch.status is BatchStatus.OPEN


def open_batch(
    session: Session,
    chapter: Chapter,
    *,
    drive_id: int | str,
    label: str,
    expected_count: int,
    expected_total_cents: int,
    held_by: str = "",
    created_by: User | None = None,
    slip_number: str = "",
    form_token: str | None = None,
    received_on: date | None = None,
) -> DepositBatch:
    """Start a batch by stating how many gifts and how much money the slip holds, and the
    day the money came in (the event's date, on the coalition's calendar): each gift is dated
    on it unless its line says otherwise (without it, each line must say); flushes.
    Once per form token (``once``), and once per deposit slip number in the chapter (when
    given): the same slip again raises AlreadyRecorded with the first batch."""
    used = once.claim(session, chapter, form_token, FormPurpose.BATCH, created_by)
    drive = scope.drive_of(session, chapter, drive_id)
    label = check_text(label, "batch's name (e.g. the event)", 200)
    slip = check_text(slip_number, "deposit slip number", 64, required=False) or None
    if slip is not None:
        first = session.exec(
            scope.rows_of(DepositBatch, chapter).where(DepositBatch.slip_number == slip)
        ).first()
        if first is not None:
            raise once.AlreadyRecorded(
                f"Already recorded: deposit slip {slip} is the batch “{first.label}”. Nothing "
                "was recorded a second time.",
                FormPurpose.BATCH,
                first.id,
            )
    if received_on is not None and received_on > ledger.today():
        raise InvalidInput("Date received: cannot be in the future.")
    if not isinstance(expected_count, int) or not 0 < expected_count <= MAX_LINES:
        raise InvalidInput(f"The number of gifts must be between 1 and {MAX_LINES}.")
    if not isinstance(expected_total_cents, int) or not 0 < expected_total_cents <= money.MAX_CENTS:
        raise InvalidInput("The expected total must be more than zero and at most $10,000,000.")
    assert chapter.id is not None and drive.id is not None  # rows read from the database
    batch = DepositBatch(
        chapter_id=chapter.id,
        drive_id=drive.id,
        label=label,
        slip_number=slip,
        expected_count=expected_count,
        expected_total_cents=expected_total_cents,
        held_by=check_text(held_by, "name of who holds the money", 200, required=False),
        received_on=received_on,
        status=BatchStatus.OPEN,
        created_by_id=created_by.id if created_by else None,
    )
    session.add(batch)
    session.flush()
    once.settle(used, batch.id)
    return batch


def _lock(session: Session, chapter: Chapter, batch_id: int) -> DepositBatch:
    statement = scope.rows_of(DepositBatch, chapter).where(DepositBatch.id == batch_id)
    if is_postgres(session):
        statement = statement.with_for_update()
    batch = session.exec(statement).first()
    if batch is None:
        raise NotFound(f"There is no batch #{batch_id} in {chapter.name}.")
    return batch


def batch_view(session: Session, chapter: Chapter, batch_id: int) -> BatchView:
    return _view_of(session, scope.get_owned(session, DepositBatch, batch_id, chapter, "batch"))


def _view_of(session: Session, batch: DepositBatch) -> BatchView:
    lines = tuple(
        session.exec(
            select(BatchLine).where(BatchLine.batch_id == batch.id).order_by(col(BatchLine.id))
        )
    )
    return BatchView(
        batch=batch,
        drive=session.get_one(Drive, batch.drive_id),
        lines=lines,
        entered_count=len(lines),
        entered_total_cents=sum(line.amount_cents for line in lines),
    )


def batches_of(session: Session, chapter: Chapter) -> list[tuple[DepositBatch, Drive]]:
    return list(
        session.exec(
            scope.rows_of(DepositBatch, chapter, Drive)
            .join(Drive, col(Drive.id) == col(DepositBatch.drive_id))
            .order_by(col(DepositBatch.id).desc())
        ).all()
    )


@dataclass
class LineInput:
    """One gift as typed or imported, before it is checked."""

    amount: str
    name: str = ""
    anonymous: bool = False
    method: str = "check"
    check_number: str = ""
    received: str | date | None = None


def _line(batch: DepositBatch, raw: LineInput, today: date) -> BatchLine:
    try:
        amount_cents = money.parse(raw.amount)
    except DomainError as error:
        raise InvalidInput(f"Amount: {error.message}") from None
    if amount_cents <= 0:
        raise InvalidInput("Amount: must be more than zero.")
    try:
        method = GiftMethod((raw.method or "check").strip().lower())
    except ValueError:
        raise InvalidInput(f"Method: “{raw.method[:20]}” is not cash or check.") from None
    if method not in (GiftMethod.CASH, GiftMethod.CHECK):
        raise InvalidInput("Method: a deposit slip holds cash or checks.")
    received = raw.received
    if isinstance(received, str):
        text = received.strip()
        try:
            received = date.fromisoformat(text)
        except ValueError:
            raise InvalidInput(f"Date received: “{text[:20]}” is not YYYY-MM-DD.") from None
    if received is None:
        received = batch.received_on  # the slip's date, unless the line says otherwise
    if received is None:
        raise InvalidInput("Date received: required (YYYY-MM-DD).")
    if received > today:
        raise InvalidInput("Date received: cannot be in the future.")
    check_number = check_text(raw.check_number, "check number", 64, required=False) or None
    if method is GiftMethod.CASH and check_number:
        raise InvalidInput("Check number: cash has none; choose check or clear the number.")
    name = check_text(raw.name, "donor's name", 200, required=False)
    assert batch.id is not None  # a row read from the database
    return BatchLine(
        batch_id=batch.id,
        amount_cents=amount_cents,
        method=method,
        donor_name=name,
        show_name=bool(name) and not raw.anonymous,
        check_number=check_number,
        received_on=received,
    )


def _open_for_lines(session: Session, chapter: Chapter, batch_id: int, adding: int) -> DepositBatch:
    batch = _lock(session, chapter, batch_id)
    if batch.status is not BatchStatus.OPEN:
        raise Conflict("This batch is posted; correct its gifts instead of editing it.")
    present = len(session.exec(select(BatchLine.id).where(BatchLine.batch_id == batch.id)).all())
    if present + adding > MAX_LINES:
        raise InvalidInput(f"A batch holds at most {MAX_LINES} gifts.")
    return batch


def add_line(session: Session, chapter: Chapter, batch_id: int, raw: LineInput) -> BatchLine:
    """Add one gift to an open batch; flushes."""
    batch = _open_for_lines(session, chapter, batch_id, 1)
    line = _line(batch, raw, ledger.today())
    session.add(line)
    session.flush()
    return line


def remove_line(session: Session, chapter: Chapter, batch_id: int, line_id: int) -> None:
    """Take a mistyped gift off an open batch (it was never in the ledger)."""
    batch = _open_for_lines(session, chapter, batch_id, 0)
    line = session.exec(
        select(BatchLine).where(BatchLine.id == line_id, BatchLine.batch_id == batch.id)
    ).first()
    if line is None:
        raise NotFound(f"There is no line #{line_id} in this batch.")
    session.delete(line)
    session.flush()


def unreadable_csv(error: csv.Error, line: int) -> InvalidInput:
    """The refusal of a file Python's csv module cannot read (a cell over its 128 KiB limit,
    say): a sentence naming the line, never a 500."""
    if "field limit" in str(error):
        return InvalidInput(
            f"Line {line} of the file has a cell longer than {csv.field_size_limit() // 1024} "
            "KiB, more than any real CSV export holds: check that this is the right file."
        )
    return InvalidInput(f"The file cannot be read as CSV (line {line}: {error}).")


@dataclass
class ImportResult:
    added: int = 0
    #: (row number as a spreadsheet shows it, message) for every bad row.
    errors: list[tuple[int, str]] = field(default_factory=list)


def import_csv(session: Session, chapter: Chapter, batch_id: int, data: bytes) -> ImportResult:
    """Add every row of a CSV to an open batch, or none of them: with any bad row, nothing is
    added and every bad row is reported with its line number. Columns (header row required):
    amount, name, anonymous (yes/no), method (cash/check), check_number, received (YYYY-MM-DD).
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(
            "The file is not UTF-8 text; save it from the spreadsheet as CSV UTF-8."
        ) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = [(name or "").strip().lower() for name in (reader.fieldnames or [])]
        missing = [name for name in ("amount", "received") if name not in header]
        if missing:
            raise InvalidInput(
                f"The CSV needs a header row with at least: amount, received (missing: "
                f"{', '.join(missing)}). Columns: {', '.join(CSV_COLUMNS)}."
            )
        reader.fieldnames = header
        rows = list(reader)
    except csv.Error as error:
        raise unreadable_csv(error, reader.reader.line_num) from None
    if not rows:
        raise InvalidInput("The CSV has a header but no gifts.")
    batch = _open_for_lines(session, chapter, batch_id, len(rows))
    result = ImportResult()
    lines = []
    today = ledger.today()
    for number, row in enumerate(rows, start=2):
        anonymous = (row.get("anonymous") or "").strip().lower()
        if anonymous not in YES | NO:
            result.errors.append((number, f"Anonymous: “{anonymous[:10]}” is not yes or no."))
            continue
        try:
            lines.append(
                _line(
                    batch,
                    LineInput(
                        amount=row.get("amount") or "",
                        name=row.get("name") or "",
                        anonymous=anonymous in YES,
                        method=row.get("method") or "check",
                        check_number=row.get("check_number") or "",
                        received=row.get("received") or None,
                    ),
                    today,
                )
            )
        except DomainError as error:
            result.errors.append((number, error.message))
    if result.errors:
        return result
    session.add_all(lines)
    session.flush()
    result.added = len(lines)
    return result


def set_custody(
    session: Session,
    chapter: Chapter,
    batch_id: int,
    *,
    held_by: str,
    deposited_on: date | None,
) -> DepositBatch:
    """Who holds the batch's money, and the day it went into the bank (paperwork, not money:
    the ledger is untouched); flushes.

    The deposit date may be any day from when the money was received (its latest gift's date
    received, which is the slip's date unless the line says otherwise) up to today, on the
    coalition's calendar: a batch is
    often entered days after the money was banked, so the day it was typed does not bound
    it."""
    batch = _lock(session, chapter, batch_id)
    batch.held_by = check_text(held_by, "name of who holds the money", 200, required=False)
    if deposited_on is not None:
        if deposited_on > ledger.today():
            raise InvalidInput("The deposit date cannot be in the future.")
        # Each gift's date received (the slip's date unless its line says otherwise).
        latest = session.exec(
            select(func.max(BatchLine.received_on)).where(BatchLine.batch_id == batch.id)
        ).one()
        if latest is not None and deposited_on < latest:
            raise InvalidInput(
                f"The deposit date ({deposited_on.isoformat()}) is before the latest gift in "
                f"the batch was received ({latest.isoformat()}): money cannot be deposited "
                f"before it came in. The deposit date may be {latest.isoformat()} or any day "
                "after it."
            )
    batch.deposited_on = deposited_on
    session.flush()
    return batch


def post_batch(
    session: Session,
    chapter: Chapter,
    batch_id: int,
    form_token: str | None = None,
    posted_by: User | None = None,
) -> BatchView:
    """Post every gift of a balanced batch to the ledger, once; flushes.

    Refused while the entered count or total differ from what was stated. Safe against a
    double click: the batch row is locked and its status re-checked, and a repeat of the
    form (same token, or a batch posted already) raises AlreadyRecorded with the batch.
    """
    used = once.claim(session, chapter, form_token, FormPurpose.BATCH_POST, posted_by)
    batch = _lock(session, chapter, batch_id)
    if batch.status is not BatchStatus.OPEN:
        raise once.AlreadyRecorded(
            f"Already recorded: this batch was posted on {batch.posted_at:%b %-d, %Y}. "
            "Nothing was recorded a second time.",
            FormPurpose.BATCH_POST,
            batch.id,
        )
    view = batch_view(session, chapter, batch_id)
    if not view.balanced:
        problems = []
        if view.count_difference:
            problems.append(f"{view.entered_count} gifts entered, {batch.expected_count} stated")
        if view.total_difference_cents:
            problems.append(
                f"{money.format(view.entered_total_cents, view.drive.currency)} entered, "
                f"{money.format(batch.expected_total_cents, view.drive.currency)} stated"
            )
        raise Conflict("The batch does not balance: " + "; ".join(problems) + ".")
    for line in view.lines:
        gift = drives.record_offline_gift(
            session,
            view.drive,
            line.amount_cents,
            method=line.method,
            chapter=chapter,
            donor_name=line.donor_name,
            show_name=line.show_name,
            check_number=line.check_number,
            # Dated on the day it was received (the coalition's), not the day it was typed.
            received_at=ledger.noon(line.received_on),
        )
        line.gift_id = gift.id
    batch.status = BatchStatus.POSTED
    batch.posted_at = utcnow()
    session.flush()
    once.settle(used, batch.id)
    return batch_view(session, chapter, batch_id)


def undeposited(session: Session, chapter: Chapter) -> list[DepositBatch]:
    """Posted batches whose money is not in the bank yet: someone is holding it."""
    return list(
        session.exec(
            scope.rows_of(DepositBatch, chapter)
            .where(
                DepositBatch.status == BatchStatus.POSTED, col(DepositBatch.deposited_on).is_(None)
            )
            .order_by(col(DepositBatch.id))
        )
    )


def open_batches(session: Session, chapter: Chapter) -> list[DepositBatch]:
    return list(
        session.exec(
            scope.rows_of(DepositBatch, chapter)
            .where(DepositBatch.status == BatchStatus.OPEN)
            .order_by(col(DepositBatch.id))
        )
    )


def batches_between(
    session: Session, chapter: Chapter, start: datetime, end: datetime
) -> list[BatchView]:
    """Batches started, posted or deposited in [start, end), oldest first, with what was
    entered in each (as on the batch's page)."""
    rows = session.exec(
        scope.rows_of(DepositBatch, chapter)
        .where(
            ((col(DepositBatch.created_at) >= start) & (col(DepositBatch.created_at) < end))
            | ((col(DepositBatch.posted_at) >= start) & (col(DepositBatch.posted_at) < end))
            | (
                (col(DepositBatch.deposited_on) >= ledger.local_day(start))
                & (col(DepositBatch.deposited_on) < ledger.local_day(end))
            )
        )
        .order_by(col(DepositBatch.id))
    ).all()
    return [_view_of(session, batch) for batch in rows]
