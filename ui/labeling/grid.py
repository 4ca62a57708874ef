"""Grid mode of the labeling screen: a page of 4, 6 or 9 similar unlabeled images labeled at once.

The page comes from ``core.assist.cluster_pages`` (nearest neighbours in the stored embeddings, or a
shared confident proposal) and is leased to the labeler. The labeler picks one class for the page
(click or key). An odd one out gets its own answer in place, with the chips shown over its tile
(``grid_tiles``): a class, or for multi-label its set of classes. Any tile can be left out (its
button or number key 1-9): it goes back to the queue. Submit saves the rest.

Session state: ``label_mode`` ("One image" | "Grid"), ``label_grid_size`` (4/6/9),
``label_grid_off`` ({page key: [deselected ids]}), ``label_grid_class`` ({page key: class id}),
``label_grid_t0`` ({page key: seconds}), ``label_grid_avail`` ((project id, checked at, bool));
the tiles' own answers: ``grid_tiles``.
"""

from __future__ import annotations

import functools
import time
import zlib
from collections.abc import Sequence
from typing import Any

import streamlit as st

from core.assist import cluster_pages, clustering, page_ahead, page_submit
from core.assist.clustering import PageKind
from core.disk import DiskFull
from core.domain import LabelClass, Project, TaskType, User, ValidationError
from core.permissions import Forbidden
from core.store import items
from ui import resources
from ui.labeling import grid_tiles, images, progress, shortcuts, state
from ui.text import plain

MODE_KEY = "label_mode"
SIZE_KEY = "label_grid_size"
AVAIL_KEY = "label_grid_avail"
ONE, GRID = "One image", "Grid"
TILE_SIDE = 360  # px: the tiles' rendition
AVAIL_TTL_S = 20.0
_CSS = """<style>
[class*="st-key-label_grid_tile_"] { position: relative; }
[class*="st-key-label_grid_tile_"] img { width: 100%; aspect-ratio: 4 / 3; object-fit: contain;
  background: #1e1e1e; border-radius: 6px; border: 3px solid var(--grid-on, #3b82f6); }
[class*="st-key-label_grid_tile_off_"] img { opacity: .28; filter: grayscale(1); border-color: #999;
  border-style: dashed; }
[class*="st-key-label_grid_own_"] { position: absolute; left: .4rem; right: .4rem; bottom: 3rem;
  z-index: 2; visibility: hidden; }
[class*="st-key-label_grid_tile_"]:hover [class*="st-key-label_grid_own_"] { visibility: visible; }
[class*="st-key-label_grid_own_"] [role="toolbar"] { gap: .25rem !important; }
[class*="st-key-label_grid_own_"] button[data-variant] { min-height: 1.5rem !important;
  padding: 0 .45rem !important; background: rgba(255, 255, 255, .94) !important; }
[class*="st-key-label_grid_own_"] button[aria-pressed="true"] { background: #e0e7ff !important;
  border-color: #4f46e5 !important; }
[class*="st-key-label_grid_own_"] button[data-variant] p { font-size: .75rem !important; }
[class*="st-key-label_grid_toggle_"] button { min-height: 1.8rem !important; padding-top: 0 !important;
  padding-bottom: 0 !important; }
</style>"""


def available(project: Project) -> bool:
    """Grid mode is offered for classification projects with enough featurised unlabeled images."""
    if not project.task_type.is_classification:
        return False
    cached = st.session_state.get(AVAIL_KEY)
    now = time.monotonic()
    if cached and cached[0] == project.id and now - cached[1] < AVAIL_TTL_S:
        return bool(cached[2])
    ok = cluster_pages.grid_available(resources.store(), project.id)
    st.session_state[AVAIL_KEY] = (project.id, now, ok)
    return ok


def _mode_changed(project_id: int, user: str) -> None:
    # the image pinned before may have been labeled on a grid page since: One image mode starts again
    # from the queue (which hands back the labeler's own lease first; unsaved work stays in session)
    state.pin_item(None)
    if st.session_state.get(MODE_KEY) != GRID:
        cluster_pages.release_page(resources.store(), project_id, user)


def mode_picker(project: Project, user: User) -> str:
    """One image or Grid; Grid only where a page can be made."""
    if not available(project):
        if st.session_state.get(MODE_KEY) == GRID:
            st.session_state[MODE_KEY] = ONE
        return ONE
    st.segmented_control(
        "Mode",
        [ONE, GRID],
        key=MODE_KEY,
        default=ONE,
        label_visibility="collapsed",
        help="Grid: label a page of similar images at once",
        on_change=_mode_changed,
        args=(project.id, user.username),
    )
    return str(st.session_state.get(MODE_KEY) or ONE)


