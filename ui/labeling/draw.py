"""Boxes (streamlit-drawable-canvas, ``labeled_rect``) and polygons (our SVG editor) on the image.

The working payload (image pixels) in ``ui.labeling.state`` is the truth. A drawing widget is keyed
by item, version and ``rev``; it reports edits, which replace the working payload, and the object
list beside it edits the working payload and bumps ``rev`` so the widget reloads from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st
from streamlit_drawable_canvas import st_canvas

from core import geometry
from core.domain import Item, LabelClass, TaskType
from ui.labeling import actions, images, payloads, segment, shortcuts, state
from ui.labeling.components import canvas_fit, proposed
from ui.labeling.components.polygon_editor import polygon_editor

CANVAS_W = 960  # px: the canvas at zoom 1 fits this box (the image is fitted, never stretched)
CANVAS_H = 620
MIN_CANVAS_W = 240  # px: never narrower than this, however narrow the column
FIRST_W = (
    640  # px: the width assumed before the column's width is known (the first label screen of a session)
)
ROWS_AS_WIDGETS = 25  # more objects than this are listed in one table editor (stays fast at 300)
ZOOMS = [1.0, 1.5, 2.0, 3.0]
CANVAS_INIT_KEY = "label_canvas_init"  # {"item:version:rev:zoom:class": starting drawing of the canvas}
CANVAS_SEEN_KEY = "label_canvas_seen"  # {canvas key: the objects the canvas last reported}
LIST_ROW_PX = 62  # px: one object row (selectbox and delete button) as drawn
LIST_MAX_PX = 380  # px: the object list grows up to this, then scrolls


def draw_class(classes: Sequence[LabelClass]) -> LabelClass:
    cid = st.session_state.get(state.DRAW_CLASS_KEY)
    return next((c for c in classes if c.id == cid), classes[0])


def _set_draw_class(class_id: int) -> None:
    st.session_state[state.DRAW_CLASS_KEY] = class_id


def class_picker(task: TaskType, classes: Sequence[LabelClass]) -> LabelClass:
    """Buttons choosing the class of new shapes (each with the class key)."""
    current = draw_class(classes)
    noun = "boxes" if task is TaskType.BOXES else "polygons"
    st.markdown(f"**Class of new {noun}** — click or press its key")
    cols = st.columns(2)
    for i, cls in enumerate(classes):
        cols[i % 2].button(
            cls.name,
            key=f"label_draw_{cls.id}",
            shortcut=shortcuts.class_shortcut(cls),
            type="primary" if cls.id == current.id else "secondary",
            width="stretch",
            on_click=_set_draw_class,
            args=(cls.id,),
        )
    return current


def canvas_scale(item: Item, zoom: float, avail_w: int = CANVAS_W) -> float:
    """Canvas pixels per image pixel: the image fitted into the column's width (at most ``CANVAS_W``) and
    ``CANVAS_H`` at zoom 1, whatever its aspect ratio; zoom enlarges it from there."""
    return (
        geometry.fit_scale(item.width, item.height, max(MIN_CANVAS_W, min(CANVAS_W, avail_w)), CANVAS_H)
        * zoom
    )


def drawn_scale(fit: dict[str, float] | None, item: Item, scale: float) -> float:
    """Canvas pixels per image pixel of the canvas that sent a drawing: its own fitted background says so.

    After a new column width this run's ``scale`` may already be the new one while the browser still shows
    (and the labeler draws on) the canvas at the old size: converting those boxes with the new scale would
    save them somewhere the labeler did not draw. ``scale`` is the fallback before the canvas reports."""
    if not fit or not fit.get("natural_width") or not fit.get("scale_x") or item.width <= 0:
        return scale
    return float(fit["scale_x"]) * float(fit["natural_width"]) / item.width


def boxes(
    item: Item,
    work: dict[str, Any],
    classes: Sequence[LabelClass],
    paths: Any,
    proposal: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The canvas with the boxes; returns the working payload after the labeler's edits.

    Boxes still as the model proposed them are dashed (and scored in the object list)."""
    current = draw_class(classes)
    zoom = float(st.session_state.get(state.ZOOM_KEY, 1.0))
    avail = canvas_fit.available_width(FIRST_W)
    scale = canvas_scale(item, zoom, avail)
    rev = state.rev(item.id, item.version)
    init_store = st.session_state.setdefault(CANVAS_INIT_KEY, {})
    # The starting drawing is what the canvas (re)loads from. A new class (label, colour) can make the
    # canvas start over: a drawing cached from before the labeler's last boxes would then bring back
    # an old state and the next box would replace the work with it. So the drawing is made afresh from
    # the working payload whenever the class changes (as on a new rev or zoom), never restored stale.
    init_key = f"{item.id}:{item.version}:{rev}:{zoom}:{avail}:{current.id}"
    if init_key not in init_store:
        init_store.clear()  # one drawing at a time is enough
        init_store[init_key] = payloads.payload_to_canvas_drawing(work, scale, classes)
        proposed.mark_proposed_boxes(init_store[init_key], work, proposal)
    # keyed by the width too: a new column width mounts a new canvas, drawn from the working payload at the
    # new scale. Resizing the same canvas kept a box drawn just before (not yet sent: the canvas sends
    # 200 ms after an edit) at its old pixels over the rescaled image, then sent it with the new scale's
    # fit, so it was saved about 1.5x off (tests/e2e/test_label_canvas_e2e.py, "narrows"). A new canvas
    # drops that unsent box from the screen and from the work alike: redrawn, never saved elsewhere.
    canvas_key = f"label_canvas_{item.id}_{item.version}_{rev}_{zoom}_{avail}"
    result = st_canvas(
        background_image=images.screen_jpeg(item, paths),
        background_image_fit="stretch",
        width=max(1, round(item.width * scale)),
        height=max(1, round(item.height * scale)),
        drawing_mode="labeled_rect",
        label=current.name,
        stroke_color=current.color,
        fill_color=payloads.hex_to_rgba(current.color, 0.12),
        stroke_width=2,
        font_size=13
        if len(work.get("boxes", [])) <= 40
        else 8,  # label chips stay out of the way of many boxes
        initial_drawing=init_store[init_key],
        update_streamlit=True,
        max_display_height=CANVAS_H + 40 if zoom > 1 else None,
        key=canvas_key,
    )
    objects = (result.json_data or {}).get("objects")
    seen = st.session_state.setdefault(CANVAS_SEEN_KEY, {})
    if objects is not None and objects != seen.get(canvas_key, init_store[init_key]["objects"]):
        # the canvas reported an edit since what it last sent (or since this drawing was loaded): a box
        # drawn, moved, or deleted (down to none, which equals an empty starting drawing: hence the
        # comparison with the canvas's last report, not with the drawing it started from) becomes the work
        seen.clear()  # one canvas at a time
        seen[canvas_key] = objects
        new = payloads.canvas_boxes_to_payload(
            result.boxes,
            drawn_scale(result.background_fit, item, scale),
            classes,
            current.id,
            (item.width, item.height),
        )
        if payloads.canonical(TaskType.BOXES, new) != payloads.canonical(TaskType.BOXES, work):
            state.set_work(item.id, item.version, new)
            work = new
    st.caption(
        "Drag on the image to draw a box. Turn on the canvas's **edit** toggle (✎ in its toolbar) to "
        "select, move, resize or delete boxes (Delete or Backspace deletes the selected one); click a "
        "selected box to change its class there."
    )
    return work


