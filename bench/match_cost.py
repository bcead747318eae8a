"""What a drive's match pledges cost to read, in-process: milliseconds per ``matches.standings``
(what the drive page, the API and the press PDF ask when their cache is cold), best of seven,
at each size, with two pledges on the drive's whole window:

- **same terms**: a whole drive's $100 pledge, then a $5,000 one on the same gifts: the order
  of the gifts decides nothing, the sums by day received answer;
- **wide, then narrow**: the same $100 pledge, then the host chapter's $5,000 one: the first
  fills up, so which gifts came first decides what the second matches, and the gifts are read
  in order until it no longer does (``gifts read``).

    .venv/bin/python -m bench.match_cost [--backend sqlite|postgresql] [--sizes 1000,100000]
"""

from __future__ import annotations

import argparse
import time

from bench.seed import database

PLEDGES = {"same terms": False, "wide, then narrow": True}


def measure(database_url: str, sizes: list[int]) -> list[tuple[int, str, float, int, list[int]]]:
    from sqlmodel import delete, select

    from bench.seed import drive_slug, seed
    from relief import boundary, create_app, ledger, matches
    from relief.models import Chapter, Drive, MatchCounts, MatchPledge

    seed(database_url, sizes)
    app = create_app({"DATABASE_URL": database_url})
    read = [0]
    reader = matches._gifts_in

    def counted(*args):
        gifts_in = reader(*args)

        def counting(index):
            for gift in gifts_in(index):
                read[0] += 1
                yield gift

        return counting

    matches._gifts_in = counted  # type: ignore[assignment]
    found = []
    try:
        with app.app_context():
            for size in sizes:
                for name, narrow in PLEDGES.items():
                    with boundary.command() as session:
                        drive = session.exec(
                            select(Drive).where(Drive.slug == drive_slug(size))
                        ).one()
                        session.exec(delete(MatchPledge).where(MatchPledge.drive_id == drive.id))  # type: ignore[call-overload]
                        host = session.get(Chapter, drive.host_chapter_id)
                        for sponsor, cap, chapter_only in (
                            ("Wide", 10_000, False),
                            ("Next", 500_000, narrow),
                        ):
                            matches.create_pledge(
                                session,
                                host,
                                drive,
                                matches.PledgeTerms(
                                    sponsor_name=sponsor,
                                    ratio="1:1",
                                    cap_cents=cap,
                                    starts_on=drive.starts_on,
                                    ends_on=ledger.today(),
                                    counts=MatchCounts.ALL,
                                    chapter_only=chapter_only,
                                ),
                            )
                    with boundary.command() as session:
                        drive = session.exec(
                            select(Drive).where(Drive.slug == drive_slug(size))
                        ).one()
                        best = float("inf")
                        for _ in range(7):
                            read[0] = 0
                            started = time.perf_counter()
                            standings = matches.standings(session, drive)
                            best = min(best, time.perf_counter() - started)
                        found.append(
                            (size, name, best * 1000, read[0], [s.matched_cents for s in standings])
                        )
    finally:
        matches._gifts_in = reader  # type: ignore[assignment]
        app.extensions["relief.engine"].dispose()
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--sizes", default="1000,100000")
    arguments = parser.parse_args(argv)
    sizes = [int(size) for size in arguments.sizes.split(",")]
    with database(arguments.backend, "relief-match-cost-") as (url, _):
        found = measure(url, sizes)
    print(
        f"{arguments.backend:<12}{'gifts':>9}  {'pledges':<19}{'ms':>8}{'gifts read':>12}  matched"
    )
    for size, name, millis, read, matched in found:
        print(f"{'':<12}{size:>9,}  {name:<19}{millis:>8.1f}{read:>12}  {matched}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
