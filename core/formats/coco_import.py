"""COCO JSON as a label source: any ``instances``-style file, annota's own export included.

* boxes: ``bbox`` ``[x, y, w, h]`` pixels; polygons: ``segmentation`` rings (each ring a polygon of the
  annotation's class); an **RLE** segmentation (``{"counts": ..., "size": [h, w]}``, compressed or
  not) is decoded and traced into polygons (``core.assist.polygonize``), one per part of the mask;
* ``iscrowd: 1`` is kept on each object as ``"iscrowd": 1``; ``score`` (a model's detections) too;
* annotations with no geometry are image-level classes (annota's classification export);
* the task: ``info.annota_task_type`` when annota wrote the file, else polygons when any annotation has a
  segmentation, boxes when any has a bbox, multi-label otherwise.

Each bad annotation is an issue naming the file and the annotation id; the image keeps its other
annotations. A file that is not JSON at all is a ``LoadError`` with the line and column.
"""

from __future__ import annotations

import json
import posixpath
import zipfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from core.domain import TaskType
from core.formats.label_mapping import with_categories
from core.formats.load_support import (
    LabelRecord,
    LoadError,
    SizeLookup,
    error_text,
    head,
    issue,
)
from core.formats.records import CategorySet, Dataset, RecordProblem, classification_payload


def sniff(path: Path) -> bool:
    if path.is_file() and path.suffix.lower() == ".json":
        text = head(path, 1 << 16).lstrip()
        return text.startswith("{") and '"images"' in text
    return bool(_json_names(path)) if path.is_dir() or path.suffix.lower() == ".zip" else False


def _json_names(path: Path) -> list[str]:
    """COCO files inside a folder or a zip (names relative to it)."""
    if path.is_dir():
        return sorted(p.relative_to(path).as_posix() for p in path.rglob("*.json") if sniff(p))
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            out = []
            for name in zf.namelist():
                if name.lower().endswith(".json") and not posixpath.basename(name).startswith("."):
                    with zf.open(name) as fh:
                        text = fh.read(1 << 16).decode("utf-8", "replace").lstrip()
                    if text.startswith("{") and '"images"' in text:
                        out.append(name)
            return out
    return []


def _documents(path: Path) -> list[tuple[str, bytes]]:
    if path.is_file() and path.suffix.lower() == ".json":
        return [(path.name, path.read_bytes())]
    names = _json_names(path)
    if not names:
        raise LoadError(f'{path.name}: no COCO JSON file (with an "images" list) in it.')
    if path.is_dir():
        return [(n, (path / n).read_bytes()) for n in names]
    with zipfile.ZipFile(path) as zf:
        return [(n, zf.read(n)) for n in names]


# --- RLE -------------------------------------------------------------------------------------------


