"""YOLO (Ultralytics layout), labels only, in a zip (or a folder).

* ``data.yaml``: ``nc``, ``names`` (index -> class name, in the project's class order) and ``task``
  (``detect``, ``segment`` or ``classify``).
* detection: ``labels/<image stem>.txt``, a line ``<index> <cx> <cy> <w> <h>`` per box, normalised
  by the image size (6 decimals);
* segmentation: ``labels/<image stem>.txt``, a line ``<index> <x1> <y1> <x2> <y2> ...`` per polygon,
  normalised;
* a labeled image with no objects gets an empty label file (a background image); an unlabeled one
  (``include: "all"``) gets none;
* classification (multi-class and multi-label): YOLO's folder-per-class layout needs the image files
  in class folders, and annota does not copy images. Instead ``lists/<class name>.txt`` lists the
  file names of that class's images, one a line: the folder-per-class layout as file lists (a
  multi-label image is in several lists). ``manifest.csv`` lists every exported image.
* ``manifest.csv`` (``file_name, item_id, path, width, height, status, author, source, labeled``)
  maps each file name to the original image and its size; ``annota.json`` keeps the task and the
  class ids so ``load_yolo`` gives back annota's ids exactly.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

from core import geometry
from core.domain import TaskType
from core.formats.records import (
    MANIFEST_COLUMNS,
    CategorySet,
    Dataset,
    ExportRecord,
    Issue,
    RecordProblem,
    SaveSummary,
    classification_payload,
    finite,
    image_class_ids,
    manifest_record,
    manifest_row,
    read_manifest,
    read_meta,
    safe_names,
    write_all,
)
from core.formats.tree import ReadTree
from core.formats.tree_writer import TreeWriter

MAX_LABEL_BYTES = 16 * 1024 * 1024  # one image's label file (about 300,000 boxes); larger is reported

YOLO_TASK = {TaskType.BOXES: "detect", TaskType.POLYGONS: "segment", TaskType.MULTICLASS: "classify",
             TaskType.MULTILABEL: "classify"}  # fmt: skip


def _n(v: float) -> str:
    return f"{v:.6f}"


def data_yaml(task: TaskType, categories: CategorySet) -> str:
    lines = [
        f"# annota export ({task.value}): labels only; the images stay where they are (see manifest.csv)",
        "path: .",
        "train: images",
        "val: images",
        f"task: {YOLO_TASK[task]}",
        f"nc: {len(categories)}",
        "names:",
        *(f"  {k}: {json.dumps(c.name, ensure_ascii=False)}" for k, c in enumerate(categories)),
    ]
    return "\n".join(lines) + "\n"


def parse_data_yaml(text: str) -> tuple[str | None, list[str]]:
    """``task`` and ``names`` of a data.yaml. ``names`` in any of YAML's forms Ultralytics files use:
    the block mapping (``  0: cat``), the block list (``  - cat``), the flow list (``[cat, 'dog']``) and
    the flow mapping (``{0: cat, 1: dog}``); names may be quoted or bare."""
    task: str | None = None
    names: dict[int, str] = {}
    block = False
    for raw in text.splitlines():
        line = _strip_comment(raw).rstrip()
        if not line.strip():
            continue
        if block and raw[:1] in (" ", "\t", "-"):
            item = line.strip()
            m = re.match(r"^(\d+)\s*:\s*(.*)$", item)
            if m:
                names[int(m.group(1))] = _scalar(m.group(2))
                continue
            if item.startswith("-"):
                names[len(names)] = _scalar(item[1:])
                continue
        block = False
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "task":
            task = _scalar(value)
        elif key == "names":
            if value.startswith("["):
                names = dict(enumerate(_scalar(v) for v in _flow_items(value, "[", "]")))
            elif value.startswith("{"):
                names = {}
                for entry in _flow_items(value, "{", "}"):
                    k, sep, v = entry.partition(":")
                    if not sep or not k.strip().isdigit():
                        raise ValueError(f"data.yaml: names entry {entry!r} is not 'index: name'")
                    names[int(k.strip())] = _scalar(v)
            else:
                names, block = {}, True
    return task, [names[k] for k in sorted(names)]


def _strip_comment(line: str) -> str:
    """The line without a ``#`` comment (a ``#`` inside quotes is kept)."""
    quote = ""
    for k, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (k == 0 or line[k - 1] in " \t"):
            return line[:k]
    return line


