"""Demo data: the three-chapter Missouri coalition, and synthetic gifts in bulk for benchmarks."""

from __future__ import annotations

import random
from collections.abc import Callable
from contextlib import nullcontext
from datetime import timedelta

from sqlmodel import Session, select

from relief import drives, ledger
from relief.models import Chapter, Drive, DriveChapter, GiftMethod, GiftStatus, utcnow

DEMO_DRIVE = "missouri-medical-debt"
#: The demo drive's host: its books hold the demo's gifts to the whole drive.
DEMO_HOST = "mid-missouri"
CHAPTERS = (
    ("mid-missouri", "Mid-Missouri", "MO", 60_000),
    ("st-louis", "St. Louis", "MO", 60_000),
    ("kansas-city", "Kansas City", "MO", 40_000),
)
STORY = (
    "Medical debt follows people for years: it ruins credit, keeps people from care, and is "
    "often sold to collectors for pennies. Together our three chapters buy that debt through a "
    "relief nonprofit and cancel it — no strings attached, no taxes owed by the families. "
    "Every dollar we raise relieves about one hundred dollars of debt for Missourians."
)
FIRST_NAMES = (
    "Ana",
    "Ben",
    "Chloé",
    "Dev",
    "Ellen",
    "Femi",
    "Grace",
    "Hiro",
    "Ines",
    "Jamal",
    "Kim",
    "Luis",
    "Maya",
    "Noor",
    "Owen",
    "Priya",
    "Quinn",
    "Rosa",
    "Sam",
    "Tariq",
)
LAST_INITIALS = "ABCDEFGHJKLMNPRSTW"
AMOUNTS = (500, 1000, 1500, 2000, 2500, 2500, 5000, 5000, 10000, 2000, 1000, 2500)


def _chapters(session: Session) -> list[Chapter]:
    found = []
    for slug, name, region, _goal in CHAPTERS:
        chapter = session.exec(select(Chapter).where(Chapter.slug == slug)).first()
        found.append(chapter or drives.create_chapter(session, slug, name, region))
    return found


def ensure_demo_drive(session: Session, slug: str | None = None) -> Drive:
    """The named drive, or the demo drive (created if missing)."""
    if slug:
        return drives.get_drive(session, slug)
    drive = session.exec(select(Drive).where(Drive.slug == DEMO_DRIVE)).first()
    if drive is not None:
        return drive
    _chapters(session)
    today = utcnow().date()
    return drives.create_drive(
        session,
        slug=DEMO_DRIVE,
        title="Missouri Medical Debt Jubilee",
        story=STORY,
        goal_cents=160_000,
        chapter_slugs=[slug for slug, *_ in CHAPTERS],
        chapter_goals={slug: goal for slug, _name, _region, goal in CHAPTERS},
        host_slug=DEMO_HOST,
        starts_on=today - timedelta(days=28),
        ends_on=today + timedelta(days=21),
        target_region="Missouri",
    )


def has_drives(session: Session) -> bool:
    return session.exec(select(Drive.id).limit(1)).first() is not None


def seed_coalition(session: Session, seed: int = 1) -> Drive:
    """The demo coalition with about four weeks of check and cash gifts (real money as the
    books count it: its press report carries no test-mode banner; the pages still say test mode
    while Stripe has no keys)."""
    drive = ensure_demo_drive(session)
    chapters = _chapters(session)
    rng = random.Random(seed)
    now = utcnow()
    for day in range(27, -1, -1):
        for _ in range(rng.randint(0, 3)):
            name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_INITIALS)}."
            drives.record_offline_gift(
                session,
                drive,
                rng.choice(AMOUNTS),
                method=rng.choice((GiftMethod.CHECK, GiftMethod.CASH)),
                chapter=rng.choice(chapters + [None]),
                donor_name=name,
                show_name=rng.random() < 0.6,
                received_at=now - timedelta(days=day, hours=rng.randint(0, 10)),
            )
    return drive


def add_gifts(
    session: Session,
    drive_slug: str,
    count: int,
    *,
    checkpoint: Callable[[], None],
    seed: int = 1,
    batch_size: int = 20_000,
    progress=None,
) -> int:
    """Add ``count`` synthetic paid gifts over the last four weeks, through the ledger in bulk.

    ``checkpoint`` (the caller's commit, e.g. ``boundary.checkpoint``) runs after each batch,
    so a large run shows progress and holds no lock for long.
    """
    rng = random.Random(seed)
    drive = drives.get_drive(session, drive_slug)
    chapter_ids = list(
        session.exec(select(DriveChapter.chapter_id).where(DriveChapter.drive_id == drive.id))
    )
    now = utcnow()
    added = 0
    batches = range(0, count, batch_size)
    iterator = progress(batches, label="Adding gifts", length=len(batches)) if progress else None
    with iterator if iterator is not None else nullcontext(batches) as steps:
        for start in steps:
            rows = [
                {
                    "drive_id": drive.id,
                    "chapter_id": rng.choice(chapter_ids + [None]),
                    "amount_cents": rng.choice(AMOUNTS),
                    "currency": drive.currency,
                    "method": GiftMethod.TEST,
                    "status": GiftStatus.PAID,
                    "donor_name": f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_INITIALS)}.",
                    "show_name": rng.random() < 0.5,
                    "test_mode": True,
                    "received_at": now - timedelta(seconds=rng.randint(0, 28 * 86400)),
                    "created_at": now,
                }
                for _ in range(min(batch_size, count - start))
            ]
            added += ledger.append_gifts_in_bulk(session, drive, rows)
            checkpoint()
    return added