def rle_counts(counts: Any) -> list[int]:
    """Run lengths of an RLE: a list as is, or pycocotools' compressed string decoded."""
    if isinstance(counts, list):
        return [int(c) for c in counts]
    if not isinstance(counts, str):
        raise RecordProblem("RLE counts are neither a list nor a string")
    out: list[int] = []
    p = 0
    while p < len(counts):
        x, k, more = 0, 0, True
        while more:
            if p >= len(counts):
                raise RecordProblem("RLE counts string ends in the middle of a number")
            c = ord(counts[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(out) > 2:
            x += out[-2]
        out.append(x)
    return out


def rle_mask(rle: dict[str, Any]) -> np.ndarray:
    """The boolean mask (height x width) of an RLE segmentation."""
    size = rle.get("size")
    if not isinstance(size, list) or len(size) != 2:
        raise RecordProblem("RLE has no size [height, width]")
    h, w = int(size[0]), int(size[1])
    counts = np.asarray(rle_counts(rle.get("counts")), dtype=np.int64)
    if (counts < 0).any() or counts.sum() != h * w:
        raise RecordProblem(f"RLE runs cover {int(counts.sum())} pixels, not {h} x {w}")
    values = np.zeros(len(counts), dtype=bool)
    values[1::2] = True
    return np.repeat(values, counts).reshape((w, h)).T  # column-major, as COCO stores it


def _rle_polygons(rle: dict[str, Any]) -> list[list[list[float]]]:
    from core.assist.polygonize import mask_to_polygons

    polys = mask_to_polygons(rle_mask(rle), min_area=1.0, max_vertices=64)
    if not polys:
        raise RecordProblem("the RLE mask is empty")
    return polys


# --- reading ---------------------------------------------------------------------------------------


def _rings(segmentation: Any) -> list[list[list[float]]]:
    if isinstance(segmentation, dict):
        return _rle_polygons(segmentation)
    if not isinstance(segmentation, list) or not segmentation:
        raise RecordProblem("has no segmentation")
    rings = []
    for flat in segmentation:
        if not isinstance(flat, list) or len(flat) < 6 or len(flat) % 2:
            n = len(flat) if isinstance(flat, list) else 0
            raise RecordProblem(f"a polygon ring has {n} coordinates (needs an even number, at least 6)")
        rings.append([[float(flat[k]), float(flat[k + 1])] for k in range(0, len(flat), 2)])
    return rings


def _task_of(data: dict[str, Any]) -> TaskType:
    declared = (
        (data.get("info") or {}).get("annota_task_type") if isinstance(data.get("info"), dict) else None
    )
    if declared in {t.value for t in TaskType}:
        return TaskType(declared)
    anns = [a for a in data.get("annotations") or [] if isinstance(a, dict)]
    if any(a.get("segmentation") for a in anns):
        return TaskType.POLYGONS
    if any(a.get("bbox") for a in anns):
        return TaskType.BOXES
    return TaskType.MULTILABEL


def _objects(task: TaskType, ann: dict[str, Any], cid: int) -> list[dict[str, Any]]:
    extra: dict[str, Any] = {}
    if ann.get("score") is not None:
        extra["score"] = float(ann["score"])
    if ann.get("iscrowd"):
        extra["iscrowd"] = 1
    if task is TaskType.BOXES:
        bbox = ann.get("bbox")
        if not isinstance(bbox, list) or len(bbox) != 4:
            raise RecordProblem("has no bbox [x, y, width, height]")
        return [{"class_id": cid, "xywh": [float(v) for v in bbox], **extra}]
    return [{"class_id": cid, "points": ring, **extra} for ring in _rings(ann.get("segmentation"))]


class _Classes:
    """The classes of every file read, by name (two files may number them differently)."""

    def __init__(self) -> None:
        self.by_name: dict[str, int] = {}

    def read(self, rel: str, cats: Any, ds: Dataset) -> dict[Any, int]:
        """This file's category id -> the loaded class id."""
        ids: dict[Any, int] = {}
        for k, cat in enumerate(cats if isinstance(cats, list) else []):
            try:
                name, cid = str(cat["name"]), cat["id"]
            except (KeyError, TypeError) as exc:
                ds.issues.append(issue(f"{rel} categories[{k}]", error_text(exc)))
                continue
            if name not in self.by_name:
                taken = set(self.by_name.values())
                self.by_name[name] = (
                    cid if isinstance(cid, int) and cid not in taken else max(taken, default=0) + 1
                )
            ids[cid] = self.by_name[name]
        return ids


def load(path: Path, categories: CategorySet | None = None, *, sizes: SizeLookup | None = None) -> Dataset:
    docs = _documents(Path(path))
    ds = Dataset(TaskType.MULTILABEL, CategorySet([]))
    classes = _Classes()
    tasks = []
    for rel, raw in docs:
        try:
            data = json.loads(raw)
        except UnicodeDecodeError as exc:
            problem = f"{rel}: not UTF-8 text ({exc.reason})"
        except json.JSONDecodeError as exc:
            problem = f"{rel}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        else:
            problem = "" if isinstance(data, dict) and isinstance(data.get("images"), list) else (
                f"{rel}: not a COCO file (no \"images\" list)"
            )  # fmt: skip
        if problem:
            if len(docs) == 1:
                raise LoadError(problem)
            ds.issues.append(issue(rel, problem.split(": ", 1)[1]))
            continue
        task = _task_of(data)
        tasks.append(task)
        _read_document(rel, data, task, classes.read(rel, data.get("categories"), ds), ds)
    if len(set(tasks)) > 1:
        raise LoadError(
            f"{Path(path).name}: the files hold different tasks ({', '.join(t.value for t in tasks)})."
        )
    ds.task_type = tasks[0] if tasks else TaskType.MULTILABEL
    file_cats = CategorySet.of(sorted((i, n) for n, i in classes.by_name.items()))
    ds.categories = file_cats
    return with_categories(ds, categories)


def _read_document(rel: str, data: dict[str, Any], task: TaskType, ids: dict[Any, int], ds: Dataset) -> None:
    images: dict[Any, dict[str, Any]] = {}
    for k, img in enumerate(data["images"]):
        if not isinstance(img, dict) or "id" not in img or "file_name" not in img:
            ds.issues.append(issue(f"{rel} images[{k}]", "an image needs an id and a file_name"))
            continue
        images[img["id"]] = img
    by_image: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for k, ann in enumerate(data.get("annotations") or []):
        where = f"{rel} annotation {ann.get('id', f'#{k + 1}') if isinstance(ann, dict) else f'#{k + 1}'}"
        if not isinstance(ann, dict):
            ds.issues.append(issue(where, "is not an object"))
            continue
        img = images.get(ann.get("image_id"))
        if img is None:
            ds.issues.append(issue(where, f"image_id {ann.get('image_id')!r} is not in images"))
            continue
        by_image[img["id"]].append(ann)
    for image_id, img in images.items():
        file_name = str(img["file_name"])
        meta: dict[str, Any] = img["annota"] if isinstance(img.get("annota"), dict) else {}
        anns = by_image.get(image_id, [])
        objs: list[dict[str, Any]] = []
        class_ids: list[int] = []
        for ann in anns:
            where = f"{rel} annotation {ann.get('id', '?')}"
            cid = ids.get(ann.get("category_id"))
            if cid is None:
                ds.issues.append(issue(where, f"unknown category_id {ann.get('category_id')!r}", file_name))
                continue
            try:
                if task.is_classification:
                    class_ids.append(cid)
                else:
                    objs.extend(_objects(task, ann, cid))
            except (RecordProblem, TypeError, ValueError) as exc:
                ds.issues.append(issue(where, error_text(exc), file_name))
        try:
            if not anns and not meta.get("labeled"):
                payload = None
            elif task.is_classification:
                payload = classification_payload(task, class_ids)
            else:
                payload = {"boxes" if task is TaskType.BOXES else "polygons": objs}
            width, height = int(img.get("width") or 0), int(img.get("height") or 0)
        except (RecordProblem, TypeError, ValueError) as exc:
            ds.issues.append(issue(f"{rel} image {image_id}", error_text(exc), file_name))
            continue
        ds.records.append(
            LabelRecord(
                file_name=file_name, width=width, height=height, payload=payload, path=str(meta.get("path") or ""),
                item_id=meta.get("item_id"), status=str(meta.get("status") or "labeled"), author=meta.get("author"),
                source=meta.get("source"), origin=rel,
            )
        )  # fmt: skip
