"""A webhook leg run in several rounds prints its median round whole, with every round's
events/s beside it: the figures on the line come from one round, so they agree."""

import argparse
import re

from bench.load import Load
from bench.report_table import Result, report
from bench.webhooks import Floor, Webhooks, median_round


def leg(per_second: float, requests: int) -> Webhooks:
    return Webhooks(
        True,
        load=Load(requests=requests, seconds=2.0, per_second=requests / 2),
        processed=int(per_second * 2),
        per_second=per_second,
        exact=[],
    )


def test_the_median_round_is_shown_whole_and_every_round_listed():
    rounds = [leg(414, 830), leg(322, 650), leg(371, 745)]
    shown = median_round(rounds)
    assert shown is rounds[2]  # 371: the middle one, with its own requests and gifts
    assert shown.rounds == [414, 322, 371]  # in the order run

    floor = Floor(
        True,
        load=Load(requests=4_000, seconds=2.0, per_second=2_000),
        kept=4_000,
        per_second=2_000,
        bare_healthz=Load(requests=10_000, seconds=2.0, per_second=5_000),
    )
    result = Result("sqlite", "3", {}, webhooks=shown, webhook_floor=floor)
    args = argparse.Namespace(
        sizes=[1000],
        connections=32,
        duration=2,
        rounds=3,
        workers=2,
        fee_workers=1,
        only="webhooks",
        change_counter="on",
        wsgi_app="app:app",
    )
    text = report(args, [result], (0.0, 0.0, 0.0))
    line = next(one for one in text.splitlines() if one.startswith("sqlite     371 events/s"))
    assert "= 0.19 × the floor" in line  # 371 ÷ 2,000, of the round shown
    assert "742 gifts recorded from 745 requests" in line
    assert re.search(r"the median of 3 rounds: 414, 322, 371/s\)$", line), line


def test_an_even_count_shows_the_lower_middle_and_one_round_lists_nothing():
    assert median_round([leg(400, 800), leg(300, 600)]).per_second == 300
    single = median_round([leg(500, 1_000)])
    assert single.rounds == [500]


def test_a_round_not_measured_is_what_is_shown():
    missing = Webhooks(False, "not available (POST /stripe/webhook answers 404)")
    assert median_round([leg(400, 800), missing]) is missing
