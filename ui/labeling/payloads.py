"""Pure helpers of the labeling screen: working payloads, canvas objects and proposals.

No Streamlit here. Coordinates: payloads are in image pixels (``xywh`` boxes, ``[x, y]`` polygon
points); the box canvas shows the image at one ``scale`` (canvas/image) and every conversion goes
through ``core.geometry.canvas_to_image`` / ``image_to_canvas``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any

from core import geometry
from core.domain import LabelClass, Source, TaskType

MIN_BOX_PX = 1.0  # a drag smaller than this (image pixels) is an accidental click, not a box


def initial_payload(
    task: TaskType, annotation_payload: dict[str, Any] | None, proposal: dict[str, Any] | None
) -> dict[str, Any]:
    """Where the labeler starts: the current label, else a shown proposal, else nothing."""
    if annotation_payload:
        return copy.deepcopy(annotation_payload)
    if proposal:
        return strip_scores(task, proposal)
    return empty(task)


def empty(task: TaskType) -> dict[str, Any]:
    return {
        TaskType.MULTICLASS: {},
        TaskType.MULTILABEL: {"class_ids": []},
        TaskType.BOXES: {"boxes": []},
        TaskType.POLYGONS: {"polygons": []},
    }[TaskType(task)]


def strip_scores(task: TaskType, payload: dict[str, Any]) -> dict[str, Any]:
    """A proposal as a label: the model's per-object scores dropped."""
    task = TaskType(task)
    if task is TaskType.MULTICLASS:
        return {"class_id": payload["class_id"]} if "class_id" in payload else {}
    if task is TaskType.MULTILABEL:
        return {"class_ids": sorted(payload.get("class_ids", []))}
    key = objects_key(task)
    field = "xywh" if task is TaskType.BOXES else "points"
    return {key: [{"class_id": o["class_id"], field: copy.deepcopy(o[field])} for o in payload.get(key, [])]}


def objects_key(task: TaskType) -> str:
    return "boxes" if TaskType(task) is TaskType.BOXES else "polygons"


def toggle_class(class_ids: Iterable[int], class_id: int) -> list[int]:
    """Multi-label: add the class when absent, remove it when present."""
    ids = set(class_ids)
    ids ^= {class_id}
    return sorted(ids)


def _round(values: Iterable[float]) -> list[float]:
    return [round(float(v), 2) for v in values]


def canonical(task: TaskType, payload: dict[str, Any] | None) -> Any:
    """A comparable form of a payload (rounded, sorted), for 'did the labeler change anything'."""
    task = TaskType(task)
    payload = payload or {}
    if task is TaskType.MULTICLASS:
        return payload.get("class_id")
    if task is TaskType.MULTILABEL:
        return tuple(sorted(payload.get("class_ids", [])))
    if task is TaskType.BOXES:
        return tuple(sorted((b["class_id"], *_round(b["xywh"])) for b in payload.get("boxes", [])))
    return tuple(
        sorted(
            (p["class_id"], tuple(tuple(_round(pt)) for pt in p["points"]))
            for p in payload.get("polygons", [])
        )
    )


def source_for(task: TaskType, payload: dict[str, Any], proposal: dict[str, Any] | None) -> Source:
    """A proposal saved unchanged is accepted (``prelabel``); anything else is the labeler's (``human``)."""
    if proposal and canonical(task, payload) == canonical(task, proposal):
        return Source.PRELABEL
    return Source.HUMAN


# -- boxes on the canvas ------------------------------------------------------------------------


def canvas_boxes_to_payload(
    canvas_boxes: Sequence[dict[str, Any]],
    scale: float,
    classes: Sequence[LabelClass],
    default_class_id: int,
    image_wh: tuple[int, int],
) -> dict[str, Any]:
    """``CanvasResult.boxes`` (canvas pixels, ``label`` = class name) to a ``boxes`` payload.

    Boxes are clipped to the image; a box with an unknown label gets ``default_class_id``; one
    smaller than ``MIN_BOX_PX`` after clipping is dropped.
    """
    by_name = {c.name: c.id for c in classes}
    width, height = image_wh
    out = []
    for box in canvas_boxes:
        left, top = float(box["left"]), float(box["top"])
        corners = [[left, top], [left + float(box["width"]), top + float(box["height"])]]
        (x1, y1), (x2, y2) = geometry.canvas_to_image(corners, scale)
        xywh = geometry.clip_xywh(geometry.xyxy_to_xywh([x1, y1, x2, y2]), width, height)
        if xywh[2] < MIN_BOX_PX or xywh[3] < MIN_BOX_PX:
            continue
        out.append({"class_id": by_name.get(box.get("label", ""), default_class_id), "xywh": _round(xywh)})
    return {"boxes": out}


