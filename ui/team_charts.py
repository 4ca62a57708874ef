"""The dashboard's Team section as data: the per-labeler table's rows and the plotly figures over time
(built from ``core.quality.labeler_stats``; no Streamlit here, so they are tested as plain values)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import plotly.graph_objects as go

from core.quality.labeler_stats import Figures, LabelerStats
from ui.charts import DAY_MS
from ui.text import chart_text

# one colour per labeler, in the table's order (colour-blind safe first, then plotly's own)
PALETTE = (
    "#4c78a8",
    "#f58518",
    "#54a24b",
    "#e45756",
    "#72b7b2",
    "#b279a2",
    "#eeca3b",
    "#9d755d",
    "#bab0ac",
    "#ff9da6",
)
DASH = "—"


def _layout(fig: go.Figure, **kw: object) -> go.Figure:
    """As the dashboard's other charts (ui.charts): 300 px high, legend below."""
    fig.update_layout(
        height=300,
        margin={"l": 8, "r": 8, "t": 8, "b": 8},
        legend={"orientation": "h", "y": -0.15},
        hoverlabel={"namelength": -1},
        **kw,
    )
    return fig


def _pct(value: float | None) -> str:
    return DASH if value is None else f"{value:.0%}"


def _num(value: float | None, fmt: str) -> str:
    return DASH if value is None else format(value, fmt)


def _count(n: int) -> str:
    return f"{n:,}"


def table_rows(s: LabelerStats, names: dict[str, str]) -> list[dict[str, str]]:
    """One row per labeler, most labels first. Text cells: a figure a labeler does not have yet (no
    review, no gold answer) is a dash, not a grey "None"; the counts say how many each figure is over."""
    rows = []
    for f in s.labelers:
        who = f.labeler or ""
        rows.append(
            {
                "labeler": names.get(who, who),
                "labels": _count(f.saves),
                "per hour": _num(f.throughput, ".1f"),
                "median s": _num(f.median_s, ".1f"),
                "active": _active(f.active_s),
                "rejected": _pct(f.rejection_rate),
                "reviewed": _count(f.reviewed),
                "agreement": _pct(f.agreement),
                "gold": _pct(f.gold_accuracy),
                "gold answers": _count(f.gold_answers),
                "awaiting review": _count(s.awaiting_review.get(who, 0)),
            }
        )
    return rows


def _active(seconds: float) -> str:
    if seconds <= 0:
        return DASH
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def colors(s: LabelerStats) -> dict[str, str]:
    return {f.labeler or "": PALETTE[i % len(PALETTE)] for i, f in enumerate(s.labelers)}


def _days_axis(days: Sequence[date]) -> dict[str, object]:
    axis: dict[str, object] = {"type": "date", "tickformat": "%d %b"}
    if days and (days[-1] - days[0]).days < 7:  # a few days only: keep the bars narrow
        axis["range"] = [days[0] - timedelta(days=3), days[-1] + timedelta(days=3)]
    return axis


def labels_per_day(s: LabelerStats, names: dict[str, str]) -> go.Figure:
    """Labels saved per day, stacked by labeler."""
    days = sorted({f.day for f in s.per_day if f.day is not None and f.saves})
    palette = colors(s)
    fig = go.Figure()
    for person in s.labelers:
        who = person.labeler or ""
        by_day = {f.day: f.saves for f in s.per_day if f.labeler == who and f.saves}
        if not by_day:
            continue
        name = chart_text(names.get(who, who))
        fig.add_bar(
            x=days,
            y=[by_day.get(d, 0) for d in days],
            name=name,
            marker={"color": palette[who]},
            width=[DAY_MS * 0.8] * len(days),  # a date axis would make a lone bar a millisecond wide
            hovertemplate="%{x|%d %b}: %{y:,} labels<extra>" + name + "</extra>",
        )
    return _layout(
        fig, barmode="stack", xaxis=_days_axis(days), yaxis={"title": "Labels per day", "tickformat": ",d"}
    )


@dataclass(frozen=True)
class Measure:
    title: str  # the axis title and the chooser's option
    value: Callable[[Figures], float | None]
    hover: str  # plotly hover format of the value
    percent: bool = False


MEASURES = (
    Measure("Labels per hour", lambda f: f.throughput, "%{y:.1f} labels per active hour"),
    Measure("Median seconds per label", lambda f: f.median_s, "median %{y:.1f} s per label"),
    Measure("Rejection rate", lambda f: f.rejection_rate, "%{y:.0%} rejected", percent=True),
    Measure("Agreement", lambda f: f.agreement, "%{y:.0%} agreement", percent=True),
    Measure("Gold accuracy", lambda f: f.gold_accuracy, "%{y:.0%} on gold", percent=True),
)


def over_time(s: LabelerStats, names: dict[str, str], measure: Measure = MEASURES[0]) -> go.Figure:
    """One line per labeler of ``measure`` per day (days without a value for that labeler left out)."""
    palette = colors(s)
    fig = go.Figure()
    shown: list[date] = []
    for person in s.labelers:
        who = person.labeler or ""
        points = [
            (f.day, v)
            for f in s.per_day
            if f.labeler == who and f.day is not None and (v := measure.value(f)) is not None
        ]
        if not points:
            continue
        shown.extend(d for d, _ in points)
        name = chart_text(names.get(who, who))
        fig.add_scatter(
            x=[d for d, _ in points],
            y=[v for _, v in points],
            name=name,
            mode="lines+markers",
            line={"color": palette[who], "width": 2},
            hovertemplate="%{x|%d %b}: " + measure.hover + "<extra>" + name + "</extra>",
        )
    yaxis: dict[str, object] = {"title": measure.title, "rangemode": "tozero"}
    if measure.percent:
        yaxis.update(tickformat=".0%", range=[0, 1.05])
    return _layout(fig, xaxis=_days_axis(sorted(set(shown))), yaxis=yaxis)


def has_values(s: LabelerStats, measure: Measure) -> bool:
    return any(measure.value(f) is not None for f in s.per_day if f.labeler is not None)
