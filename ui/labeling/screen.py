"""The labeling screen: instructions, then a fragment with the image, the controls and the actions.

A click reruns only the fragment: it saves through ``core.store.labels``, takes the next leased item
from ``core.store.queue`` and draws it from the in-memory screen rendition prepared ahead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import streamlit as st
from streamlit.errors import StreamlitAPIException

from core.domain import Item, LabelClass, NotFound, Project, ProjectState, TaskType, User
from core.store import items, projects, queue
from ui import resources, review_return, review_verdicts, session
from ui.labeling import (
    actions,
    blind,
    classify,
    draw,
    grid,
    images,
    payloads,
    progress,
    segment,
    shortcuts,
    stale,
    state,
)
from ui.labeling.proposals import Proposal, model_help
from ui.text import instructions_markdown, plain

PREFETCH = 3
IMAGE_MAX_H = 620  # px: the classification image is fitted into this height and the column width
SKIPPED_PAGE = "pages/skipped.py"
TASK_WORDS = {
    TaskType.MULTICLASS: "Image classification: one class per image",
    TaskType.MULTILABEL: "Image classification: any number of classes per image",
    TaskType.BOXES: "Object detection: a box around each object",
    TaskType.POLYGONS: "Instance segmentation: a polygon around each object",
}
REVIEW_PAGE = "pages/review.py"
SHOWN_KEY = "label_shown_"  # the image's block: ``label_shown_<item id>``


def render(project: Project, user: User) -> None:
    st.markdown(f"### :material/edit: {plain(project.name)}")
    st.caption(TASK_WORDS[project.task_type])
    review_return.back_link(project.id)  # an image opened from Review: the way back, its filters kept
    if project.instructions or project.instructions_url:
        with st.expander("Instructions", icon=":material/menu_book:", expanded=True):
            if project.instructions:
                st.markdown(instructions_markdown(project.instructions))  # admin-written; no remote images
            if project.instructions_url:
                st.markdown(f"[Open the full instructions]({project.instructions_url})")
    labeling_area(project.id, user)


def _page_link(page: str, label: str, icon: str) -> None:
    try:
        st.page_link(page, label=label, icon=icon)
    except Exception:  # the page is not part of this run's navigation (a page run alone, in tests)
        st.markdown(f"{icon} {label} (from the sidebar)")


def _current_item(project: Project, user: User) -> Item | None:
    s = resources.store()
    iid = state.current_item_id()
    if iid is not None:
        try:
            item = items.get_item(s, iid)
        except NotFound:
            item = None
        if item is not None and item.project_id == project.id:
            return item
        state.pin_item(None)
    lease = project.prefs.lease_minutes
    iid = queue.next_item_id(s, project.id, user.username, lease_minutes=lease)
    if iid is None:
        return None
    state.pin_item(iid)
    return items.get_item(s, iid)


def _upcoming(project_id: int, current_id: int) -> list[Item]:
    """The items the queue will most likely hand out next, for preparing their images ahead."""
    s = resources.store()
    ids = [i for i in queue.upcoming_ids(s, project_id, PREFETCH + 1) if i != current_id][:PREFETCH]
    return items.get_items(s, ids) if ids else []


@st.fragment
def labeling_area(project_id: int, user: User) -> None:
    s = resources.store()
    project = projects.get_project(s, project_id)
    classes = projects.list_classes(s, project_id)
    note = state.current_flash(project_id)
    slot = st.empty()  # always here, so the elements below keep their places from run to run
    if note:
        getattr(slot, note[0], slot.info)(note[1])
    if project.state is ProjectState.PAUSED:
        st.warning(
            "**This project is paused.** An administrator paused labeling; no images are handed out "
            "until it is resumed.",
            icon=":material/pause_circle:",
        )
        return
    if len(classes) < 2:
        st.warning("This project needs at least two label classes before labeling can start.")
        return
    progress.show(s, project_id, user.username)
    paths = resources.paths()
    if stale.pending():
        stale.chooser(project.task_type, classes, user.username, paths)
        return
    if grid.mode_picker(project, user) == grid.GRID:
        grid.render(project, classes, user, paths)
        return
    item = _current_item(project, user)
    session.show_item_in_url(item.id if item else None)
    if item is None:
        _all_done(project)
        return
    review_verdicts.rejection_note(item.id)  # a rejected image of theirs: who rejected it and why
    item = blind.view(project.id, item, user)  # a consensus or gold item: its label hidden, answered blind
    proposal, sure = (
        model_help(s, item.id) if item.annotation is None and not blind.active(item.id) else (None, [])
    )
    initial = payloads.initial_payload(
        project.task_type,
        item.annotation.payload if item.annotation else None,
        proposal.payload if proposal else ({"class_ids": sure} if sure else None),
    )
    if sure:
        names = ", ".join(f"**{plain(c.name)}**" for c in classes if c.id in sure)
        st.info(
            f"Pre-ticked by the model: {names}. Such claims are right at the project's target "
            "precision; tick every other class that applies, then submit.",
            icon=":material/auto_awesome:",
        )
    work = state.ensure_work(item.id, item.version, initial)
    try:
        images.screen_jpeg(item, paths)
    except images.ImageUnavailable as exc:
        _unreadable(project, item, user, str(exc))
        return
    sam_reason = segment.unavailable(paths) if project.task_type is TaskType.POLYGONS else None
    _item_screen(project, item, classes, user, work, initial, proposal, paths, sam_reason)
    upcoming = _upcoming(project.id, item.id)
    images.prefetch(upcoming, paths)
    if project.task_type is TaskType.POLYGONS and sam_reason is None:
        segment.prefetch(item, upcoming, paths)


def _all_done(project: Project) -> None:
    # a keyed container is a new block: the columns of the previous image's screen, drawn at this place
    # in the last run, are not reused for it (their buttons stayed inside the card until the run ended)
    with st.container(border=True, key="label_all_done"):
        st.markdown("#### :material/celebration: All done for now")
        st.markdown(
            "No image is waiting for you in this project. New images appear here as they are added. "
            "Look at the images put aside, or review what was labeled."
        )
        c1, c2 = st.columns(2)
        with c1:
            _page_link(SKIPPED_PAGE, "Skipped images", ":material/redo:")
        with c2:
            _page_link(REVIEW_PAGE, "Review", ":material/grid_view:")
    st.button("Look for new images", icon=":material/refresh:", key="label_refresh")


def _unreadable(project: Project, item: Item, user: User, reason: str) -> None:
    st.error(f"**Image {item.id} cannot be shown.** {reason}", icon=":material/broken_image:")
    key = _reason_box(item.id, "image cannot be read")
    st.text_input("Skip reason", key=key)
    _skip_and_back(project, item, user, key, "Skip this image", primary=True)


def _fitted_width(item: Item) -> int:
    return max(200, min(1100, round(item.width * IMAGE_MAX_H / max(1, item.height))))


def _image(
    project: Project,
    item: Item,
    classes: Sequence[LabelClass],
    work: dict[str, Any],
    paths: Any,
    proposal: Proposal | None = None,
    sam_reason: str | None = None,
) -> dict[str, Any]:
    task = project.task_type
    prop = proposal.payload if proposal else None
    if task is TaskType.BOXES:
        return draw.boxes(item, work, classes, paths, proposal=prop)
    if task is TaskType.POLYGONS:
        return draw.polygons(item, work, classes, paths, sam=sam_reason is None, proposal=prop)
    if st.toggle("Zoom", key="label_zoom_view", help="Wheel to zoom, drag to pan"):
        draw.polygons(item, {"polygons": []}, classes, paths, mode="view")
    else:
        st.image(images.screen_jpeg(item, paths), width=_fitted_width(item))
    return work


def _item_screen(
    project: Project,
    item: Item,
    classes: Sequence[LabelClass],
    user: User,
    work: dict[str, Any],
    initial: dict[str, Any],
    proposal: Proposal | None,
    paths: Any,
    sam_reason: str | None = None,
) -> None:
    task = project.task_type
    left, right = st.columns([3, 1.25], gap="medium")
    # keyed by the item: the page says which image it shows (``.st-key-label_shown_<id>``), and a new
    # image is a new block, never the previous image's element with a new picture
    with left, st.container(key=f"{SHOWN_KEY}{item.id}"):
        work = _image(project, item, classes, work, paths, proposal, sam_reason)
    with right:
        _item_facts(item)
        prop_payload = proposal.payload if proposal else None
        if proposal:
            _proposal_banner(project, item, classes, user, proposal)
        if task is TaskType.MULTICLASS:
            classify.multiclass(item, classes, work, user.username, prop_payload)
        elif task is TaskType.MULTILABEL:
            classify.multilabel(item, classes, work, user.username, prop_payload)
        else:
            current = draw.class_picker(task, classes)
            if task is TaskType.BOXES:
                draw.zoom_picker()
            if task is TaskType.POLYGONS:
                segment.controls(item, current.id, sam_reason)
            draw.object_list(task, item, work, classes, prop_payload)
            st.button(
                "Submit",
                key=actions.keyed("label_submit", item.id),
                shortcut=shortcuts.SUBMIT,
                type="primary",
                icon=":material/send:",
                width="stretch",
                on_click=actions.submit_work,
                args=(item.id, item.version, task, user.username, prop_payload),
            )
        _actions(project, item, user, initial)
        with st.expander("Keyboard shortcuts", icon=":material/keyboard:"):
            st.markdown(
                shortcuts.legend_markdown(shortcuts.legend(task, classes, has_proposal=proposal is not None))
            )


def _item_facts(item: Item) -> None:
    bits = [f"Image **{item.id}**", item.status.value]
    if item.annotation is not None:
        bits.append(
            f"version {item.version} by {plain(item.annotation.author)} ({item.annotation.source.value})"
        )
    st.caption(" · ".join(bits))


def _proposal_banner(
    project: Project, item: Item, classes: Sequence[LabelClass], user: User, proposal: Proposal
) -> None:
    with st.container(border=True):
        st.markdown(
            f":material/auto_awesome: **{proposal.title}:** {plain(payloads.describe(project.task_type, proposal.payload, classes))}"
            f"  \n:gray[{'from ' + plain(proposal.imported_from) + ' · ' if proposal.imported_from else ''}"
            f"confidence {proposal.confidence:.0%} · any edit corrects it]"
        )
        st.button(
            "Accept proposal",
            key=actions.keyed("label_accept", item.id),
            shortcut=shortcuts.ACCEPT,
            icon=":material/done_all:",
            width="stretch",
            on_click=actions.accept_proposal,
            args=(item.id, item.version, project.task_type, user.username, proposal.payload),
        )


def _reason_box(item_id: int, default: str = "") -> str:
    """The skip-reason box's key: one key for every item, emptied when another item comes on screen.

    A key per item made the browser send a reason typed just after an item change under the previous
    item's widget id, and the skip then went out without it."""
    if st.session_state.get(state.REASON_ITEM_KEY) != item_id:
        st.session_state[state.REASON_ITEM_KEY] = item_id
        st.session_state[state.REASON_KEY] = default
    return state.REASON_KEY


