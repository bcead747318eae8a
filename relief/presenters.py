"""Plain data for the JSON API: a drive as ``drive_pages.drive_view`` sees it (figures from
``ledger.totals``, pace, the partner's reported relief), with no private data — no donor, no
email, no message. The press report takes its figures from the same ``drive_view`` but builds
its own snapshot (``reports/press.py``).

Nothing here computes money; it names what the ledger computed.
"""

from __future__ import annotations

from relief.drive_pages import DriveView
from relief.matches import Standing
from relief.projection import format_ratio


def drive_json(view: DriveView) -> dict:
    totals = view.totals
    drive = view.drive
    return {
        "slug": drive.slug,
        "title": drive.title,
        "currency": drive.currency,
        "goal_cents": drive.goal_cents,
        "raised_cents": totals.raised_cents,
        "gifts_cents": totals.figures.gifts_cents,
        "refunds_cents": totals.figures.refunds_cents,
        "disputes_cents": totals.figures.disputes_cents,
        "corrections_cents": totals.figures.corrections_cents,
        "fees_cents": totals.figures.fees_cents,
        "net_cents": totals.net_cents,
        "remitted_cents": totals.figures.remitted_cents,
        "projected_relief_cents": totals.projected_relief_cents,
        "ratio": format_ratio(drive.ratio_hundredths),
        "ratio_source": drive.ratio_source,
        "ratio_as_of": drive.ratio_as_of.isoformat(),
        "relief_is_estimate": True,
        "donation_count": totals.figures.gift_count,
        "starts_on": drive.starts_on.isoformat(),
        "ends_on": drive.ends_on.isoformat() if drive.ends_on else None,
        "pace": {
            "per_day_cents": view.pace.per_day_cents,
            "window_days": view.pace.window_days,
            "goal_reached_on": (
                view.pace.goal_reached_on.isoformat() if view.pace.goal_reached_on else None
            ),
            "projected_at_end_cents": view.pace.projected_at_end_cents,
        },
        "actual_relief": _actual_json(view),
        "fingerprint": totals.fingerprint,
        "entry_count": totals.entry_count,
        "updated_at": totals.updated_at.isoformat() if totals.updated_at else None,
        # Each chapter's books (ledger.owner): the host's also hold the gifts to the whole
        # drive, named apart, so the chapters add up to raised_cents and donation_count.
        "chapters": [
            {
                "slug": part.slug,
                "name": part.name,
                "region": part.region,
                "goal_cents": part.goal_cents,
                "raised_cents": part.books.raised_cents,
                "donation_count": part.books.gift_count,
                "host": part.host,
                "whole_drive_raised_cents": part.whole_drive.raised_cents,
                "whole_drive_donation_count": part.whole_drive.gift_count,
            }
            for part in totals.chapters
        ],
        # The members' leaderboard (approved, visible pages): display names, never emails.
        "members": [
            {
                "name": row.name,
                "display_name": row.display_name,
                "chapter": row.chapter_name,
                "raised_cents": row.raised_cents,
                "goal_cents": row.goal_cents,
            }
            for row in view.leaders
        ],
        # Sponsors' pledges are promises, kept apart: raised_cents counts a sponsor's money
        # only once it is received (received_cents), never what was pledged or matched.
        "matches": [_match_json(standing) for standing in view.matches],
        "projected_relief_with_match_cents": view.projected_with_match_cents,
    }


def _match_json(standing: Standing) -> dict:
    return {
        "id": standing.id,
        "sponsor": standing.sponsor_name,
        "ratio": f"{standing.ratio_sponsor}:{standing.ratio_donor}",
        "gifts_counted": standing.counts.value,
        "chapter": standing.chapter_slug,
        "starts_on": standing.starts_on.isoformat(),
        "ends_on": standing.ends_on.isoformat(),
        "state": standing.state,
        "pledged_cents": standing.pledged_cents,
        "matched_cents": standing.matched_cents,
        "received_cents": standing.received_cents,
        "remaining_cents": standing.remaining_cents,
        "fulfilled": standing.fulfilled,
    }


def _actual_json(view: DriveView) -> dict | None:
    """What the relief partner reported it relieved; null until it reports."""
    actual = view.actual
    if actual is None:
        return None
    return {
        "debt_abolished_cents": actual.debt_abolished_cents,
        "people_helped": actual.people_helped,
        "counts_households": actual.counts_households,
        "reported_on": actual.reported_on.isoformat(),
        "report_count": actual.report_count,
        "remitted_cents": actual.remitted_cents,
        "actual_ratio": (
            format_ratio(actual.actual_ratio_hundredths)
            if actual.actual_ratio_hundredths is not None
            else None
        ),
    }