def payload_to_canvas_drawing(
    payload: dict[str, Any], scale: float, classes: Sequence[LabelClass], stroke_width: int = 2
) -> dict[str, Any]:
    """A ``boxes`` payload as the canvas's ``initial_drawing`` (``LabeledRect`` objects, canvas pixels)."""
    by_id = {c.id: c for c in classes}
    objects = []
    for box in payload.get("boxes", []):
        x, y, w, h = box["xywh"]
        (cx1, cy1), (cx2, cy2) = geometry.image_to_canvas([[x, y], [x + w, y + h]], scale)
        cls = by_id.get(box["class_id"])
        color = cls.color if cls else "#ffffff"
        objects.append(
            {
                "type": "LabeledRect",
                "label": cls.name if cls else "",
                "left": cx1,
                "top": cy1,
                "width": cx2 - cx1,
                "height": cy2 - cy1,
                "originX": "left",
                "originY": "top",
                "scaleX": 1,
                "scaleY": 1,
                "angle": 0,
                "stroke": color,
                "strokeWidth": stroke_width,
                "fill": hex_to_rgba(color, 0.12),
                "lockRotation": True,
                "strokeUniform": True,
            }
        )
    return {"objects": objects}


def hex_to_rgba(color: str, alpha: float) -> str:
    c = color.lstrip("#")
    if len(c) != 6:
        return f"rgba(255, 255, 255, {alpha})"
    r, g, b = (int(c[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r}, {g}, {b}, {alpha})"


# -- edits from the object list ------------------------------------------------------------------


def set_object_class(task: TaskType, payload: dict[str, Any], index: int, class_id: int) -> dict[str, Any]:
    key = objects_key(task)
    objs = copy.deepcopy(payload.get(key, []))
    if 0 <= index < len(objs):
        objs[index]["class_id"] = class_id
    return {key: objs}


def delete_object(task: TaskType, payload: dict[str, Any], index: int) -> dict[str, Any]:
    key = objects_key(task)
    objs = copy.deepcopy(payload.get(key, []))
    if 0 <= index < len(objs):
        del objs[index]
    return {key: objs}


def clean_polygons(raw: Any, class_ids: set[int], default_class_id: int) -> dict[str, Any]:
    """Polygons sent by the editor component (image pixels already) as a ``polygons`` payload."""
    out = []
    for poly in raw or []:
        pts = poly.get("points") if isinstance(poly, dict) else None
        if not isinstance(pts, list) or len(pts) < 3:
            continue
        cid = poly.get("class_id")
        out.append(
            {
                "class_id": cid if cid in class_ids else default_class_id,
                "points": [_round(p[:2]) for p in pts],
            }
        )
    return {"polygons": out}


# -- words ---------------------------------------------------------------------------------------


def describe(task: TaskType, payload: dict[str, Any] | None, classes: Sequence[LabelClass]) -> str:
    """A one-line summary of a payload for people (stale-save chooser, history)."""
    names = {c.id: c.name for c in classes}
    task = TaskType(task)
    payload = payload or {}
    if task is TaskType.MULTICLASS:
        cid = payload.get("class_id")
        return names.get(cid, "no class") if cid is not None else "no class"
    if task is TaskType.MULTILABEL:
        ids = payload.get("class_ids", [])
        return ", ".join(names.get(c, str(c)) for c in ids) if ids else "none of the classes"
    objs = payload.get(objects_key(task), [])
    noun = "box" if task is TaskType.BOXES else "polygon"
    if not objs:
        return f"no {noun}es" if noun == "box" else f"no {noun}s"
    counts: dict[str, int] = {}
    for o in objs:
        name = names.get(o["class_id"], str(o["class_id"]))
        counts[name] = counts.get(name, 0) + 1
    plural = f"{noun}es" if noun == "box" else f"{noun}s"
    return f"{len(objs)} {noun if len(objs) == 1 else plural}: " + ", ".join(
        f"{n} × {k}" for k, n in counts.items()
    )


def back_target(recent: Sequence[int], current: int | None) -> int | None:
    """The item "Back" opens: the one labeled or skipped before ``current`` (newest first list)."""
    if current is not None and current in recent:
        i = list(recent).index(current)
        return recent[i + 1] if i + 1 < len(recent) else None
    return recent[0] if recent else None
