"""The report's pictures as SVG: two charts drawn by pygal and the QR code
(``relief.qr``, as on the drive page).

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
_COMMON = dict(
    font_family="DejaVu Sans",
    background="#ffffff",
    plot_background="#ffffff",
    foreground=MUTED,
    foreground_strong="#1b1f23",
    foreground_subtle="#dcd8cf",
    colors=(ACCENT, GOAL),
    label_font_size=13,
    major_label_font_size=13,
    value_font_size=13,
    value_label_font_size=14,
    legend_font_size=14,
    title_font_size=16,
    guide_stroke_color="#dcd8cf",
    major_guide_stroke_color="#dcd8cf",
    guide_stroke_dasharray="0",
    major_guide_stroke_dasharray="0",
)
#: The line chart: a translucent area under the raised line.
LINE_STYLE = Style(**_COMMON, opacity=".3", opacity_hover=".3")
#: The bar chart: solid bars; each amount is written in its label (inside a short bar, or a $0
#: one, a printed value would not show).
BAR_STYLE = Style(**_COMMON, opacity=".9", opacity_hover=".9")
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


def raised_over_time(snapshot: PressSnapshot, width: int = 760, height: int = 270) -> bytes:
    """Cumulative money raised per day, with the goal as a dashed line."""
    cumulative = [point.cumulative_cents for point in snapshot.days]
    top = max([snapshot.goal_cents, *cumulative, 0])
    chart = pygal.Line(
        style=LINE_STYLE,
        show_x_guides=False,
        js=[],
        width=width,
        height=height,
        fill=False,
        show_dots=len(cumulative) == 1,
        dots_size=4,
        stroke_style={"width": 3},
        legend_at_bottom=True,
        legend_at_bottom_columns=2,
        y_labels=_money_ticks(top),
        range=(0, _money_ticks(top)[-1]),
        value_formatter=_axis_label(snapshot.currency),
        show_minor_x_labels=False,
        x_labels_major_count=min(7, len(cumulative)),
        truncate_label=-1,
        margin=8,
        margin_right=40,
        spacing=12,
    )
    chart.x_labels = [_short_day(point.day) for point in snapshot.days]
    chart.add("Raised so far", cumulative, fill=True)
    chart.add(
        f"Goal {money.format_whole(snapshot.goal_cents, snapshot.currency)}",
        [snapshot.goal_cents] * len(cumulative),
        show_dots=False,
        stroke_style={"width": 2.5, "dasharray": "9, 6"},
    )
    return chart.render()


def chapter_parts(snapshot: PressSnapshot, width: int = 760) -> bytes:
    """Each chapter's money raised (and gifts to the whole drive) as horizontal bars."""
    rows = [(line.name, line.raised_cents) for line in snapshot.chapters]
    rows.sort(key=lambda row: -row[1])
    if snapshot.unattributed_raised_cents or snapshot.unattributed_gift_count:
        rows.append(("Whole drive (no chapter)", snapshot.unattributed_raised_cents))
    top = max([0, *(cents for _name, cents in rows)])
    # Bars top to bottom in the order given: pygal draws the first label at the bottom.
    rows.reverse()
    chart = pygal.HorizontalBar(
        style=BAR_STYLE,
        js=[],
        width=width,
        height=60 + 44 * max(1, len(rows)),
        show_legend=False,
        print_values=False,
        y_labels=_money_ticks(top),
        range=(0, _money_ticks(top)[-1]),
        value_formatter=_axis_label(snapshot.currency),
        truncate_label=-1,
        margin=8,
        margin_right=40,
        spacing=12,
    )
    label = _axis_label(snapshot.currency)
    chart.x_labels = [f"{name}: {label(cents)}" for name, cents in rows]
    chart.add("Raised", [cents for _name, cents in rows])
    return chart.render()


def qr_code(url: str) -> bytes:
    """The QR code of ``url`` at the report's size (30 mm in print; the page's is larger)."""
    return qr.svg(url, scale=4)