def _page_key(page: cluster_pages.GridPage) -> str:
    return ",".join(str(i) for i in page.item_ids)


def grid_class_shortcut(cls: LabelClass) -> str | None:
    """In grid mode the number keys toggle tiles, so a class on a digit key takes Shift+digit."""
    key = shortcuts.class_shortcut(cls)
    if key and key.isdigit():
        return f"Shift+{key}"
    return key


def page_tag(page_key: str) -> str:
    """A short id of a page, for the keys of the buttons drawn for it (``label_grid_submit__p1a2b3c4d``):
    a press made on a page acts on that page only (see ``actions.keyed``)."""
    return f"__p{zlib.crc32(page_key.encode()):08x}"


def _on_page(project_id: int, user: str, page_key: str) -> cluster_pages.GridPage | None:
    """The page leased to the labeler if it is the one ``page_key`` names (the page on screen when the
    press was made); else ``None``: a press meant for a page that has gone never acts on the next one,
    unseen (a lease that ran out says so; a page replaced meanwhile gets a short note)."""
    page = cluster_pages.current_page(resources.store(), project_id, user)
    if page is None and grid_tiles.is_open(page_key):  # still open here, but no longer leased
        state.flash(
            "warning", "This page was handed back to the queue (its lease ran out); here is a new one."
        )
        return None
    if page is not None and _page_key(page) == page_key:
        return page
    state.flash("info", "Key ignored: the next page was still loading.")
    return None


def _choose(page_key: str, class_id: int) -> None:
    grid_tiles.page_state(page_key).class_id = class_id


def _submit(project_id: int, user: str, task: TaskType, classes: Sequence[LabelClass], pk: str) -> None:
    s = resources.store()
    page = _on_page(project_id, user, pk)
    if page is None:
        return
    ps = grid_tiles.page_state(pk)
    class_id = page.suggested_class if ps.class_id is None else ps.class_id
    off, own, t0 = set(ps.off), dict(ps.own), ps.opened_at
    duration = int((time.time() - t0) * 1000) if t0 else None
    try:
        res = page_submit.submit_page(
            s,
            page,
            [i for i in page.item_ids if i not in off],
            class_id,
            task,
            by=st.session_state["user"],
            duration_ms=duration,
            own=own,
        )
    except (ValidationError, Forbidden) as exc:
        state.flash("warning", str(exc))
        return
    except DiskFull as exc:  # nothing of the page was saved; it stays as it is
        state.flash("error", f"Not saved: {exc}")
        return
    grid_tiles.forget(pk)
    resources.forget_reads()
    if not page.reopened:
        progress.record("labeled", len(res.saved))
    name = next((c.name for c in classes if c.id == class_id), str(class_id))
    msg = _reopened_message(res) if page.reopened else _result_message(res, own, name, task)
    state.flash("warning" if res.errors or res.stale else "success", msg + ".")


def _result_message(
    res: page_submit.PageResult, own: dict[int, tuple[int, ...]], page_class: str, task: TaskType
) -> str:
    """What a submitted page did, in words: saved with the page's class, with their own, returned."""
    verb = "added" if task is TaskType.MULTILABEL else "labeled"
    n_own = sum(1 for i in res.saved if i in own)
    n_page = len(res.saved) - n_own
    msg = f"{n_page} image{'s' if n_page != 1 else ''} {verb} **{page_class}**"
    if n_own:
        what = "classes" if task is TaskType.MULTILABEL else "class"
        own_part = f"{n_own} given {'its' if n_own == 1 else 'their'} own {what}"
        msg = f"{msg}; {own_part}" if n_page else f"{own_part[0].upper()}{own_part[1:]}"
    if res.returned:
        msg += f"; {len(res.returned)} went back to the queue"
    if res.stale:
        msg += f"; {len(res.stale)} had been labeled by someone else meanwhile (theirs kept)"
    if res.errors:
        msg += f"; {len(res.errors)} not saved ({next(iter(res.errors.values()))})"
    return msg


def _reopened_message(res: page_submit.PageResult) -> str:
    msg = f"Your last page: {len(res.saved)} changed, {len(res.unchanged)} as before"
    if res.stale:
        msg += f"; {len(res.stale)} had been labeled by someone else meanwhile (theirs kept)"
    if res.errors:
        msg += f"; {len(res.errors)} not saved ({next(iter(res.errors.values()))})"
    return msg


