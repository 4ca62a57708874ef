"""Hugging Face ``imagefolder`` layout: ``metadata.jsonl`` (+ the images), in a zip (or a folder).

``metadata.jsonl`` has a JSON line per image with ``file_name`` (the image beside it), ``width``,
``height`` and the label in the columns ``datasets`` expects:

* multi-class: ``label``, the class name (``null`` for an unlabeled image);
* multi-label: ``labels``, a list of class names;
* boxes: ``objects: {"bbox": [[x, y, w, h], ...], "categories": [index, ...]}`` (pixels from the
  top-left, COCO ``xywh``; ``categories`` are 0-based class indices, the order of ``classes.txt``);
* polygons: the same ``objects`` with ``segmentation: [[[x1, y1, x2, y2, ...]], ...]`` (one ring per
  object, COCO's flat list) and ``bbox`` the polygon's bounding box;
* ``annota``: item id, original path, status, author, source and whether it was labeled.

``classes.txt`` lists the class names in order, ``annota.json`` the task and class ids. With the
images included (``with_images``) the unzipped folder loads with
``datasets.load_dataset("imagefolder", data_dir=...)``; without them ``metadata.jsonl`` still holds
every label, and ``datasets`` needs the images put beside it under their ``file_name``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from core import geometry
from core.domain import TaskType
from core.formats.load_support import annota_record, list_names
from core.formats.records import (
    CategorySet,
    Dataset,
    ExportRecord,
    Issue,
    RecordProblem,
    SaveSummary,
    classification_payload,
    finite,
    image_class_ids,
    objects_of,
    read_meta,
    strict_dumps,
    write_all,
)
from core.formats.tree import ReadTree
from core.formats.tree_writer import TreeWriter

METADATA = "metadata.jsonl"


class ImageFolderWriter(TreeWriter):
    FORMAT = "imagefolder"

    def __init__(self, path: Path | str, task_type: TaskType | str, categories: CategorySet) -> None:
        super().__init__(path, task_type, categories)
        self._meta = self._spool.open(METADATA)

    def _label(self, payload: dict[str, Any] | None) -> tuple[dict[str, Any], int]:
        if self.task is TaskType.MULTICLASS:
            ids = image_class_ids(self.task, payload)
            return {"label": self.categories.name_of(ids[0]) if ids else None}, len(ids)
        if self.task is TaskType.MULTILABEL:
            names = [self.categories.name_of(c) for c in image_class_ids(self.task, payload)]
            return {"labels": names if payload is not None else None}, len(names)
        if payload is None:
            return {"objects": None}, 0
        objs = objects_of(self.task, payload)
        cats = [self.categories.index_of(o["class_id"]) for o in objs]
        if self.task is TaskType.BOXES:
            return {"objects": {"bbox": [finite(o["xywh"]) for o in objs], "categories": cats}}, len(objs)
        rings = [[v for p in o["points"] for v in finite(p)] for o in objs]
        bboxes = [geometry.polygon_bbox_xywh(o["points"]) for o in objs]
        return {"objects": {"bbox": bboxes, "segmentation": [[r] for r in rings], "categories": cats}}, len(
            objs
        )

    def write(self, record: ExportRecord) -> int:
        label, n = self._label(record.payload)
        row = {"file_name": record.file_name, "width": record.width, "height": record.height, **label,
               "annota": {"item_id": record.item_id, "path": record.path, "status": record.status,
                          "author": record.author, "source": record.source,
                          "labeled": record.payload is not None}}  # fmt: skip
        self._meta.write(strict_dumps(row) + "\n")
        return n

    def last_texts(self) -> dict[str, str]:
        return {"classes.txt": "".join(n + "\n" for n in self.categories.names), **super().last_texts()}


def save_imagefolder(
    path: Path | str, task_type: TaskType | str, categories: CategorySet, records: Iterable[ExportRecord]
) -> SaveSummary:
    """Write an imagefolder zip (``path`` ending ``.zip``) or folder (labels only; see ``with_images``)."""
    return write_all(ImageFolderWriter(path, task_type, categories), records)


# --- loading ---------------------------------------------------------------------------------------


def _task_of(rows: list[dict[str, Any]]) -> TaskType:
    for row in rows:
        objs = row.get("objects")
        if isinstance(objs, dict):
            return TaskType.POLYGONS if objs.get("segmentation") else TaskType.BOXES
    if any("labels" in row for row in rows):
        return TaskType.MULTILABEL
    return TaskType.MULTICLASS


def _payload(
    task: TaskType, row: dict[str, Any], cats: CategorySet, names_to_id: dict[str, int]
) -> dict[str, Any] | None:
    def by_name(name: Any) -> int:
        if str(name) not in names_to_id:
            raise RecordProblem(f"class name {name!r} is not a class of the export")
        return names_to_id[str(name)]

    if task is TaskType.MULTICLASS:
        return None if row.get("label") is None else classification_payload(task, [by_name(row["label"])])
    if task is TaskType.MULTILABEL:
        labels = row.get("labels")
        return None if labels is None else classification_payload(task, [by_name(n) for n in labels])
    objs = row.get("objects")
    if objs is None:
        return None
    indices = objs.get("categories") or []
    ids = [cats.id_at(int(k)) for k in indices]
    if task is TaskType.BOXES:
        boxes = objs.get("bbox") or []
        if len(boxes) != len(ids):
            raise RecordProblem(f"{len(boxes)} boxes but {len(ids)} categories")
        return {"boxes": [{"class_id": c, "xywh": finite(b)} for c, b in zip(ids, boxes, strict=True)]}
    segs = objs.get("segmentation") or []
    if len(segs) != len(ids):
        raise RecordProblem(f"{len(segs)} segmentations but {len(ids)} categories")
    polys = []
    for c, seg in zip(ids, segs, strict=True):
        for flat in seg:
            if len(flat) < 6 or len(flat) % 2:
                raise RecordProblem(
                    f"a polygon ring has {len(flat)} coordinates (needs an even number, at least 6)"
                )
            polys.append({"class_id": c, "points": [finite(flat[k : k + 2]) for k in range(0, len(flat), 2)]})
    return {"polygons": polys}


def load_imagefolder(path: Path | str, categories: CategorySet | None = None) -> Dataset:
    """Read an imagefolder zip or folder (its root ``metadata.jsonl``) back into pixel records."""
    with ReadTree(path) as tree:
        if not tree.exists(METADATA):
            raise ValueError(f"no {METADATA} at the top of {Path(path).name}")
        lines = tree.read_text(METADATA).splitlines()
        rows: list[tuple[int, dict[str, Any] | None]] = []
        bad: list[Issue] = []
        for k, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
                rows.append((k, value if isinstance(value, dict) else None))
            except ValueError as exc:
                bad.append(Issue(f"{METADATA} line {k}: not JSON ({exc})", None, ""))
        good = [r for _, r in rows if r is not None]
        if tree.exists("annota.json"):
            task, file_cats = read_meta(tree.read_text("annota.json"))
        else:
            task = _task_of(good)
            names = (
                [n for n in tree.read_text("classes.txt").splitlines() if n]
                if tree.exists("classes.txt")
                else []
            )
            for row in good:  # class names used but not listed
                for n in [row.get("label")] if task is TaskType.MULTICLASS else row.get("labels") or []:
                    if n is not None and str(n) not in names:
                        names.append(str(n))
            file_cats = CategorySet.from_names(names)
    ids = file_cats.remap_by_name(categories)
    out_cats = categories if categories is not None else file_cats
    names_to_id = {c.name: ids[c.id] for c in file_cats}
    mapped = CategorySet.of((ids[c.id], c.name) for c in file_cats)
    ds = Dataset(task, out_cats, issues=bad)
    for k, line_row in rows:
        row = line_row or {}
        try:
            if line_row is None:
                raise RecordProblem("not a JSON object")
            meta = row.get("annota") or {}
            name = str(row["file_name"])
            payload = _payload(task, row, mapped, names_to_id)
            if payload is None and meta.get("labeled") and task is TaskType.MULTILABEL:
                payload = {"class_ids": []}
            width, height = int(row.get("width") or 0), int(row.get("height") or 0)
            ds.records.append(annota_record(name, width, height, payload, meta))
        except (RecordProblem, KeyError, TypeError, ValueError) as exc:
            reason = f"missing field {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc)
            ds.issues.append(
                Issue(f"{METADATA} line {k}: {reason}", None, str((row or {}).get("file_name", "")))
            )
    return ds


def sniff_imagefolder(path: Path) -> bool:
    return METADATA in list_names(path)
