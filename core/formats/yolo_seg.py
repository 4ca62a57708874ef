"""YOLO segmentation (Ultralytics ``segment`` layout), in a zip (or a folder).

The YOLO writer's layout (``data.yaml`` with ``task: segment``, ``labels/<image stem>.txt``,
``manifest.csv``, ``annota.json``; see ``core.formats.yolo``) with a line
``<class index> <x1> <y1> <x2> <y2> ...`` (normalised by the image size, 6 decimals) per object:

* polygons as they are;
* boxes as their four corners (top-left, top-right, bottom-right, bottom-left), so a detection
  project can train a segmentation model; ``annota.json`` keeps ``source_task: boxes`` and
  ``load_yolo_seg`` gives such a file back as boxes (the bounding box of each polygon).

With ``with_images`` the images go to ``images/<file name>`` beside ``labels/``: the unzipped folder
is what ``yolo segment train data=data.yaml`` reads. Classification projects are refused: YOLO
segmentation has shapes only.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from core import geometry
from core.domain import TaskType
from core.formats.masks import refuse_classification
from core.formats.records import CategorySet, Dataset, ExportRecord, SaveSummary, meta_json, write_all
from core.formats.tree import ReadTree
from core.formats.yolo import YoloWriter, data_yaml, load_yolo


def box_corners(xywh: list[float]) -> list[list[float]]:
    x, y, w, h = (float(v) for v in xywh)
    return [[x, y], [x + w, y], [x + w, y + h], [x, y + h]]


class YoloSegWriter(YoloWriter):
    FORMAT = "yolo-seg"

    def __init__(self, path: Path | str, task_type: TaskType | str, categories: CategorySet) -> None:
        self.source_task = TaskType(task_type)
        refuse_classification(self.source_task, "YOLO segmentation")
        super().__init__(path, TaskType.POLYGONS, categories)

    def write(self, record: ExportRecord) -> int:
        if self.source_task is TaskType.BOXES and record.payload is not None:
            polys = [
                {"class_id": b["class_id"], "points": box_corners(b["xywh"])} for b in record.payload["boxes"]
            ]
            record = replace(record, payload={"polygons": polys})
        return super().write(record)

    def last_texts(self) -> dict[str, str]:
        meta = meta_json(self.FORMAT, self.task, self.categories, source_task=self.source_task.value)
        return {"data.yaml": data_yaml(self.task, self.categories), "annota.json": meta}


def save_yolo_seg(
    path: Path | str, task_type: TaskType | str, categories: CategorySet, records: Iterable[ExportRecord]
) -> SaveSummary:
    """Write a YOLO segmentation zip (``path`` ending ``.zip``) or folder."""
    return write_all(YoloSegWriter(path, task_type, categories), records)


def load_yolo_seg(
    path: Path | str,
    categories: CategorySet | None = None,
    sizes: Mapping[str, tuple[int, int]] | None = None,
) -> Dataset:
    """Read a YOLO segmentation zip or folder: polygons, or boxes when annota wrote it from boxes."""
    with ReadTree(path) as tree:
        meta: dict[str, Any] = json.loads(tree.read_text("annota.json")) if tree.exists("annota.json") else {}
    ds = load_yolo(path, categories, sizes)
    if meta.get("source_task") != TaskType.BOXES.value:
        return ds
    ds.task_type = TaskType.BOXES
    ds.records = [
        r if r.payload is None else replace(r, payload={"boxes": [
            {"class_id": p["class_id"], "xywh": geometry.polygon_bbox_xywh(p["points"])}
            for p in r.payload["polygons"]]})
        for r in ds.records
    ]  # fmt: skip
    return ds


class _Sizes:
    """The registry's ``sizes(name)`` function as the mapping ``load_yolo`` reads."""

    def __init__(self, lookup: Callable[[str], tuple[int, int] | None]) -> None:
        self.lookup = lookup

    def get(self, stem: str, default: tuple[int, int] | None = None) -> tuple[int, int] | None:
        return self.lookup(stem) or default


def load(
    path: Path,
    categories: CategorySet | None = None,
    *,
    sizes: Callable[[str], tuple[int, int] | None] | None = None,
) -> Dataset:
    """The loader registry's entry (``core.formats.loaders``)."""
    return load_yolo_seg(path, categories, _Sizes(sizes) if sizes is not None else None)  # type: ignore[arg-type]


def sniff(path: Path) -> bool:
    """A YOLO layout whose ``annota.json`` says annota wrote it as ``yolo-seg``."""
    from core.formats.load_support import list_names

    names = list_names(path)
    if "annota.json" not in names:
        return False
    with ReadTree(path) as tree:
        return '"yolo-seg"' in tree.read_text("annota.json")
