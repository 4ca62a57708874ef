"""Review: a grid of thumbnails with their labels drawn on, filtered by status, class and labeler; open any
image to correct it on the label page."""

from __future__ import annotations

import streamlit as st

from core.domain import Item, LabelClass, Project
from core.store.items import ItemFilter, count_items, list_items
from ui import resources, session, thumbs, widgets
from ui.labeling.payloads import describe

PAGE_SIZE = 24
COLUMNS = 4
PAGE_KEY = "review_page"
STATUSES = ["labeled", "prelabeled", "reviewed", "skipped", "new"]


def _reset_page() -> None:
    st.session_state[PAGE_KEY] = 0


def filters(project: Project, classes: list[LabelClass]) -> ItemFilter:
    labelers = sorted(resources.project_stats(project.id).by_labeler)
    status_col, class_col, who_col = st.columns(3)
    status = status_col.selectbox(
        "Status",
        STATUSES,
        index=None,
        format_func=widgets.STATUS_TITLES.get,
        placeholder="Any status",
        key="review_status",
        on_change=_reset_page,
    )
    names = {c.id: c.name for c in classes}
    class_id = class_col.selectbox(
        "Class",
        list(names),
        index=None,
        format_func=names.get,
        placeholder="Any class",
        key="review_class",
        on_change=_reset_page,
    )
    labeler = who_col.selectbox(
        "Labeled by", labelers, index=None, placeholder="Anyone", key="review_labeler", on_change=_reset_page
    )
    return ItemFilter(status=status, class_id=class_id, labeled_by=labeler)


def card(item: Item, project: Project, classes: list[LabelClass]) -> None:
    with st.container(border=True):
        data = thumbs.labeled_thumbnail(item, project.task_type, classes)
        if data:
            st.image(data, width="stretch")
        else:
            st.caption(":material/broken_image: image unavailable")
        st.markdown(widgets.status_badge(item.status.value))
        st.markdown(widgets.one_line_name(item.path), unsafe_allow_html=True)  # never broken mid-word
        ann = item.annotation
        if ann:
            st.markdown(f"**{describe(project.task_type, ann.payload, classes)}**")
        st.caption(
            f"{ann.author} · version {ann.version} · {widgets.ago(ann.created_at)}" if ann else "No label yet"
        )
        if st.button("Open", key=f"open_{item.id}", icon=":material/edit:", width="stretch"):
            session.open_item_for_labeling(item.id)


def grid(project: Project, classes: list[LabelClass], chosen: ItemFilter) -> None:
    store = resources.store()
    total = count_items(store, project.id, chosen)
    if total == 0:
        if chosen == ItemFilter():
            widgets.empty_state(
                "No images yet", "Add images on the **Data** page; they show here as they get labeled."
            )
        else:
            widgets.empty_state(
                "No image matches", "Loosen a filter to see more.", ":material/filter_alt_off:"
            )
        return
    offset = widgets.pager(total, PAGE_SIZE, PAGE_KEY)
    items = list_items(store, project.id, chosen, limit=PAGE_SIZE, offset=offset)
    for row in range(0, len(items), COLUMNS):
        cols = st.columns(COLUMNS)
        for col, item in zip(cols, items[row : row + COLUMNS], strict=False):
            with col:
                card(item, project, classes)


def main() -> None:
    session.require_user()
    project = session.require_project()
    classes = resources.classes(project.id)
    widgets.project_header(
        project,
        classes,
        "Review",
        "Newest labels first. Open an image to correct it; each save is a new version.",
    )
    chosen = filters(project, classes)
    grid(project, classes, chosen)


with widgets.error_boundary("the review grid"):
    main()
