"""Skipped: the images people put aside, with who, when and why; open any to label it."""

from __future__ import annotations

import os

import streamlit as st

from core.domain import Project
from core.store import labels
from core.store.items import get_items, status_counts
from ui import resources, session, thumbs, widgets
from ui.text import plain

PAGE_SIZE = 20


def skipped_list(project: Project, total: int) -> None:
    offset = widgets.pager(total, PAGE_SIZE, "skipped_page")
    records = labels.skipped_items(resources.store(), project.id, limit=PAGE_SIZE, offset=offset)
    items = {it.id: it for it in get_items(resources.store(), [r.item_id for r in records])}
    classes = resources.classes(project.id)
    for rec in records:
        item = items.get(rec.item_id)
        with st.container(border=True):
            pic, info, action = st.columns([1, 5, 1], vertical_alignment="center")
            with pic:
                data = thumbs.labeled_thumbnail(item, project.task_type, classes) if item else None
                if data:
                    st.image(data, width=120)
                else:
                    st.markdown(
                        thumbs.placeholder_html(thumbs.unavailable_reason(item)), unsafe_allow_html=True
                    )
            with info:
                name = os.path.basename(item.path) if item else f"item {rec.item_id}"
                st.markdown(f"**{plain(name)}**")
                why = f"“{plain(rec.reason)}”" if rec.reason else ":gray[no reason given]"
                st.markdown(f":material/person: {plain(rec.author)} · {widgets.ago(rec.created_at)} · {why}")
                if item and item.annotation:
                    st.caption("It had a label before it was skipped; the label is kept.")
            with action:
                if st.button("Label it", key=f"label_{rec.item_id}", icon=":material/edit:", type="primary"):
                    session.open_item_for_labeling(rec.item_id)


def main() -> None:
    session.require_user()
    project = session.require_project()
    widgets.project_header(
        project,
        resources.classes(project.id),
        "Skipped",
        "Images put aside while labeling. Open one to label it now; it leaves this list once saved.",
    )
    total = status_counts(resources.store(), project.id).get("skipped", 0)
    if not total:
        widgets.empty_state(
            "Nothing skipped",
            "When a labeler skips an image (key **s**), it waits here with their reason.",
            ":material/task_alt:",
        )
        return
    st.caption(f"{total:,} skipped image(s), newest first.")
    skipped_list(project, total)


with widgets.error_boundary("the skipped list"):
    main()
