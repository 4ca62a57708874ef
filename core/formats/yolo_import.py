"""YOLO (Ultralytics or Darknet layout) as a label source: a folder or a zip.

* classes: ``data.yaml`` ``names`` (a list or an index mapping, ``core.formats.yolo.parse_data_yaml``),
  else ``classes.txt`` / ``obj.names`` (one name a line, line N = class N), else ``annota.json``;
* a label file ``labels/<...>/<stem>.txt`` (or any ``.txt`` beside the images) holds a line per object:
  ``<class> <cx> <cy> <w> <h>`` (a box; a 5th number is the model's confidence, kept as ``score``)
  or ``<class> <x1> <y1> <x2> <y2> ...`` (a polygon; an odd count ends with the confidence), all
  normalised to 0..1;
* the image is named by the label's path with ``labels`` made ``images`` and no extension
  (``images/train2017/000009``); the import matches it to the project's images by path, then by
  stem, and gives the size (``sizes``) to turn the coordinates into pixels. annota's own export
  names every image and its size in ``manifest.csv``;
* the task: ``task`` in ``data.yaml`` or ``annota.json``, else polygons when any line has more than
  5 numbers. A box line in a polygon file becomes a rectangle, a polygon line in a box file its box;
* an empty label file is an image labeled with no objects (a background image).

annota's classification layout (``lists/<class>.txt``) is read by ``core.formats.yolo.load_yolo``.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any

from core import geometry
from core.domain import TaskType
from core.formats.label_mapping import with_categories
from core.formats.load_support import (
    LabelRecord,
    LoadError,
    SizeLookup,
    error_text,
    is_image_name,
    issue,
    list_names,
    rectangle,
    strip_root,
)
from core.formats.records import CategorySet, Dataset, RecordProblem, read_manifest, read_meta
from core.formats.tree import ReadTree

CLASS_FILES = ("classes.txt", "obj.names", "labels.txt")
SKIP_TXT = {
    "classes.txt",
    "obj.names",
    "labels.txt",
    "readme.txt",
    "license.txt",
    "train.txt",
    "val.txt",
    "test.txt",
}


def sniff(path: Path) -> bool:
    if not (path.is_dir() or path.suffix.lower() == ".zip"):
        return False
    names = strip_root(list_names(path, 20_000))[1]
    has_classes = any(n == "data.yaml" or n.endswith("/data.yaml") or posixpath.basename(n) in CLASS_FILES[:2]
                      for n in names)  # fmt: skip
    has_labels = any(n.endswith(".txt") and ("/labels/" in f"/{n}" or n.startswith("lists/")) for n in names)
    return has_labels and (has_classes or any(n.startswith("labels/") for n in names))


def _image_name(label_rel: str) -> str:
    """``labels/train/x.txt`` -> ``images/train/x`` (no extension: the import matches by stem)."""
    parts = label_rel[: -len(".txt")].split("/")
    return "/".join("images" if p == "labels" else p for p in parts)


def _class_names(tree: ReadTree, prefix: str) -> tuple[str | None, list[str]]:
    from core.formats.yolo import parse_data_yaml

    yamls = sorted((n for n in tree.names(prefix) if posixpath.basename(n) == "data.yaml"), key=len)
    if yamls:
        task, names = parse_data_yaml(tree.read_text(yamls[0]))
        if names:
            return task, names
    for cls_file in CLASS_FILES:
        rel = prefix + cls_file
        if tree.exists(rel):
            return None, [line.strip() for line in tree.read_text(rel).splitlines() if line.strip()]
    return None, []


def load(path: Path, categories: CategorySet | None = None, *, sizes: SizeLookup | None = None) -> Dataset:
    path = Path(path)
    if not (path.is_dir() or path.suffix.lower() == ".zip"):
        raise LoadError(
            f"{path.name}: YOLO labels are a folder or a zip (with labels/ and data.yaml or classes.txt)."
        )
    with ReadTree(path) as tree:
        prefix, _ = strip_root(tree.names())
        if tree.exists(prefix + "annota.json"):
            task, file_cats = read_meta(tree.read_text(prefix + "annota.json"))
            if task.is_classification:
                from core.formats.yolo import load_yolo

                ds = load_yolo(path, categories)
                return ds
            yaml_task: str | None = "segment" if task is TaskType.POLYGONS else "detect"
        else:
            yaml_task, names = _class_names(tree, prefix)
            file_cats = CategorySet.from_names(names)
        manifest = (read_manifest(tree.read_text(prefix + "manifest.csv"))
                    if tree.exists(prefix + "manifest.csv") else {})  # fmt: skip
        label_rels = [n for n in tree.names(prefix) if n.endswith(".txt") and posixpath.basename(n) not in SKIP_TXT
                      and not n[len(prefix):].startswith("lists/")]  # fmt: skip
        texts = {rel: tree.read_text(rel) for rel in label_rels}
    if not texts and not manifest:
        raise LoadError(f"{path.name}: no YOLO label files (.txt) in it.")
    task = _task(yaml_task, texts.values())
    index_ids = file_cats.ids  # YOLO class index -> class id (annota's own, or 1.. in the file's order)
    ds = Dataset(task, file_cats)
    unknown: set[int] = set()
    rows = {posixpath.splitext(n)[0]: row for n, row in manifest.items()}
    for rel, text in texts.items():
        short = rel[len(prefix) :]
        stem_path = (
            short[len("labels/") : -len(".txt")] if short.startswith("labels/") else _image_name(short)
        )
        row = rows.pop(stem_path, None) if manifest else None
        name = row["file_name"] if row else _image_name(short)
        size = (int(row["width"]), int(row["height"])) if row else (sizes(name) if sizes else None)
        if size is None or size[0] <= 0 or size[1] <= 0:
            ds.issues.append(issue(rel, "no image of the project matches this label file, so its size is unknown",
                                   name, level="unmatched"))  # fmt: skip
            continue
        objs = []
        for line_no, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = _parse_line(line, task, size, len(index_ids))
                idx = obj["class_id"]
                if not index_ids:
                    unknown.add(idx)
                obj["class_id"] = index_ids[idx] if index_ids else idx + 1
                objs.append(obj)
            except (RecordProblem, ValueError) as exc:
                ds.issues.append(issue(f"{rel} line {line_no}", error_text(exc), name))
        key = "boxes" if task is TaskType.BOXES else "polygons"
        ds.records.append(_record(row, name, size, {key: objs}, rel))
    for row in rows.values():  # images annota exported without a label file: not labeled
        ds.records.append(
            _record(row, row["file_name"], (int(row["width"]), int(row["height"])), None, "manifest.csv")
        )
    if unknown:  # no class names anywhere: the classes are named by their index
        ds.categories = CategorySet.of((k + 1, str(k)) for k in sorted(unknown))
    return with_categories(ds, categories)


def _record(
    row: dict[str, str] | None, name: str, size: tuple[int, int], payload: Any, origin: str
) -> LabelRecord:
    row = row or {}
    return LabelRecord(
        file_name=name, width=size[0], height=size[1], payload=payload, path=row.get("path") or "",
        item_id=int(row["item_id"]) if row.get("item_id") else None, status=row.get("status") or "labeled",
        author=row.get("author") or None, source=row.get("source") or None, origin=origin,
    )  # fmt: skip


def _task(yaml_task: str | None, texts: Any) -> TaskType:
    if yaml_task == "segment":
        return TaskType.POLYGONS
    if yaml_task == "detect":
        return TaskType.BOXES
    for text in texts:
        for line in text.splitlines():
            if len(line.split()) > 6:
                return TaskType.POLYGONS
    return TaskType.BOXES


def _parse_line(line: str, task: TaskType, size: tuple[int, int], n_classes: int) -> dict[str, Any]:
    """One object of a label line, its ``class_id`` the YOLO class index (0-based)."""
    parts = line.split()
    try:
        idx = int(parts[0])
        values = [float(v) for v in parts[1:]]
    except ValueError:
        raise RecordProblem(f"{line.strip()[:40]!r} is not '<class> <numbers...>'") from None
    if idx < 0:
        raise RecordProblem(f"class index {idx} is negative")
    if n_classes and idx >= n_classes:
        raise RecordProblem(
            f"unknown class index {idx} (the file names {n_classes} classes, 0..{n_classes - 1})"
        )
    w, h = size
    extra: dict[str, Any] = {}
    if len(values) in (4, 5):
        if len(values) == 5:
            extra["score"] = values.pop()
        xywh = geometry.cxcywh_norm_to_xywh(values, w, h)
        if task is TaskType.BOXES:
            return {"class_id": idx, "xywh": xywh, **extra}
        return {"class_id": idx, "points": rectangle(xywh), **extra}
    if len(values) < 6:
        raise RecordProblem(f"{len(values)} numbers: a box needs 4, a polygon at least 6")
    if len(values) % 2:
        extra["score"] = values.pop()
    pts = [[values[k] * w, values[k + 1] * h] for k in range(0, len(values), 2)]
    if task is TaskType.POLYGONS:
        return {"class_id": idx, "points": pts, **extra}
    return {"class_id": idx, "xywh": geometry.polygon_bbox_xywh(pts), **extra}


__all__ = ["is_image_name", "load", "sniff"]
