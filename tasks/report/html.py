"""The insight report as one self-contained HTML file: tables, and charts embedded as base64 PNG.

Charts are drawn with matplotlib's Agg canvas on Figure objects (no pyplot state, safe in Prefect's
worker threads). The file has no external assets, so it can be mailed or attached as it is.
"""

from __future__ import annotations

import base64
import html
import io
import os
import textwrap
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter
from sqlalchemy.engine import Engine

from tasks.report.bands import BandsConfig, compact_number
from tasks.report.insights import CHANNELS, DIAGNOSTICS_SAMPLE, ORDER_MIX_TOP, SEGMENT_DIMENSION, SPEND_CATEGORIES, RunInsights, gather_insights, highlights
from tasks.report.summary import format_amount

SECTIONS = {"summary": "Summary", "segments": "Segment profiles", "conversion": "Conversion analysis",
            "diagnostics": "Cluster diagnostics", "methods": "How the numbers are computed"}
DIMENSION_TITLES = {SEGMENT_DIMENSION: "segment", "income": "income", "spending": "spending (two years)",
                    "age": "age", "children": "children at home"}
PALETTE = ["#1b6ca8", "#e07b39", "#3a9e5c", "#c8423c", "#7d5ba6", "#8c6d46", "#d16ba5", "#6f6f6f", "#a8a335",
           "#2bb0c4"]
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
def _figure(width: float, height: float, columns: int = 1) -> tuple[Figure, list]:
    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, columns, squeeze=False)[0]
    for axis in axes:
        axis.spines[["top", "right"]].set_visible(False)
        axis.grid(axis="y", color="#e6e6e6", linewidth=0.8)
        axis.set_axisbelow(True)
    return figure, list(axes)


