"""Per-session working state of the labeling screen, kept in ``st.session_state``.

Keys (all start with ``label_``):

* ``label_item_id``: the item on screen, pinned until it is saved or skipped. Other pages hand an
  item over by setting it and switching to ``pages/label.py``.
* ``label_work``: ``{"<item_id>:<version>": payload}``, the unsaved working payload per item and the
  version it edits, so unsaved work survives reruns, Back and coming back.
* ``label_rev``: ``{"<item_id>:<version>": int}``, bumped when the object list changes a drawing, so
  the drawing widget reloads from the working payload.
* ``label_t0``: ``{item_id: seconds}``, when the item was first shown (the saved ``duration_ms``).
* ``label_stale``: the refused save waiting for the labeler's choice (see ``ui.labeling.stale``).
* ``label_flash``: the last action's message ("Saved", "Skipped", an error), shown until a newer one or
  another project (``current_flash``).
* ``label_draw_class``: the class new boxes and polygons get.
* ``label_zoom``: the box canvas zoom factor.
* ``label_reason`` / ``label_reason_item``: the skip-reason box and the item it was typed for.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import streamlit as st

ITEM_KEY = "label_item_id"
WORK_KEY = "label_work"
REV_KEY = "label_rev"
T0_KEY = "label_t0"
STALE_KEY = "label_stale"
FLASH_KEY = "label_flash"
DRAW_CLASS_KEY = "label_draw_class"
ZOOM_KEY = "label_zoom"
REASON_KEY = "label_reason"  # the skip-reason box (one key for all items)
REASON_ITEM_KEY = "label_reason_item"  # the item the box's text was typed for


def work_id(item_id: int, version: int) -> str:
    return f"{item_id}:{version}"


def _dict(key: str) -> dict[Any, Any]:
    if key not in st.session_state or not isinstance(st.session_state[key], dict):
        st.session_state[key] = {}
    return st.session_state[key]


def current_item_id() -> int | None:
    value = st.session_state.get(ITEM_KEY)
    return int(value) if value is not None else None


def pin_item(item_id: int | None) -> None:
    if item_id is None:
        st.session_state.pop(ITEM_KEY, None)
    else:
        st.session_state[ITEM_KEY] = int(item_id)


def get_work(item_id: int, version: int) -> dict[str, Any] | None:
    return _dict(WORK_KEY).get(work_id(item_id, version))


def set_work(item_id: int, version: int, payload: dict[str, Any]) -> None:
    _dict(WORK_KEY)[work_id(item_id, version)] = copy.deepcopy(payload)


def ensure_work(item_id: int, version: int, initial: dict[str, Any]) -> dict[str, Any]:
    """The working payload, created from ``initial`` the first time the item is shown."""
    work = _dict(WORK_KEY)
    wid = work_id(item_id, version)
    if wid not in work:
        work[wid] = copy.deepcopy(initial)
    _dict(T0_KEY).setdefault(item_id, time.time())
    return work[wid]


def drop_work(item_id: int) -> None:
    """Forget an item's working state (after it was saved or skipped)."""
    prefix = f"{item_id}:"
    for key in (WORK_KEY, REV_KEY):
        d = _dict(key)
        for wid in [k for k in d if str(k).startswith(prefix)]:
            del d[wid]
    _dict(T0_KEY).pop(item_id, None)


def rev(item_id: int, version: int) -> int:
    return int(_dict(REV_KEY).get(work_id(item_id, version), 0))


def bump_rev(item_id: int, version: int) -> int:
    d = _dict(REV_KEY)
    wid = work_id(item_id, version)
    d[wid] = int(d.get(wid, 0)) + 1
    return d[wid]


def duration_ms(item_id: int) -> int | None:
    t0 = _dict(T0_KEY).get(item_id)
    return int((time.time() - t0) * 1000) if t0 else None


def flash(kind: str, text: str) -> None:
    st.session_state[FLASH_KEY] = (kind, text, None)


def clear_flash() -> None:
    st.session_state.pop(FLASH_KEY, None)


def current_flash(project_id: int) -> tuple[str, str] | None:
    """The flash to show on this project's screen: it stays until a newer one replaces it or another
    project's screen is shown (where it is dropped: "Saved image 12." belongs to the project it was said in).

    It never expires on a timer. A freshly drawn canvas reruns at once, so a one-run flash was eaten; and a
    flash that went after a few seconds went on whatever rerun came next, typically the one a labeler's
    first box on the next image makes, and the canvas jumped up under the mouse by the message's height
    (the next click landed beside the box: tests/e2e/test_label_e2e.py)."""
    note = st.session_state.get(FLASH_KEY)
    if not note:
        return None
    kind, text, shown_in = note
    if shown_in is None:  # said by an action on this screen: it belongs to this project from now on
        st.session_state[FLASH_KEY] = (kind, text, project_id)
    elif shown_in != project_id:
        st.session_state.pop(FLASH_KEY, None)
        return None
    return (kind, text)
