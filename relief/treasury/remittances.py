"""Money a chapter sends to the relief partner, posted to the ledger as a remittance entry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlmodel import Session, col, select

from relief import ledger, money
from relief.db import is_postgres
from relief.errors import Conflict, InvalidInput
from relief.models import (
    Chapter,
    Drive,
    Entry,
    EntryKind,
    FormPurpose,
    Remittance,
    Total,
    User,
)
from relief.treasury import once, scope
from relief.validation import check_text


def record_remittance(
    session: Session,
    chapter: Chapter,
    *,
    drive_id: int | str,
    amount_cents: int,
    sent_on: date,
    reference: str,
    recorded_by: User | None = None,
    form_token: str | None = None,
) -> Remittance:
    """Record money sent to the partner for a drive and post its remittance entry; flushes.

    Refused when it is more than the chapter holds for that drive (net − remitted): the
    gifts behind it must be in the ledger first, or the held figure would go negative.
    Once per form token (``once``), and once per reference in the chapter while it stands:
    the same check again raises AlreadyRecorded with the first remittance.
    """
    used = once.claim(session, chapter, form_token, FormPurpose.REMITTANCE, recorded_by)
    drive = scope.drive_of(session, chapter, drive_id)
    if not isinstance(amount_cents, int) or not 0 < amount_cents <= money.MAX_CENTS:
        raise InvalidInput("The amount must be more than zero and at most $10,000,000.")
    reference = check_text(reference, "reference (check number, wire or ACH id)", 200)
    first = session.exec(
        scope.rows_of(Remittance, chapter).where(Remittance.standing_reference == reference)
    ).first()
    if first is not None:
        raise once.AlreadyRecorded(
            f"Already recorded: the remittance with reference “{reference}” is remittance "
            f"#{first.id}, {money.format(first.amount_cents, drive.currency)} sent "
            f"{first.sent_on.isoformat()}. Nothing was recorded a second time; if that one is "
            "wrong, reverse it first.",
            FormPurpose.REMITTANCE,
            first.id,
        )
    if sent_on > ledger.today():
        raise InvalidInput("The date sent cannot be in the future.")
    assert drive.id is not None and chapter.id is not None, "both are stored rows"
    if is_postgres(session):
        # Hold the drive's totals while checking what is held, so two remittances sent at
        # once cannot both pass the check (SQLite's write lock already serializes them).
        session.exec(
            select(Total.drive_id)
            .where(Total.drive_id == drive.id, Total.chapter_id == ledger.WHOLE_DRIVE)
            .with_for_update()
        ).first()
    # The chapter's books: for the host, the gifts to the whole drive too (ledger.owner).
    held = ledger.totals(session, drive).books(chapter.id).held_cents
    if amount_cents > held:
        raise InvalidInput(
            f"{chapter.name} holds {money.format(held, drive.currency)} for “{drive.title}”; "
            f"a remittance of {money.format(amount_cents, drive.currency)} is more than that. "
            "Record the gifts it comes from first."
        )
    remittance = Remittance(
        drive_id=drive.id,
        chapter_id=chapter.id,
        amount_cents=amount_cents,
        sent_on=sent_on,
        reference=reference,
        standing_reference=reference,
        recorded_by_id=recorded_by.id if recorded_by else None,
    )
    session.add(remittance)
    session.flush()
    entry = ledger.append(
        session,
        kind=EntryKind.REMITTANCE,
        amount_cents=amount_cents,
        currency=drive.currency,
        drive_id=drive.id,
        chapter_id=chapter.id,
        effective_at=ledger.noon(sent_on),
        external_id=f"remittance:{remittance.id}",
        memo=f"sent to {drive.partner_name}, ref {reference}"[:500],
    )
    assert entry is not None, "a new remittance's entry is new"
    remittance.entry_id = entry.id
    session.flush()
    once.settle(used, remittance.id)
    return remittance


def _reversal(session: Session, remittance: Remittance) -> Entry | None:
    return session.exec(
        select(Entry).where(
            Entry.reverses_id == remittance.entry_id, Entry.kind == EntryKind.REMITTANCE
        )
    ).first()


def reverse_remittance(
    session: Session, chapter: Chapter, remittance_id: int, reason: str
) -> ledger.Posted:
    """Undo a remittance recorded by mistake: a negative remittance entry pointing at it, with
    the reason; the original stays in the ledger. Once only; flushes."""
    remittance = scope.get_owned(session, Remittance, remittance_id, chapter, "remittance")
    reason = check_text(reason, "reason for reversing it", 400)
    if _reversal(session, remittance) is not None:
        raise Conflict("This remittance is already reversed.")
    # Its reference is free again: the check may be recorded anew, correctly.
    remittance.standing_reference = None
    drive = session.get(Drive, remittance.drive_id)
    assert drive is not None, "a remittance's drive is kept (foreign key)"
    entry = ledger.append(
        session,
        kind=EntryKind.REMITTANCE,
        amount_cents=-remittance.amount_cents,
        currency=drive.currency,
        drive_id=drive.id,
        chapter_id=chapter.id,
        reverses_id=remittance.entry_id,
        external_id=f"remittance-reversal:{remittance.id}",
        memo=f"reversal of remittance ref {remittance.reference}: {reason}"[:500],
    )
    if entry is None:  # a reversal sent at the same moment got there first
        raise Conflict("This remittance is already reversed.")
    return entry


@dataclass(frozen=True)
class RemittanceLine:
    remittance: Remittance
    drive: Drive
    #: The reversing entry, if it was reversed.
    reversal: Entry | None


def remittances_of(session: Session, chapter: Chapter) -> list[RemittanceLine]:
    rows = session.exec(
        scope.rows_of(Remittance, chapter, Drive)
        .join(Drive, col(Drive.id) == Remittance.drive_id)
        .order_by(col(Remittance.sent_on).desc(), col(Remittance.id).desc())
    ).all()
    entry_ids = [remittance.entry_id for remittance, _ in rows]
    reversals = (
        {
            entry.reverses_id: entry
            for entry in session.exec(
                select(Entry).where(
                    col(Entry.reverses_id).in_(entry_ids), Entry.kind == EntryKind.REMITTANCE
                )
            )
        }
        if entry_ids
        else {}
    )
    return [
        RemittanceLine(remittance, drive, reversals.get(remittance.entry_id))
        for remittance, drive in rows
    ]
