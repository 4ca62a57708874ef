"""The stale-save chooser: someone saved first; show both versions and let the labeler choose."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import streamlit as st

from core.domain import Item, LabelClass, Source, TaskType
from core.store import items
from ui.labeling import actions, images, payloads, state
from ui.resources import store


def pending() -> dict[str, Any] | None:
    return st.session_state.get(state.STALE_KEY)


def _keep_theirs(item_id: int) -> None:
    st.session_state.pop(state.STALE_KEY, None)
    state.drop_work(item_id)
    state.pin_item(None)
    state.flash("info", f"Kept the other version of image {item_id}; your change was dropped.")


def _overwrite(
    item_id: int, current_version: int, task: TaskType, attempted: dict[str, Any], author: str, source: str
) -> None:
    st.session_state.pop(state.STALE_KEY, None)
    actions.save(item_id, current_version, task, attempted, author, source=Source(source))


def _edit_again(item_id: int, current_version: int, attempted: dict[str, Any]) -> None:
    st.session_state.pop(state.STALE_KEY, None)
    state.set_work(item_id, current_version, attempted)
    state.pin_item(item_id)


def _show(
    item: Item, task: TaskType, payload: dict[str, Any], classes: Sequence[LabelClass], paths: Any
) -> None:
    st.markdown(payloads.describe(task, payload, classes))
    try:  # the image with this version drawn on it: boxes, polygons, or the classes written over it
        st.image(images.overlay_png(item, task, payload, classes, paths), width="stretch")
    except images.ImageUnavailable as exc:
        st.caption(str(exc))


def chooser(task: TaskType, classes: Sequence[LabelClass], author: str, paths: Any) -> None:
    info = pending()
    if info is None:
        return
    item = items.get_item(store(), info["item_id"])
    current = info.get("current")
    attempted = info["attempted"]
    cur_version = current.version if current is not None else item.version
    st.warning(
        f"**Someone saved image {item.id} first.** "
        + (
            f"{current.author} saved version {current.version} while you were editing version "
            f"{info['base_version']}. Nothing was overwritten: choose which to keep."
            if current is not None
            else "Choose which version to keep."
        ),
        icon=":material/group:",
    )
    theirs, mine = st.columns(2)
    with theirs, st.container(border=True):
        st.markdown(f"##### Theirs · version {cur_version}" + (f" by {current.author}" if current else ""))
        _show(item, task, current.payload if current else {}, classes, paths)
        st.button(
            "Keep theirs",
            key="label_stale_keep",
            icon=":material/undo:",
            width="stretch",
            on_click=_keep_theirs,
            args=(item.id,),
        )
    with mine, st.container(border=True):
        st.markdown("##### Mine · not saved")
        _show(item, task, attempted, classes, paths)
        st.button(
            "Overwrite with mine",
            key="label_stale_overwrite",
            type="primary",
            icon=":material/save:",
            width="stretch",
            help=f"Saved as a new version based on version {cur_version}; theirs stays in the history.",
            on_click=_overwrite,
            args=(item.id, cur_version, task, attempted, author, info.get("source", "human")),
        )
        st.button(
            "Edit mine again",
            key="label_stale_edit",
            icon=":material/edit:",
            width="stretch",
            help=f"Go back to the image with your version on top of version {cur_version}.",
            on_click=_edit_again,
            args=(item.id, cur_version, attempted),
        )
