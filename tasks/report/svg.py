"""Inline SVG for the report's charts: scales, ticks, axes, legends and shapes, written as text.

The charts are simple shapes on linear axes, so they are written as SVG rather than drawn by a plotting
library: no rasterising, no layout passes, no plotting library to import. Layout is fixed: margins come from
the number of characters of the labels (an average glyph width), which a report's labels (segment names, band
labels, compact numbers) keep within bounds. Text is escaped, so names from data and configuration reach the
page as text.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from tasks.report.bands import compact_number

WIDTH = 1100  # the viewBox width; the page scales the chart to its column
FONT_SIZE = 11
CHAR_WIDTH = 0.56  # an average sans-serif glyph, in font sizes: to size margins from label lengths
LINE_HEIGHT = 1.2
GRID_COLOUR = "#e6e6e6"
AXIS_COLOUR = "#444444"
TEXT_COLOUR = "#333333"


def text_width(text: str, size: float = FONT_SIZE) -> float:
    return max((len(line) for line in text.split("\n")), default=0) * size * CHAR_WIDTH


def wrap(text: str, width: int = 14) -> str:
    """Wrap a label on word boundaries (lines joined by newlines) so neighbouring labels do not overlap."""
    return textwrap.fill(str(text), width, break_long_words=False)


def percent(value: float) -> str:
    """A share as a percentage with the decimals it needs: 0.025 -> 2.5%, 0.1 -> 10%."""
    return f"{value * 100:.2f}".rstrip("0").rstrip(".") + "%"


def plain(value: float) -> str:
    return f"{value:,.10g}" if abs(value) < 1e4 else compact_number(value)


def _number(value: float) -> str:
    """A coordinate with one decimal, as short as it gets."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


# -- scales and ticks ---------------------------------------------------------------------------------------
def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (steps of 1, 2, 2.5 or 5 times a power of ten) covering [low, high]."""
    if not (math.isfinite(low) and math.isfinite(high)):
        low, high = 0.0, 1.0
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first, last = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
    return [round(index * step, 12) for index in range(first, last + 1)]


def slots(start: float, length: float, count: int) -> tuple[list[float], float]:
    """Centres of `count` equal slots along [start, start + length], and the slot's length."""
    slot = length / max(count, 1)
    return [start + slot * (index + 0.5) for index in range(count)], slot


def padded(low: float, high: float, share: float = 0.05) -> tuple[float, float]:
    """[low, high] widened by `share` of its spread each way, not below 0 when it starts at or above 0."""
    spread = (high - low) or abs(high) or 1.0
    widened_low = low - spread * share
    return (max(widened_low, 0.0) if low >= 0 else widened_low), high + spread * share


@dataclass(frozen=True)
class Panel:
    """A plot area at (left, top) of size width x height, mapping data to pixels linearly."""

    left: float
    top: float
    width: float
    height: float
    x_domain: tuple[float, float] = (0.0, 1.0)
    y_domain: tuple[float, float] = (0.0, 1.0)

    @property
    def right(self) -> float:
        return self.left + self.width

    @property
    def bottom(self) -> float:
        return self.top + self.height

    def x(self, value: float) -> float:
        low, high = self.x_domain
        return self.left + (value - low) / ((high - low) or 1.0) * self.width

    def y(self, value: float) -> float:
        low, high = self.y_domain
        return self.bottom - (value - low) / ((high - low) or 1.0) * self.height

    def with_domains(self, x: tuple[float, float] | None = None, y: tuple[float, float] | None = None) -> Panel:
        return Panel(self.left, self.top, self.width, self.height, x or self.x_domain, y or self.y_domain)


def columns(count: int, height: float, *, left: float, right: float, top: float, bottom: float) -> list[Panel]:
    """`count` panels side by side across a chart of this height, each with the given margins."""
    slot = WIDTH / count
    return [Panel(index * slot + left, top, slot - left - right, height - top - bottom) for index in range(count)]


