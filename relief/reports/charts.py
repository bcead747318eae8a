"""The report's pictures as SVG: the chart over time drawn by pygal and the QR code
(``relief.qr``, as on the drive page). Each chapter's part is drawn as a bar in its row of
the chapters table (the template), so twelve chapters cost no more room than their table.

Charts take int cents and label them through ``money``; pygal only places them. Its
interactive JavaScript is switched off (``js=[]``), so the SVG references nothing outside.
"""

from __future__ import annotations

import pygal
from pygal.style import Style

from relief import money, qr
from relief.reports.press import PressSnapshot

ACCENT = "#0b6e4f"
GOAL = "#b04a00"
MUTED = "#4a5560"
STRONG = "#1b1f23"
SUBTLE = "#dcd8cf"
#: The chart's SVG id. pygal draws a random one each time (for pages with several charts and
#: its scripts); a report has one chart and no script, and the same figures then give the
#: same SVG, and the same report HTML: what keeps a rendered PDF (``render._RENDERED``).
CHART_ID = "relief-chart"
#: What pygal writes into its own always-added stylesheet (base.css): fonts and their sizes.
FONTS = Style(
    font_family="DejaVu Sans",
    label_font_size=13,
    major_label_font_size=13,
    value_font_size=13,
    value_label_font_size=14,
    legend_font_size=14,
    title_font_size=16,
)


def _stylesheet(fill_opacity: str) -> list[str]:
    """The chart's colours and lines, in place of pygal's style.css and graph.css: only the
    rules that paint something in these charts. WeasyPrint parses and matches a chart's
    stylesheet on every render, and pygal's two (about 90 selectors, most for hover effects,
    tooltips and chart types we do not draw) cost a press report ~9 % of its CPU
    (docs/performance.md, change 30). ``fill_opacity``: the area under the line or the bars.
    Every line is one unit wide (``.reactive``, on the paths themselves); the goal's is dashed."""
    chart = f"#chart-{CHART_ID}"
    rules = {
        ".background": "fill:#ffffff",
        ".graph": f"fill:{MUTED}",
        ".axis .line": f"stroke:{STRONG}",
        ".axis .major.line": f"stroke:{MUTED}",
        ".axis .guide.line": f"fill:none;stroke:{SUBTLE}",
        ".axis text.major": f"fill:{STRONG}",
        ".axis.x text": "text-anchor:middle",
        ".axis.y text": "text-anchor:end",
        ".vertical .axis.x .guide.line": "opacity:0",
        ".axis.always_show .guide.line": "opacity:1",
        ".legend text": "fill-opacity:1",
        "text": "stroke:none",
        ".reactive": f"fill-opacity:{fill_opacity};stroke-opacity:.8;stroke-width:1",
        ".color-0": f"stroke:{ACCENT};fill:{ACCENT}",
        ".color-1": f"stroke:{GOAL};fill:{GOAL}",
        ".series.serie-1": "stroke-dasharray:9,6",
        ".nofill": "fill:none",
    }
    return ["inline:" + "".join(f"{chart} {rule}{{{paint}}}" for rule, paint in rules.items())]


_COMMON = dict(style=FONTS, js=[], margin=8, margin_right=40, spacing=12, truncate_label=-1)
#: Whole-dollar steps for the money axis, in cents (1, 2, 2.5 and 5 times a power of ten).
_STEPS = tuple(base * 10**power for power in range(2, 12) for base in (1, 2, 5)) + tuple(
    250 * 10**power for power in range(1, 10)
)


