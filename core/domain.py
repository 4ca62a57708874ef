"""Entities, task types and the validation of label payloads.

A payload is the JSON-able content of one annotation version, by task type:

* ``multiclass``: ``{"class_id": 3}``
* ``multilabel``: ``{"class_ids": [1, 4]}`` (may be empty: "none of these")
* ``boxes``: ``{"boxes": [{"class_id": 1, "xywh": [x, y, w, h]}, ...]}``
* ``polygons``: ``{"polygons": [{"class_id": 1, "points": [[x, y], ...]}, ...]}``

Objects may carry a ``score`` (a model's confidence) when they come from a proposal.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from typing import TYPE_CHECKING, Any

from core import geometry

if TYPE_CHECKING:
    from core.settings import ProjectSettings


class TaskType(StrEnum):
    MULTICLASS = "multiclass"
    MULTILABEL = "multilabel"
    BOXES = "boxes"
    POLYGONS = "polygons"

    @property
    def display_name(self) -> str:
        return {
            "multiclass": "Image classification (one class)",
            "multilabel": "Image classification (several classes)",
            "boxes": "Object detection (bounding boxes)",
            "polygons": "Instance segmentation (polygons)",
        }[self.value]

    @property
    def is_classification(self) -> bool:
        return self in (TaskType.MULTICLASS, TaskType.MULTILABEL)


class ItemStatus(StrEnum):
    NEW = "new"
    SKIPPED = "skipped"
    LABELED = "labeled"
    PRELABELED = "prelabeled"
    REVIEWED = "reviewed"


class Source(StrEnum):
    HUMAN = "human"
    PRELABEL = "prelabel"
    IMPORT = "import"


class Role(StrEnum):
    ADMIN = "admin"
    LABELER = "labeler"


class ProjectState(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"


class ValidationError(ValueError):
    """A payload, a project or a class that breaks a rule; the message is for the user."""


class NotFound(LookupError):
    """The thing asked for does not exist (any more)."""


@dataclass(frozen=True)
class LabelClass:
    id: int
    project_id: int
    name: str
    color: str
    hotkey: str | None
    ord: int


@dataclass(frozen=True)
class Project:
    id: int
    name: str
    description: str
    task_type: TaskType
    instructions: str
    instructions_url: str
    state: ProjectState
    created_at: datetime
    target_precision: float = 0.95
    settings: dict[str, Any] = field(default_factory=dict)  # as stored; read ``prefs``
    archived_at: datetime | None = None  # archived projects are read-only (core.store.admin)

    @cached_property
    def prefs(self) -> ProjectSettings:
        """The settings cleaned once (``core.settings``): every reader's typed view of ``settings``."""
        from core.settings import ProjectSettings

        return ProjectSettings.parse(self.settings)


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: Role
    display_name: str


@dataclass(frozen=True)
class Annotation:
    id: int
    item_id: int
    version: int
    parent_id: int | None
    author: str
    source: Source
    payload: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class Item:
    id: int
    project_id: int
    path: str
    width: int
    height: int
    sha1: str
    status: ItemStatus
    version: int
    created_at: datetime
    updated_at: datetime
    annotation: Annotation | None = None


PALETTE = [
    "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45",
    "#fabed4", "#469990", "#dcbeff", "#9a6324", "#800000", "#aaffc3", "#808000", "#000075",
]  # fmt: skip


def free_colors(taken: Iterable[str], n: int) -> list[str]:
    """``n`` automatic class colours: palette colours not in ``taken`` (nor given twice), in palette
    order; once the palette runs out, it starts over (colours repeat only then)."""
    used = {c.lower() for c in taken if c}
    out: list[str] = []
    for _ in range(n):
        free = [c for c in PALETTE if c not in used]
        color = free[0] if free else PALETTE[(len(used) + len(out)) % len(PALETTE)]
        used.add(color)
        out.append(color)
    return out


DEFAULT_HOTKEYS = list("1234567890") + list("qwertyuiop")
RESERVED_KEYS = {"enter", "s", "b", "z", "a", "n", "k", "escape"}
_COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")


def validate_project(name: str, class_names: Iterable[str]) -> None:
    if not name or not name.strip():
        raise ValidationError("A project needs a name.")
    names = [n.strip() for n in class_names if n and n.strip()]
    if len(names) < 2:
        raise ValidationError("A project needs at least two label classes.")
    lowered = [n.lower() for n in names]
    dupes = sorted({n for n in lowered if lowered.count(n) > 1})
    if dupes:
        raise ValidationError(f"Label class names must be unique; repeated: {', '.join(dupes)}.")


def validate_color(color: str) -> str:
    if not _COLOR_RE.match(color or ""):
        raise ValidationError(f"Colour {color!r} is not a #rrggbb colour.")
    return color.lower()


def validate_hotkey(hotkey: str | None) -> str | None:
    if hotkey is None or hotkey == "":
        return None
    key = hotkey.strip().lower()
    if len(key) != 1 or not key.isalnum():
        raise ValidationError(f"Hotkey {hotkey!r} must be one letter or digit.")
    if key in RESERVED_KEYS:
        raise ValidationError(f"Hotkey {key!r} is taken by a labeling action (s, b, a, n, k, z).")
    return key


def _class_id(obj: dict[str, Any], class_ids: set[int], what: str) -> int:
    cid = obj.get("class_id")
    if not isinstance(cid, int) or isinstance(cid, bool):
        raise ValidationError(f"{what} has no class.")
    if cid not in class_ids:
        raise ValidationError(f"{what} has class {cid}, which is not a class of this project.")
    return cid


