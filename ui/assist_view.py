"""Screen parts of ML assistance: the stage card, the settings form, the runs table and the charts.

Everything shown comes from ``core.assist.status.AssistOverview``; nothing here decides anything.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from core.assist import status
from core.assist.stages import Stage
from core.domain import LabelClass
from ui import widgets

LEVELS = (0.8, 0.9, 0.95)  # the confidence levels offered for the precision's lower bound

# job titles for the shared job panel (``ui.widgets`` names only import/export kinds)
for _kind, _title in (
    (status.FEATURIZE, "Featurisation"),
    (status.TRAIN, "Training (with calibration and inference)"),
    (status.INFER, "Inference"),
):
    widgets.JOB_TITLES.setdefault(_kind, _title)

ASSIST_KINDS = (status.FEATURIZE, status.TRAIN, status.INFER)
STAGES = [
    (Stage.MANUAL, "Manual", ":material/edit:", "people label; images are featurised"),
    (Stage.CLUSTERING, "Clustering", ":material/grid_view:", "pages of similar images"),
    (Stage.PRELABELING, "Pre-labeling", ":material/auto_awesome:", "the model proposes, people confirm"),
]
STATE_COLORS = {"running": "blue", "done": "green", "failed": "red", "cancelled": "orange"}
TARGET_HEX, PRECISION_HEX, BOUND_HEX, COVERAGE_HEX, COST_HEX = (
    "#ef4444",
    "#2e9e5b",
    "#86efac",
    "#3b82f6",
    "#8b5cf6",
)


# -- stage ------------------------------------------------------------------------------------------


def stage_card(ov: status.AssistOverview) -> None:
    """The three stages with the current one marked, why, and what comes next."""
    with st.container(border=True, key="assist_stage"):
        cols = st.columns(3)
        for col, (stage, title, icon, words) in zip(cols, STAGES, strict=True):
            current = stage is ov.stage.stage
            badge = f":violet-badge[{icon} {title} · now]" if current else f":gray[{icon} {title}]"
            col.markdown(f"{badge}  \n:gray[{words}]")
        st.markdown(f"**{ov.stage.reason}**")
        if ov.stage.next_training_text:
            st.caption(f":material/model_training: {ov.stage.next_training_text.capitalize()}.")
        c = ov.counts
        a, b, d, e = st.columns(4)
        a.metric("Images", f"{c.n_items:,}", border=True)
        b.metric(
            "Featurised",
            f"{c.n_featurised:,}" + (f" · {c.n_featurised / c.n_items:.0%}" if c.n_items else ""),
            border=True,
            help="Images the backbone has turned into embeddings (needed for clustering and proposals).",
        )
        d.metric(
            "Labels for training",
            f"{c.n_labeled:,}",
            help="Labels by people on featurised images (auto-accepted ones are left out).",
            border=True,
        )
        e.metric("Proposals shown", f"{c.n_proposals_shown:,}", border=True)


def proposals_card(ov: status.AssistOverview) -> None:
    p = ov.proposals
    if not p.proposals and not p.accepted:
        return
    a, b, c, d = st.columns(4)
    a.metric(
        "Waiting with a proposal",
        f"{p.pending:,}",
        help="Unlabeled images that show a proposal.",
        border=True,
    )
    if p.pre_ticked:
        a.caption(
            f":material/auto_awesome: and {p.pre_ticked:,} with classes pre-ticked "
            "(multi-label: the classes the model is sure of; the labeler completes the set)"
        )
    b.metric(
        "Accepted",
        f"{p.accepted:,}",
        border=True,
        help="Labels saved from a proposal unchanged (all time)"
        + (f"; {p.auto_accepted:,} auto-accepted." if p.auto_accepted else "."),
    )
    c.metric(
        "Corrected",
        f"{p.corrected:,}",
        border=True,
        help="Labels where a person changed the proposal they were shown (all time).",
    )
    live = p.live_precision
    d.metric(
        "Kept by people",
        "—" if live is None else f"{live:.0%}",
        border=True,
        help="Of the proposals people decided on, the share they kept: the live precision, to hold against the target.",
    )


# -- settings -----------------------------------------------------------------------------------------


def settings_form(ov: status.AssistOverview, *, admin: bool) -> status.AssistSettings | None:
    """The settings form; returns the new settings when an administrator saves it."""
    s = ov.settings
    s_pid = ov.project.id  # every key is the shown project's: another project's settings never show here
    orders = list(status.QUEUE_ORDERS)
    with st.form(f"assist_settings_{ov.project.id}", border=True):
        st.markdown("**Settings**" + ("" if admin else " · :gray[only an administrator can change them]"))
        left, right = st.columns(2, gap="large")
        with left:
            target = st.slider(
                "Target precision",
                0.50,
                0.99,
                float(s.target_precision),
                0.01,
                format="percent",
                key=f"assist_target_{s_pid}",
                help="Proposals show only where held-out precision reaches this, with confidence.",
                disabled=not admin,
            )
            order = st.radio(
                "Queue order",
                orders,
                index=orders.index(s.queue_order),
                format_func=status.QUEUE_ORDERS.get,
                key=f"assist_order_{s_pid}",
                disabled=not admin,
            )
            every = st.number_input(
                "Train every N new labels",
                1,
                100_000,
                int(s.train_every),
                key=f"assist_every_{s_pid}",
                disabled=not admin,
            )
            level = st.select_slider(
                "Confidence of the bound",
                options=sorted({*LEVELS, float(s.confidence_level)}),
                value=float(s.confidence_level),
                format_func=lambda v: f"{v:.0%}",
                key=f"assist_level_{s_pid}",
                help="How sure the lower bound on precision must be before proposals show. Higher: a shown "
                "set falls under the target less often, and proposals come later.",
                disabled=not admin,
            )
        with right:
            auto = st.toggle(
                "Auto-accept very confident proposals",
                bool(s.auto_accept),
                key=f"assist_auto_{s_pid}",
                help="Off by default: a proposal becomes a label only when a person accepts it.",
                disabled=not admin,
            )
            auto_target = st.slider(
                "Auto-accept precision (stricter than the target)",
                0.90,
                0.999,
                float(s.auto_accept_target),
                0.001,
                format="percent",
                key=f"assist_auto_target_{s_pid}",
                disabled=not admin,
            )
            share = st.slider(
                "Audit share of the labels",
                0.0,
                status.MAX_AUDIT_SHARE,
                min(
                    float(s.audit_share), status.MAX_AUDIT_SHARE
                ),  # a larger stored share shows (and saves) as the most
                0.05,
                format="percent",
                key=f"assist_audit_share_{s_pid}",
                help="Images drawn at random for this share of the labels in the queue (grid pages: at most "
                "a quarter of their tiles): the fair sample proposals are tested on. Larger: proposals come "
                "sooner (docs/assist.md). 0: no images are drawn for it.",
                disabled=not admin,
            )
            coverage = st.slider(
                "Most of the images left that get a proposal",
                status.MIN_MAX_COVERAGE,
                1.0,
                max(float(s.max_coverage), status.MIN_MAX_COVERAGE),
                0.05,
                format="percent",
                key=f"assist_max_coverage_{s_pid}",
                help="The model proposes only on its most confident images, up to this share of those "
                "still unlabeled. Lower: the proposals shown are further above the target, and a set under "
                "it is rarer; higher: more images get a proposal (docs/assist.md).",
                disabled=not admin,
            )
            price = st.number_input(
                "Compute price per hour",
                0.0,
                1000.0,
                float(s.price_per_hour),
                0.01,
                format="%.2f",
                key=f"assist_price_{s_pid}",
                help="For the cost estimate of each run (compute time × this price).",
                disabled=not admin,
            )
        saved = st.form_submit_button("Save settings", type="primary", disabled=not admin)
    if not (saved and admin):
        return None
    return status.AssistSettings(
        enabled=s.enabled,
        target_precision=round(float(target), 4),
        queue_order=str(order),
        auto_accept=bool(auto),
        auto_accept_target=round(float(auto_target), 4),
        train_every=int(every),
        price_per_hour=float(price),
        audit_share=round(float(share), 4),
        confidence_level=float(level),
        max_coverage=round(float(coverage), 4),
    )


# -- runs --------------------------------------------------------------------------------------------


def _count(n: int | None) -> str:
    return "" if n is None else f"{n:,}"


def runs_table(runs: Sequence[status.RunRow], key: str) -> None:
    """Every run; a count a run does not have (labels of a featurisation) is an empty cell, not "None"."""
    rows = [
        {
            "run": r.id,
            "kind": r.kind_title,
            "state": r.state,
            "metrics": r.summary(),
            # text: a missing count (a featurisation has no labels) would be drawn as a grey "None"
            "labels": _count(r.n_labels),
            "images": _count(r.n_items),
            "duration": widgets.duration(r.duration_s),
            "compute s": r.compute_s,
            "cost": widgets.money(r.cost),
            "device": r.device,
            "started": r.started_at,
        }
        for r in runs
    ]
    st.dataframe(
        rows,
        hide_index=True,
        width="stretch",
        key=key,
        column_config={
            "started": st.column_config.DatetimeColumn("started", format="D MMM, HH:mm:ss"),
            "compute s": st.column_config.NumberColumn(format="%.1f"),
            "cost": st.column_config.TextColumn(help="Compute time x the price per hour"),
            "labels": st.column_config.TextColumn(
                help="Labels the model learned from (trainings)", alignment="right"
            ),
            "images": st.column_config.TextColumn(help="Images the run went over", alignment="right"),
            "metrics": st.column_config.TextColumn(width="large"),
        },
    )


def totals(ov: status.AssistOverview) -> None:
    a, b, c, d = st.columns(4)
    a.metric("Runs", f"{len(ov.runs):,}", border=True)
    b.metric(
        "Compute",
        widgets.duration(ov.total_compute_s),
        border=True,
        help="Process CPU seconds (GPU wall seconds on a GPU), summed over runs.",
    )
    c.metric(
        "Compute cost",
        widgets.money(ov.total_cost),
        border=True,
        help=f"Compute time × {ov.settings.price_per_hour:.2f} per hour (the price set below).",
    )
    failed = sum(r.state == "failed" for r in ov.runs)
    d.metric("Failed runs", f"{failed:,}", border=True)


def latest_training(ov: status.AssistOverview, classes: Sequence[LabelClass]) -> None:
    run = ov.latest_training
    if run is None:
        return
    m = run.metrics
    st.markdown(f"**Latest training** · run {run.id} · {run.n_labels or 0:,} labels · {run.device}")
    if m.get("skipped"):
        st.caption(f"It did not train: {m['skipped']}.")
        return
    thr = run.threshold
    if thr is None:
        st.caption(
            f"No confidence threshold reaches the {ov.settings.target_precision:.0%} target yet "
            f"(lower bound {run.lower_bound or 0:.1%}): no proposal is shown until it does."
        )
    else:
        st.caption(
            f"Threshold {thr:.3f}: held-out precision {run.precision or 0:.1%} (lower bound "
            f"{run.lower_bound or 0:.1%}), coverage {run.coverage or 0:.0%} of held-out images."
        )
    acc = m.get("heldout_accuracy")
    if isinstance(acc, int | float) and m.get("calibration_source") == "audit":
        st.caption(
            f"Held-out accuracy {acc:.0%} on {run.heldout_labels or 0:,} labels: the audit, images drawn at "
            "random and labeled in their turn, each predicted by a model trained without it. The threshold "
            "must pass two bounds on the images still unlabeled: the audit weighted to their confidences, "
            "and the whole pool's wrong proposals less those already labeled. Few audit labels make these "
            "figures move a lot."
        )
    elif isinstance(acc, int | float):
        st.caption(
            f"Held-out accuracy {acc:.0%} on {run.heldout_labels or 0:,} labels: the labels given one image "
            "at a time, each predicted by a model trained without it (grid and cluster-page labels train "
            "the model but do not test it). Few such labels make this figure move a lot."
        )
    names = {c.id: c.name for c in classes}
    rows = status.per_class_rows(run, names)
    if rows:
        st.dataframe(
            rows,
            hide_index=True,
            width="stretch",
            key="assist_per_class",
            column_config={
                "precision": st.column_config.ProgressColumn(format="percent", min_value=0.0, max_value=1.0),
                "recall": st.column_config.ProgressColumn(format="percent", min_value=0.0, max_value=1.0),
            },
        )


def _layout(fig: go.Figure, height: int = 300, **kw: Any) -> go.Figure:
    fig.update_layout(
        height=height,
        margin={"l": 8, "r": 8, "t": 8, "b": 8},
        legend={"orientation": "h", "y": -0.25},
        hoverlabel={"namelength": -1},
        **kw,
    )
    return fig


def precision_chart(ov: status.AssistOverview) -> go.Figure:
    """Held-out precision (with its lower bound) and coverage against the number of labels, per training,
    with the target as a line."""
    runs = [r for r in ov.trainings if not r.metrics.get("skipped")]
    x = [r.n_labels or 0 for r in runs]
    fig = go.Figure()
    fig.add_scatter(
        x=x,
        y=[r.precision for r in runs],
        name="Precision (held-out)",
        mode="lines+markers",
        line={"color": PRECISION_HEX, "width": 2},
        hovertemplate="%{x:,} labels: precision %{y:.1%}<extra></extra>",
    )
    fig.add_scatter(
        x=x,
        y=[r.lower_bound for r in runs],
        name="Lower bound",
        mode="lines+markers",
        line={"color": BOUND_HEX, "dash": "dot"},
        hovertemplate="%{x:,} labels: lower bound %{y:.1%}<extra></extra>",
    )
    fig.add_scatter(
        x=x,
        y=[r.coverage for r in runs],
        name="Coverage",
        mode="lines+markers",
        line={"color": COVERAGE_HEX, "width": 2},
        hovertemplate="%{x:,} labels: coverage %{y:.0%}<extra></extra>",
    )
    fig.add_hline(
        y=ov.settings.target_precision,
        line={"color": TARGET_HEX, "dash": "dash"},
        annotation_text=f"target {ov.settings.target_precision:.0%}",
        annotation_position="bottom right",
    )
    return _layout(
        fig,
        xaxis={"title": "Labels at training", "tickformat": ",d", "rangemode": "tozero"},
        yaxis={"range": [0, 1.05], "tickformat": ".0%"},
    )


def cost_chart(ov: status.AssistOverview) -> go.Figure:
    """Cumulative compute cost over time, one marker per run."""
    runs = sorted((r for r in ov.runs if r.finished_at is not None), key=lambda r: r.finished_at)  # type: ignore[arg-type,return-value]
    total, ys = 0.0, []
    for r in runs:
        total += r.cost
        ys.append(total)
    fig = go.Figure(
        go.Scatter(
            x=[r.finished_at for r in runs],
            y=ys,
            mode="lines+markers",
            line={"color": COST_HEX, "width": 2, "shape": "hv"},
            text=[f"{r.kind_title} (run {r.id})" for r in runs],
            hovertemplate="%{text}<br>%{x|%H:%M:%S}: %{y:.6f} in all<extra></extra>",
            name="Cost so far",
        )
    )
    top = max(ys, default=0.0)
    decimals = (
        2 if top >= 0.1 or top <= 0 else min(8, 2 - math.floor(math.log10(top)))
    )  # 3 significant digits
    return _layout(
        fig,
        yaxis={"title": "Cost so far", "rangemode": "tozero", "tickformat": f".{decimals}f"},
        xaxis={"title": "Finished"},
    )


def charts(ov: status.AssistOverview) -> None:
    left, right = st.columns(2, gap="large")
    with left:
        st.markdown("**Precision and coverage vs labels**")
        if any(r.n_labels for r in ov.trainings):
            st.plotly_chart(
                precision_chart(ov), key="assist_precision_chart", config={"displayModeBar": False}
            )
        else:
            st.caption(
                "Fills with each training: precision against the target, and how many images it covers."
            )
    with right:
        st.markdown("**Compute cost so far**")
        st.plotly_chart(cost_chart(ov), key="assist_cost_chart", config={"displayModeBar": False})


def runs_section(ov: status.AssistOverview, classes: Sequence[LabelClass]) -> None:
    st.subheader(":material/model_training: Runs")
    if not ov.runs:
        widgets.empty_state("No runs yet", ov.empty_runs_text(), ":material/model_training:")
        return
    totals(ov)
    charts(ov)
    latest_training(ov, classes)
    st.markdown("**Every run**")
    runs_table(ov.runs, key="assist_runs_table")