def _flow_items(value: str, open_: str, close: str) -> list[str]:
    """The comma-separated entries of a one-line YAML flow list or mapping (quotes respected)."""
    body = value.strip()
    if not body.endswith(close):
        raise ValueError(f"data.yaml: names {value!r} does not end with {close!r} (one line expected)")
    body = body[len(open_) : -len(close)]
    items, cur, quote = [], "", ""
    for ch in body:
        if quote:
            cur += ch
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
            cur += ch
        elif ch == ",":
            items.append(cur)
            cur = ""
        else:
            cur += ch
    items.append(cur)
    return [i.strip() for i in items if i.strip()]


def _scalar(value: str) -> str:
    value = value.strip()
    if value.startswith('"'):
        return str(json.loads(value))
    if value.startswith("'") and value.endswith("'"):
        return value[1:-1].replace("''", "'")
    return value


class YoloWriter(TreeWriter):
    FORMAT = "yolo"

    def __init__(self, path: Path | str, task_type: TaskType | str, categories: CategorySet) -> None:
        super().__init__(path, task_type, categories)
        self._manifest = self._spool.open("manifest.csv", newline="")
        self._manifest.write(",".join(MANIFEST_COLUMNS) + "\n")
        self._lists: list[IO[str]] = []
        if self.task.is_classification:
            self._lists = [self._spool.open(f"lists/{s}.txt") for s in safe_names(categories.names)]

    def _lines(self, record: ExportRecord) -> list[str]:
        w, h = record.width, record.height
        lines = []
        key = "boxes" if self.task is TaskType.BOXES else "polygons"
        for obj in (record.payload or {}).get(key, []):
            idx = self.categories.index_of(obj["class_id"])
            if self.task is TaskType.BOXES:
                coords = geometry.xywh_to_cxcywh_norm(obj["xywh"], w, h)
            else:
                coords = [v / (w if k % 2 == 0 else h) for p in obj["points"] for k, v in enumerate(p)]
            lines.append(" ".join([str(idx), *(_n(v) for v in finite(coords))]))
        return lines

    def write(self, record: ExportRecord) -> int:
        if record.width <= 0 or record.height <= 0:
            raise RecordProblem(f"image size {record.width} x {record.height} cannot normalise coordinates")
        n = 0
        if record.payload is not None:
            if self.task.is_classification:
                idxs = [self.categories.index_of(c) for c in image_class_ids(self.task, record.payload)]
                for k in idxs:
                    self._lists[k].write(record.file_name + "\n")
                n = len(idxs)
            else:
                lines = self._lines(record)
                self.tree.write_text(f"labels/{record.stem}.txt", "".join(line + "\n" for line in lines))
                n = len(lines)
        self._manifest.write(manifest_row(record))
        return n

    def last_texts(self) -> dict[str, str]:
        return {"data.yaml": data_yaml(self.task, self.categories), **super().last_texts()}


def save_yolo(
    path: Path | str, task_type: TaskType | str, categories: CategorySet, records: Iterable[ExportRecord]
) -> SaveSummary:
    """Write a YOLO zip (``path`` ending ``.zip``) or folder."""
    return write_all(YoloWriter(path, task_type, categories), records)


def _parse_label(text: str, task: TaskType, file_cats: CategorySet, w: int, h: int) -> dict[str, Any]:
    objs: list[dict[str, Any]] = []
    for line_no, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        cid = file_cats.id_at(int(parts[0]))
        values = [float(v) for v in parts[1:]]
        if task is TaskType.BOXES:
            if len(values) != 4:
                raise RecordProblem(f"line {line_no} has {len(values)} numbers; a box needs 4")
            objs.append({"class_id": cid, "xywh": geometry.cxcywh_norm_to_xywh(values, w, h)})
        else:
            if len(values) < 6 or len(values) % 2:
                raise RecordProblem(
                    f"line {line_no} has {len(values)} numbers; a polygon needs an even number >= 6"
                )
            pts = [[values[k] * w, values[k + 1] * h] for k in range(0, len(values), 2)]
            objs.append({"class_id": cid, "points": pts})
    return {"boxes" if task is TaskType.BOXES else "polygons": objs}


