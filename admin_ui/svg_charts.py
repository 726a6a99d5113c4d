"""Bar charts drawn on the server as inline SVG: no CDN, no JavaScript, readable on a phone.

Why by hand and not a charting library: the one pure-Python SVG chart library in wide use (pygal)
writes ``<style>`` blocks and ``<script>`` tags into its SVG, which the panel's Content-Security-Policy
(``style-src 'self'; script-src 'self'``) blocks — and a horizontal stacked bar is forty lines. Colours
come from classes styled in ``static/app.css`` (presentation attributes as the fallback), so the CSP
holds.

Bars are horizontal: one row per period or state, its label on the left and its value on the right.
The ``viewBox`` is phone-sized (360 wide) and the SVG scales to its container, so the text keeps a
legible size on a 390-pixel screen and the chart does not grow huge on a desktop (CSS caps its width).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from markupsafe import Markup, escape

WIDTH = 360
ROW = 24
CHAR_WIDTH = 7  # a generous average width of a 12-unit sans-serif character, to size the text columns
# Distinct, colour-blind-safe series colours (Okabe–Ito); the CSS classes repeat them.
PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000")


@dataclass(frozen=True)
class BarRow:
    label: str
    values: Sequence[Decimal | int]  # one per series (stacked left to right)


def stacked_bars(rows: Sequence[BarRow], series: Sequence[str], *, title: str,
                 format_value: Callable[[Decimal | int], str]) -> Markup:
    """A horizontal stacked bar chart; each segment has a ``<title>`` (series, value) for hover and
    screen readers. Empty data gives a chart of empty rows (the page says "no data" itself)."""
    peak = max((sum(row.values, Decimal(0)) for row in rows), default=Decimal(0))
    totals = [format_value(sum(row.values, Decimal(0))) for row in rows]
    # Text columns as wide as their longest text (within reason), the bars get the rest.
    label_width = min(WIDTH * 2 // 5, 8 + CHAR_WIDTH * max((len(row.label) for row in rows), default=4))
    value_width = min(WIDTH // 3, 6 + CHAR_WIDTH * max((len(text) for text in totals), default=4))
    bar_width = WIDTH - label_width - value_width - 4
    height = ROW * len(rows) + 8
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
             f'preserveAspectRatio="xMinYMin meet" aria-label="{escape(title)}"><title>{escape(title)}</title>']
    for index, row in enumerate(rows):
        y = 4 + index * ROW
        parts.append(f'<text class="chart-label" x="{label_width - 6}" y="{y + 16}" text-anchor="end" '
                     f'font-size="12" fill="#5d6677">{escape(row.label)}</text>')
        x = Decimal(label_width)
        for position, value in enumerate(row.values):
            if not value or peak <= 0:
                continue
            width = Decimal(bar_width) * Decimal(value) / peak
            colour = PALETTE[position % len(PALETTE)]
            name = series[position] if position < len(series) else ""
            parts.append(f'<rect class="chart-bar series-{position % len(PALETTE)}" x="{x:.1f}" y="{y + 3}" '
                         f'width="{max(width, Decimal("1")):.1f}" height="{ROW - 8}" rx="2" fill="{colour}">'
                         f'<title>{escape(name)}: {escape(format_value(value))}</title></rect>')
            x += width
        parts.append(f'<text class="chart-value" x="{WIDTH - 2}" y="{y + 16}" text-anchor="end" font-size="12" '
                     f'fill="#1c2331">{escape(totals[index])}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def legend(series: Sequence[str]) -> Markup:
    """The series' colours and names, as HTML (wraps on a phone, unlike text inside the SVG)."""
    items = "".join(f'<li><svg viewBox="0 0 10 10" width="10" height="10" aria-hidden="true">'
                    f'<rect width="10" height="10" fill="{PALETTE[i % len(PALETTE)]}"/></svg> {escape(name)}</li>'
                    for i, name in enumerate(series))
    return Markup(f'<ul class="chart-legend">{items}</ul>')