def _back(project_id: int, user: str, lease_minutes: float, pk: str) -> None:
    if _on_page(project_id, user, pk) is None:
        return
    s = resources.store()
    state.clear_flash()  # what the last submit said no longer applies
    page = cluster_pages.reopen_last(s, project_id, user, lease_minutes=lease_minutes)
    if page is None:
        state.flash(
            "warning", "Your last page cannot be opened again: someone is working on one of its images."
        )


def _new_page(project_id: int, user: str, pk: str) -> None:
    if _on_page(project_id, user, pk) is None:
        return
    page_submit.hand_back(resources.store(), project_id, user)


def render(project: Project, classes: Sequence[LabelClass], user: User, paths: Any) -> None:
    """The grid: size chooser, the page's tiles, the class and Submit."""
    s = resources.store()
    st.html(_CSS)
    size = st.segmented_control(
        "Images per page", list(cluster_pages.PAGE_SIZES), key=SIZE_KEY, default=9, width="content"
    )
    lease = project.prefs.lease_minutes
    page = cluster_pages.next_page(
        s, project.id, user.username, project.task_type, int(size or 9), lease_minutes=lease
    )
    if page is None:
        st.info(
            "No page of similar images is waiting for you now (too few featurised unlabeled images "
            "are free). Switch to **One image** to go on.",
            icon=":material/grid_off:",
        )
        return
    pk = _page_key(page)
    grid_tiles.opened(pk)
    tiles = items.get_items(s, list(page.item_ids))
    order = {i: k for k, i in enumerate(page.item_ids)}
    tiles.sort(key=lambda it: order[it.id])
    if page.reopened:  # every tile shows an answer: its own, else the one it was saved with
        grid_tiles.keep_saved(
            pk,
            {
                it.id: page_submit.saved_answer(
                    project.task_type, it.annotation.payload if it.annotation else None
                )
                for it in tiles
            },
        )
    off = grid_tiles.left_out(pk)
    own = grid_tiles.own_answers(pk)
    ps = grid_tiles.page_state(pk)
    chosen = page.suggested_class if ps.class_id is None else ps.class_id
    by_id = {c.id: c for c in classes}
    names = {c.id: c.name for c in classes}
    multilabel = project.task_type is TaskType.MULTILABEL
    left, right = st.columns([3, 1.25], gap="medium")
    pictures = dict(zip((it.id for it in tiles), images.screen_jpegs(tiles, paths, TILE_SIDE), strict=True))
    with left:
        per_row = 2 if page.page_size == 4 else 3
        color = by_id[chosen].color if chosen in by_id else "#3b82f6"
        rows = -(-len(tiles) // per_row)
        own_css = "".join(
            f" .st-key-label_grid_tile_own_{i} {{ --grid-on: {by_id[a[0]].color if a and a[0] in by_id else '#999'}; }}"
            for i, a in own.items()
        )
        st.html(  # the whole page fits the window: tiles as tall as the rows allow, letterboxed
            f"<style>[class*='st-key-label_grid_tile_on_'] {{ --grid-on: {color}; }}{own_css}"
            f" [class*='st-key-label_grid_tile_'] img {{ max-height: {round(56 / rows)}vh; }}</style>"
        )
        for r in range(0, len(tiles), per_row):
            cols = st.columns(per_row, gap="small")
            for c, it in zip(cols, tiles[r : r + per_row], strict=False):
                n = order[it.id] + 1
                is_off = it.id in off
                look = "off" if is_off else ("own" if it.id in own else "on")
                with c.container(key=f"label_grid_tile_{look}_{it.id}"):
                    pic = pictures[it.id]
                    if isinstance(pic, images.ImageUnavailable):
                        st.warning(f"Image {it.id} cannot be shown: {pic}")
                    else:
                        st.image(pic, width="stretch")
                    st.button(
                        f"{n} · {plain(grid_tiles.caption(it.id, off, own, chosen, names))}",
                        key=f"label_grid_toggle_{it.id}",
                        shortcut=str(n),
                        icon=":material/check_box_outline_blank:" if is_off else ":material/check_box:",
                        type="secondary" if is_off else "tertiary",
                        width="stretch",
                        help="Put this image back on the page"
                        if is_off
                        else "Leave this image as it was saved"
                        if page.reopened
                        else "Leave this image out of the page's class (it goes back to the queue)",
                        on_click=grid_tiles.toggle,
                        args=(pk, it.id),
                    )
                    grid_tiles.chips(
                        pk,
                        it.id,
                        classes,
                        multilabel=multilabel,
                        page_class=chosen,
                        answer=grid_tiles.shown_answer(it.id, off, own, chosen),
                    )
    with right:
        _controls(project, page, classes, user, chosen, off)
    # the next page is being chosen in the background (core.assist.page_ahead): its tiles are made meanwhile
    ahead = page_ahead.Key(project.id, user.username, project.task_type.value, page.page_size)
    page_ahead.when_ready(s, ahead, functools.partial(_prepare_tiles, s, paths))


def _prepare_tiles(store: Any, paths: Any, pages: Sequence[clustering.ClusterPage]) -> None:
    """Make the tiles of the first page chosen ahead (cached on disk and in memory) in the background."""
    if pages:
        images.prefetch(items.get_items(store, [int(i) for i in pages[0].item_ids]), paths, TILE_SIDE)


def _controls(
    project: Project,
    page: cluster_pages.GridPage,
    classes: Sequence[LabelClass],
    user: User,
    chosen: int | None,
    off: set[int],
) -> None:
    pk = _page_key(page)
    tag = page_tag(pk)
    n_in = len(page.item_ids) - len(off)
    multilabel = project.task_type is TaskType.MULTILABEL
    detail = ""
    if page.reason is PageKind.NEIGHBOURS:
        detail = f" · similarity {page.cohesion:.2f}"
    elif page.suggested_class is None and not page.reopened:  # grouped below the proposal threshold
        detail = " · grouped by the model, which is not yet sure enough to propose a class"
    st.caption(f"Page of {len(page.item_ids)} · {page.reason.value}{detail}")
    if page.reopened:
        st.info(
            "Your last page, as you saved it. Change any tile and submit: only the changed ones get a new "
            "version; a tile left out keeps its label.",
            icon=":material/undo:",
        )
    if page.suggested_class is not None:
        sug = next((c.name for c in classes if c.id == page.suggested_class), "?")
        st.markdown(f":material/auto_awesome: The model proposes **{plain(sug)}** for these.")
    if not page.reopened:
        st.markdown("**Class of the page** (ticked on each tile)" if multilabel else "**Class of the page**")
    for cls in [] if page.reopened else classes:
        st.button(
            plain(cls.name),
            key=f"label_grid_cls_{cls.id}{tag}",
            shortcut=grid_class_shortcut(cls),
            type="primary" if cls.id == chosen else "secondary",
            icon=":material/check:" if cls.id == chosen else None,
            width="stretch",
            on_click=_choose,
            args=(pk, cls.id),
        )
    label = "Save changes" if page.reopened else f"Submit {n_in} image{'s' if n_in != 1 else ''}"
    st.button(
        label,
        key=f"label_grid_submit{tag}",
        shortcut=shortcuts.SUBMIT,
        type="primary",
        icon=":material/send:",
        width="stretch",
        help=None if chosen is not None or page.reopened else "Choose the page's class first",
        on_click=_submit,
        args=(project.id, user.username, project.task_type, classes, pk),
    )
    if not page.reopened:
        st.caption(
            "Each image gets the page's class. Point at a tile to tick the other classes it has, or untick."
            if multilabel
            else "An odd one out? Point at its tile and click its class."
        )
    if off:
        st.caption(
            f"{len(off)} left out: {'they keep their labels' if page.reopened else 'they go back to the queue'}."
        )
    st.button(
        "New page",
        key=f"label_grid_new{tag}",
        shortcut=shortcuts.NEXT,
        icon=":material/autorenew:",
        width="stretch",
        help="Hand this page back unlabeled and take another",
        on_click=_new_page,
        args=(project.id, user.username, pk),
    )
    if not page.reopened and cluster_pages.has_last(resources.store(), project.id, user.username):
        st.button(
            "Back to my last page",
            key=f"label_grid_back{tag}",
            shortcut=shortcuts.BACK,
            icon=":material/undo:",
            width="stretch",
            help="Open the page you submitted last, as saved, to correct it (this one goes back unlabeled)",
            on_click=_back,
            args=(project.id, user.username, project.prefs.lease_minutes, pk),
        )
    with st.expander("Keyboard shortcuts", icon=":material/keyboard:"):
        rows = [(grid_class_shortcut(c), f"page's class: {plain(c.name)}") for c in classes]
        rows = [(k, a) for k, a in rows if k]
        rows += [
            ("1-9", "leave a tile out / put it back"),
            (shortcuts.SUBMIT, "submit the page"),
            (shortcuts.NEXT, "hand the page back and take another"),
            (shortcuts.BACK, "open your last page again to correct it"),
        ]
        st.markdown(shortcuts.legend_markdown(rows))
