"""A donor's own data: export it, or erase it on request.

Erasing keeps every gift's amount, date, drive and chapter (the books must still balance and
the ledger is append-only) but removes who gave: name, email, message, attribution.
"""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, select

from relief import drive_pages
from relief.errors import InvalidInput, NotFound
from relief.models import Chapter, Drive, Gift

PERSONAL_FIELDS = (
    "donor_name",
    "donor_email",
    "message",
    "ref",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "check_number",
)


def _gifts_of(session: Session, email: str) -> list[Gift]:
    email = (email or "").strip().lower()
    if "@" not in email:
        raise InvalidInput("Give the donor's email address.")
    return list(
        session.exec(select(Gift).where(func.lower(Gift.donor_email) == email).order_by(Gift.id))
    )


def export(session: Session, email: str) -> dict:
    """Everything we hold about the donor with this email, as plain data."""
    gifts = _gifts_of(session, email)
    if not gifts:
        raise NotFound("No gift was made with that email address.")
    drives = {d.id: d.slug for d in session.exec(select(Drive))}
    chapters = {c.id: c.slug for c in session.exec(select(Chapter))}
    return {
        "email": email.strip().lower(),
        "gifts": [
            {
                "amount_cents": gift.amount_cents,
                "currency": gift.currency,
                "status": gift.status.value,
                "method": gift.method.value,
                "received_at": gift.received_at.isoformat() if gift.received_at else None,
                "drive": drives.get(gift.drive_id),
                "chapter": chapters.get(gift.chapter_id),
                "monthly": gift.monthly,
                "name_shown_publicly": gift.show_name,
                **{name: getattr(gift, name) for name in PERSONAL_FIELDS},
            }
            for gift in gifts
        ],
    }


def erase(session: Session, email: str) -> int:
    """Remove the donor's personal data from their gifts; amounts stay. Returns gifts erased."""
    gifts = _gifts_of(session, email)
    if not gifts:
        raise NotFound("No gift was made with that email address.")
    for gift in gifts:
        for name in PERSONAL_FIELDS:
            setattr(gift, name, None if name != "donor_name" else "")
        gift.show_name = False
    session.flush()
    # Her name may be on a drive's page in every worker's cache: no ledger entry says so.
    drive_pages.public_pages_changed(session, (gift.drive_id for gift in gifts))
    return len(gifts)
