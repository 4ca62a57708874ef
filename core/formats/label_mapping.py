"""Class ids and task shapes of loaded labels: map a file's classes onto a project's, convert a task.

``remap_payload`` swaps class ids (a class with no target is a ``RecordProblem``); ``convert_payload``
turns a label of one task into another where that keeps its meaning: polygons to their bounding
boxes, boxes to 4-point polygons, objects to the image-level classes they show (multi-label, or
multi-class when every object has the same class).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from core import geometry
from core.domain import TaskType
from core.formats.load_support import issue, rectangle
from core.formats.records import CategorySet, Dataset, RecordProblem, classification_payload


def remap_payload(task: TaskType, payload: dict[str, Any], mapping: dict[int, int]) -> dict[str, Any]:
    def new(cid: Any) -> int:
        if cid not in mapping:
            raise RecordProblem(f"class {cid} has no class to go to")
        return mapping[cid]

    if task is TaskType.MULTICLASS:
        return {"class_id": new(payload["class_id"])} if payload.get("class_id") is not None else {}
    if task is TaskType.MULTILABEL:
        return {"class_ids": sorted({new(c) for c in payload.get("class_ids", [])})}
    key = "boxes" if task is TaskType.BOXES else "polygons"
    return {key: [{**o, "class_id": new(o.get("class_id"))} for o in payload.get(key, [])]}


def convert_payload(src: TaskType, dst: TaskType, payload: dict[str, Any]) -> dict[str, Any]:
    """A ``src`` label as a ``dst`` label (raises ``RecordProblem`` where it cannot be)."""
    if src is dst:
        return payload
    if src is TaskType.POLYGONS and dst is TaskType.BOXES:
        return {"boxes": [{**{k: v for k, v in o.items() if k != "points"},
                           "xywh": geometry.polygon_bbox_xywh(o["points"])} for o in payload.get("polygons", [])]}  # fmt: skip
    if src is TaskType.BOXES and dst is TaskType.POLYGONS:
        return {"polygons": [{**{k: v for k, v in o.items() if k != "xywh"},
                              "points": rectangle([float(v) for v in o["xywh"]])} for o in payload.get("boxes", [])]}  # fmt: skip
    if dst.is_classification:
        if src is TaskType.MULTICLASS:
            ids = [payload["class_id"]] if payload.get("class_id") is not None else []
        elif src is TaskType.MULTILABEL:
            ids = list(payload.get("class_ids", []))
        else:
            key = "boxes" if src is TaskType.BOXES else "polygons"
            ids = [o["class_id"] for o in payload.get(key, [])]
        out = classification_payload(dst, ids)
        if out is None:
            raise RecordProblem("the label has no class")
        return out
    raise RecordProblem(f"a {src.value} label cannot become a {dst.value} label")


def with_categories(ds: Dataset, categories: CategorySet | None) -> Dataset:
    """The dataset with its class ids matched by name to ``categories`` (None: unchanged)."""
    if categories is None:
        return ds
    mapping = {c.id: categories.id_of(c.name) for c in ds.categories if c.name in categories.names}
    kept = []
    for rec in ds.records:
        try:
            payload = None if rec.payload is None else remap_payload(ds.task_type, rec.payload, mapping)
            kept.append(replace(rec, payload=payload))
        except RecordProblem as exc:
            names = {c.id: c.name for c in ds.categories}
            missing = sorted(
                {names.get(i, str(i)) for i in _ids(ds.task_type, rec.payload)} - set(categories.names)
            )
            why = f"class {', '.join(missing)} is not a class of this project" if missing else str(exc)
            ds.issues.append(issue(getattr(rec, "origin", "") or rec.file_name, why, rec.file_name))
    ds.records = kept
    ds.categories = categories
    return ds


def _ids(task: TaskType, payload: dict[str, Any] | None) -> list[int]:
    from core.domain import payload_class_ids

    return payload_class_ids(task, payload)
