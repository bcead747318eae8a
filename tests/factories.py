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


def make_partner_report(
    session,
    chapter,
    drive,
    recorder,
    *,
    sent_cents: int,
    reference: str,
    partner_reference: str,
    debt_abolished_cents: int,
    people_helped: int,
    region: str = "",
    on=None,
):
    """A remittance ``chapter`` sent for ``drive`` (check or wire ``reference``), and the
    partner's report on it recorded by ``recorder`` (an admin, or the host's treasurer), both
    dated ``on`` (default today). Returns (remittance, report)."""
    from datetime import date

    from relief.treasury import partner_reports, remittances

    on = on or date.today()
    sent = remittances.record_remittance(
        session,
        chapter,
        drive_id=drive.id,
        amount_cents=sent_cents,
        sent_on=on,
        reference=reference,
    )
    report = partner_reports.record_report(
        session,
        chapter,
        recorder,
        drive_id=drive.id,
        partner_reference=partner_reference,
        figures=partner_reports.Figures(
            debt_abolished_cents=debt_abolished_cents,
            people_helped=people_helped,
            counts_households=False,
            region=region,
            reported_on=on,
            remittance_ids=(sent.id,),
        ),
    )
    return sent, report
