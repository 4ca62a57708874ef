"""Dashboard: progress, label distribution, labels per labeler and over time, background work, ML runs."""

from __future__ import annotations

import streamlit as st

from core import auth
from core.domain import Project, TaskType
from core.store import stats
from ui import charts, resources, session, widgets


def metrics(s: stats.ProjectStats) -> None:
    labeled, skipped, remaining = st.columns(3)
    labeled.metric("Labeled", f"{s.labeled:,}", border=True, help="Labeled or reviewed by a person.")
    skipped.metric("Skipped", f"{s.skipped:,}", border=True, help="Put aside; see the Skipped page.")
    remaining.metric(
        "Remaining", f"{s.remaining:,}", border=True, help="Not labeled yet (pre-labeled included)."
    )
    st.progress(s.progress, text=f"{s.progress:.1%} of {s.total:,} images labeled")


def charts_section(project: Project, s: stats.ProjectStats) -> None:
    classes = resources.classes(project.id)
    objects = TaskType(project.task_type) in (TaskType.BOXES, TaskType.POLYGONS)
    left, right = st.columns(2, gap="large")
    with left:
        st.markdown("**Where the images are**")
        st.plotly_chart(
            charts.status_donut(s.by_status), key="status_donut", config={"displayModeBar": False}
        )
    with right:
        unit = "objects" if objects else "images"
        st.markdown(f"**Label distribution** ({unit} per class)")
        if s.by_class:
            st.plotly_chart(
                charts.class_bars(classes, s.by_class, unit),
                key="class_bars",
                config={"displayModeBar": False},
            )
        else:
            st.caption("No labels yet: the bars fill as people label.")
    left, right = st.columns(2, gap="large")
    with left:
        st.markdown("**Labels per labeler**")
        if s.by_labeler:
            names = {u.username: u.display_name for u in auth.list_users(resources.store())}
            st.plotly_chart(
                charts.labeler_bars(s.by_labeler, names), key="labeler_bars", config={"displayModeBar": False}
            )
        else:
            st.caption("Nobody has labeled yet.")
    with right:
        st.markdown("**Labels over time**")
        if s.per_day:
            st.plotly_chart(
                charts.labels_over_time(s.per_day), key="over_time", config={"displayModeBar": False}
            )
        else:
            st.caption("The first saves will show here, per day.")


# -- ML runs ---------------------------------------------------------------------------------------------
# The assist engineers fill ``model_runs`` (core.store.stats.model_runs reads it); this renders any rows
# generically. Richer ML views (precision against the target, calibration, proposals shown) go here.

RUN_KINDS = {
    "featurize": "Featurisation",
    "train": "Training",
    "validate": "Validation",
    "infer": "Inference",
}


def ml_runs_section(project: Project) -> None:
    st.subheader(":material/model_training: ML runs")
    runs = stats.model_runs(resources.store(), project.id)
    if not runs:
        st.caption(
            "No model has run for this project yet. With ML assistance on, featurisation, training, validation "
            "and inference runs appear here with their metrics, duration and compute cost."
        )
        return
    total_compute = sum(r["compute_s"] or 0.0 for r in runs)
    total_cost = sum(r["cost"] or 0.0 for r in runs)
    a, b, c = st.columns(3)
    a.metric("Runs", f"{len(runs):,}")
    b.metric(
        "Compute", widgets.duration(total_compute), help="Process CPU (or GPU) seconds, summed over runs."
    )
    c.metric("Compute cost", f"{total_cost:,.4f}", help="Compute time × the project's price per hour.")
    rows = []
    for r in runs:
        metric_text = ", ".join(
            f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
            for k, v in r["metrics"].items()
            if not isinstance(v, dict | list)
        )
        rows.append(
            {
                "run": r["id"],
                "kind": RUN_KINDS.get(r["kind"], r["kind"]),
                "state": r["state"],
                "model": r["model"],
                "device": r["device"],
                "started": r["started_at"],
                "duration": widgets.duration(r["duration_s"]),
                "compute s": r["compute_s"],
                "cost": r["cost"],
                "labels": r["n_labels"],
                "items": r["n_items"],
                "metrics": metric_text,
            }
        )
    st.dataframe(
        rows,
        hide_index=True,
        width="stretch",
        column_config={
            "started": st.column_config.DatetimeColumn("started", format="D MMM, HH:mm:ss"),
            "compute s": st.column_config.NumberColumn(format="%.1f"),
            "cost": st.column_config.NumberColumn(format="%.4f"),
        },
    )


def main() -> None:
    session.require_user()
    project = session.require_project()
    widgets.project_header(
        project, resources.classes(project.id), "Dashboard", "How far the project is, and who did it."
    )
    s = resources.project_stats(project.id)
    if s.total == 0:
        widgets.empty_state(
            "No images yet",
            "An administrator adds images on the **Data** page; the numbers appear here then.",
            ":material/monitoring:",
        )
    else:
        metrics(s)
        charts_section(project, s)
    st.subheader(":material/sync: Background work")
    if not widgets.jobs_panel(project.id, None, key="dash_jobs", limit=6):
        st.caption("No imports, exports or model jobs yet.")
    ml_runs_section(project)


with widgets.error_boundary("the dashboard"):
    main()
