"""Assist: turn ML assistance on or off, set it up, see its stage, its jobs and every model run."""

from __future__ import annotations

import streamlit as st

from core.assist import scheduler, status
from core.domain import Project
from core.permissions import Action
from ui import assist_view, resources, session, widgets

JOBS_KEY = "assist_jobs"


def enabled_key(project_id: int) -> str:
    return f"assist_enabled_{project_id}"


def _toggle(project: Project) -> None:
    new = bool(st.session_state.get(enabled_key(project.id)))
    if (
        widgets.run_action(status.set_enabled, resources.store(), project.id, new, by=session.require_user())
        is not None
    ):
        st.toast(
            "Assistance is on: it starts by itself." if new else "Assistance is off.",
            icon=":material/check_circle:",
        )


def _request(project: Project, kind: str, words: str) -> None:
    try:
        job = scheduler.request(
            resources.store(), kind, project.id, resources.runner(), by=session.require_user()
        )
    except Exception as exc:
        st.error(widgets.explain(exc), icon=":material/error:")
        return
    if job is None:
        st.toast(f"{words} is already queued or running.", icon=":material/hourglass_top:")
    else:
        st.toast(f"{words} queued.", icon=":material/schedule:")


def controls(ov: status.AssistOverview, admin: bool) -> None:
    project = ov.project
    if not ov.availability.available:
        st.info(ov.availability.reason, icon=":material/info:")
        return
    left, mid, right = st.columns([2, 1, 1], vertical_alignment="center")
    st.session_state[enabled_key(project.id)] = ov.settings.enabled
    left.toggle(
        "ML assistance",
        key=enabled_key(project.id),
        on_change=_toggle,
        args=(project,),
        disabled=not admin,
        help="On: images are featurised as they arrive, the model trains every few labels and proposes "
        "labels once it is precise enough. It never makes anyone wait.",
    )
    kinds = scheduler.job_kinds(project.task_type)
    if kinds is None:
        return
    if mid.button("Featurise now", key="assist_featurize_now", icon=":material/memory:", disabled=not admin,
                  width="stretch"):  # fmt: skip
        _request(project, kinds.featurize, "Featurisation")
    need = status.stage_policy(project).min_classes_to_train
    can_train = ov.counts.n_classes_labeled >= need
    if right.button(
        "Train now",
        key="assist_train_now",
        icon=":material/model_training:",
        disabled=not (admin and can_train),
        width="stretch",
        help=None
        if can_train
        else f"Training needs labels of at least {need} class{'es' if need > 1 else ''}.",
    ):
        _request(project, kinds.train, "Training")


def scheduler_note(ov: status.AssistOverview) -> None:
    """Say so when nothing will start by itself: this server runs without the assist scheduler."""
    sched = resources.runtime().scheduler
    if not ov.counts.enabled:
        return
    if sched is None:
        st.warning(
            "This server runs without the assist scheduler (see ANNOTA_ASSIST_SCHEDULER): nothing starts by "
            "itself; use **Featurise now** and **Train now**.",
            icon=":material/pause_circle:",
        )
    elif sched.last_error:
        st.warning(
            f"The assist scheduler hit a problem and keeps trying: {sched.last_error}",
            icon=":material/warning:",
        )


def main() -> None:
    session.require_user()
    project = session.require_project()
    admin = session.can(Action.MANAGE, project.id)  # the settings and starting jobs: owners and admins
    classes = resources.classes(project.id)
    widgets.project_header(
        project,
        classes,
        "Assist",
        "The model learns from the labels, groups similar images and proposes labels.",
    )
    ov = status.overview(resources.store(), project.id)
    controls(ov, admin)
    scheduler_note(ov)
    assist_view.stage_card(ov)
    assist_view.proposals_card(ov)
    new = assist_view.settings_form(ov, admin=admin)
    if new is not None and widgets.run_action(
        status.save_settings,
        resources.store(),
        project.id,
        new,
        by=session.require_user(),
    ):
        resources.forget_reads()
        widgets.rerun_with_toast("Settings saved.")
    st.subheader(":material/sync: Jobs")
    if not widgets.jobs_panel(project.id, assist_view.ASSIST_KINDS, key=f"{JOBS_KEY}_{project.id}", limit=4):
        st.caption("No model job yet.")
    assist_view.runs_section(ov, classes)


with widgets.error_boundary("the Assist page"):
    main()