def png_data_uri(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", facecolor="white")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _amount_axis(axis, currency: str, which: str = "y") -> None:
    formatter = FuncFormatter(lambda value, _: compact_number(value))
    (axis.yaxis if which == "y" else axis.xaxis).set_major_formatter(formatter)


def _colours(insights: RunInsights) -> dict[int, str]:
    return {segment_id: PALETTE[index % len(PALETTE)] for index, segment_id in enumerate(insights.segment_order())}


def _short(name: str, width: int = 14) -> str:
    """Wrap a label on word boundaries so neighbouring tick labels do not overlap."""
    return _chart_text(textwrap.fill(name, width, break_long_words=False))


def _chart_text(text: object) -> str:
    """Text from data or configuration as matplotlib draws it as it is: a $ would start mathtext (and a
    malformed formula fail the report)."""
    return str(text).replace("$", r"\$")


def chart_segment_overview(insights: RunInsights) -> str:
    profiles, colours = insights.profiles, _colours(insights)
    figure, (size_axis, value_axis) = _figure(11, 3.6, 2)
    names = [_short(name) for name in profiles["segment_name"]]
    bar_colours = [colours[int(segment_id)] for segment_id in profiles["segment_id"]]
    bars = size_axis.bar(names, profiles["customers"], color=bar_colours)
    size_axis.bar_label(bars, labels=[f"{c:,}\n{s:.0%}" for c, s in zip(profiles["customers"], profiles["share"])],
                        fontsize=8, padding=2)
    size_axis.set_title("Customers per segment")
    size_axis.margins(y=0.25)
    bars = value_axis.bar(names, profiles["gmv_annual"], color=bar_colours)
    value_axis.bar_label(bars, labels=[compact_number(v) for v in profiles["gmv_annual"]], fontsize=8, padding=2)
    value_axis.set_title(f"GMV per year ({_chart_text(insights.currency)})".replace(" ()", ""))
    _amount_axis(value_axis, insights.currency)
    value_axis.margins(y=0.2)
    for axis in (size_axis, value_axis):
        axis.tick_params(axis="x", labelsize=8)
    return png_data_uri(figure)


def chart_distributions(insights: RunInsights) -> str:
    """Box per segment from SQL percentiles: box p25-p75, line the median, whiskers p5 and p95, dot the mean."""
    distributions, colours, names = insights.distributions, _colours(insights), insights.segment_names()
    currency = _chart_text(insights.currency)
    measures = [("income", f"Yearly income ({currency})"), ("age", "Age (years)"),
                ("monetary", f"Spend over two years ({currency})")]
    figure, axes = _figure(11, 3.8, 3)
    order = insights.segment_order()
    for axis, (measure, title) in zip(axes, measures):
        rows = distributions[distributions["measure"] == measure].set_index("segment_id")
        present = [segment_id for segment_id in order if segment_id in rows.index]
        stats = [{"med": rows.at[s, "p50"], "q1": rows.at[s, "p25"], "q3": rows.at[s, "p75"],
                  "whislo": rows.at[s, "p05"], "whishi": rows.at[s, "p95"], "mean": rows.at[s, "mean"],
                  "label": _short(names[s])} for s in present]
        if stats:
            boxes = axis.bxp(stats, showfliers=False, showmeans=True, patch_artist=True, widths=0.6,
                             medianprops={"color": "black"},
                             meanprops={"marker": "o", "markerfacecolor": "white", "markeredgecolor": "black",
                                        "markersize": 4})
            for patch, segment_id in zip(boxes["boxes"], present):
                patch.set_facecolor(colours[segment_id])
                patch.set_alpha(0.75)
        axis.set_title(title.replace(" ()", ""))
        axis.tick_params(axis="x", labelsize=7, rotation=30)
        if measure != "age":
            _amount_axis(axis, insights.currency)
    return png_data_uri(figure)


def chart_spend_mix(insights: RunInsights) -> str:
    """Mean spend per customer by product category (stacked) and share of purchases by channel."""
    mix = insights.mix.set_index("segment_id")
    order = [s for s in insights.segment_order() if s in mix.index]
    names = [_short(insights.segment_names()[s]) for s in order]
    figure, (spend_axis, channel_axis) = _figure(11, 4.0, 2)
    bottom = np.zeros(len(order))
    for category in SPEND_CATEGORIES:
        values = mix.loc[order, f"spend_{category}"].fillna(0).to_numpy()
        spend_axis.bar(names, values, bottom=bottom, label=category, color=CATEGORY_COLOURS[category])
        bottom += values
    spend_axis.set_title(f"Mean spend per customer by category ({_chart_text(insights.currency)}, two years)"
                         .replace(" (, ", " ("))
    _amount_axis(spend_axis, insights.currency)
    spend_axis.legend(fontsize=8, ncols=3, loc="upper right", frameon=False)
    spend_axis.margins(y=0.2)
    totals = mix.loc[order, [f"purchases_{channel}" for channel in CHANNELS]].fillna(0).sum(axis=1).replace(0, np.nan)
    left = np.zeros(len(order))
    for channel in CHANNELS:
        shares = (mix.loc[order, f"purchases_{channel}"] / totals).fillna(0).to_numpy()
        channel_axis.barh(names, shares, left=left, label=channel, color=CHANNEL_COLOURS[channel])
        for y, (start, share) in enumerate(zip(left, shares)):
            if share >= 0.08:
                channel_axis.text(start + share / 2, y, f"{share:.0%}", ha="center", va="center", fontsize=8,
                                  color="white")
        left += shares
    channel_axis.invert_yaxis()
    channel_axis.xaxis.set_major_formatter(PercentFormatter(1.0))
    channel_axis.set_title("Channel mix (share of purchases)")
    channel_axis.legend(fontsize=8, ncols=4, loc="lower center", bbox_to_anchor=(0.5, -0.22), frameon=False)
    channel_axis.grid(False)
    for axis in (spend_axis, channel_axis):
        axis.tick_params(labelsize=8)
    return png_data_uri(figure)


def chart_conversion(insights: RunInsights, dimension: str) -> str:
    """Response rate with its 95% Wilson interval, and conversion per web visit, for each band."""
    rows = insights.conversion[insights.conversion["dimension"] == dimension]
    rotate = len(rows) > 6
    labels = [f"{_chart_text(label)} (n={int(customers):,})" if rotate else f"{_short(label, 14)}\nn={int(customers):,}"
              for label, customers in zip(rows["band_label"], rows["customers"])]
    x = np.arange(len(rows))
    figure, (rate_axis, visit_axis) = _figure(11, 3.4, 2)
    rate = rows["response_rate"].to_numpy(dtype="float64")
    low = rows["ci_low"].to_numpy(dtype="float64")
    high = rows["ci_high"].to_numpy(dtype="float64")
    colour = "#1b6ca8"
    if dimension == SEGMENT_DIMENSION:
        by_name = {name: _colours(insights)[s] for s, name in insights.segment_names().items()}
        colour = [by_name.get(label, "#1b6ca8") for label in rows["band_label"]]
    rate_axis.bar(x, np.nan_to_num(rate), color=colour, alpha=0.85)
    rate_axis.errorbar(x, np.nan_to_num(rate), yerr=[np.nan_to_num(rate - low), np.nan_to_num(high - rate)],
                       fmt="none", ecolor="#333333", capsize=3, linewidth=1)
    overall = insights.overall["response_rate"]
    if overall is not None:
        rate_axis.axhline(overall, color="#c8423c", linestyle="--", linewidth=1, label=f"all customers {overall:.1%}")
        rate_axis.legend(fontsize=8, frameon=False, loc="upper left")
        rate_axis.margins(y=0.15)
    rate_axis.set_title("Campaign response rate (bars: 95% Wilson interval)")
    rate_axis.yaxis.set_major_formatter(PercentFormatter(1.0))
    visit_axis.bar(x, np.nan_to_num(rows["mean_conversion"].to_numpy(dtype="float64")), color="#3a9e5c", alpha=0.85)
    visit_axis.set_title("Conversion per web visit (customers with visits)")
    visit_axis.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
    for axis in (rate_axis, visit_axis):
        axis.set_xticks(x, labels, fontsize=7, rotation=40 if rotate else 0, ha="right" if rotate else "center",
                        rotation_mode="anchor")
    return png_data_uri(figure)


def chart_selection(insights: RunInsights) -> str:
    """Elbow (inertia by k) and silhouette by k (train and held-out), chosen k marked."""
    per_k = pd.DataFrame(insights.selection.get("per_k") or [])
    chosen = insights.selection.get("chosen_k")
    figure, (elbow_axis, silhouette_axis) = _figure(11, 3.4, 2)
    elbow_axis.plot(per_k["k"], per_k["inertia"], marker="o", color="#1b6ca8")
    silhouette_axis.plot(per_k["k"], per_k["silhouette_train"].astype(float), marker="o", label="train",
                         color="#1b6ca8")
    silhouette_axis.plot(per_k["k"], per_k["silhouette_test"].astype(float), marker="s", label="held-out",
                         color="#e07b39")
    if chosen is not None and chosen in set(per_k["k"]):
        row = per_k[per_k["k"] == chosen].iloc[0]
        for axis, value in ((elbow_axis, row["inertia"]), (silhouette_axis, row["silhouette_test"])):
            axis.axvline(chosen, color="#c8423c", linestyle="--", linewidth=1)
            if value is not None and not np.isnan(float(value)):
                axis.plot([chosen], [value], marker="o", markersize=11, markerfacecolor="none",
                          markeredgecolor="#c8423c", markeredgewidth=2)
        elbow_axis.annotate(f"chosen k = {chosen}", (chosen, row["inertia"]), xytext=(10, 10),
                            textcoords="offset points", color="#c8423c", fontsize=9)
    elbow_axis.set_title("Elbow: inertia by k (training split)")
    elbow_axis.set_xlabel("k (segments)")
    silhouette_axis.set_title("Silhouette by k")
    silhouette_axis.set_xlabel("k (segments)")
    silhouette_axis.legend(fontsize=8, frameon=False)
    for axis in (elbow_axis, silhouette_axis):
        axis.set_xticks(list(per_k["k"]))
    return png_data_uri(figure)


def chart_silhouette_by_segment(insights: RunInsights) -> str:
    """The classic silhouette plot: each sampled customer's silhouette, sorted within its segment."""
    diagnostics, colours, names = insights.diagnostics, _colours(insights), insights.segment_names()
    figure, (axis,) = _figure(11, 4.2)
    axis.grid(False)
    y = 0
    ticks, tick_labels = [], []
    for segment_id in insights.segment_order():
        values = np.sort(diagnostics.silhouettes[diagnostics.segment_ids == segment_id])
        if values.size == 0:
            continue
        axis.fill_betweenx(np.arange(y, y + values.size), 0, values, color=colours[segment_id], alpha=0.85,
                           linewidth=0)
        ticks.append(y + values.size / 2)
        tick_labels.append(f"{_chart_text(names[segment_id])}  (mean {values.mean():.2f})")
        y += values.size + max(10, diagnostics.sample_size // 100)
    average = float(diagnostics.silhouettes.mean())
    axis.axvline(average, color="#c8423c", linestyle="--", linewidth=1)
    axis.annotate(f"mean {average:.2f}", (average, 1.0), xycoords=("data", "axes fraction"), xytext=(4, -12),
                  textcoords="offset points", color="#c8423c", fontsize=8)
    axis.axvline(0, color="#555555", linewidth=0.8)
    axis.set_yticks(ticks, tick_labels, fontsize=8)
    axis.invert_yaxis()
    axis.set_xlabel("silhouette (−1: closer to another segment, 1: well inside its own)")
    axis.set_title(f"Silhouette per customer, by segment ({diagnostics.sample_size:,} sampled of "
                   f"{diagnostics.population:,})")
    return png_data_uri(figure)


def chart_pca(insights: RunInsights) -> str:
    diagnostics, colours, names = insights.diagnostics, _colours(insights), insights.segment_names()
    figure, (axis,) = _figure(11, 5.2)
    coordinates = diagnostics.coordinates
    for segment_id in insights.segment_order():
        mask = diagnostics.segment_ids == segment_id
        if mask.any():
            axis.scatter(coordinates[mask, 0], coordinates[mask, 1], s=7, alpha=0.55, color=colours[segment_id],
                         label=_chart_text(names[segment_id]), linewidths=0)
        if segment_id in diagnostics.centroid_coordinates:
            cx, cy = diagnostics.centroid_coordinates[segment_id]
            axis.scatter([cx], [cy], marker="X", s=140, color=colours[segment_id], edgecolors="black",
                         linewidths=1.2, zorder=3)
    first, second = (diagnostics.explained_variance + [0.0, 0.0])[:2]
    axis.set_xlabel(f"principal component 1 ({first:.0%} of variance)")
    axis.set_ylabel(f"principal component 2 ({second:.0%} of variance)")
    axis.set_title(f"Customers in the model's feature space, projected on two principal components "
                   f"({diagnostics.sample_size:,} sampled; X = segment centre)")
    axis.legend(fontsize=8, markerscale=2.5, frameon=False, loc="best")
    return png_data_uri(figure)


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
img { max-width: 100%; display: block; margin: 6px 0 10px; }
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


def _img(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{_e(alt)}">'


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
    body += _img(chart_segment_overview(insights), "customers and GMV per segment")
    if insights.distributions is not None and not insights.distributions.empty:
        body += ("<h3>Income, age and spend by segment</h3>"
                 '<p class="note">Boxes: middle half of the customers (25th–75th percentile); line: median; '
                 "whiskers: 5th and 95th percentiles; dot: mean.</p>")
        body += _img(chart_distributions(insights), "income, age and spend by segment")
    if insights.mix is not None and not insights.mix.empty:
        body += "<h3>What they buy and where</h3>"
        body += _img(chart_spend_mix(insights), "spend per product category and channel mix by segment")
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
        body += _img(chart_conversion(insights, dimension), f"response rate and conversion by {title}")
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
        body += _img(chart_selection(insights), "elbow curve and silhouette by k")
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
        body += _img(chart_silhouette_by_segment(insights), "silhouette per customer by segment")
        names = insights.segment_names()
        by_segment = diagnostics.silhouette_by_segment().set_index("segment_id")
        body += _table([{"segment": names[s], "sampled customers": count(by_segment.at[s, "customers"]),
                         "mean silhouette": num(by_segment.at[s, "mean_silhouette"], 3),
                         "share below 0": pct(by_segment.at[s, "negative_share"])}
                        for s in insights.segment_order() if s in by_segment.index],
                       numeric={"sampled customers", "mean silhouette", "share below 0"})
    if diagnostics is not None and diagnostics.coordinates is not None:
        body += "<h3>The segments in two dimensions</h3>"
        body += _img(chart_pca(insights), "PCA scatter of customers coloured by segment")
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
