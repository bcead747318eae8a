"""``python -m bench.fee_pages``: the fee batches' requests to Stripe at a rate of payments
where Stripe's whole-second times put pages of newer payments before each batch's own."""

from __future__ import annotations

import pytest

from bench.fee_pages import main, measure


@pytest.mark.parametrize("rate", [300, 800, 2_000])
def test_every_fee_is_found_in_the_list_at_any_rate(rate):
    asked = measure(rate, 2_000)
    assert asked.read_alone == 0
    # A page holds a hundred: the pages read beyond the fees' own twenty are the next
    # second's payments, which the next batches then find among those already listed.
    assert 20 <= asked.list_pages <= 40


def test_it_prints_what_it_asked(capsys):
    assert main(["--rate", "800", "--fees", "300"]) == 0
    assert "300 fees paid 800 a second:" in capsys.readouterr().out