def load_yolo(
    path: Path | str,
    categories: CategorySet | None = None,
    sizes: Mapping[str, tuple[int, int]] | None = None,
) -> Dataset:
    """Read a YOLO zip or folder back into pixel records.

    Image sizes come from ``manifest.csv`` or ``sizes`` (label file stem -> (width, height)); label files of
    images with no known size are reported. With ``categories``, class names are matched to those ids.
    """
    with ReadTree(path) as tree:
        yaml_task, names = (
            parse_data_yaml(tree.read_text("data.yaml")) if tree.exists("data.yaml") else (None, [])
        )
        if tree.exists("annota.json"):
            task, file_cats = read_meta(tree.read_text("annota.json"))
        else:
            by_yolo = {
                "detect": TaskType.BOXES,
                "segment": TaskType.POLYGONS,
                "classify": TaskType.MULTILABEL,
            }
            task, file_cats = (
                by_yolo.get(yaml_task or "detect", TaskType.BOXES),
                CategorySet.from_names(names),
            )
        ids = file_cats.remap_by_name(categories)
        manifest = read_manifest(tree.read_text("manifest.csv")) if tree.exists("manifest.csv") else {}
        issues: list[Issue] = []
        records: list[ExportRecord] = []
        if task.is_classification:
            classes: dict[str, list[int]] = {}
            for cat, rel in zip(
                file_cats, [f"lists/{s}.txt" for s in safe_names(file_cats.names)], strict=True
            ):
                if tree.exists(rel):
                    for name in tree.read_text(rel).splitlines():
                        if name:
                            classes.setdefault(name, []).append(ids[cat.id])
            rows = manifest or {
                n: {"file_name": n, "width": "0", "height": "0", "labeled": "1"} for n in classes
            }
            for name, row in rows.items():
                try:
                    labeled = row.get("labeled", "1") != "0"
                    payload = classification_payload(task, classes.get(name, [])) if labeled else None
                    records.append(manifest_record(row, payload))
                except (RecordProblem, ValueError) as exc:
                    issues.append(Issue(str(exc), None, name))
            return Dataset(task, categories if categories is not None else file_cats, records, issues)
        geo_task = TaskType.POLYGONS if task is TaskType.POLYGONS else TaskType.BOXES
        labels = {
            rel[len("labels/") : -len(".txt")]: rel for rel in tree.names("labels/") if rel.endswith(".txt")
        }
        entries = [(name, posixpath.splitext(name)[0], row) for name, row in manifest.items()]
        if not manifest:
            for stem in labels:
                size = (sizes or {}).get(stem)
                if size is None:
                    issues.append(Issue("no image size known (no manifest.csv and not in sizes)", None, stem))
                    continue
                entries.append(
                    (stem, stem, {"file_name": stem, "width": str(size[0]), "height": str(size[1])})
                )
        for name, stem, row in entries:
            try:
                label_rel = labels.get(stem)
                payload = None
                if label_rel is not None:
                    payload = _parse_label(
                        tree.read_text(label_rel, MAX_LABEL_BYTES),
                        geo_task,
                        file_cats,
                        int(row["width"]),
                        int(row["height"]),
                    )
                    key = "boxes" if geo_task is TaskType.BOXES else "polygons"
                    payload = {key: [{**o, "class_id": ids[o["class_id"]]} for o in payload[key]]}
                records.append(manifest_record(row, payload))
            except (RecordProblem, ValueError, KeyError) as exc:
                issues.append(Issue(str(exc), None, name))
        return Dataset(geo_task, categories if categories is not None else file_cats, records, issues)