def _money_ticks(top_cents: int, at_most: int = 6) -> list[int]:
    """Round-number axis marks from 0 to at least ``top_cents``, no more than ``at_most``."""
    top_cents = max(top_cents, 10_000)  # an empty chart still reads $0 to $100
    step = min(s for s in _STEPS if -(-top_cents // s) <= at_most - 1)
    return [step * i for i in range(-(-top_cents // step) + 1)]


def _axis_label(currency: str):
    return lambda value: money.format_whole(int(value) if value is not None else 0, currency)


def _short_day(day) -> str:
    return f"{day.strftime('%b')} {day.day}"


#: Past this many times its goal, a linear axis would draw the goal on the axis itself: the
#: chart over time switches to a logarithmic one.
LOG_SCALE_FROM = 10


def uses_log_scale(snapshot: PressSnapshot) -> bool:
    """Whether the chart over time needs a logarithmic axis to keep the goal off the axis."""
    top = max([0, *(point.cumulative_cents for point in snapshot.days)])
    return snapshot.goal_cents > 0 and top >= LOG_SCALE_FROM * snapshot.goal_cents


def is_first_day(snapshot: PressSnapshot) -> bool:
    """A drive on its first day has one point: no line to draw over time yet."""
    return len(snapshot.days) < 2


def _log_ticks(low_cents: int, top_cents: int) -> list[int]:
    """Powers of ten (whole dollars) from a decade below ``low_cents`` (so the goal stands a
    decade clear of the axis) to at or above the top."""
    tick = 100
    while tick * 100 <= low_cents:
        tick *= 10
    ticks = [tick]
    while ticks[-1] < top_cents:
        ticks.append(ticks[-1] * 10)
    return ticks


def raised_over_time(snapshot: PressSnapshot, width: int = 760, height: int = 220) -> bytes:
    """Cumulative money raised per day, with the goal as a dashed line; on the first day, a
    bar of what it raised beside the goal (:func:`first_day`)."""
    if is_first_day(snapshot):
        return first_day(snapshot, width)
    cumulative = [point.cumulative_cents for point in snapshot.days]
    top = max([snapshot.goal_cents, *cumulative, 0])
    logarithmic = uses_log_scale(snapshot)
    if logarithmic:
        # A log axis has no zero: days before the first gift are left out of the line.
        ticks = _log_ticks(min(snapshot.goal_cents, *(c for c in cumulative if c > 0)), top)
        shown: list[int | None] = [cents if cents > 0 else None for cents in cumulative]
    else:
        ticks = _money_ticks(top)
        shown = list(cumulative)
    chart = pygal.Line(
        **_COMMON,
        css=_stylesheet(".3"),  # a translucent area under the raised line
        show_x_guides=False,
        width=width,
        height=height,
        fill=not logarithmic,
        logarithmic=logarithmic,
        show_dots=False,
        legend_at_bottom=True,
        legend_at_bottom_columns=2,
        y_labels=ticks,
        range=(ticks[0] if logarithmic else 0, ticks[-1]),
        value_formatter=_axis_label(snapshot.currency),
        show_minor_x_labels=False,
        x_labels_major_count=min(7, len(cumulative)),
    )
    chart.x_labels = [_short_day(point.day) for point in snapshot.days]
    chart.uuid = CHART_ID
    chart.add("Raised so far", shown, fill=not logarithmic)
    if snapshot.goal_cents > 0:
        chart.add(
            f"Goal {money.format_whole(snapshot.goal_cents, snapshot.currency)}",
            [snapshot.goal_cents] * len(cumulative),
            show_dots=False,
            fill=False,
        )
    return chart.render()


def first_day(snapshot: PressSnapshot, width: int = 760) -> bytes:
    """The first day's view: what the drive raised as a bar beside its goal's bar."""
    raised = snapshot.days[-1].cumulative_cents if snapshot.days else snapshot.raised_cents
    top = max(raised, snapshot.goal_cents, 0)
    label = _axis_label(snapshot.currency)
    chart = pygal.HorizontalBar(
        **_COMMON,
        # Solid bars; each amount is written in its label (inside a short bar, or a $0 one, a
        # printed value would not show).
        css=_stylesheet(".9"),
        width=width,
        height=170,
        show_legend=False,
        y_labels=_money_ticks(top),
        range=(0, _money_ticks(top)[-1]),
        value_formatter=label,
    )
    chart.uuid = CHART_ID
    # pygal draws the first label at the bottom: the goal under what was raised.
    chart.x_labels = [f"Goal: {label(snapshot.goal_cents)}", f"Raised on day one: {label(raised)}"]
    chart.add(
        "First day",
        [{"value": snapshot.goal_cents, "color": GOAL}, {"value": raised, "color": ACCENT}],
    )
    return chart.render()


def qr_code(url: str) -> bytes:
    """The QR code of ``url`` at the report's size (30 mm in print; the page's is larger)."""
    return qr.svg(url, scale=4)