# -- shapes and text -------------------------------------------------------------------------------------------
def svg(height: float, label: str, body: Sequence[str]) -> str:
    """The chart: an <svg> scaled to the page's width, described for screen readers by `label`."""
    return (f'<svg class="chart" viewBox="0 0 {WIDTH} {_number(height)}" role="img" aria-label="{escape(label)}" '
            f'font-size="{FONT_SIZE}" fill="{TEXT_COLOUR}">'
            f"<title>{escape(label)}</title>" + "".join(body) + "</svg>")


def rect(x: float, y: float, width: float, height: float, fill: str, opacity: float | None = None) -> str:
    if height < 0:
        y, height = y + height, -height
    shade = f' fill-opacity="{opacity}"' if opacity is not None else ""
    return (f'<rect x="{_number(x)}" y="{_number(y)}" width="{_number(max(width, 0))}" '
            f'height="{_number(height)}" fill="{fill}"{shade}/>')


def line(x1: float, y1: float, x2: float, y2: float, colour: str = AXIS_COLOUR, width: float = 1.0,
         dashed: bool = False) -> str:
    dash = ' stroke-dasharray="5 3"' if dashed else ""
    return (f'<line x1="{_number(x1)}" y1="{_number(y1)}" x2="{_number(x2)}" y2="{_number(y2)}" '
            f'stroke="{colour}" stroke-width="{width}"{dash}/>')


def polyline(points: Sequence[tuple[float, float]], colour: str, width: float = 1.6) -> str:
    path = " ".join(f"{_number(x)},{_number(y)}" for x, y in points)
    return f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="{width}"/>'


def polygon(points: Sequence[tuple[float, float]], fill: str, opacity: float | None = None) -> str:
    path = " ".join(f"{_number(x)},{_number(y)}" for x, y in points)
    shade = f' fill-opacity="{opacity}"' if opacity is not None else ""
    return f'<polygon points="{path}" fill="{fill}"{shade}/>'


def marker(x: float, y: float, shape: str, colour: str, size: float = 3.5, hollow: bool = False,
           edge: str | None = None, edge_width: float = 1.2) -> str:
    """A circle, square or X centred on (x, y)."""
    fill = "none" if hollow else colour
    stroke = edge or colour
    outline = f'stroke="{stroke}" stroke-width="{edge_width}"'
    if shape == "square":
        return (f'<rect x="{_number(x - size)}" y="{_number(y - size)}" width="{_number(2 * size)}" '
                f'height="{_number(2 * size)}" fill="{fill}" {outline}/>')
    if shape == "x":
        arm, half = size, size * 0.38
        corners = [(x - arm, y - arm + half), (x - arm + half, y - arm), (x, y - half), (x + arm - half, y - arm),
                   (x + arm, y - arm + half), (x + half, y), (x + arm, y + arm - half), (x + arm - half, y + arm),
                   (x, y + half), (x - arm + half, y + arm), (x - arm, y + arm - half), (x - half, y)]
        path = " ".join(f"{_number(px)},{_number(py)}" for px, py in corners)
        return f'<polygon points="{path}" fill="{fill}" {outline}/>'
    return f'<circle cx="{_number(x)}" cy="{_number(y)}" r="{_number(size)}" fill="{fill}" {outline}/>'


def dots(points: Sequence[tuple[float, float]], colour: str, radius: float, opacity: float) -> str:
    """Many small dots as one path of zero-length round-capped strokes (a few bytes per dot)."""
    path = "".join(f"M{_number(x)} {_number(y)}h0" for x, y in points)
    return (f'<path d="{path}" stroke="{colour}" stroke-opacity="{opacity}" stroke-width="{_number(2 * radius)}" '
            'stroke-linecap="round" fill="none"/>')


