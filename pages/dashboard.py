"""Dashboard: progress, label distribution, labels per labeler and over time, the team's figures (ui.team_view),
background work, ML runs."""

from __future__ import annotations

import streamlit as st

from core import auth
from core.assist import status as assist_status
from core.domain import Project, TaskType
from core.store import stats
from ui import assist_view, charts, resources, session, team_view, widgets


def metrics(s: stats.ProjectStats) -> None:
    labeled, skipped, remaining = st.columns(3)
    labeled.metric("Labeled", f"{s.labeled:,}", border=True, help="Labeled or reviewed by a person.")
    skipped.metric("Skipped", f"{s.skipped:,}", border=True, help="Put aside; see the Skipped page.")
    remaining.metric(
        "Remaining", f"{s.remaining:,}", border=True, help="Not labeled yet (pre-labeled included)."
    )
    st.progress(s.progress, text=f"{s.progress:.1%} of {s.total:,} images labeled")


def charts_section(project: Project, s: stats.ProjectStats, only: str | None = None) -> None:
    """``only``: a labeler's own name (they see their own bar among the labelers, as in the Team section)."""
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
        by_labeler = s.by_labeler if only is None else {k: v for k, v in s.by_labeler.items() if k == only}
        if by_labeler:
            names = {u.username: u.display_name for u in auth.list_users(resources.store())}
            st.plotly_chart(
                charts.labeler_bars(by_labeler, names), key="labeler_bars", config={"displayModeBar": False}
            )
        else:
            st.caption("Nobody has labeled yet." if only is None else "No labels of yours yet.")
    with right:
        st.markdown("**Labels over time**")
        if s.per_day:
            st.plotly_chart(
                charts.labels_over_time(s.per_day), key="over_time", config={"displayModeBar": False}
            )
        else:
            st.caption("The first saves will show here, per day.")


# -- ML runs ---------------------------------------------------------------------------------------------
# Runs come from ``core.assist.status.runs`` (the ``model_runs`` rows in words); the Assist page has the
# full view (stage, settings, charts, per-class figures).

ASSIST_PAGE = "pages/assist.py"


def ml_runs_section(project: Project) -> None:
    st.subheader(":material/model_training: ML runs")
    runs = assist_status.runs(resources.store(), project.id, limit=50)
    if not runs:
        st.caption(
            "No model has run for this project yet. With ML assistance on, featurisation, training, validation "
            "and inference runs appear here with their metrics, duration and compute cost."
        )
        return
    total_compute = sum(r.compute_s for r in runs)
    total_cost = sum(r.cost for r in runs)
    a, b, c = st.columns(3)
    a.metric("Runs", f"{len(runs):,}")
    b.metric(
        "Compute", widgets.duration(total_compute), help="Process CPU (or GPU) seconds, summed over runs."
    )
    c.metric("Compute cost", widgets.money(total_cost), help="Compute time × the project's price per hour.")
    assist_view.runs_table(runs, key="dash_runs_table")
    try:
        st.page_link(
            ASSIST_PAGE, label="Stage, settings and charts on the Assist page", icon=":material/auto_awesome:"
        )
    except Exception:  # the page is not part of this run's navigation (a page run alone, in tests)
        st.caption("Stage, settings and charts: the **Assist** page.")


def main() -> None:
    user = session.require_user()
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
        everyone = team_view.sees_everyone(project, user)
        charts_section(project, s, None if everyone else user.username)
        team_view.section(project, user)
    st.subheader(":material/sync: Background work")
    if not widgets.jobs_panel(project.id, None, key="dash_jobs", limit=6):
        st.caption("No imports, exports or model jobs yet.")
    ml_runs_section(project)


with widgets.error_boundary("the dashboard"):
    main()