def polygons(
    item: Item,
    work: dict[str, Any],
    classes: Sequence[LabelClass],
    paths: Any,
    mode: str = "draw",
    *,
    sam: bool = False,
    proposal: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The SVG polygon editor; returns the working payload after the labeler's edits.

    ``sam``: offer click-to-segment and box-to-polygon (``ui.labeling.segment``); ``proposal``: the
    model's polygons, drawn dashed while unchanged."""
    current = draw_class(classes)
    key = f"label_poly_{item.id}_{item.version}"
    preview = None
    if sam and mode == "draw":
        prompt = segment.pending_prompt(key)
        if segment.wants_accept(item, segment.pending_prompt(key)) and segment.preview_for(
            item, state.rev(item.id, item.version), prompt, paths
        ):
            segment.accept(item.id, item.version, current.id, (prompt or {}).get("seq"))
            work = state.get_work(item.id, item.version) or work
        else:
            preview = segment.preview_for(item, state.rev(item.id, item.version), prompt, paths)
    rev = state.rev(item.id, item.version)
    sent, _ = polygon_editor(
        key=key,
        item_id=item.id,
        rev=rev,
        image_url=images.data_url(item, paths),
        width=item.width,
        height=item.height,
        polygons=work.get("polygons", []),
        classes={c.id: {"name": c.name, "color": c.color} for c in classes},
        draw_class_id=current.id,
        height_px=CANVAS_H,
        mode=mode,
        sam=sam and mode == "draw",
        preview=preview,
        proposed=(proposal or {}).get("polygons") if mode == "draw" else None,
    )
    if sent and sent.get("rev") == rev and sent.get("item") == item.id:
        new = payloads.clean_polygons(sent.get("polygons"), {c.id for c in classes}, current.id)
        if payloads.canonical(TaskType.POLYGONS, new) != payloads.canonical(TaskType.POLYGONS, work):
            state.set_work(item.id, item.version, new)
            work = new
    return work


def zoom_picker() -> None:
    st.segmented_control(
        "Zoom", ZOOMS, key=state.ZOOM_KEY, format_func=lambda z: f"{z:g}×", default=1.0, width="content"
    )


def list_height(n_rows: int) -> int | str:
    """The object list's height: "content" (it grows with its rows) up to ``LIST_MAX_PX``, then fixed
    (it scrolls)."""
    return "content" if n_rows * LIST_ROW_PX <= LIST_MAX_PX else LIST_MAX_PX


def _obj_class_changed(
    task: TaskType, item: Item, index: int, widget_key: str, names: dict[str, int]
) -> None:
    work = state.get_work(item.id, item.version) or payloads.empty(task)
    cid = names.get(st.session_state.get(widget_key, ""))
    if cid is not None:
        actions.set_work(item.id, item.version, payloads.set_object_class(task, work, index, cid), bump=True)


def _obj_delete(task: TaskType, item: Item, index: int) -> None:
    work = state.get_work(item.id, item.version) or payloads.empty(task)
    actions.set_work(item.id, item.version, payloads.delete_object(task, work, index), bump=True)


def object_list(
    task: TaskType,
    item: Item,
    work: dict[str, Any],
    classes: Sequence[LabelClass],
    proposal: dict[str, Any] | None = None,
) -> None:
    """The boxes or polygons beside the image: class selectors and delete buttons (a proposed object
    still unchanged shows the model's score)."""
    objs = work.get(payloads.objects_key(task), [])
    scores = proposed.proposed_scores(task, work, proposal)
    noun = "Boxes" if task is TaskType.BOXES else "Polygons"
    st.markdown(f"**{noun}: {len(objs)}**")
    if not objs:
        st.caption("None yet.")
        return
    rev = state.rev(item.id, item.version)
    by_id = {c.id: c for c in classes}
    names = {c.name: c.id for c in classes}
    if len(objs) > ROWS_AS_WIDGETS:
        _object_table(task, item, objs, classes, rev)
        return
    with st.container(height=list_height(len(objs)), border=False):
        for i, obj in enumerate(objs):
            cls = by_id.get(obj["class_id"])
            c1, c2, c3 = st.columns([1, 3, 1], vertical_alignment="center")
            mark = "▨" if scores[i] is not None else "■"
            color = cls.color if cls is not None else "#888"
            c1.markdown(  # one line: the colour square beside the number
                f"<span style='white-space:nowrap'><span style='color:{color}'>{mark}</span>&nbsp;"
                f"<b>{i + 1}</b></span>",
                unsafe_allow_html=True,
                help=None if scores[i] is None else f"Proposed by the model ({scores[i]:.0%}), unchanged",
            )
            wkey = f"label_objcls_{item.id}_{item.version}_{rev}_{i}"
            c2.selectbox(
                f"Class of {noun.lower()[:-1]} {i + 1}",
                list(names),
                index=list(names).index(cls.name) if cls else 0,
                key=wkey,
                label_visibility="collapsed",
                on_change=_obj_class_changed,
                args=(task, item, i, wkey, names),
            )
            c3.button(
                "",
                icon=":material/delete:",
                key=f"label_objdel_{item.id}_{item.version}_{rev}_{i}",
                help=f"Delete {noun.lower()[:-1]} {i + 1}",
                on_click=_obj_delete,
                args=(task, item, i),
            )


def _object_table(
    task: TaskType, item: Item, objs: list[dict[str, Any]], classes: Sequence[LabelClass], rev: int
) -> None:
    """Many objects: one table editor (class column, delete ticks) instead of hundreds of widgets."""
    names = {c.id: c.name for c in classes}
    ids = {c.name: c.id for c in classes}
    df = pd.DataFrame(
        {
            "#": list(range(1, len(objs) + 1)),
            "class": [names.get(o["class_id"], "") for o in objs],
            "delete": [False] * len(objs),
        }
    )
    edited = st.data_editor(
        df,
        key=f"label_objtable_{item.id}_{item.version}_{rev}",
        hide_index=True,
        height=360,
        disabled=["#"],
        column_config={
            "class": st.column_config.SelectboxColumn("class", options=list(ids), required=True),
            "delete": st.column_config.CheckboxColumn("delete"),
        },
    )
    changed = [
        (i, ids[c]) for i, c in enumerate(edited["class"]) if c in ids and ids[c] != objs[i]["class_id"]
    ]
    doomed = [i for i, d in enumerate(edited["delete"]) if d]
    if changed or doomed:
        work = {payloads.objects_key(task): [dict(o) for o in objs]}
        for i, cid in changed:
            work = payloads.set_object_class(task, work, i, cid)
        for i in sorted(doomed, reverse=True):
            work = payloads.delete_object(task, work, i)
        actions.set_work(item.id, item.version, work, bump=True)
        st.rerun(scope="fragment")
