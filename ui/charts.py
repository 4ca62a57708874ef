"""Plotly figures for the dashboard, in the project's class colours and one status palette."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import plotly.graph_objects as go

from core.domain import LabelClass
from ui.text import chart_text

STATUS_HEX = {
    "labeled": "#2e9e5b",
    "reviewed": "#3b82f6",
    "prelabeled": "#8b5cf6",
    "skipped": "#f59e0b",
    "new": "#cbd5e1",
}
STATUS_WORDS = {
    "labeled": "Labeled",
    "reviewed": "Reviewed",
    "prelabeled": "Pre-labeled",
    "skipped": "Skipped",
    "new": "Not labeled",
}
SOURCE_HEX = {"human": "#2e9e5b", "prelabel": "#8b5cf6", "import": "#94a3b8"}
SOURCE_WORDS = {"human": "By people", "prelabel": "Confirmed pre-labels", "import": "Imported"}
NEUTRAL = "#64748b"
DAY_MS = 86_400_000


def _layout(fig: go.Figure, height: int = 300, **kw: object) -> go.Figure:
    fig.update_layout(
        height=height,
        margin={"l": 8, "r": 8, "t": 8, "b": 8},
        legend={"orientation": "h", "y": -0.15},
        hoverlabel={"namelength": -1},
        **kw,
    )
    return fig


def status_donut(by_status: dict[str, int]) -> go.Figure:
    keys = [k for k in STATUS_HEX if by_status.get(k)]
    fig = go.Figure(
        go.Pie(
            labels=[STATUS_WORDS[k] for k in keys],
            values=[by_status[k] for k in keys],
            marker={"colors": [STATUS_HEX[k] for k in keys]},
            hole=0.6,
            sort=False,
            textinfo="percent",
            hovertemplate="%{label}: %{value:,} images<extra></extra>",
        )
    )
    total = sum(by_status.values())
    fig.add_annotation(text=f"<b>{total:,}</b><br>images", showarrow=False, font={"size": 16})
    return _layout(fig, showlegend=True)


def class_bars(classes: Sequence[LabelClass], counts: dict[int, int], unit: str = "images") -> go.Figure:
    """One bar per class (in the class's colour), largest first; classes without labels show as 0."""
    rows = sorted(((counts.get(c.id, 0), c) for c in classes), key=lambda r: r[0])
    fig = go.Figure(
        go.Bar(
            x=[n for n, _ in rows],
            y=[chart_text(c.name) for _, c in rows],
            orientation="h",
            marker={"color": [c.color for _, c in rows]},
            text=[f"{n:,}" for n, _ in rows],
            textposition="auto",
            hovertemplate=f"%{{y}}: %{{x:,}} {unit}<extra></extra>",
        )
    )
    return _layout(fig, height=max(220, 36 * len(rows) + 60), xaxis={"title": unit.capitalize()})


def labeler_bars(by_labeler: dict[str, int], names: dict[str, str] | None = None) -> go.Figure:
    rows = sorted(by_labeler.items(), key=lambda r: r[1])
    fig = go.Figure(
        go.Bar(
            x=[n for _, n in rows],
            y=[chart_text((names or {}).get(u, u)) for u, _ in rows],
            orientation="h",
            marker={"color": NEUTRAL},
            text=[f"{n:,}" for _, n in rows],
            textposition="auto",
            hovertemplate="%{y}: %{x:,} images<extra></extra>",
        )
    )
    return _layout(fig, height=max(220, 36 * len(rows) + 60), xaxis={"title": "Images whose label is theirs"})


def labels_over_time(per_day: Sequence[tuple[date, str, int]]) -> go.Figure:
    """Saves per day, stacked by source, with the running total on a second axis."""
    days = sorted({d for d, _, _ in per_day})
    fig = go.Figure()
    for source in SOURCE_HEX:
        by_day = {d: n for d, s, n in per_day if s == source}
        if by_day:
            fig.add_bar(
                x=days,
                y=[by_day.get(d, 0) for d in days],
                name=SOURCE_WORDS[source],
                marker={"color": SOURCE_HEX[source]},
                width=[DAY_MS * 0.8] * len(days),  # a date axis would make a lone bar a millisecond wide
                hovertemplate="%{x|%d %b}: %{y:,} saves<extra>" + SOURCE_WORDS[source] + "</extra>",
            )
    totals: dict[date, int] = {}
    for d, _, n in per_day:
        totals[d] = totals.get(d, 0) + n
    running, cum = 0, []
    for d in days:
        running += totals[d]
        cum.append(running)
    fig.add_scatter(
        x=days,
        y=cum,
        name="Total so far",
        yaxis="y2",
        mode="lines+markers",
        line={"color": "#0f172a", "width": 2},
        hovertemplate="%{x|%d %b}: %{y:,} saves in all<extra></extra>",
    )
    xaxis: dict[str, object] = {"type": "date", "tickformat": "%d %b"}
    if days and (days[-1] - days[0]).days < 7:  # a few days only: keep the bars narrow
        xaxis["range"] = [days[0] - timedelta(days=3), days[-1] + timedelta(days=3)]
    y2 = {"title": "Total", "overlaying": "y", "side": "right", "showgrid": False, "rangemode": "tozero"}
    return _layout(
        fig,
        barmode="stack",
        xaxis=xaxis,
        yaxis={"title": "Saves per day", "tickformat": ",d"},
        yaxis2={**y2, "tickformat": ",d"},
    )
