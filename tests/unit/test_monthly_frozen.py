"""A month closed before the report grew its close status, bank reconciliation, year to date,
gift list and signature lines keeps its frozen report: the snapshot JSON such a month kept
(written by the code of that time, tests/fixtures/monthly/) renders to the same text, to the
character, as it did then."""

from __future__ import annotations

from pathlib import Path

import pytest

from relief.reports import render, snapshots
from relief.reports.monthly_snapshot import MonthlySnapshot
from tests.read_back import pdf_text

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "monthly"


@pytest.mark.parametrize("paper", ["letter", "a4"])
def test_a_month_frozen_before_this_change_renders_as_it_did(paper):
    kept = (FIXTURES / "closed-before-0022.json").read_text()
    snapshot = snapshots.from_json(MonthlySnapshot, kept)
    then = (FIXTURES / f"closed-before-0022.{paper}.txt").read_text()
    assert pdf_text(render.monthly_pdf(snapshot, paper)) == then
