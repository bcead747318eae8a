"""Small factories that go through the services, as the app does."""

from __future__ import annotations

from relief import drives
from relief.models import GiftMethod

MISSOURI = (
    ("mid-missouri", "Mid-Missouri", "MO"),
    ("st-louis", "St. Louis", "MO"),
    ("kansas-city", "Kansas City", "MO"),
)


def make_coalition(session, slug="mo-2026", goal_cents=160_000, **drive_options):
    """The three Missouri chapters and their joint drive."""
    for chapter_slug, name, region in MISSOURI:
        drives.create_chapter(session, chapter_slug, name, region)
    drive = drives.create_drive(
        session,
        slug=slug,
        title="Missouri Medical Debt Jubilee",
        goal_cents=goal_cents,
        chapter_slugs=[c for c, *_ in MISSOURI],
        **drive_options,
    )
    session.commit()
    return drive


def make_gift(session, drive, amount_cents=500, chapter=None, **options):
    chapter_obj = drives.chapter_in_drive(session, drive, chapter) if chapter else None
    options.setdefault("method", GiftMethod.CHECK)
    gift = drives.record_offline_gift(session, drive, amount_cents, chapter=chapter_obj, **options)
    session.commit()
    return gift
