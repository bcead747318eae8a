"""The press report's layout read back as a reader sees it: the PDF's text (pdftotext), the
positions of its words and lines (pdfplumber) and its tagged structure. Synthetic snapshots
cover the extremes no fixture reaches ($99,999,999 raised, a 150-character title, twelve
chapters, a drive's first day); the tests against the database are in
tests/integration/test_reports.py."""

from __future__ import annotations

import io
import re
from dataclasses import fields
from datetime import UTC, date, datetime, timedelta
from xml.etree import ElementTree

import cssselect2
import pdfplumber
import pytest
import tinycss2
from pdfminer.pdfdocument import PDFDocument
from pdfminer.pdfparser import PDFParser
from pdfminer.pdftypes import resolve1

from relief.reports import charts, press, render
from tests.read_back import pdf_info, pdf_text

TITLE_150 = (
    "The Greater Missouri and Kansas Medical Debt Jubilee of the Heartland Coalition of "
    "Chapters for Relief and Justice in Health Care, from 2026 to 2027, phase one"
)[:150]
#: Border colours of the headline boxes (report.css): #dcd8cf and #b7d6c8.
BOX_BORDERS = ((0.862745, 0.847059, 0.811765), (0.717647, 0.839216, 0.784314))
GOAL_COLOUR = (0.690196, 0.290196, 0.0)


