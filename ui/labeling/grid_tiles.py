"""One tile of a grid page: left out or not, and the answer of its own when it is an odd one out.

Under each tile, chips (a drop-down past ``cluster_pages.ONE_CLICK_CLASSES`` classes) show what the
tile will get and change it in place: one class for multi-class pages, a set of classes for
multi-label pages (the page's class shown ticked once chosen; toggle it off, or tick others). The
chips are a view of the page's state in session (``PageState``), set before each rerun draws them, so
they always show what Submit would save.

Session state: one key, ``label_grid_pages`` ({page key: ``PageState``}); the widgets are
``label_grid_own_<page>_<item>``.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from core.assist import cluster_pages
from core.domain import LabelClass

PAGES_KEY = "label_grid_pages"  # {page key: PageState}: everything a labeler did on the grid's pages


@dataclass
class PageState:
    """One grid page as the labeler left it in this session, until Submit saves it."""

    off: set[int] = field(default_factory=set)  # tiles left out (back to the queue)
    own: dict[int, tuple[int, ...]] = field(default_factory=dict)  # odd ones out: their own classes
    class_id: int | None = None  # the class chosen for the page (None: the page's suggestion)
    opened_at: float | None = None  # when it was first drawn here (the page's duration; still open)


def _pages() -> dict[str, PageState]:
    if not isinstance(st.session_state.get(PAGES_KEY), dict):
        st.session_state[PAGES_KEY] = {}
    return st.session_state[PAGES_KEY]


def page_state(page_key: str) -> PageState:
    """The page's state in session, made empty the first time."""
    pages = _pages()
    if not isinstance(pages.get(page_key), PageState):
        pages[page_key] = PageState()
    return pages[page_key]


def opened(page_key: str) -> PageState:
    """The page's state, marked open now if it was not (the page is on screen)."""
    ps = page_state(page_key)
    if ps.opened_at is None:
        ps.opened_at = time.time()
    return ps


def is_open(page_key: str) -> bool:
    """The page was drawn in this session and not submitted since."""
    ps = _pages().get(page_key)
    return isinstance(ps, PageState) and ps.opened_at is not None


def forget(page_key: str) -> None:
    _pages().pop(page_key, None)


def left_out(page_key: str) -> set[int]:
    return set(page_state(page_key).off)


def own_answers(page_key: str) -> dict[int, tuple[int, ...]]:
    return dict(page_state(page_key).own)


def widget_key(page_key: str, item_id: int) -> str:
    return f"label_grid_own_{zlib.crc32(page_key.encode()):08x}_{item_id}"


def keep_saved(page_key: str, saved: dict[int, tuple[int, ...]]) -> None:
    """A reopened page: each tile neither left out nor changed shows the answer it was saved with."""
    ps = page_state(page_key)
    for item_id, answer in saved.items():
        if item_id not in ps.own and item_id not in ps.off:
            ps.own[item_id] = answer


def toggle(page_key: str, item_id: int) -> None:
    """Leave the tile out (back to the queue), or put it back; a tile left out loses its own answer."""
    ps = page_state(page_key)
    ps.off ^= {item_id}
    if item_id in ps.off:
        ps.own.pop(item_id, None)


def _on_chips(page_key: str, item_id: int, multilabel: bool, page_class: int | None) -> None:
    value = st.session_state.get(widget_key(page_key, item_id))
    if multilabel:
        answer: tuple[int, ...] | None = tuple(sorted(int(v) for v in value or ()))
        if page_class is not None and answer == (page_class,):
            answer = None  # the page's class again
    else:
        answer = None if value is None else (int(value),)
    ps = page_state(page_key)
    if answer is None:
        ps.own.pop(item_id, None)
        return
    ps.own[item_id] = answer
    ps.off.discard(item_id)  # an answer puts it back


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
