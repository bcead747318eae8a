"""Money a chapter sends to the relief partner, posted to the ledger as a remittance entry."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from sqlmodel import Session

from relief import ledger, money
from relief.drives import _check_text
from relief.errors import InvalidInput
from relief.models import Chapter, Drive, EntryKind, Remittance, User, utcnow
from relief.treasury import scope


def record_remittance(
    session: Session,
    chapter: Chapter,
    *,
    drive_id: int | str,
    amount_cents: int,
    sent_on: date,
    reference: str,
    recorded_by: User | None = None,
) -> Remittance:
    """Record money sent to the partner for a drive and post its remittance entry; flushes.

    Refused when it is more than the chapter holds for that drive (net − remitted): the
    gifts behind it must be in the ledger first, or the held figure would go negative.
    """
    drive = scope.drive_of(session, chapter, drive_id)
    if not isinstance(amount_cents, int) or not 0 < amount_cents <= money.MAX_CENTS:
        raise InvalidInput("The amount must be more than zero and at most $10,000,000.")
    reference = _check_text(reference, "reference (check number, wire or ACH id)", 200)
    if sent_on > utcnow().date():
        raise InvalidInput("The date sent cannot be in the future.")
    figures = ledger.totals(session, drive).by_chapter_id.get(chapter.id, ledger.Figures())
    held = figures.net_cents - figures.remitted_cents
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
        effective_at=datetime.combine(sent_on, time(12), UTC),
        external_id=f"remittance:{remittance.id}",
        memo=f"sent to {drive.partner_name}, ref {reference}"[:500],
    )
    remittance.entry_id = entry.id
    session.flush()
    return remittance


def remittances_of(session: Session, chapter: Chapter) -> list[tuple[Remittance, Drive]]:
    return list(
        session.exec(
            scope.rows_of(Remittance, chapter, Drive)
            .join(Drive, Drive.id == Remittance.drive_id)
            .order_by(Remittance.sent_on.desc(), Remittance.id.desc())
        ).all()
    )
