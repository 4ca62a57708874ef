"""One tile of a grid page: left out or not, and the answer of its own when it is an odd one out.

Under each tile, chips (a drop-down past ``cluster_pages.ONE_CLICK_CLASSES`` classes) show what the
tile will get and change it in place: one class for multi-class pages, a set of classes for
multi-label pages (the page's class shown ticked once chosen; toggle it off, or tick others). The
chips are a view of the page's state in session (``label_grid_own``, ``label_grid_off``), set before
each rerun draws them, so they always show what Submit would save.

Session state: ``label_grid_own`` ({page key: {item id: tuple of class ids}}); the widgets are
``label_grid_own_<page>_<item>``.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import streamlit as st

from core.assist import cluster_pages
from core.domain import LabelClass

OFF_KEY = "label_grid_off"
OWN_KEY = "label_grid_own"


def page_dict(key: str) -> dict[Any, Any]:
    if not isinstance(st.session_state.get(key), dict):
        st.session_state[key] = {}
    return st.session_state[key]


def left_out(page_key: str) -> set[int]:
    return set(page_dict(OFF_KEY).get(page_key, []))


def own_answers(page_key: str) -> dict[int, tuple[int, ...]]:
    return dict(page_dict(OWN_KEY).get(page_key, {}))


def widget_key(page_key: str, item_id: int) -> str:
    return f"label_grid_own_{zlib.crc32(page_key.encode()):08x}_{item_id}"


def keep_saved(page_key: str, saved: dict[int, tuple[int, ...]]) -> None:
    """A reopened page: each tile neither left out nor changed shows the answer it was saved with."""
    off = left_out(page_key)
    mine = page_dict(OWN_KEY).setdefault(page_key, {})
    for item_id, answer in saved.items():
        if item_id not in mine and item_id not in off:
            mine[item_id] = answer


def toggle(page_key: str, item_id: int) -> None:
    """Leave the tile out (back to the queue), or put it back; a tile left out loses its own answer."""
    off = left_out(page_key) ^ {item_id}
    page_dict(OFF_KEY)[page_key] = sorted(off)
    if item_id in off:
        page_dict(OWN_KEY).get(page_key, {}).pop(item_id, None)


def _on_chips(page_key: str, item_id: int, multilabel: bool, page_class: int | None) -> None:
    value = st.session_state.get(widget_key(page_key, item_id))
    if multilabel:
        answer: tuple[int, ...] | None = tuple(sorted(int(v) for v in value or ()))
        if page_class is not None and answer == (page_class,):
            answer = None  # the page's class again
    else:
        answer = None if value is None else (int(value),)
    mine = page_dict(OWN_KEY).setdefault(page_key, {})
    if answer is None:
        mine.pop(item_id, None)
        return
    mine[item_id] = answer
    page_dict(OFF_KEY)[page_key] = sorted(left_out(page_key) - {item_id})  # an answer puts it back


def shown_answer(
    item_id: int, off: set[int], own: dict[int, tuple[int, ...]], page_class: int | None
) -> tuple[int, ...]:
    """What Submit would give the tile: nothing when left out, its own answer, else the page's class."""
    if item_id in off:
        return ()
    if item_id in own:
        return own[item_id]
    return () if page_class is None else (page_class,)


def caption(
    item_id: int,
    off: set[int],
    own: dict[int, tuple[int, ...]],
    page_class: int | None,
    names: dict[int, str],
) -> str:
    """The tile button's words: left out, the classes it gets, or "in" before the page has a class."""
    if item_id in off:
        return "left out"
    answer = shown_answer(item_id, off, own, page_class)
    if not answer:
        return "no class" if item_id in own else "in"
    return ", ".join(names.get(c, str(c)) for c in answer)


def chips(
    page_key: str,
    item_id: int,
    classes: Sequence[LabelClass],
    *,
    multilabel: bool,
    page_class: int | None,
    answer: tuple[int, ...],
) -> None:
    """The tile's chips, showing ``answer``; a change makes it the tile's own answer."""
    key = widget_key(page_key, item_id)
    st.session_state[key] = list(answer) if multilabel else (answer[0] if answer else None)
    names = {c.id: c.name for c in classes}
    ids = list(names)
    kwargs: dict[str, Any] = {
        "key": key,
        "format_func": lambda i: names.get(i, str(i)),
        "label_visibility": "collapsed",
        "on_change": _on_chips,
        "args": (page_key, item_id, multilabel, page_class),
    }
    label = "Its own classes" if multilabel else "Its own class"
    if len(ids) <= cluster_pages.ONE_CLICK_CLASSES:
        st.pills(label, ids, selection_mode="multi" if multilabel else "single", **kwargs)
    elif multilabel:
        st.multiselect(label, ids, placeholder="Its own classes…", **kwargs)
    else:
        st.selectbox(label, ids, placeholder="Its own class…", **kwargs)