def snapshot(
    *,
    raised=160_000,
    goal=160_000,
    days=28,
    chapters=3,
    gifts=3,
    ratio=10_000,
    title="Missouri Medical Debt Jubilee",
    partner=None,
    **changes,
):
    """A drive's report data without a database: ``raised`` cents over ``days`` days."""
    start = date(2026, 3, 1)
    points, running = [], 0
    for i in range(days):
        part = raised // days + (raised % days if i == days - 1 else 0)
        running += part
        points.append(press.DayPoint(start + timedelta(days=i), part, running))
    fees = raised // 30
    bars = {"bar_percent": 100} if "bar_percent" in press.ChapterLine.__dataclass_fields__ else {}
    lines = tuple(
        press.ChapterLine(
            slug=f"c{i}",
            name=f"Chapter {i + 1} of the coalition",
            region="MO",
            # The last chapter takes the odd cents: no gifts to the whole drive.
            raised_cents=raised // chapters + (raised % chapters if i == chapters - 1 else 0),
            goal_cents=goal // chapters,
            gift_count=gifts // chapters,
            **bars,
        )
        for i in range(chapters)
    )
    values = dict(
        slug="mo-2026", title=title, currency="USD", starts_on=start,
        ends_on=date(2026, 12, 31), target_region="Missouri", partner_name="Undue Medical Debt",
        goal_cents=goal, raised_cents=raised, gifts_cents=raised, refunds_cents=0,
        disputes_cents=0, fees_cents=fees, net_cents=raised - fees,
        projected_relief_cents=(raised - fees) * ratio // 100,
        percent_of_goal=(raised * 100 + goal // 2) // goal, remitted_cents=0, gift_count=gifts,
        ratio_hundredths=ratio, ratio_text=f"{ratio // 100}:1",
        ratio_source="Undue Medical Debt's published average", ratio_as_of=date(2026, 1, 1),
        chapters=lines, unattributed_raised_cents=raised - sum(c.raised_cents for c in lines),
        unattributed_gift_count=0, days=tuple(points), fingerprint="ab" * 32,
        entry_count=gifts, ledger_updated_at=datetime(2026, 3, 28, 12, tzinfo=UTC),
        as_of=datetime(2026, 3, 28, 13, tzinfo=UTC),
        drive_url="https://relief.example.org/drives/mo-2026", org_name="Missouri coalition",
        partner_report=partner,
    )  # fmt: skip
    values.update(changes)
    known = {part.name for part in fields(press.PressSnapshot)}
    return press.PressSnapshot(**{name: value for name, value in values.items() if name in known})


def reported(relieved_cents, remitted_cents, people=42):
    values = dict(
        relieved_cents=relieved_cents, people_helped=people, reported_on=date(2026, 3, 20),
        remitted_cents=remitted_cents, actual_ratio_hundredths=10_000,
    )  # fmt: skip
    known = {part.name for part in fields(press.PartnerReport)}
    return press.PartnerReport(**{k: v for k, v in values.items() if k in known})


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def _close(colour, wanted) -> bool:
    return (
        isinstance(colour, tuple)
        and len(colour) == 3
        and all(abs(a - b) < 0.01 for a, b in zip(colour, wanted, strict=True))
    )


# Figures never leave their boxes -------------------------------------------------------------

MAX_DOLLARS = 99_999_999


@pytest.mark.parametrize("paper", ["letter", "a4"])
@pytest.mark.parametrize("with_partner", [False, True], ids=["projected", "reported"])
@pytest.mark.parametrize(
    ("raised_cents", "ratio", "gifts"),
    [(5_00, 10_000, 1), (1_234_567_89, 10_000, 98_765), (MAX_DOLLARS * 100 + 99, 10_000, 9_999_999),
     (MAX_DOLLARS * 100 + 99, 26_000, 9_999_999), (99_999_99, 26_000, 1_000_000)],
)  # fmt: skip
def test_headline_figures_stay_inside_their_boxes(paper, with_partner, raised_cents, ratio, gifts):
    partner = reported(raised_cents * ratio // 100, raised_cents) if with_partner else None
    data = render.pdf(
        snapshot(raised=raised_cents, ratio=ratio, gifts=gifts, partner=partner), paper
    )
    page = pdfplumber.open(io.BytesIO(data)).pages[0]
    boxes = [
        curve
        for curve in page.curves
        if any(_close(curve.get("non_stroking_color"), border) for border in BOX_BORDERS)
        and curve["bottom"] < page.height / 2
    ]
    assert len({(round(b["x0"]), round(b["top"])) for b in boxes}) >= 3 * 2  # outer and inner
    top, bottom = min(b["top"] for b in boxes), max(b["bottom"] for b in boxes)
    words = [w for w in page.extract_words() if w["top"] >= top and w["bottom"] <= bottom]
    assert any("$" in w["text"] for w in words)
    for word in words:
        inside = [
            box
            for box in boxes
            if box["x0"] + 2 <= word["x0"]
            and word["x1"] <= box["x1"] - 2
            and box["top"] <= word["top"]
            and word["bottom"] <= box["bottom"]
        ]
        assert inside, f"“{word['text']}” runs out of its box on {paper}"


# True percentages ------------------------------------------------------------------------------


def test_percentages_are_true_to_one_decimal_never_capped_or_cut_down():
    passed = flat(pdf_text(render.pdf(snapshot(raised=164_000, goal=160_000))))
    assert "of a $1,600.00 goal (102.5%)" in passed
    assert "Drive total $1,640.00 $1,600.00 102.5%" in passed
    early = flat(pdf_text(render.pdf(snapshot(raised=7_98, goal=100_00))))
    assert "of a $100.00 goal (8.0%)" in early
    far = flat(pdf_text(render.pdf(snapshot(raised=1_847_826, goal=1_000))))
    assert "(184,782.6%)" in far


# Charts useful on day one and at any scale ----------------------------------------------------


def test_a_first_day_shows_a_stated_first_day_bar_beside_the_goal():
    text = flat(pdf_text(render.pdf(snapshot(raised=50_00, days=1))))
    assert "Raised on day one: $50" in text and "Goal: $1,600" in text
    assert "First day: what the drive raised on March 1, 2026" in text


def _goal_line_and_axis(data: bytes):
    page = pdfplumber.open(io.BytesIO(data)).pages[0]
    goal = [
        c for c in page.curves + page.lines
        if _close(c.get("stroking_color"), GOAL_COLOUR) and c["width"] > 100
    ]  # fmt: skip
    # The x axis: the longest horizontal line of the chart in the muted colour.
    axis = max(
        (line for line in page.lines if line["top"] == line["bottom"] and line["width"] > 200),
        key=lambda line: line["top"],
    )
    labels = [w for w in page.extract_words() if re.fullmatch(r"\$[\d,]+", w["text"])]
    top_label = min((w for w in labels if w["x1"] < axis["x0"] + 5), key=lambda w: w["top"])
    return goal, axis, top_label


@pytest.mark.parametrize("raised_cents", [80_000, 160_000, 1_600_000_00, 9_999_999_999])
def test_the_goal_line_is_drawn_clear_of_the_axis_at_any_scale(raised_cents):
    data = render.pdf(snapshot(raised=raised_cents, goal=160_000))
    goal, axis, top_label = _goal_line_and_axis(data)
    assert goal, "the dashed goal line is drawn"
    plot_height = axis["top"] - top_label["top"]
    clearance = axis["top"] - goal[0]["top"]
    assert clearance > 0.1 * plot_height, "the goal line sits on (or near) the axis"


def _matched_selectors(svg: bytes) -> dict[str, bool]:
    """Each CSS selector of a chart's stylesheet, and whether it matches an element of it."""
    root = ElementTree.fromstring(svg)
    sheet = root.find(".//{http://www.w3.org/2000/svg}style").text
    elements = list(cssselect2.ElementWrapper.from_xml_root(root).iter_subtree())
    rules = tinycss2.parse_stylesheet(sheet, skip_whitespace=True, skip_comments=True)
    selectors = [s.strip() for rule in rules for s in tinycss2.serialize(rule.prelude).split(",")]
    return {
        selector: any(
            test.test(element)
            for test in cssselect2.compile_selector_list(selector)
            for element in elements
        )
        for selector in selectors
    }


def test_the_charts_stylesheet_holds_only_rules_that_paint_it():
    """WeasyPrint parses and matches a chart's stylesheet on every render (change 30 in
    docs/performance.md): our rules each paint one of the charts, and no rule for hover
    effects, tooltips or charts we never draw rides along (pygal's own always-added base.css
    sets the fonts: nine selectors)."""
    matched: dict[str, bool] = {}
    for svg in (
        charts.raised_over_time(snapshot()),
        charts.raised_over_time(snapshot(raised=1_600_000_00, goal=160_000)),  # logarithmic
        charts.raised_over_time(snapshot(raised=50_00, days=1)),  # the first day's bars
    ):
        selectors = _matched_selectors(svg)
        assert len(selectors) <= 30, f"{len(selectors)} selectors in the chart's stylesheet"
        for selector, hit in selectors.items():
            matched[selector] = matched.get(selector, False) or hit
    (ours,) = charts._stylesheet(".3")
    ours_parsed = tinycss2.parse_stylesheet(ours.removeprefix("inline:"), skip_whitespace=True)
    for rule in ours_parsed:
        selector = tinycss2.serialize(rule.prelude).strip()
        assert matched[selector], f"{selector} paints none of the charts"


# Two pages, a footer that never wraps its page numbers ---------------------------------------


@pytest.mark.parametrize("paper", ["letter", "a4"])
@pytest.mark.parametrize("with_partner", [False, True], ids=["projected", "reported"])
def test_a_150_character_title_and_12_chapters_fit_two_pages(paper, with_partner):
    assert len(TITLE_150) == 150
    partner = reported(15_000_000, 150_000) if with_partner else None
    data = render.pdf(
        snapshot(
            title=TITLE_150, chapters=12, gifts=12_000, raised=1_234_567_89,
            partner=partner, test_money=True, ratio_stale=True,
            press_contact="Dana Reyes, press@mocoalition.org, (314) 555-0100",
        ),
        paper,
    )  # fmt: skip
    pages = int(pdf_info(data)["Pages"])
    assert pages <= 2
    text = pdf_text(data)
    for number in range(1, pages + 1):
        assert f"Page {number} of {pages}" in text, "the page number wrapped"


# Test money, the ratio's source, the summary and the press contact ----------------------------


def test_test_money_puts_a_band_on_every_page():
    data = render.pdf(snapshot(test_money=True))
    pages = pdf_text(data).split("\f")
    marked = [page for page in pages if "TEST MODE" in page]
    assert len(marked) == int(pdf_info(data)["Pages"])
    assert "TEST MODE" not in pdf_text(render.pdf(snapshot(test_money=False)))


def test_the_ratio_source_has_its_date_a_link_and_a_flag_when_old():
    source = "Undue Medical Debt, Annual report 2025, https://unduemedicaldebt.org/annual-report."
    data = render.pdf(snapshot(ratio_source=source, ratio_source_url=press.source_url(source)))
    text = flat(pdf_text(data))
    assert "(stated January 1, 2026" in text
    links = [
        annotation["uri"]
        for page in pdfplumber.open(io.BytesIO(data)).pages
        for annotation in page.annots
        if annotation.get("uri")
    ]
    assert "https://unduemedicaldebt.org/annual-report" in links
    assert "more than a year" not in text
    stale = flat(pdf_text(render.pdf(snapshot(ratio_stale=True))))
    assert "This ratio was stated more than a year before these figures" in stale
    assert "no link to the source was given" in stale


def test_the_source_link_is_the_address_written_in_the_source():
    assert press.source_url("See https://example.org/ratio.") == "https://example.org/ratio"
    assert press.source_url("Undue Medical Debt's letter of March 2026") is None


def test_one_quotable_sentence_leads_and_the_press_contact_closes():
    text = flat(pdf_text(render.pdf(snapshot(press_contact="Dana Reyes, press@mo.org"))))
    assert (
        "Missouri Medical Debt Jubilee has raised $1,600.00 from 3 gifts (100.0% of its "
        "$1,600.00 goal), enough to relieve about $154,667 of medical debt at Undue Medical "
        "Debt's estimate of 100:1."
    ) in text
    assert "Press contact: Dana Reyes, press@mo.org" in text


# Once the partner reports, its figure leads ----------------------------------------------------


def test_the_partners_figure_leads_with_the_projection_and_the_money_beside_it():
    text = pdf_text(render.pdf(snapshot(partner=reported(3_000_000, 30_000))))
    lines = [line for line in text.splitlines() if line.strip()]
    first_figures = next(line for line in lines if "$30,000.00" in line and "about" in line)
    # Reading order across the boxes: the actual figure, the money behind it, the estimate.
    assert re.search(r"\$30,000\.00\s+\$300\.00\s+about\s+\$154,667", first_figures)
    words = flat(text)
    assert "medical debt relieved" in words and "remitted for it" in words
    assert "Why the figures differ." in words
    assert "The other $1,246.67 of net money is not yet in a reported purchase" in words


# Table headers keep their scope in the tagged PDF ---------------------------------------------


def _header_scopes(data: bytes) -> list[str | None]:
    document = PDFDocument(PDFParser(io.BytesIO(data)))
    found = []

    def walk(node):
        node = resolve1(node)
        if isinstance(node, list):
            for child in node:
                walk(child)
        elif isinstance(node, dict):
            kind = node.get("S")
            if kind is not None and getattr(kind, "name", None) == "TH":
                attributes = resolve1(node.get("A")) or {}
                scope = resolve1(attributes.get("Scope"))
                found.append(getattr(scope, "name", None))
            if "K" in node:
                walk(node["K"])

    walk(document.catalog["StructTreeRoot"])
    return found


def test_table_headers_keep_their_scope_in_the_tagged_pdf():
    scopes = _header_scopes(render.pdf(snapshot()))
    # Six column headers, then one row header per chapter and the total.
    assert scopes.count("Column") == 6 and scopes.count("Row") == 3 + 1
    assert None not in scopes
