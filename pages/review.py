"""Review: a grid of thumbnails with their labels drawn on, filtered by status, class, labeler and review state
(model disagreement, agreement, labeled dates); open an image to see it large and step through the filtered
list (Previous / Next), approve or reject it (reviewers: ``ui.review_verdicts``), or correct it on the label page.

Every bit of the page's state is the shown project's (keys end in the project id) and lives in plain
session keys, so the filters, the grid page and the open image are still there when the person comes back
from the label page.
"""

from __future__ import annotations

import io
from typing import Any

import streamlit as st
from PIL import Image

from core.domain import Item, LabelClass, NotFound, Project, User
from core.quality import review
from core.store.items import ItemFilter, count_items, get_item, list_items
from core.store.review_nav import Cursor, cursor_for, matches, position, step
from ui import (
    consensus_view,
    project_admin,
    resources,
    review_errors,
    review_return,
    review_verdicts,
    session,
    thumbs,
    widgets,
)
from ui.labeling import images
from ui.labeling.payloads import describe
from ui.text import plain

PAGE_SIZE = 24
COLUMNS = 4
STATUSES = ["labeled", "prelabeled", "reviewed", "skipped", "new"]
FILTERS = ("status", "class", "labeler", "errors")
ALL_FILTERS = FILTERS + review_verdicts.FILTERS
DETAIL_MAX = 900  # px: the longer side of the detail view's image


def page_key(pid: int) -> str:
    return f"review_page_{pid}"


def filter_key(pid: int, what: str) -> str:
    """The widget key of one filter of project ``pid``."""
    return f"review_{what}_{pid}"


def saved_key(pid: int) -> str:
    """Plain session key with the project's filter values: widget keys are dropped by Streamlit while
    another page is shown, this one is not."""
    return f"review_filters_{pid}"


def open_key(pid: int) -> str:
    """The image open in the detail view (a ``Cursor``), or absent for the grid."""
    return f"review_open_{pid}"


def _changed(pid: int) -> None:
    """A filter changed: back to the grid's first page, and remember the filters."""
    st.session_state[page_key(pid)] = 0
    st.session_state[review_errors.page_key(pid)] = 0
    st.session_state.pop(open_key(pid), None)
    st.session_state[saved_key(pid)] = {w: st.session_state.get(filter_key(pid, w)) for w in ALL_FILTERS}


def filters(project: Project, classes: list[LabelClass]) -> ItemFilter:
    pid = project.id
    saved: dict[str, Any] = st.session_state.get(saved_key(pid), {})
    labelers = sorted(resources.project_stats(pid).by_labeler)
    names = {c.id: c.name for c in classes}
    options = {"status": STATUSES, "class": list(names), "labeler": labelers, "errors": [True, False]}
    for what in FILTERS:  # back from another page: the widgets start from the remembered values
        if filter_key(pid, what) not in st.session_state and saved.get(what) in options[what]:
            st.session_state[filter_key(pid, what)] = saved[what]
    status_col, class_col, who_col, errors_col = st.columns([1, 1, 1, 0.8], vertical_alignment="bottom")
    status = status_col.selectbox(
        "Status",
        STATUSES,
        index=None,
        format_func=widgets.STATUS_TITLES.get,
        placeholder="Any status",
        key=filter_key(pid, "status"),
        on_change=_changed,
        args=(pid,),
    )
    class_id = class_col.selectbox(
        "Class",
        list(names),
        index=None,
        format_func=names.get,
        placeholder="Any class",
        key=filter_key(pid, "class"),
        on_change=_changed,
        args=(pid,),
    )
    labeler = who_col.selectbox(
        "Labeled by",
        labelers,
        index=None,
        placeholder="Anyone",
        key=filter_key(pid, "labeler"),
        on_change=_changed,
        args=(pid,),
    )
    errors = errors_col.toggle(
        "Likely errors",
        key=filter_key(pid, "errors"),
        on_change=_changed,
        args=(pid,),
        help="The labels ranked by how likely they are wrong: a model trained without each label disagrees"
        " with it (classification projects).",
    )
    more = review_verdicts.more_filters(pid, filter_key, saved, _changed)
    st.session_state[saved_key(pid)] = {
        "status": status,
        "class": class_id,
        "labeler": labeler,
        "errors": errors,
        **more,
    }
    return ItemFilter(
        status=status, class_id=class_id, labeled_by=labeler, **review_verdicts.filter_fields(more)
    )


# -- the grid -------------------------------------------------------------------------------------------


def _open_queue(pid: int, item_id: int) -> None:
    """The review queue: the review filter set to "Awaiting review" (the other filters kept), its first image open."""
    st.session_state[filter_key(pid, "review")] = review.AWAITING
    st.session_state[filter_key(pid, "errors")] = False
    st.session_state[saved_key(pid)] = {
        **st.session_state.get(saved_key(pid), {}),
        "review": review.AWAITING,
        "errors": False,
    }
    _open(pid, item_id)


def _open(pid: int, item_id: int) -> None:
    st.session_state[open_key(pid)] = cursor_for(resources.store(), item_id)