def _skip_and_back(
    project: Project, item: Item, user: User, reason_key: str, skip_label: str, primary: bool = False
) -> None:
    """Skip (with the reason typed in the box at ``reason_key``) and Back, side by side: the same keys and
    shortcuts whether the image could be shown or not."""
    c1, c2 = st.columns(2)
    c1.button(
        skip_label,
        key=actions.keyed("label_skip", item.id),
        shortcut=shortcuts.SKIP,
        type="primary" if primary else "secondary",
        icon=":material/redo:",
        width="stretch",
        on_click=actions.skip,
        args=(item.id, user.username, reason_key),
    )
    c2.button(
        "Back",
        key="label_back",
        shortcut=shortcuts.BACK,
        icon=":material/arrow_back:",
        width="stretch",
        on_click=actions.back,
        args=(project.id, user.username, item.id),
    )


def _actions(project: Project, item: Item, user: User, initial: dict[str, Any]) -> None:
    reason_key = _reason_box(item.id)
    st.text_input("Skip reason (optional)", key=reason_key, placeholder="e.g. blurry, unsure")
    _skip_and_back(project, item, user, reason_key, "Skip")
    c3, c4 = st.columns(2)
    c3.button(
        "Next",
        key=actions.keyed("label_next", item.id),
        shortcut=shortcuts.NEXT,
        icon=":material/arrow_forward:",
        width="stretch",
        help="Leave this image as it is (your unsaved changes are kept) and take the next from the queue",
        on_click=actions.next_in_queue,
        args=(project.id, user.username, item.id),
    )
    c4.button(
        "Reset",
        key=actions.keyed("label_reset", item.id),
        help="Undo your unsaved changes on this image",
        shortcut=shortcuts.RESET,
        icon=":material/undo:",
        width="stretch",
        on_click=actions.reset,
        args=(item.id, item.version, initial),
    )
    if st.button(
        "Skipped list",
        key="label_skipped",
        shortcut=shortcuts.SKIPPED_LIST,
        icon=":material/list:",
        width="stretch",
    ):
        try:
            st.switch_page(SKIPPED_PAGE)
        except StreamlitAPIException:
            st.info("The skipped list is not available in this app.")
