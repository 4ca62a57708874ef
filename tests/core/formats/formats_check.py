"""Helpers for the format tests: save with one format, load back, compare geometry within rounding."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import CLASS_NAMES, sample_payload

from core import geometry
from core.domain import TaskType
from core.formats.coco import load_coco, save_coco
from core.formats.records import CategorySet, Dataset, ExportRecord, SaveSummary
from core.formats.tabular import load_csv, load_jsonl, save_csv, save_jsonl
from core.formats.voc import load_voc, save_voc
from core.formats.yolo import load_yolo, save_yolo

CATS = CategorySet.of([(7, CLASS_NAMES[0]), (3, CLASS_NAMES[1]), (11, CLASS_NAMES[2])])  # ids not 1..n


def sample_records(task: TaskType) -> list[ExportRecord]:
    """Six labeled images of 640 x 480 (``sample_payload`` with ``CATS``) and one unlabeled of 320 x 200."""
    recs = [
        ExportRecord(f"img_{k}.jpg", 640, 480, sample_payload(task, k, CATS.ids), f"/data/img_{k}.jpg", 100 + k,
                     author="ann", source="human")
        for k in range(6)
    ]  # fmt: skip
    recs.append(ExportRecord("unlabeled.jpg", 320, 200, None, "/data/unlabeled.jpg", 200, status="new"))
    return recs


Saver = Callable[[Path, TaskType, CategorySet, list[ExportRecord]], SaveSummary]
Loader = Callable[[Path], Dataset]

FORMATS: dict[str, tuple[str, Saver, Loader]] = {
    "coco": ("out.json", save_coco, load_coco),
    "jsonl": ("out.jsonl", save_jsonl, load_jsonl),
    "csv": ("out.csv", save_csv, load_csv),
    "yolo": ("out.zip", save_yolo, load_yolo),
    "voc": ("out.zip", save_voc, load_voc),
}


def tolerance(fmt: str, width: int, height: int) -> float:
    """How far a coordinate may move: YOLO keeps 6 decimals of a normalised value, VOC whole pixels (an edge
    by half a pixel, a width or height by one), the rest are exact."""
    if fmt == "voc":
        return 1.0 + 1e-9
    return 1e-6 * max(width, height) + 1e-9 if fmt == "yolo" else 1e-9


def roundtrip(fmt: str, tmp: Path, task: TaskType, cats: CategorySet, records: list[ExportRecord]) -> Dataset:
    name, save, load = FORMATS[fmt]
    summary = save(tmp / name, task, cats, records)
    assert summary.issues == []
    assert summary.images == len(records)
    return load(tmp / name)


def expected_payload(fmt: str, task: TaskType, payload: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a format can give back: VOC turns polygons into their bounding boxes."""
    if payload is not None and fmt == "voc" and task is TaskType.POLYGONS:
        return {"boxes": [{"class_id": p["class_id"], "xywh": geometry.polygon_bbox_xywh(p["points"])}
                          for p in payload["polygons"]]}  # fmt: skip
    return payload


def assert_same_payload(fmt: str, task: TaskType, want: dict[str, Any] | None, got: dict[str, Any] | None,
                        width: int, height: int) -> None:  # fmt: skip
    want = expected_payload(fmt, task, want)
    if want is None or got is None or task.is_classification:
        assert got == want
        return
    tol = tolerance(fmt, width, height)
    (key,) = want.keys()
    assert list(got) == [key]
    assert len(got[key]) == len(want[key])
    for a, b in zip(want[key], got[key], strict=True):
        assert a["class_id"] == b["class_id"]
        coords_a = a["xywh"] if key == "boxes" else [v for p in a["points"] for v in p]
        coords_b = b["xywh"] if key == "boxes" else [v for p in b["points"] for v in p]
        assert len(coords_a) == len(coords_b)
        for va, vb in zip(coords_a, coords_b, strict=True):
            assert abs(va - vb) <= tol + 1e-9 * abs(va), (fmt, coords_a, coords_b)
