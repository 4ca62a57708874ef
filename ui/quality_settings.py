"""The project settings form for quality checks: consensus (share of images, labelers per image, agreement
threshold) and gold images (share of each labeler's queue). Values are read and cleaned by
``core.settings.ProjectSettings``; the form writes the stored keys."""

from __future__ import annotations

import streamlit as st

from core.domain import Project
from core.settings import CONSENSUS_K_RANGE
from core.store import projects, queue
from ui import resources, session, widgets


def form(project: Project) -> None:
    p = project.prefs
    with st.form(f"quality_{project.id}"):
        st.markdown("**Quality checks**")
        share = st.slider(
            "Consensus images",
            0,
            100,
            round(p.consensus_share * 100),
            help="The share of images labeled independently by several labelers, none seeing the others' answers.",
            format="%d%%",
        )
        k = st.number_input(
            "Labelers per consensus image",
            min_value=CONSENSUS_K_RANGE[0],
            max_value=CONSENSUS_K_RANGE[1],
            value=p.consensus_k,
            step=1,
        )
        threshold = st.slider(
            "Agreement threshold",
            0,
            100,
            round(p.agreement_threshold * 100),
            help="At or above it the merged answer becomes the image's label; below it the image goes to review.",
            format="%d%%",
        )
        gold = st.slider(
            "Gold images in each labeler's queue",
            0,
            50,
            round(p.gold_share * 100),
            help="Images a reviewer marked as gold, handed out unannounced; each answer is scored against the gold label.",
            format="%d%%",
        )
        if st.form_submit_button("Save quality settings"):
            values = {
                "consensus_share": share / 100,
                "consensus_k": int(k),
                "agreement_threshold": threshold / 100,
                "gold_share": gold / 100,
            }
            s = resources.store()
            done = widgets.run_action(
                projects.update_project,
                s,
                project.id,
                by=session.require_user(),
                settings=values,
            )
            if done is not None:
                queue.invalidate(s, project.id)  # the ordinary queue re-reads without the consensus images
                resources.forget_reads()
                widgets.rerun_with_toast("Quality settings saved.")