def card(item: Item, project: Project, classes: list[LabelClass], review_state: str | None = None) -> None:
    with st.container(border=True, key=f"review_card_{item.id}"):
        data = thumbs.labeled_thumbnail(item, project.task_type, classes)
        if data:
            st.image(data, width="stretch")
        else:
            st.caption(":material/broken_image: image unavailable")
        st.markdown(f"{widgets.status_badge(item.status.value)} {review_verdicts.state_chip(review_state)}")
        st.markdown(widgets.one_line_name(item.path), unsafe_allow_html=True)  # never broken mid-word
        ann = item.annotation
        if ann:
            st.markdown(f"**{plain(describe(project.task_type, ann.payload, classes))}**")
        st.caption(
            f"{plain(ann.author)} · version {ann.version} · {widgets.ago(ann.created_at)}"
            if ann
            else "No label yet"
        )
        st.button(
            "Open",
            key=f"open_{item.id}",
            icon=":material/open_in_full:",
            width="stretch",
            on_click=_open,
            args=(project.id, item.id),
        )


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
    offset = widgets.pager(total, PAGE_SIZE, page_key(project.id))
    items = list_items(store, project.id, chosen, limit=PAGE_SIZE, offset=offset)
    states = review.review_states(store, [i.id for i in items])
    for row in range(0, len(items), COLUMNS):
        cols = st.columns(COLUMNS)
        for col, item in zip(cols, items[row : row + COLUMNS], strict=False):
            with col:
                card(item, project, classes, states.get(item.id))


# -- one image, with Previous / Next through the filtered list ---------------------------------------------


def _step(pid: int, chosen: ItemFilter, cur: Cursor, direction: int) -> None:
    nxt = step(resources.store(), pid, chosen, cur, direction)
    if nxt is not None:
        st.session_state[open_key(pid)] = nxt


def _to_grid(pid: int, place: int) -> None:
    """Back to the grid, on the page that holds the image that was open."""
    st.session_state.pop(open_key(pid), None)
    st.session_state[page_key(pid)] = place // PAGE_SIZE


def _large_image(item: Item, project: Project, classes: list[LabelClass]) -> bytes | None:
    try:
        data = images.screen_jpeg(item, resources.paths(), DETAIL_MAX)
    except images.ImageUnavailable:
        return None
    img = Image.open(io.BytesIO(data))
    look = tuple((c.id, c.name, c.color) for c in classes)
    payload = item.annotation.payload if item.annotation else None
    drawn = thumbs.draw_labels(img, project.task_type, payload, img.width / max(1, item.width), look)
    out = io.BytesIO()
    drawn.save(out, "JPEG", quality=88)
    return out.getvalue()


def detail(project: Project, classes: list[LabelClass], chosen: ItemFilter, cur: Cursor, user: User) -> None:
    store = resources.store()
    pid = project.id
    try:
        item = get_item(store, cur.item_id)
    except NotFound:
        st.session_state.pop(open_key(pid), None)
        st.warning(f"Image {cur.item_id} is no longer in the project.")
        return
    total = count_items(store, pid, chosen)
    place = position(store, pid, chosen, cur)
    prev = step(store, pid, chosen, cur, -1)
    nxt = step(store, pid, chosen, cur, +1)
    back, p_col, where, n_col = st.columns([1.2, 1, 2, 1], vertical_alignment="center")
    back.button(
        "Back to the grid",
        key=f"review_grid_{pid}",
        icon=":material/grid_view:",
        width="stretch",
        on_click=_to_grid,
        args=(pid, place),
    )
    p_col.button(
        "Previous",
        key=f"review_prev_{pid}",
        icon=":material/chevron_left:",
        width="stretch",
        disabled=prev is None,
        on_click=_step,
        args=(pid, chosen, cur, -1),
    )
    n_col.button(
        "Next",
        key=f"review_next_{pid}",
        icon=":material/chevron_right:",
        width="stretch",
        disabled=nxt is None,
        on_click=_step,
        args=(pid, chosen, cur, +1),
    )
    if matches(store, pid, chosen, item.id):
        where.markdown(
            f"<div style='text-align:center'>Image {place + 1:,} of {total:,}</div>", unsafe_allow_html=True
        )
    else:
        where.caption(
            "This image no longer matches the filters (it was changed); Previous and Next go on from its place."
        )
    left, right = st.columns([3, 1.25], gap="medium")
    with left:
        data = _large_image(item, project, classes)
        if data:
            st.image(data, width="content")
        else:
            st.caption(f":material/broken_image: {thumbs.unavailable_reason(item)}")
    with right:
        st.markdown(widgets.status_badge(item.status.value))
        st.text(f"Image {item.id} · {item.path}")
        ann = item.annotation
        if ann:
            st.text(describe(project.task_type, ann.payload, classes))
            st.text(f"Version {ann.version} by {ann.author}, {widgets.ago(ann.created_at)}")  # plain text
        else:
            st.caption("No label yet")
        consensus_view.item_answers(project, item, classes, user)  # blind answers and agreement (reviewers)
        review_verdicts.verdict_panel(pid, item, user, then=lambda: _step(pid, chosen, cur, +1))
        if st.button(
            "Correct on the label page",
            key=f"review_correct_{pid}",
            type="primary",
            icon=":material/edit:",
            width="stretch",
        ):
            review_return.mark(pid)
            session.open_item_for_labeling(item.id)
        project_admin.remove_image(project, item.id, then=lambda: _to_grid(pid, place))  # owners and admins


def main() -> None:
    user = session.require_user()
    project = session.require_project()
    classes = resources.classes(project.id)
    widgets.project_header(
        project,
        classes,
        "Review",
        "Newest labels first. Open an image to see it large and step through the filtered images; "
        "correct it on the label page (each save is a new version).",
    )
    chosen = filters(project, classes)
    review_verdicts.queue_count(project.id, chosen, on_open=_open_queue)
    review_verdicts.show_note(project.id)
    cur = st.session_state.get(open_key(project.id))
    if st.session_state[saved_key(project.id)].get("errors"):
        review_errors.grid(project, classes, chosen)
    elif isinstance(cur, Cursor):
        detail(project, classes, chosen, cur, user)
    else:
        grid(project, classes, chosen)


with widgets.error_boundary("the review grid"):
    main()