def _numbers(values: Iterable[Any], what: str) -> list[float]:
    """Finite floats, or a ``ValidationError``: NaN and infinity are refused (a NaN box would be stored as
    a box of no size, a NaN point as bare ``NaN`` that strict JSON readers reject)."""
    out: list[float] = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | float | str):
            raise ValidationError(f"{what} has a coordinate that is not a number ({v!r}).")
        try:
            f = float(v)
        except ValueError:
            raise ValidationError(f"{what} has a coordinate that is not a number ({v!r}).") from None
        if not math.isfinite(f):
            raise ValidationError(f"{what} has a coordinate that is not a finite number ({v!r}).")
        out.append(f)
    return out


def _score(obj: dict[str, Any], what: str = "An object") -> dict[str, Any]:
    """The object's model ``score`` and its COCO ``iscrowd`` flag (kept from an import), where it has them."""
    crowd = {"iscrowd": 1} if obj.get("iscrowd") else {}
    if obj.get("score") is None:
        return crowd
    (score,) = _numbers([obj["score"]], f"{what}'s score")
    return {"score": round(score, 4), **crowd}


def validate_payload(
    task_type: TaskType | str, payload: dict[str, Any], width: int, height: int, class_ids: Iterable[int]
) -> dict[str, Any]:
    """Check a payload against the task type, the image size and the project's classes.

    Returns the payload normalised (floats rounded to 0.01 px, sorted class sets); raises
    ``ValidationError`` with a message for the labeler.
    """
    task = TaskType(task_type)
    ids = set(class_ids)
    if not isinstance(payload, dict):
        raise ValidationError("A label must be an object.")
    tol = 0.5  # half a pixel of slack for rounding on the canvas
    if task is TaskType.MULTICLASS:
        return {"class_id": _class_id(payload, ids, "The label")}
    if task is TaskType.MULTILABEL:
        raw = payload.get("class_ids")
        if not isinstance(raw, list | tuple):
            raise ValidationError("A multi-label answer is a list of classes.")
        out = sorted({_class_id({"class_id": c}, ids, "A label") for c in raw})
        return {"class_ids": out}
    if task is TaskType.BOXES:
        boxes = payload.get("boxes")
        if not isinstance(boxes, list):
            raise ValidationError("A detection answer is a list of boxes.")
        norm = []
        for i, box in enumerate(boxes, 1):
            cid = _class_id(box, ids, f"Box {i}")
            xywh = box.get("xywh")
            if not isinstance(xywh, list | tuple) or len(xywh) != 4:
                raise ValidationError(f"Box {i} needs x, y, width and height.")
            x, y, w, h = _numbers(xywh, f"Box {i}")
            if w <= 0 or h <= 0:
                raise ValidationError(f"Box {i} has no size ({w:.1f} x {h:.1f} px).")
            if x < -tol or y < -tol or x + w > width + tol or y + h > height + tol:
                raise ValidationError(f"Box {i} reaches outside the image ({width} x {height} px).")
            x, y, w, h = geometry.clip_xywh([x, y, w, h], width, height)
            norm.append(
                {"class_id": cid, "xywh": [round(v, 2) for v in (x, y, w, h)], **_score(box, f"Box {i}")}
            )
        return {"boxes": norm}
    polys = payload.get("polygons")
    if not isinstance(polys, list):
        raise ValidationError("A segmentation answer is a list of polygons.")
    norm = []
    for i, poly in enumerate(polys, 1):
        cid = _class_id(poly, ids, f"Polygon {i}")
        pts = poly.get("points")
        if not isinstance(pts, list | tuple) or len(pts) < 3:
            raise ValidationError(f"Polygon {i} needs at least 3 points.")
        clean = []
        for p in pts:
            if not isinstance(p, list | tuple) or len(p) != 2:
                raise ValidationError(f"Polygon {i} has a point that is not [x, y].")
            px, py = _numbers(p, f"Polygon {i}")
            if px < -tol or py < -tol or px > width + tol or py > height + tol:
                raise ValidationError(f"Polygon {i} reaches outside the image ({width} x {height} px).")
            clean.append([round(min(max(px, 0.0), width), 2), round(min(max(py, 0.0), height), 2)])
        if geometry.polygon_area(clean) <= 0:
            raise ValidationError(f"Polygon {i} has no area.")
        norm.append({"class_id": cid, "points": clean, **_score(poly, f"Polygon {i}")})
    return {"polygons": norm}


def payload_class_ids(task_type: TaskType | str, payload: dict[str, Any] | None) -> list[int]:
    """Every class a payload uses (with repeats for objects), for counts and filters."""
    if not payload:
        return []
    task = TaskType(task_type)
    if task is TaskType.MULTICLASS:
        return [payload["class_id"]] if "class_id" in payload else []
    if task is TaskType.MULTILABEL:
        return list(payload.get("class_ids", []))
    key = "boxes" if task is TaskType.BOXES else "polygons"
    return [o["class_id"] for o in payload.get(key, [])]


def empty_payload(task_type: TaskType | str) -> dict[str, Any]:
    task = TaskType(task_type)
    return {
        TaskType.MULTICLASS: {},
        TaskType.MULTILABEL: {"class_ids": []},
        TaskType.BOXES: {"boxes": []},
        TaskType.POLYGONS: {"polygons": []},
    }[task]