def text(x: float, y: float, content: object, *, anchor: str = "middle", size: float = FONT_SIZE,
         colour: str | None = None, rotate: float | None = None, bold: bool = False, middle: bool = False) -> str:
    """Text at (x, y), its first line's baseline at y (or centred on y: `middle`); newlines make lines."""
    lines = str(content).split("\n")
    attributes = f'x="{_number(x)}" y="{_number(y)}" text-anchor="{anchor}"'
    if size != FONT_SIZE:
        attributes += f' font-size="{size}"'
    if colour:
        attributes += f' fill="{colour}"'
    if bold:
        attributes += ' font-weight="600"'
    if rotate:
        attributes += f' transform="rotate({rotate} {_number(x)} {_number(y)})"'
    shift = -(len(lines) - 1) * LINE_HEIGHT / 2 if middle else 0.0
    if middle:
        attributes += ' dominant-baseline="central"'
    if len(lines) == 1 and not shift:
        return f"<text {attributes}>{escape(lines[0])}</text>"
    spans = "".join(f'<tspan x="{_number(x)}" dy="{(shift if index == 0 else LINE_HEIGHT):g}em">{escape(part)}</tspan>'
                    for index, part in enumerate(lines))
    return f"<text {attributes}>{spans}</text>"


# -- axes ---------------------------------------------------------------------------------------------------
def title(panel: Panel, content: str) -> str:
    return text(panel.left + panel.width / 2, panel.top - 12, content, size=12.5, bold=True)


def y_axis(panel: Panel, ticks: Sequence[float], label: Callable[[float], str]) -> list[str]:
    """Tick labels left of the panel, grid lines across it, and the axis line."""
    parts = []
    for tick in ticks:
        y = panel.y(tick)
        parts.append(line(panel.left, y, panel.right, y, GRID_COLOUR, 0.8))
        parts.append(text(panel.left - 5, y, label(tick), anchor="end", size=10, middle=True))
    parts.append(line(panel.left, panel.top, panel.left, panel.bottom))
    return parts


def x_axis(panel: Panel, ticks: Sequence[float], label: Callable[[float], str], grid: bool = False) -> list[str]:
    """Ticks and their labels under the panel (grid lines across it, if asked), and the axis line."""
    parts = []
    for tick in ticks:
        x = panel.x(tick)
        if grid:
            parts.append(line(x, panel.top, x, panel.bottom, GRID_COLOUR, 0.8))
        parts.append(line(x, panel.bottom, x, panel.bottom + 4))
        parts.append(text(x, panel.bottom + 15, label(tick), size=10))
    parts.append(line(panel.left, panel.bottom, panel.right, panel.bottom))
    return parts


def category_labels(panel: Panel, positions: Sequence[float], labels: Sequence[str], rotate: float = 0,
                    size: float = 10) -> list[str]:
    """Labels under the panel at the given x positions: wrapped lines, or rotated (reading up to the right)."""
    parts = [line(panel.left, panel.bottom, panel.right, panel.bottom)]
    for x, label in zip(positions, labels):
        if rotate:
            parts.append(text(x + 3, panel.bottom + 10, label, anchor="end", size=size, rotate=-rotate))
        else:
            parts.append(text(x, panel.bottom + 14, label, size=size))
    return parts


def legend(x: float, y: float, entries: Sequence[tuple[str, str, str]], columns_count: int = 1,
           column_width: float | None = None, size: float = 10) -> list[str]:
    """Entries (label, colour, kind: box, line, dashed, circle or square) from (x, y), in rows of `columns_count`."""
    width = column_width or legend_width(entries, size)
    parts = []
    for index, (label, colour, kind) in enumerate(entries):
        left, top = x + (index % columns_count) * width, y + (index // columns_count) * (size + 7)
        if kind == "box":
            parts.append(rect(left, top - 4.5, 14, 9, colour))
        elif kind in ("circle", "square"):
            parts.append(line(left, top, left + 18, top, colour, 1.6))
            parts.append(marker(left + 9, top, kind, colour, 3))
        else:
            parts.append(line(left, top, left + 18, top, colour, 1.2, dashed=kind == "dashed"))
        parts.append(text(left + 22, top, label, anchor="start", size=size, middle=True))
    return parts


def legend_width(entries: Sequence[tuple[str, str, str]], size: float = 10) -> float:
    """The width of one legend column: symbol, gap and the longest label."""
    return max((text_width(label, size) for label, _, _ in entries), default=0) + 30
