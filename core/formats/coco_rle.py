"""COCO JSON with masks as RLE (``coco-rle``): the COCO writer's file, each polygon's
``segmentation`` a run-length encoded mask instead of a point list.

``segmentation`` is ``{"size": [height, width], "counts": "<compressed RLE>"}`` as pycocotools
writes it (``mask.encode`` of the polygon rasterised by ``mask.frPyObjects``), ``area`` the mask's
pixel count and ``bbox`` the mask's bounding box, ``iscrowd: 0``. pycocotools reads it
(``COCO(path).annToMask``); detectron2 and mmdetection accept RLE objects. Only polygon projects
have masks: the others are refused (their COCO export is plain COCO).

``load_coco_rle`` reads RLE (compressed or uncompressed ``counts``) and polygon segmentations: a mask
becomes one polygon per connected region (its outer contour, as ``core.formats.masks`` does), so the
round trip is exact in mask pixels and the coordinates come back on the pixel grid.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from core.domain import TaskType
from core.formats.coco import CocoWriter, load_coco
from core.formats.masks import mask_objects
from core.formats.records import CategorySet, Dataset, RecordProblem, SaveSummary, write_all


def polygon_rle(flat_rings: list[list[float]], width: int, height: int) -> dict[str, Any]:
    from pycocotools import mask as mask_utils

    rle = mask_utils.merge(mask_utils.frPyObjects(flat_rings, height, width))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def rle_mask(segmentation: dict[str, Any]) -> Any:
    """The boolean mask of an RLE segmentation (compressed or uncompressed ``counts``)."""
    from pycocotools import mask as mask_utils

    h, w = (int(v) for v in segmentation["size"])
    counts = segmentation["counts"]
    rle = mask_utils.frPyObjects(segmentation, h, w) if isinstance(counts, list) else {
        "size": [h, w], "counts": counts.encode("ascii") if isinstance(counts, str) else counts}  # fmt: skip
    return mask_utils.decode(rle)


class CocoRleWriter(CocoWriter):
    def __init__(self, path: Path | str, task_type: TaskType | str, categories: CategorySet) -> None:
        if TaskType(task_type) is not TaskType.POLYGONS:
            raise ValueError(
                f"COCO with RLE masks needs a polygon project; a {TaskType(task_type).display_name.lower()} "
                "project has no masks. Export it as plain COCO."
            )
        super().__init__(path, task_type, categories)
        self._size = (0, 0)

    def write(self, record: Any) -> int:
        if record.payload and (record.width <= 0 or record.height <= 0):
            raise RecordProblem(f"image size {record.width} x {record.height} cannot hold a mask")
        self._size = (record.width, record.height)
        return super().write(record)

    def _annotations(self, image_id: int, payload: dict[str, Any]) -> list[dict[str, Any]]:
        from pycocotools import mask as mask_utils

        anns = super()._annotations(image_id, payload)
        w, h = self._size
        for ann in anns:
            rle = polygon_rle(ann["segmentation"], w, h)
            coded = {"size": rle["size"], "counts": rle["counts"].encode("ascii")}
            ann["segmentation"] = rle
            ann["area"] = int(mask_utils.area(coded))
            ann["bbox"] = [float(v) for v in mask_utils.toBbox(coded)]
        return anns


def save_coco_rle(
    path: Path | str, task_type: TaskType | str, categories: CategorySet, records: Iterable[Any]
) -> SaveSummary:
    return write_all(CocoRleWriter(path, task_type, categories), records)


def load_coco_rle(path: Path | str, categories: CategorySet | None = None) -> Dataset:
    """Read a COCO file whose segmentations may be RLE: each mask becomes polygons (its regions)."""
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    value_of = {1: 0}
    bad: list[tuple[Any, str]] = []
    for ann in data.get("annotations", []):
        seg = ann.get("segmentation")
        if isinstance(seg, dict):
            try:
                objs = mask_objects(TaskType.POLYGONS, rle_mask(seg).astype("uint8"), value_of)
            except (KeyError, TypeError, ValueError) as exc:
                bad.append((ann.get("image_id"), f"annotation {ann.get('id')}: RLE not readable ({exc})"))
                objs = []
            ann["segmentation"] = [[v for p in o["points"] for v in p] for o in objs]
    with tempfile.NamedTemporaryFile("w", suffix=".json", encoding="utf-8", delete=False) as tmp:
        json.dump(data, tmp)
    try:
        ds = load_coco(tmp.name, categories)
    finally:
        Path(tmp.name).unlink(missing_ok=True)
    if bad:
        from core.formats.records import Issue

        ds.issues += [Issue(msg, None, "") for _, msg in bad]
    return ds


def sniff_coco_rle(path: Path) -> bool:
    if not (path.is_file() and path.suffix.lower() == ".json"):
        return False
    with open(path, encoding="utf-8", errors="replace") as fh:
        text = fh.read(1 << 20)
    return text.lstrip().startswith("{") and '"images"' in text and '"counts"' in text
