"""A donor's year-end statement: every gift one donor (by normalised address,
``Gift.donor_email_key``) gave in one calendar year of the coalition's time zone
(RELIEF_TIMEZONE), each net of refunds and corrections, and the year's total: what a monthly
donor files. A gift counts in the year of the day it counts on (a correction may move it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import or_
from sqlmodel import Session, col, select

from relief.ledger import as_utc, months, moves
from relief.models import Drive, Gift, email_key, present
from relief.outbox import due
from relief.payments import donations, records
from relief.privacy import address_hash
from relief.reports.receipt import Issuer


@dataclass(frozen=True)
class StatementLine:
    received_on: date
    drive_title: str
    number: str
    received_cents: int
    #: What the gift is now: received, net of refunds, disputes and corrections.
    net_cents: int
    monthly: bool
    test_mode: bool


@dataclass(frozen=True)
class YearEndStatement:
    year: int
    donor_name: str
    currency: str
    lines: tuple[StatementLine, ...]
    issuer: Issuer
    issued_at: datetime
    zone: str
    #: The language of the donor's latest gift of the year: the statement is written in it.
    language: str = "en"

    @property
    def total_cents(self) -> int:
        return sum(line.net_cents for line in self.lines)

    @property
    def test_mode(self) -> bool:
        return any(line.test_mode for line in self.lines)


def year_bounds(year: int) -> tuple[datetime, datetime]:
    """The calendar year in the coalition's zone, as UTC instants [start, end)."""
    return months.day_start(date(year, 1, 1)), months.day_start(date(year + 1, 1, 1))


def _received(
    session: Session, key: str, year: int, moved: dict[int, datetime] | None = None
) -> list[tuple[Gift, datetime]]:
    """The donor's gifts that count in ``year``, each with the moment it counts at: received
    in the year, or moved into it by a correction (``ledger.moves``; ``moved`` when the
    caller has read them already)."""
    start, end = year_bounds(year)
    moved = moves.moved_anywhere(session) if moved is None else moved
    in_year = (col(Gift.received_at) >= start) & (col(Gift.received_at) < end)
    candidates = session.exec(
        select(Gift).where(
            Gift.donor_email_key == key,
            col(Gift.status).in_(tuple(records.MONEY_RECEIVED)),
            or_(in_year, col(Gift.id).in_(list(moved))) if moved else in_year,
        )
    ).all()
    found = []
    for gift in candidates:
        on = moved.get(present(gift.id)) or as_utc(gift.received_at or gift.created_at)
        if start <= on < end:
            found.append((gift, on))
    return sorted(found, key=lambda pair: (pair[1], pair[0].id or 0))


def donor_keys(session: Session, year: int) -> list[str]:
    """The normalised address of every donor who gave in ``year``, in a steady order."""
    start, end = year_bounds(year)
    moved = moves.moved_anywhere(session)
    in_year = (col(Gift.received_at) >= start) & (col(Gift.received_at) < end)
    keys = session.exec(
        select(Gift.donor_email_key)
        .where(
            col(Gift.donor_email_key).is_not(None),
            col(Gift.status).in_(tuple(records.MONEY_RECEIVED)),
            or_(in_year, col(Gift.id).in_(list(moved))) if moved else in_year,
        )
        .distinct()
    ).all()
    return sorted(key for key in keys if key and _received(session, key, year, moved))


def anchor_gift(session: Session, key: str, year: int) -> Gift | None:
    """The donor's latest gift of the year: the mail job names it (ids only), and the address
    is read from it when the mail is sent."""
    found = _received(session, key, year)
    return found[-1][0] if found else None


def enqueue_statements(session: Session, year: int, progress=lambda done, total: None) -> int:
    """One mail job per donor who gave in ``year``, keyed by donor and year: a second run
    enqueues nothing new. Returns how many jobs this run wrote."""
    keys = donor_keys(session, year)
    written = 0
    for done, key in enumerate(keys, start=1):
        gift = anchor_gift(session, key, year)
        if gift is not None and due.year_end(session, gift, year, address_hash(key)):
            written += 1
        progress(done, len(keys))
    return written


def build(
    session: Session, email: str, year: int, *, issuer: Issuer, now: datetime
) -> YearEndStatement:
    key = email_key(email)
    found = _received(session, key, year)
    lines = []
    currency = "USD"
    donor_name = ""
    language = "en"
    for gift, on in found:
        history = donations.gift_history(session, gift)
        if not history.received_cents:
            continue  # not in a drive's books yet
        drive = session.get(Drive, gift.drive_id) if gift.drive_id else None
        currency = gift.currency
        donor_name = gift.donor_name or donor_name
        language = gift.locale
        lines.append(
            StatementLine(
                received_on=months.local_day(on),
                drive_title=drive.title if drive else "A drive (being assigned)",
                number=f"{drive.slug.upper() if drive else 'GIFT'}-{gift.id:06d}",
                received_cents=history.received_cents,
                net_cents=history.net_cents,
                monthly=gift.monthly,
                test_mode=gift.test_mode,
            )
        )
    return YearEndStatement(
        year=year,
        donor_name=donor_name,
        currency=currency,
        lines=tuple(lines),
        issuer=issuer,
        issued_at=now.astimezone(UTC),
        zone=months.zone_name(),
        language=language,
    )
