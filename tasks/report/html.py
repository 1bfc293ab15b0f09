"""The insight report as one self-contained HTML file: tables, and charts as inline SVG (tasks.report.svg).

The file has no external assets, so it can be mailed or attached as it is.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from tasks.report import svg
from tasks.report.bands import BandsConfig, compact_number
from tasks.report.insights import (CHANNELS, DIAGNOSTICS_SAMPLE, DISTRIBUTION_SAMPLE, ORDER_MIX_TOP,
                                   SEGMENT_DIMENSION, SPEND_CATEGORIES, RunInsights, gather_insights, highlights)
from tasks.report.summary import format_amount

SECTIONS = {"summary": "Summary", "segments": "Segment profiles", "conversion": "Conversion analysis",
            "diagnostics": "Cluster diagnostics", "methods": "How the numbers are computed"}
DIMENSION_TITLES = {SEGMENT_DIMENSION: "segment", "income": "income", "spending": "spending (two years)",
                    "age": "age", "children": "children at home"}
PALETTE = ["#1b6ca8", "#e07b39", "#3a9e5c", "#c8423c", "#7d5ba6", "#8c6d46", "#d16ba5", "#6f6f6f", "#a8a335",
           "#2bb0c4"]
HIGHLIGHT = "#c8423c"  # the chosen k, overall rates and means drawn over a chart
CHANNEL_COLOURS = {"web": "#1b6ca8", "catalog": "#e07b39", "store": "#3a9e5c", "deals": "#c8423c"}
CATEGORY_COLOURS = dict(zip(SPEND_CATEGORIES, ["#7d2e4b", "#e3a72f", "#b5523b", "#3d7ea6", "#d981b0", "#c9a227"]))


@dataclass
class RunReport:
    path: Path
    insights: RunInsights

    def conversion_markdown(self) -> str:
        """The conversion tables as markdown (for the Prefect artifact)."""
        return conversion_markdown(self.insights)

    def segment_table(self) -> list[dict]:
        return conversion_rows(self.insights, SEGMENT_DIMENSION)


# -- formatting -------------------------------------------------------------------------------------------
def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def pct(value, digits: int = 1) -> str:
    return "–" if _missing(value) else f"{value:.{digits}%}"


def num(value, digits: int = 2) -> str:
    return "–" if _missing(value) else f"{value:,.{digits}f}"


def count(value) -> str:
    return "–" if _missing(value) else f"{int(value):,}"


def signed(value) -> str:
    return "–" if _missing(value) else f"{int(value):+,}"


def amount(value, currency: str) -> str:
    return "–" if _missing(value) else format_amount(float(value), currency)


def conversion_rows(insights: RunInsights, dimension: str) -> list[dict]:
    rows = insights.conversion[insights.conversion["dimension"] == dimension]
    return [{"band": row.band_label, "customers": count(row.customers), "responders": count(row.responders),
             "response rate": pct(row.response_rate),
             "95% CI": "–" if _missing(row.ci_low) else f"{row.ci_low:.1%} – {row.ci_high:.1%}",
             "conversion per visit": pct(row.mean_conversion, 2), "no visits": count(row.zero_visit_customers),
             "purchases per visit": num(row.purchases_per_visit)} for row in rows.itertuples()]


def conversion_markdown(insights: RunInsights) -> str:
    lines = [f"# Conversion by band, run {insights.run_id}", ""]
    for dimension in insights.conversion["dimension"].unique():
        rows = conversion_rows(insights, dimension)
        lines += [f"## By {DIMENSION_TITLES.get(dimension, dimension)}", "",
                  "| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
        lines += ["| " + " | ".join(str(value) for value in row.values()) + " |" for row in rows]
        lines.append("")
    return "\n".join(lines)


# -- charts -----------------------------------------------------------------------------------------------
def _colours(insights: RunInsights) -> dict[int, str]:
    return {segment_id: PALETTE[index % len(PALETTE)] for index, segment_id in enumerate(insights.segment_order())}


def _with_currency(title: str, currency: str) -> str:
    """'Spend (IDR)' or, without a currency, 'Spend'."""
    return title.replace("{currency}", currency).replace(" ()", "").replace("(, ", "(")


def _lines(text: str) -> int:
    return text.count("\n") + 1


def _bars(panel: svg.Panel, labels: list[str], values: list[float], colours: list[str] | str, *,
          tick_label: Callable[[float], str], headroom: float = 0.1, value_labels: list[str] | None = None,
          rotate: float = 0, opacity: float | None = None) -> list[str]:
    """Vertical bars from 0 (or below, for negative values) with their axis, category labels and value labels."""
    ticks = svg.nice_ticks(min(0.0, *values) if values else 0.0, (max(values, default=0.0) or 1.0) * (1 + headroom))
    panel = panel.with_domains(y=(ticks[0], ticks[-1]))
    positions, slot = svg.slots(panel.left, panel.width, len(values))
    parts = svg.y_axis(panel, ticks, tick_label)
    parts += _bar_shapes(panel, positions, slot, values, colours, opacity)
    for x, value, label in zip(positions, values, value_labels or []):
        parts.append(svg.text(x, panel.y(max(value, 0)) - 4 - 1.2 * 9.5 * (_lines(label) - 1), label, size=9.5))
    return parts + svg.category_labels(panel, positions, labels, rotate)


def _bar_shapes(panel: svg.Panel, positions: list[float], slot: float, values: list[float], colours: list[str] | str,
                opacity: float | None = None, stacked_below: list[float] | None = None) -> list[str]:
    width = slot * 0.75
    parts = []
    for index, (x, value) in enumerate(zip(positions, values)):
        below = stacked_below[index] if stacked_below else 0.0
        colour = colours if isinstance(colours, str) else colours[index]
        parts.append(svg.rect(x - width / 2, panel.y(below + value), width, panel.y(below) - panel.y(below + value),
                              colour, opacity))
    return parts


def _category_margin(labels: list[str], rotate: float = 0, size: float = 10) -> float:
    """Room under a panel for its category labels: their lines, and their length when rotated."""
    lines = 1.2 * size * max((_lines(label) for label in labels), default=1)
    if rotate:
        angle = math.radians(rotate)
        longest = max((svg.text_width(label, size) for label in labels), default=0)
        return 16 + math.sin(angle) * longest + math.cos(angle) * lines
    return 10 + lines


def chart_segment_overview(insights: RunInsights) -> str:
    profiles, colours = insights.profiles, _colours(insights)
    names = [svg.wrap(name) for name in profiles["segment_name"]]
    bar_colours = [colours[int(segment_id)] for segment_id in profiles["segment_id"]]
    bottom = _category_margin(names) + 8
    height = 300 + bottom
    size_panel, value_panel = svg.columns(2, height, left=62, right=20, top=44, bottom=bottom)
    customers = [float(value) for value in profiles["customers"]]
    gmv = [float(value) for value in profiles["gmv_annual"]]
    size_parts = _bars(size_panel, names, customers, bar_colours, tick_label=svg.plain, headroom=0.25,
                       value_labels=[f"{c:,.0f}\n{s:.0%}" for c, s in zip(customers, profiles["share"])])
    value_parts = _bars(value_panel, names, gmv, bar_colours, tick_label=compact_number, headroom=0.2,
                        value_labels=[compact_number(value) for value in gmv])
    return svg.svg(height, "customers and GMV per segment", [
        *size_parts, svg.title(size_panel, "Customers per segment"),
        *value_parts, svg.title(value_panel, _with_currency("GMV per year ({currency})", insights.currency))])


def chart_distributions(insights: RunInsights) -> str:
    """Box per segment: box p25-p75, line the median, whiskers p5 and p95, dot the mean."""
    distributions, colours, names = insights.distributions, _colours(insights), insights.segment_names()
    measures = [("income", "Yearly income ({currency})", compact_number), ("age", "Age (years)", svg.plain),
                ("monetary", "Spend over two years ({currency})", compact_number)]
    order = insights.segment_order()
    labels = [svg.wrap(names[segment_id]) for segment_id in order]
    bottom = _category_margin(labels, rotate=30) + 6
    height = 290 + bottom
    panels = svg.columns(3, height, left=56, right=14, top=36, bottom=bottom)
    parts = []
    for panel, (measure, heading, tick_label) in zip(panels, measures):
        rows = distributions[distributions["measure"] == measure].set_index("segment_id")
        present = [segment_id for segment_id in order if segment_id in rows.index]
        low = min((min(rows.at[s, "p05"], rows.at[s, "mean"]) for s in present), default=0.0)
        high = max((max(rows.at[s, "p95"], rows.at[s, "mean"]) for s in present), default=1.0)
        ticks = svg.nice_ticks(*svg.padded(low, high))
        panel = panel.with_domains(y=(ticks[0], ticks[-1]))
        parts += svg.y_axis(panel, ticks, tick_label)
        positions, slot = svg.slots(panel.left, panel.width, len(order))
        width = min(slot * 0.6, 60)
        for x, segment_id in zip(positions, order):
            if segment_id not in present:
                continue
            row = rows.loc[segment_id]
            parts += [svg.line(x, panel.y(row["p05"]), x, panel.y(row["p25"]), "#333333"),
                      svg.line(x, panel.y(row["p75"]), x, panel.y(row["p95"]), "#333333"),
                      svg.line(x - width / 4, panel.y(row["p05"]), x + width / 4, panel.y(row["p05"]), "#333333"),
                      svg.line(x - width / 4, panel.y(row["p95"]), x + width / 4, panel.y(row["p95"]), "#333333"),
                      svg.rect(x - width / 2, panel.y(row["p75"]), width, panel.y(row["p25"]) - panel.y(row["p75"]),
                               colours[segment_id], 0.75),
                      svg.line(x - width / 2, panel.y(row["p50"]), x + width / 2, panel.y(row["p50"]), "black", 1.6),
                      svg.marker(x, panel.y(row["mean"]), "circle", "white", 3, edge="black", edge_width=1)]
        parts += svg.category_labels(panel, positions, labels, rotate=30, size=9.5)
        parts.append(svg.title(panel, _with_currency(heading, insights.currency)))
    return svg.svg(height, "income, age and spend by segment", parts)


def chart_spend_mix(insights: RunInsights) -> str:
    """Mean spend per customer by product category (stacked) and share of purchases by channel."""
    mix = insights.mix.set_index("segment_id")
    order = [s for s in insights.segment_order() if s in mix.index]
    names = [svg.wrap(insights.segment_names()[s]) for s in order]
    bottom = _category_margin(names) + 8
    height = 320 + bottom
    spend_panel = svg.columns(2, height, left=62, right=24, top=40, bottom=bottom)[0]
    name_width = max((svg.text_width(name, 10) for name in names), default=0) + 12
    channel_panel = svg.Panel(svg.WIDTH / 2 + name_width, 40, svg.WIDTH / 2 - name_width - 20, height - 40 - 64,
                              x_domain=(0.0, 1.0))
    parts = []
    # Spend by category: one stacked bar per segment.
    spend = {category: mix.loc[order, f"spend_{category}"].fillna(0).to_numpy(dtype="float64")
             for category in SPEND_CATEGORIES}
    totals = sum(spend.values()) if order else np.zeros(0)
    ticks = svg.nice_ticks(0.0, (float(totals.max()) if len(totals) else 1.0) * 1.35 or 1.0)
    spend_panel = spend_panel.with_domains(y=(ticks[0], ticks[-1]))
    positions, slot = svg.slots(spend_panel.left, spend_panel.width, len(order))
    parts += svg.y_axis(spend_panel, ticks, compact_number)
    below = np.zeros(len(order))
    for category in SPEND_CATEGORIES:
        parts += _bar_shapes(spend_panel, positions, slot, list(spend[category]), CATEGORY_COLOURS[category],
                             stacked_below=list(below))
        below = below + spend[category]
    parts += svg.category_labels(spend_panel, positions, names)
    entries = [(category, CATEGORY_COLOURS[category], "box") for category in SPEND_CATEGORIES]
    column_width = svg.legend_width(entries)
    parts += svg.legend(spend_panel.right - 3 * column_width, spend_panel.top + 8, entries, 3, column_width)
    parts.append(svg.title(spend_panel, _with_currency(
        "Mean spend per customer by category ({currency}, two years)", insights.currency)))
    # Channel mix: one horizontal bar of shares per segment.
    purchases = {channel: mix.loc[order, f"purchases_{channel}"].fillna(0).to_numpy(dtype="float64")
                 for channel in CHANNELS}
    channel_totals = sum(purchases.values()) if order else np.zeros(0)
    rows_y, row_height = svg.slots(channel_panel.top, channel_panel.height, len(order))
    parts += svg.x_axis(channel_panel, [0, 0.2, 0.4, 0.6, 0.8, 1.0], svg.percent)
    left = np.zeros(len(order))
    for channel in CHANNELS:
        with np.errstate(invalid="ignore", divide="ignore"):
            shares = np.nan_to_num(purchases[channel] / channel_totals)
        for y, start, share in zip(rows_y, left, shares):
            parts.append(svg.rect(channel_panel.x(start), y - row_height * 0.375, channel_panel.x(start + share)
                                  - channel_panel.x(start), row_height * 0.75, CHANNEL_COLOURS[channel]))
            if share >= 0.08:
                parts.append(svg.text(channel_panel.x(start + share / 2), y, f"{share:.0%}", size=10,
                                      colour="white", middle=True))
        left = left + shares
    for y, name in zip(rows_y, names):
        parts.append(svg.text(channel_panel.left - 6, y, name, anchor="end", size=10, middle=True))
    entries = [(channel, CHANNEL_COLOURS[channel], "box") for channel in CHANNELS]
    column_width = svg.legend_width(entries)
    parts += svg.legend(channel_panel.left + channel_panel.width / 2 - 2 * column_width, channel_panel.bottom + 38,
                        entries, 4, column_width)
    parts.append(svg.title(channel_panel, "Channel mix (share of purchases)"))
    return svg.svg(height, "spend per product category and channel mix by segment", parts)


def chart_conversion(insights: RunInsights, dimension: str) -> str:
    """Response rate with its 95% Wilson interval, and conversion per web visit, for each band."""
    rows = insights.conversion[insights.conversion["dimension"] == dimension]
    rotate = 40 if len(rows) > 6 else 0
    labels = [f"{label} (n={int(customers):,})" if rotate else f"{svg.wrap(label)}\nn={int(customers):,}"
              for label, customers in zip(rows["band_label"], rows["customers"])]
    bottom = _category_margin(labels, rotate, size=10) + 6
    height = 270 + bottom
    rate_panel, visit_panel = svg.columns(2, height, left=56, right=20, top=36, bottom=bottom)
    rate = np.nan_to_num(rows["response_rate"].to_numpy(dtype="float64"))
    low = np.nan_to_num(rows["ci_low"].to_numpy(dtype="float64"))
    high = np.nan_to_num(rows["ci_high"].to_numpy(dtype="float64"))
    colour: str | list[str] = "#1b6ca8"
    if dimension == SEGMENT_DIMENSION:
        by_name = {name: _colours(insights)[s] for s, name in insights.segment_names().items()}
        colour = [by_name.get(label, "#1b6ca8") for label in rows["band_label"]]
    overall = insights.overall["response_rate"]
    rate_top = max([*high, *rate, overall or 0.0, 0.0]) * 1.15 or 1.0
    ticks = svg.nice_ticks(0.0, rate_top)
    rate_panel = rate_panel.with_domains(y=(ticks[0], ticks[-1]))
    positions, slot = svg.slots(rate_panel.left, rate_panel.width, len(rows))
    parts = svg.y_axis(rate_panel, ticks, svg.percent)
    parts += _bar_shapes(rate_panel, positions, slot, list(rate), colour, opacity=0.85)
    for x, interval_low, interval_high in zip(positions, low, high):
        if interval_high > interval_low:
            parts += [svg.line(x, rate_panel.y(interval_low), x, rate_panel.y(interval_high), "#333333"),
                      svg.line(x - 3, rate_panel.y(interval_low), x + 3, rate_panel.y(interval_low), "#333333"),
                      svg.line(x - 3, rate_panel.y(interval_high), x + 3, rate_panel.y(interval_high), "#333333")]
    if overall is not None:
        parts.append(svg.line(rate_panel.left, rate_panel.y(overall), rate_panel.right, rate_panel.y(overall),
                              HIGHLIGHT, 1.2, dashed=True))
        parts += svg.legend(rate_panel.left + 10, rate_panel.top + 8, [(f"all customers {overall:.1%}", HIGHLIGHT,
                                                                          "dashed")])
    parts += svg.category_labels(rate_panel, positions, labels, rotate)
    parts.append(svg.title(rate_panel, "Campaign response rate (bars: 95% Wilson interval)"))
    conversion = np.nan_to_num(rows["mean_conversion"].to_numpy(dtype="float64"))
    visit_parts = _bars(visit_panel, labels, list(conversion), "#3a9e5c", rotate=rotate, tick_label=svg.percent,
                        opacity=0.85)
    parts += [*visit_parts, svg.title(visit_panel, "Conversion per web visit (customers with visits)")]
    title = DIMENSION_TITLES.get(dimension, dimension)
    return svg.svg(height, f"response rate and conversion by {title}", parts)


def chart_selection(insights: RunInsights) -> str:
    """Elbow (inertia by k) and silhouette by k (train and held-out), chosen k marked."""
    per_k = pd.DataFrame(insights.selection.get("per_k") or [])
    chosen = insights.selection.get("chosen_k")
    ks = [int(k) for k in per_k["k"]]
    height = 300
    elbow_panel, silhouette_panel = svg.columns(2, height, left=62, right=20, top=36, bottom=48)
    inertia = per_k["inertia"].astype(float).to_numpy()
    train = per_k["silhouette_train"].astype(float).to_numpy()
    test = per_k["silhouette_test"].astype(float).to_numpy()
    x_domain = (min(ks) - 0.5, max(ks) + 0.5)
    parts = []
    series = [(elbow_panel, [("inertia", inertia, "#1b6ca8", "circle")], True),
              (silhouette_panel, [("train", train, "#1b6ca8", "circle"), ("held-out", test, "#e07b39", "square")],
               False)]
    for panel, lines, annotated in series:
        values = np.concatenate([values[np.isfinite(values)] for _, values, _, _ in lines])
        ticks = svg.nice_ticks(*svg.padded(*((values.min(), values.max()) if values.size else (0.0, 1.0))))
        panel = panel.with_domains(x=x_domain, y=(ticks[0], ticks[-1]))
        parts += svg.y_axis(panel, ticks, compact_number)
        parts += svg.x_axis(panel, ks, compact_number)
        parts.append(svg.text(panel.left + panel.width / 2, panel.bottom + 34, "k (segments)", size=10.5))
        for _, values, colour, shape in lines:
            points = [(panel.x(k), panel.y(value)) for k, value in zip(ks, values) if np.isfinite(value)]
            parts.append(svg.polyline(points, colour))
            parts += [svg.marker(x, y, shape, colour, 3.2) for x, y in points]
        if chosen in ks:
            marked = lines[-1][1][ks.index(chosen)]  # inertia; the held-out silhouette
            parts.append(svg.line(panel.x(chosen), panel.top, panel.x(chosen), panel.bottom, HIGHLIGHT, 1.2,
                                  dashed=True))
            if np.isfinite(marked):
                parts.append(svg.marker(panel.x(chosen), panel.y(marked), "circle", HIGHLIGHT, 7, hollow=True,
                                        edge_width=2))
                if annotated:
                    parts.append(svg.text(panel.x(chosen) + 10, panel.y(marked) - 10, f"chosen k = {chosen}",
                                          anchor="start", colour=HIGHLIGHT))
        if len(lines) > 1:
            entries = [(label, colour, shape) for label, _, colour, shape in lines]
            parts += svg.legend(panel.right - svg.legend_width(entries) - 4, panel.top + 8, entries)
    parts += [svg.title(elbow_panel, "Elbow: inertia by k (training split)"),
              svg.title(silhouette_panel, "Silhouette by k")]
    return svg.svg(height, "elbow curve and silhouette by k", parts)


def chart_silhouette_by_segment(insights: RunInsights) -> str:
    """The classic silhouette plot: each sampled customer's silhouette, sorted within its segment."""
    diagnostics, colours, names = insights.diagnostics, _colours(insights), insights.segment_names()
    gap = max(10, diagnostics.sample_size // 100)
    bands, labels, y = [], [], 0
    for segment_id in insights.segment_order():
        values = np.sort(diagnostics.silhouettes[diagnostics.segment_ids == segment_id])
        if values.size:
            bands.append((segment_id, y, values))
            labels.append(f"{names[segment_id]}  (mean {values.mean():.2f})")
            y += values.size + gap
    label_width = min(max((svg.text_width(label, 10) for label in labels), default=0) + 14, svg.WIDTH * 0.45)
    height = 420
    silhouettes = diagnostics.silhouettes
    average = float(silhouettes.mean())
    ticks = svg.nice_ticks(min(float(silhouettes.min()), 0.0), max(float(silhouettes.max()), 0.0))
    panel = svg.Panel(label_width, 36, svg.WIDTH - label_width - 20, height - 36 - 52,
                      x_domain=(ticks[0], ticks[-1]), y_domain=(y, -gap))  # the first segment on top
    parts = svg.x_axis(panel, ticks, compact_number, grid=True)
    for segment_id, start, values in bands:
        outline = [(panel.x(0), panel.y(start))]
        outline += [(panel.x(value), panel.y(start + index)) for index, value in enumerate(values.tolist())]
        outline.append((panel.x(0), panel.y(start + values.size - 1)))
        parts.append(svg.polygon(outline, colours[segment_id], 0.85))
    for (segment_id, start, values), label in zip(bands, labels):
        parts.append(svg.text(panel.left - 6, panel.y(start + values.size / 2), label, anchor="end", size=10,
                              middle=True))
    parts += [svg.line(panel.x(0), panel.top, panel.x(0), panel.bottom, "#555555", 0.8),
              svg.line(panel.x(average), panel.top, panel.x(average), panel.bottom, HIGHLIGHT, 1.2, dashed=True),
              svg.text(panel.x(average) + 4, panel.top + 12, f"mean {average:.2f}", anchor="start", colour=HIGHLIGHT,
                       size=10),
              svg.text(panel.left + panel.width / 2, panel.bottom + 36,
                       "silhouette (−1: closer to another segment, 1: well inside its own)", size=10.5),
              svg.title(panel, f"Silhouette per customer, by segment ({diagnostics.sample_size:,} sampled of "
                               f"{diagnostics.population:,})")]
    return svg.svg(height, "silhouette per customer by segment", parts)


def chart_pca(insights: RunInsights) -> str:
    diagnostics, colours, names = insights.diagnostics, _colours(insights), insights.segment_names()
    coordinates = diagnostics.coordinates
    centres = list(diagnostics.centroid_coordinates.values())
    xs = np.concatenate([coordinates[:, 0], [x for x, _ in centres]])
    ys = np.concatenate([coordinates[:, 1], [y for _, y in centres]])
    entries = [(names[segment_id], colours[segment_id], "box") for segment_id in insights.segment_order()]
    legend_space = svg.legend_width(entries) + 16
    height = 520
    x_ticks = svg.nice_ticks(*svg.padded(xs.min(), xs.max()))
    y_ticks = svg.nice_ticks(*svg.padded(ys.min(), ys.max()))
    panel = svg.Panel(62, 36, svg.WIDTH - 62 - legend_space - 10, height - 36 - 52,
                      x_domain=(x_ticks[0], x_ticks[-1]), y_domain=(y_ticks[0], y_ticks[-1]))
    parts = svg.x_axis(panel, x_ticks, compact_number) + svg.y_axis(panel, y_ticks, compact_number)
    for segment_id in insights.segment_order():
        mask = diagnostics.segment_ids == segment_id
        if mask.any():
            points = [(panel.x(x), panel.y(y)) for x, y in coordinates[mask].tolist()]
            parts.append(svg.dots(points, colours[segment_id], 1.7, 0.55))
    for segment_id in insights.segment_order():
        if segment_id in diagnostics.centroid_coordinates:
            x, y = diagnostics.centroid_coordinates[segment_id]
            parts.append(svg.marker(panel.x(x), panel.y(y), "x", colours[segment_id], 7.5, edge="black"))
    first, second = (diagnostics.explained_variance + [0.0, 0.0])[:2]
    parts += [svg.text(panel.left + panel.width / 2, panel.bottom + 36,
                       f"principal component 1 ({first:.0%} of variance)", size=10.5),
              svg.text(18, panel.top + panel.height / 2, f"principal component 2 ({second:.0%} of variance)",
                       size=10.5, rotate=-90),
              *svg.legend(panel.right + 16, panel.top + 10, entries),
              svg.title(panel, "Customers in the model's feature space, projected on two principal components "
                               f"({diagnostics.sample_size:,} sampled; X = segment centre)")]
    return svg.svg(height, "PCA scatter of customers coloured by segment", parts)


# -- HTML -------------------------------------------------------------------------------------------------
CSS = """
body { font-family: -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif; color: #222;
       margin: 0; background: #f6f7f9; line-height: 1.45; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 32px 48px; background: white; }
header { border-bottom: 3px solid #1b6ca8; margin-bottom: 12px; }
h1 { font-size: 26px; margin: 8px 0 4px; } h2 { font-size: 21px; margin-top: 36px; color: #1b6ca8;
     border-bottom: 1px solid #dde3ea; padding-bottom: 4px; } h3 { font-size: 16px; margin: 22px 0 6px; }
.meta { color: #555; font-size: 14px; margin: 0 0 10px; }
nav { font-size: 14px; margin: 10px 0 0; } nav a { margin-right: 14px; color: #1b6ca8; text-decoration: none; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0 14px; width: 100%; }
th { background: #eef2f6; text-align: left; padding: 6px 8px; border-bottom: 2px solid #cfd8e3;
     font-weight: 600; white-space: nowrap; }
td { padding: 5px 8px; border-bottom: 1px solid #eceff3; vertical-align: top; }
td:first-child { white-space: nowrap; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr:nth-child(even) td { background: #fafbfc; }
svg.chart { width: 100%; height: auto; display: block; margin: 6px 0 10px; }
.highlights li { margin: 4px 0; } .note { color: #666; font-size: 13px; }
.tier { display: inline-block; padding: 1px 7px; border-radius: 9px; font-size: 12px; font-weight: 600; }
.tier-Platinum { background: #e5e4e2; color: #333; } .tier-Gold { background: #f6e27a; color: #5a4700; }
.tier-Silver { background: #d7dde3; color: #333; } .tier-Bronze { background: #e7b58c; color: #5a2e00; }
.up { color: #2e7d32; } .down { color: #c62828; }
dl { font-size: 14px; } dt { font-weight: 600; margin-top: 8px; } dd { margin-left: 18px; }
"""


def _e(value) -> str:
    return html.escape(str(value))


def _table(rows: list[dict], numeric: set[str] | None = None, raw: set[str] | None = None,
           header: bool = True) -> str:
    if not rows:
        return '<p class="note">No rows.</p>'
    numeric, raw = numeric or set(), raw or set()
    head = "".join(f'<th class="{"n" if c in numeric else ""}">{_e(c)}</th>' for c in rows[0]) if header else ""
    body = "".join("<tr>" + "".join(
        f'<td class="{"n" if c in numeric else ""}">{v if c in raw else _e(v)}</td>' for c, v in row.items())
        + "</tr>" for row in rows)
    head = f"<thead><tr>{head}</tr></thead>" if header else ""
    return f"<table>{head}<tbody>{body}</tbody></table>"


def _section(key: str, body: str) -> str:
    return f'<section id="{key}"><h2>{_e(SECTIONS[key])}</h2>{body}</section>'


def _summary_section(insights: RunInsights) -> str:
    run = insights.run
    items = "".join(f"<li>{_e(line)}</li>" for line in highlights(insights))
    facts = [{"fact": "customers", "value": f"{run['rows_extracted'] or 0:,} extracted, {run['rows_quarantined'] or 0:,} "
              f"set aside by validation, {run['rows_published'] or 0:,} published"},
             {"fact": "mode", "value": f"{run['mode']} ({'; '.join(run['mode_reasons'] or [])})"},
             {"fact": "recipe / model", "value": f"{run['recipe_name']}, model version {run['model_version']}"
              + (f" trained by run {insights.model['trained_by_run']}" if insights.model else "")},
             {"fact": "data as of", "value": f"{run['as_of']} (amounts in {insights.currency or 'the data currency'})"}]
    body = f'<ul class="highlights">{items}</ul>' + _table(facts, header=False)
    if not insights.customers_current and run["rows_published"]:
        later = f" by run {insights.republished_by}" if insights.republished_by else ""
        body += (f'<p class="note">The customers of run {insights.run_id} have since been republished{later}: '
                 "the per-customer charts (distributions, category and channel mix, silhouettes, PCA) are left out; "
                 "the tables below are the ones stored for this run.</p>")
    return _section("summary", body)


def _segments_section(insights: RunInsights) -> str:
    profiles, currency = insights.profiles, insights.currency
    if profiles.empty:
        return _section("segments", '<p class="note">No segment profiles were stored for this run.</p>')
    previous = insights.previous_run_id
    rows = []
    for p in profiles.itertuples():
        delta = p.customers_delta
        change = "–" if _missing(delta) else (
            f'<span class="{"up" if delta > 0 else "down" if delta < 0 else ""}">{signed(delta)}</span>')
        tier = f'<span class="tier tier-{_e(p.tier)}">{_e(p.tier)}</span>'
        if not _missing(p.previous_tier) and p.previous_tier != p.tier:
            tier += f' <span class="note">(was {_e(p.previous_tier)})</span>'
        identity = {"segment": _e(p.segment_name), "tier": tier, "customers": count(p.customers),
                    "share": pct(p.share), f"change since run {previous}" if previous else "change": change}
        if insights.source == "orders":  # purchase days and value: no demographics or campaign response
            rows.append({**identity, "mean spend (history)": _e(amount(p.mean_monetary, currency)),
                         "potential GMV (next 365 days)": _e(amount(p.expected_value_365d, currency)),
                         "recommended action": _e(p.recommended_action)})
        else:
            rows.append({**identity, "mean income": _e(amount(p.mean_income, currency)),
                         "mean age": num(p.mean_age, 0), "mean spend (2 y)": _e(amount(p.mean_monetary, currency)),
                         "GMV per year": _e(amount(p.gmv_annual, currency)), "response rate": pct(p.response_rate),
                         "recommended action": _e(p.recommended_action)})
    numeric = set(rows[0]) - {"segment", "tier", "recommended action"}
    body = _table(rows, numeric, raw=set(rows[0]))
    body += _value_model_note(insights)
    gone = insights.movements[(insights.movements["customers"] == 0) & insights.movements["previous_customers"].gt(0)]
    if not gone.empty:
        body += ('<p class="note">Segments of run ' + _e(previous) + " that no longer exist: " + ", ".join(
            f"{_e(g.segment_name)} ({count(g.previous_customers)} customers)" for g in gone.itertuples()) + ".</p>")
    body += chart_segment_overview(insights)
    if insights.distributions is not None and not insights.distributions.empty:
        population = insights.overall["customers"]
        sampled = (f" Percentiles of a reproducible sample of {insights.sampled_customers:,} of the {population:,} "
                   "customers; the mean is of all of them." if insights.sampled_customers < population else "")
        body += ("<h3>Income, age and spend by segment</h3>"
                 '<p class="note">Boxes: middle half of the customers (25th–75th percentile); line: median; '
                 f"whiskers: 5th and 95th percentiles; dot: mean.{sampled}</p>")
        body += chart_distributions(insights)
    if insights.mix is not None and not insights.mix.empty:
        body += "<h3>What they buy and where</h3>"
        body += chart_spend_mix(insights)
        mix = insights.mix.set_index("segment_id")
        names = insights.segment_names()
        mix_rows = []
        for segment_id in insights.segment_order():
            if segment_id not in mix.index:
                continue
            row = mix.loc[segment_id]
            purchases = sum(row[f"purchases_{c}"] for c in CHANNELS if not _missing(row[f"purchases_{c}"]))
            mix_rows.append({"segment": names[segment_id],
                             **{c: amount(row[f"spend_{c}"], "") for c in SPEND_CATEGORIES},
                             **{f"{c} purchases": pct(row[f"purchases_{c}"] / purchases if purchases else None, 0)
                                for c in CHANNELS}})
        body += (f'<p class="note">Mean spend per customer by category ({_e(currency)}, two years) and share of '
                 "purchases by channel (deals: purchases made with a discount).</p>")
        body += _table(mix_rows, numeric=set(mix_rows[0]) - {"segment"} if mix_rows else set())
    if insights.source == "orders":
        body += _order_mix(insights)
    return _section("segments", body)


ORDER_MIX_DIMENSIONS = {"category": ("spend by product category", "Share of each segment's spend by product "
                                     "category"),
                        "channel": ("channel mix", "Share of each segment's orders by channel")}


def _order_mix(insights: RunInsights) -> str:
    """An orders run: category and channel shares per segment where source.orders has them; a note on the rest."""
    mix = insights.order_mix if insights.order_mix is not None else pd.DataFrame(columns=["dimension"])
    names = insights.segment_names()
    body, absent = "", []
    for dimension, (what, caption) in ORDER_MIX_DIMENSIONS.items():
        rows = mix[mix["dimension"] == dimension]
        if rows.empty:
            absent.append(what)
            continue
        values = list(dict.fromkeys(rows.sort_values(["place", "value"])["value"]))
        columns = {value: value if value != "segment" else f"{value} ({dimension})" for value in values}
        table = []
        for segment_id in insights.segment_order():
            shares = rows[rows["segment_id"] == segment_id].set_index("value")["share"]
            if shares.empty:
                continue
            table.append({"segment": names[segment_id],
                          **{columns[value]: pct(shares.get(value), 0) for value in values}})
        body += f"<h3>{_e(caption)}</h3>" + _table(table, numeric=set(columns.values()))
    if body:
        body = ('<p class="note">From source.orders up to the run\'s day (a mapped orders table is not read here); '
                f"beyond the top {ORDER_MIX_TOP} categories or channels, the rest is counted as other.</p>") + body
    note = "Income and age: not in an orders source, so left out."
    if absent and insights.order_mix is not None:  # None: the run's customers were republished since
        note += (" " + " and ".join(absent).capitalize() + ": source.orders has no category or channel for this "
                 "run's customers, so left out.")
    return body + f'<p class="note">{_e(note)}</p>'


def _value_model_note(insights: RunInsights) -> str:
    """Potential GMV against the history, the value models and how they did on held-out orders."""
    model = insights.value_model
    if not model:
        return ""
    currency = insights.currency
    profiles = insights.profiles
    potential = profiles["expected_value_365d"].sum() if "expected_value_365d" in profiles else None
    note = (f'<p class="note">Potential GMV: the customers\' expected spend over the next 365 days, '
            f"{_e(amount(potential, currency))} in all (BG/NBD purchases × Gamma-Gamma spend per purchase day, "
            f"fitted on {count(model['fit_customers'])} customers: r {num(model['bgnbd_r'], 3)}, alpha "
            f"{num(model['bgnbd_alpha'], 2)} days, a {num(model['bgnbd_a'], 3)}, b {num(model['bgnbd_b'], 3)}; "
            f"p {num(model['gamma_gamma_p'], 2)}, q {num(model['gamma_gamma_q'], 2)}, gamma "
            f"{num(model['gamma_gamma_gamma'], 2)}).")
    holdout = model.get("holdout") or {}
    if "mean_absolute_error" in holdout:
        note += (f" Held out: fitted on the orders up to {_e(holdout['cutoff'])}, the model predicted "
                 f"{num(holdout['predicted_repeat_days'], 0)} repeat purchase days in the next "
                 f"{_e(holdout['held_out_days'])} days against {count(holdout['actual_repeat_days'])} actual "
                 f"(mean absolute error per customer {num(holdout['mean_absolute_error'], 3)}, against "
                 f"{num(holdout['mean_absolute_error_of_the_mean'], 3)} for predicting everyone the average).")
    return note + "</p>"


def _conversion_section(insights: RunInsights) -> str:
    if insights.source == "orders":
        return _section("conversion", '<p class="note">Not available for an orders source: it has no campaign '
                                      "response or web visits to compare segments and bands by.</p>")
    if insights.conversion.empty:
        return _section("conversion", '<p class="note">No customers were published by this run.</p>')
    body = ('<p class="note">Response rate: share of the band\'s customers who accepted the last campaign, with its '
            "95% Wilson interval (a narrow interval means a reliable rate; small bands have wide ones). "
            "Conversion per visit: mean of response ÷ web visits last month over the customers with visits; "
            "customers without visits are counted in <em>no visits</em>. Purchases per visit: the band's purchases "
            "÷ its web visits (customers with visits).</p>")
    if "campaign_acceptances" in (insights.model.get("features") or []):
        body += ('<p class="note">Mind the circularity: the segments were built with campaign acceptances, which '
                 "count the response analysed here, so segments differ in response partly by construction. "
                 "The bands (income, spending, age, children) are the fairer comparison.</p>")
    numeric = {"customers", "responders", "response rate", "95% CI", "conversion per visit", "no visits",
               "purchases per visit"}
    for dimension in insights.conversion["dimension"].unique():
        title = DIMENSION_TITLES.get(dimension, dimension)
        body += f'<h3 id="conversion-{_e(dimension)}">By {_e(title)}</h3>'
        body += chart_conversion(insights, dimension)
        body += _table(conversion_rows(insights, dimension), numeric)
    return _section("conversion", body)


def _diagnostics_section(insights: RunInsights) -> str:
    selection = insights.selection
    body = ""
    if selection.get("per_k"):
        model = insights.model
        body += (f'<p class="note">Model version {_e(model["model_version"])} ({_e(model["recipe_name"])} recipe, '
                 f"features {_e(', '.join(model['features']))}), trained by run {_e(model['trained_by_run'])} on "
                 f"{model['training_rows']:,} customers. Why k = {_e(selection.get('chosen_k'))}: "
                 f"{_e('; '.join(selection.get('reasons', [])))}.</p>")
        body += chart_selection(insights)
        body += _table([{"k": row["k"], "inertia": num(row.get("inertia"), 0),
                         "silhouette (train)": num(row.get("silhouette_train"), 3),
                         "silhouette (held-out)": num(row.get("silhouette_test"), 3),
                         "Davies-Bouldin": num(row.get("davies_bouldin"), 3),
                         "Calinski-Harabasz": num(row.get("calinski_harabasz"), 0),
                         "stability (ARI)": num(row.get("stability_ari"), 3),
                         "": "chosen" if row["k"] == selection.get("chosen_k") else ""}
                        for row in selection["per_k"]],
                       numeric={"k", "inertia", "silhouette (train)", "silhouette (held-out)", "Davies-Bouldin",
                                "Calinski-Harabasz", "stability (ARI)"})
    else:
        body += '<p class="note">The model of this run has no selection metrics.</p>'
    diagnostics = insights.diagnostics
    if diagnostics is not None and diagnostics.silhouettes is not None:
        body += "<h3>Silhouette per segment</h3>"
        body += ('<p class="note">How clearly each customer belongs to its segment, computed on the published '
                 "features with the model's stored preprocessing. Segments with many negative values overlap "
                 "with a neighbour.</p>")
        body += chart_silhouette_by_segment(insights)
        names = insights.segment_names()
        by_segment = diagnostics.silhouette_by_segment().set_index("segment_id")
        body += _table([{"segment": names[s], "sampled customers": count(by_segment.at[s, "customers"]),
                         "mean silhouette": num(by_segment.at[s, "mean_silhouette"], 3),
                         "share below 0": pct(by_segment.at[s, "negative_share"])}
                        for s in insights.segment_order() if s in by_segment.index],
                       numeric={"sampled customers", "mean silhouette", "share below 0"})
    if diagnostics is not None and diagnostics.coordinates is not None:
        body += "<h3>The segments in two dimensions</h3>"
        body += chart_pca(insights)
    return _section("diagnostics", body)


def _methods_section(insights: RunInsights) -> str:
    currency = insights.currency or "the data's currency"
    items = {
        "Customers": "The customers this run published in segmentation.customer_segments (quarantined customers are "
                     "not included).",
        "Bands": "Bands include their lower bound and exclude the upper one (IDR 10M–20M holds 10,000,000 up to "
                 f"19,999,999); amounts are in {currency}; spending is over the data's two-year window. Bands are "
                 "configured in config/bands.yaml (or the file SEGMENTS_BANDS names).",
        "Response rate and interval": "responders ÷ customers; the 95% interval is the Wilson score interval "
                                      "(segmentation.wilson_interval), which stays inside 0–100% for small bands.",
        "Conversion per visit": "Per customer, response ÷ web visits last month, averaged over customers with at "
                                "least one visit; customers without visits cannot convert per visit and are counted "
                                "separately.",
        "Purchases per visit": "Total purchases of the band's customers with visits ÷ their total monthly web visits "
                               "(a ratio of totals, so customers with a single visit do not dominate). Purchases "
                               "cover two years and visits one month: compare bands, not absolute values.",
        "Movements": "Customers per segment compared with the previous run that published profiles, by stable "
                     "segment id.",
        "Diagnostics": "k selection metrics are those stored with the model when it was trained (elbow and train "
                       "silhouette on the training split, held-out silhouette on the test split). Silhouettes per "
                       f"segment and the PCA use a reproducible sample of at most {DIAGNOSTICS_SAMPLE:,} of the run's "
                       "customers, preprocessed as the model does (imputation, capping, transforms, scaling).",
        "Distributions": f"The box plots' percentiles are those of a reproducible sample of at most "
                         f"{DISTRIBUTION_SAMPLE:,} of the run's customers (all of them when there are fewer), whose "
                         f"first {DIAGNOSTICS_SAMPLE:,} are the diagnostics' sample; their means are of every "
                         "customer, as in the segment profiles. Every table is computed from all the customers.",
        "Stored tables": "segmentation.conversion_by_band (this analysis, per run), segmentation.segment_profiles, "
                         "segmentation.models.",
    }
    body = "<dl>" + "".join(f"<dt>{_e(term)}</dt><dd>{_e(text)}</dd>" for term, text in items.items()) + "</dl>"
    return _section("methods", body)


def render_report(insights: RunInsights, generated_at: datetime | None = None) -> str:
    run = insights.run
    generated = (generated_at or datetime.now()).strftime("%Y-%m-%d %H:%M")
    nav = "".join(f'<a href="#{key}">{_e(title)}</a>' for key, title in SECTIONS.items())
    sections = [_summary_section(insights), _segments_section(insights), _conversion_section(insights),
                _diagnostics_section(insights), _methods_section(insights)]
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>Customer segments – run {insights.run_id}</title><style>{CSS}</style></head><body><main>"
            f"<header><h1>Customer segments: insight report, run {insights.run_id}</h1>"
            f'<p class="meta">Data as of {_e(run["as_of"])} · run finished {_e(_when(run["finished_at"]))} · '
            f"report generated {_e(generated)}</p><nav>{nav}</nav></header>"
            + "".join(sections) + "</main></body></html>")


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M %Z").strip() if hasattr(value, "strftime") else str(value or "–")


def report_path(state_dir: Path, run_id: int) -> Path:
    return state_dir / "reports" / f"run-{run_id}.html"


def write_run_report(engine: Engine, run_id: int, state_dir: Path, bands: BandsConfig) -> RunReport:
    """Gather the run's insights and write <state_dir>/reports/run-<run_id>.html (atomically)."""
    insights = gather_insights(engine, run_id, bands)
    path = report_path(state_dir, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".html.partial")
    partial.write_text(render_report(insights), encoding="utf-8")
    os.replace(partial, path)
    return RunReport(path=path, insights=insights)
