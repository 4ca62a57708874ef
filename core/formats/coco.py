"""COCO JSON (``instances``-style), written as a stream.

Geometry:

* boxes: ``bbox`` is pixel ``[x, y, w, h]`` from the top-left (annota's ``xywh``), ``area = w * h``;
* polygons: ``segmentation`` is ``[[x1, y1, x2, y2, ...]]`` (one ring, image pixels), ``bbox`` its
  bounding box, ``area`` its shoelace area;
* every annotation has ``iscrowd: 0`` and a ``category_id`` from ``categories``: ids from 1 in the
  project's class order (``annota_id`` on each category keeps annota's class id for loading back).

Classification projects (multi-class and multi-label) become **image-level annotations**: one
annotation per (image, class) with ``image_id``, ``category_id``, ``iscrowd: 0`` and ``area: 0``, and
no ``bbox`` and no ``segmentation``. pycocotools loads such a file (``COCO(path)``, ``getAnnIds``,
``getImgIds(catIds=...)`` all work; ``annToMask`` does not apply). A multi-label image labeled
"none of these" has no annotations.

annota adds, and foreign readers ignore: ``info.annota_task_type``, and per image an ``annota``
object ``{item_id, path, status, author, source, labeled}`` (``labeled`` tells an image that was
labeled with nothing apart from an unlabeled one in an ``include: "all"`` export).

The writer streams: the images array goes to the output as records come, the annotations to a
temporary file beside it, appended when the writer closes. Memory stays constant.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from core import geometry
from core.domain import TaskType
from core.formats.records import (
    CategorySet,
    Dataset,
    ExportRecord,
    Issue,
    RecordProblem,
    SaveSummary,
    classification_payload,
    discard,
    image_class_ids,
    strict_dumps,
    write_all,
)
from core.formats.single_file import SingleFileWriter

_dumps = strict_dumps  # NaN/infinity: a RecordProblem for that image, never bare NaN in the file


class CocoWriter(SingleFileWriter):
    TAIL = "]}\n"

    def __init__(self, path: Path | str, task_type: TaskType | str, categories: CategorySet) -> None:
        super().__init__(path, task_type, categories)
        self._anns: IO[str] = tempfile.TemporaryFile("w+", encoding="utf-8", dir=self.path.parent)  # noqa: SIM115
        self._n_images = 0
        self._next_ann = 1
        self._next_image = 1
        info = {"description": "annota export", "version": "1.0", "annota_task_type": self.task.value}
        cats = [
            {"id": k + 1, "name": c.name, "supercategory": "", "annota_id": c.id}
            for k, c in enumerate(categories)
        ]
        self._out.write(f'{{"info":{_dumps(info)},"licenses":[],"categories":{_dumps(cats)},\n"images":[')

    def _annotations(self, image_id: int, payload: dict[str, Any]) -> list[dict[str, Any]]:
        """Every COCO annotation of one payload (raises ``RecordProblem`` before anything is written)."""
        out: list[dict[str, Any]] = []
        if self.task.is_classification:
            for cid in image_class_ids(self.task, payload):
                out.append({"image_id": image_id, "category_id": self.categories.index_of(cid) + 1, "iscrowd": 0,
                            "area": 0})  # fmt: skip
            return out
        key = "boxes" if self.task is TaskType.BOXES else "polygons"
        for obj in payload.get(key, []):
            cid = self.categories.index_of(obj["class_id"]) + 1  # COCO ids from 1 in class order
            if self.task is TaskType.BOXES:
                x, y, w, h = (float(v) for v in obj["xywh"])
                ann: dict[str, Any] = {"image_id": image_id, "category_id": cid, "bbox": [x, y, w, h],
                                       "area": round(w * h, 4), "iscrowd": 0}  # fmt: skip
            else:
                pts = obj["points"]
                flat = [float(v) for p in pts for v in p]
                bbox = [round(v, 4) for v in geometry.polygon_bbox_xywh(pts)]
                ann = {"image_id": image_id, "category_id": cid, "segmentation": [flat], "bbox": bbox,
                       "area": round(geometry.polygon_area(pts), 4), "iscrowd": 0}  # fmt: skip
            if obj.get("iscrowd"):
                ann["iscrowd"] = 1  # an imported crowd region keeps its flag
            if obj.get("score") is not None:
                ann["score"] = obj["score"]
            out.append(ann)
        return out

    def write(self, record: ExportRecord) -> int:
        image_id = record.item_id if record.item_id is not None else self._next_image
        self._next_image = max(self._next_image, image_id) + 1
        anns = self._annotations(image_id, record.payload) if record.payload else []
        image = {
            "id": image_id,
            "file_name": record.file_name,
            "width": record.width,
            "height": record.height,
            "annota": {"item_id": record.item_id, "path": record.path, "status": record.status,
                       "author": record.author, "source": record.source, "labeled": record.payload is not None},
        }  # fmt: skip
        image_text = _dumps(image)
        ann_texts = []  # every text made before anything is written: a problem leaves the files as they were
        for k, ann in enumerate(anns):
            ann["id"] = self._next_ann + k
            ann_texts.append(_dumps(ann))
        self._out.write(("," if self._n_images else "") + "\n" + image_text)
        self._n_images += 1
        for text in ann_texts:
            self._anns.write(("," if self._next_ann > 1 else "") + "\n" + text)
            self._next_ann += 1
        return len(anns)

    def close(self) -> list[Path]:
        self._out.write('],\n"annotations":[')
        self._anns.seek(0)
        shutil.copyfileobj(self._anns, self._out, 1 << 20)
        self._anns.close()
        return super().close()

    def abort(self) -> None:
        discard(self._part, self._out, self._anns)


def save_coco(
    path: Path | str, task_type: TaskType | str, categories: CategorySet, records: Iterable[ExportRecord]
) -> SaveSummary:
    return write_all(CocoWriter(path, task_type, categories), records)


def _task_of(data: dict[str, Any]) -> TaskType:
    declared = (data.get("info") or {}).get("annota_task_type")
    if declared:
        return TaskType(declared)
    anns = data.get("annotations") or []
    if any(a.get("segmentation") for a in anns):
        return TaskType.POLYGONS
    if any(a.get("bbox") for a in anns):
        return TaskType.BOXES
    return TaskType.MULTILABEL


def _rings(segmentation: Any) -> list[list[list[float]]]:
    if not isinstance(segmentation, list):
        raise RecordProblem("an RLE segmentation cannot be read as polygons")
    rings = []
    for flat in segmentation:
        if len(flat) < 6 or len(flat) % 2:
            raise RecordProblem(
                f"a polygon ring has {len(flat)} coordinates (needs an even number, at least 6)"
            )
        rings.append([[float(flat[k]), float(flat[k + 1])] for k in range(0, len(flat), 2)])
    return rings


def _payload(task: TaskType, anns: list[dict[str, Any]], ids: dict[int, int]) -> dict[str, Any] | None:
    def cid(a: dict[str, Any]) -> int:
        if a.get("category_id") not in ids:
            raise RecordProblem(f"annotation {a.get('id')} has unknown category {a.get('category_id')}")
        return ids[a["category_id"]]

    if task.is_classification:
        return classification_payload(task, [cid(a) for a in anns])
    if task is TaskType.BOXES:
        boxes = []
        for a in anns:
            box: dict[str, Any] = {"class_id": cid(a), "xywh": [float(v) for v in a["bbox"]]}
            if a.get("score") is not None:
                box["score"] = a["score"]
            boxes.append(box)
        return {"boxes": boxes}
    polys = []
    for a in anns:
        for ring in _rings(a.get("segmentation")):
            poly: dict[str, Any] = {"class_id": cid(a), "points": ring}
            if a.get("score") is not None:
                poly["score"] = a["score"]
            polys.append(poly)
    return {"polygons": polys}


def load_coco(path: Path | str, categories: CategorySet | None = None) -> Dataset:
    """Read a COCO file back into records. With ``categories``, classes are matched by name to those ids."""
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    task = _task_of(data)
    raw_cats = data.get("categories", [])
    file_cats = CategorySet.of((c.get("annota_id", c["id"]), c["name"]) for c in raw_cats)
    out = file_cats.remap_by_name(categories)
    ids = {c["id"]: out[c.get("annota_id", c["id"])] for c in raw_cats}  # file category id -> class id
    by_image: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for ann in data.get("annotations", []):
        by_image[ann.get("image_id")].append(ann)
    ds = Dataset(task, categories if categories is not None else file_cats)
    for img in data.get("images", []):
        meta = img.get("annota") or {}
        anns = by_image.get(img["id"], [])
        try:
            payload = _payload(task, anns, ids)
            if not anns and meta.get("labeled") is False:
                payload = None
        except (RecordProblem, KeyError, TypeError, ValueError) as exc:
            ds.issues.append(Issue(str(exc), meta.get("item_id"), img.get("file_name", "")))
            continue
        ds.records.append(
            ExportRecord(
                file_name=img["file_name"], width=int(img["width"]), height=int(img["height"]), payload=payload,
                path=meta.get("path") or "", item_id=meta.get("item_id"), status=meta.get("status") or "labeled",
                author=meta.get("author"), source=meta.get("source"),
            )
        )  # fmt: skip
    return ds
