"""JSON lines and CSV: one row per image.

Both carry the same fields: ``item_id, file_name, path, width, height, status, author, source,
task_type`` and ``label``, the current annotation payload (``null``/empty when the image has no
label) with each class id joined by its name, so a row reads on its own:

* multi-class ``{"class_id": 3, "class": "cat"}``
* multi-label ``{"class_ids": [1, 4], "classes": ["cat", "dog"]}``
* boxes ``{"boxes": [{"class_id": 1, "class": "cat", "xywh": [x, y, w, h]}]}`` (pixels)
* polygons ``{"polygons": [{"class_id": 1, "class": "cat", "points": [[x, y], ...]}]}`` (pixels)

In CSV, ``label`` is that object as compact JSON text and ``classes`` lists the class names of the
row, joined by ``;`` (for a spreadsheet filter).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from core.domain import TaskType
from core.formats.records import (
    CategorySet,
    Dataset,
    ExportRecord,
    Issue,
    RecordProblem,
    SaveSummary,
    image_class_ids,
    objects_of,
    strict_dumps,
    write_all,
)
from core.formats.single_file import SingleFileWriter

_dumps = strict_dumps  # NaN/infinity: a RecordProblem for that row, never bare NaN in the file

CSV_COLUMNS = ["item_id", "file_name", "path", "width", "height", "status", "author", "source", "task_type",
               "classes", "label"]  # fmt: skip


def label_with_names(task: TaskType, payload: dict[str, Any], categories: CategorySet) -> dict[str, Any]:
    """The payload with class names beside class ids (raises ``RecordProblem`` for an unknown class)."""
    if task is TaskType.MULTICLASS:
        if payload.get("class_id") is None:
            return {}
        return {"class_id": payload["class_id"], "class": categories.name_of(payload["class_id"])}
    if task is TaskType.MULTILABEL:
        ids = list(payload.get("class_ids", []))
        return {"class_ids": ids, "classes": [categories.name_of(c) for c in ids]}
    key = "boxes" if task is TaskType.BOXES else "polygons"
    return {key: [{"class_id": o["class_id"], "class": categories.name_of(o["class_id"]),
                   **{k: v for k, v in o.items() if k != "class_id"}} for o in payload.get(key, [])]}  # fmt: skip


def label_without_names(
    task: TaskType, label: dict[str, Any], categories: CategorySet | None
) -> tuple[dict[str, Any] | None, list[tuple[int, str]]]:
    """The payload back from a named label, and the (id, name) pairs it used.

    With ``categories``, names are matched to those ids (the file's ids are ignored).
    """
    pairs: list[tuple[int, str]] = []

    def cid(file_id: Any, name: Any) -> int:
        if categories is not None:
            return categories.id_of(str(name))
        if not isinstance(file_id, int):
            raise RecordProblem(f"class id {file_id!r} is not a number")
        pairs.append((file_id, str(name)))
        return file_id

    if task is TaskType.MULTICLASS:
        if label.get("class_id") is None:
            return None, pairs
        return {"class_id": cid(label["class_id"], label.get("class"))}, pairs
    if task is TaskType.MULTILABEL:
        ids, names = label.get("class_ids", []), label.get("classes", [])
        if len(ids) != len(names):
            raise RecordProblem("class_ids and classes differ in length")
        return {"class_ids": sorted({cid(i, n) for i, n in zip(ids, names, strict=True)})}, pairs
    key = "boxes" if task is TaskType.BOXES else "polygons"
    objs = [{**{k: v for k, v in o.items() if k != "class"}, "class_id": cid(o.get("class_id"), o.get("class"))}
            for o in label.get(key, [])]  # fmt: skip
    return {key: objs}, pairs


def row_payload(
    task: TaskType, row: dict[str, Any], categories: CategorySet | None, seen: dict[int, str]
) -> dict[str, Any] | None:
    """A row's ``label`` as a payload (None: no label). ``seen`` gathers the rows' class id -> name; an id
    named two ways is a ``RecordProblem``."""
    label = row.get("label")
    payload, pairs = (None, []) if label is None else label_without_names(task, label, categories)
    for cid, name in pairs:
        if seen.setdefault(cid, name) != name:
            raise RecordProblem(f"class {cid} is named both {seen[cid]!r} and {name!r}")
    return payload


def row_fields(row: dict[str, Any]) -> dict[str, Any]:
    """A row's record fields besides the file name, size and label: path, item id, status, author, source."""
    item_id = row.get("item_id")
    return {"path": row.get("path") or "", "item_id": int(item_id) if item_id not in (None, "") else None,
            "status": row.get("status") or "labeled", "author": row.get("author") or None,
            "source": row.get("source") or None}  # fmt: skip


def _row(task: TaskType, rec: ExportRecord, categories: CategorySet) -> dict[str, Any]:
    return {
        "item_id": rec.item_id, "file_name": rec.file_name, "path": rec.path, "width": rec.width,
        "height": rec.height, "status": rec.status, "author": rec.author, "source": rec.source,
        "task_type": task.value,
        "label": None if rec.payload is None else label_with_names(task, rec.payload, categories),
    }  # fmt: skip


def _n_labels(task: TaskType, rec: ExportRecord) -> int:
    """Objects (boxes, polygons) or image-level classes of a record, as COCO counts annotations."""
    return len(objects_of(task, rec.payload)) + len(image_class_ids(task, rec.payload))


class _TextWriter(SingleFileWriter):
    NEWLINE = ""  # the CSV writer ends its lines itself


class JsonlWriter(_TextWriter):
    def write(self, record: ExportRecord) -> int:
        row = _row(self.task, record, self.categories)
        self._out.write(_dumps(row) + "\n")
        return _n_labels(self.task, record)


class CsvWriter(_TextWriter):
    def __init__(self, path: Path | str, task_type: TaskType | str, categories: CategorySet) -> None:
        super().__init__(path, task_type, categories)
        self._csv = csv.writer(self._out, lineterminator="\n")
        self._csv.writerow(CSV_COLUMNS)

    def write(self, record: ExportRecord) -> int:
        row = _row(self.task, record, self.categories)
        label = row["label"]
        names: list[str] = []
        if label:
            if "class" in label:
                names = [label["class"]]
            elif "classes" in label:
                names = label["classes"]
            else:
                names = [o["class"] for o in next(iter(label.values()))]
        row["classes"] = ";".join(dict.fromkeys(names))
        row["label"] = "" if label is None else _dumps(label)
        self._csv.writerow(["" if row[c] is None else row[c] for c in CSV_COLUMNS])
        return _n_labels(self.task, record)


def save_jsonl(
    path: Path | str, task_type: TaskType | str, categories: CategorySet, records: Iterable[ExportRecord]
) -> SaveSummary:
    return write_all(JsonlWriter(path, task_type, categories), records)


def save_csv(
    path: Path | str, task_type: TaskType | str, categories: CategorySet, records: Iterable[ExportRecord]
) -> SaveSummary:
    return write_all(CsvWriter(path, task_type, categories), records)


def _load_rows(
    rows: Iterator[tuple[int, dict[str, Any]]],
    categories: CategorySet | None,
    task_type: TaskType | str | None,
) -> Dataset:
    task = TaskType(task_type) if task_type else None
    seen: dict[int, str] = {}
    records: list[ExportRecord] = []
    issues: list[Issue] = []
    for line_no, row in rows:
        try:
            declared = row.get("task_type") or task
            if not declared:
                raise RecordProblem("the row has no task_type")
            row_task = TaskType(declared)
            task = task or row_task
            if row_task is not task:
                raise RecordProblem(f"row task {row_task.value} differs from {task.value}")
            payload = row_payload(task, row, categories, seen)
            records.append(
                ExportRecord(file_name=str(row["file_name"]), width=int(row["width"]), height=int(row["height"]),
                             payload=payload, **row_fields(row))
            )  # fmt: skip
        except (RecordProblem, KeyError, TypeError, ValueError) as exc:
            issues.append(Issue(f"line {line_no}: {exc}", None, str(row.get("file_name", ""))))
    cats = categories if categories is not None else CategorySet.of(sorted(seen.items()))
    return Dataset(task or TaskType.MULTILABEL, cats, records, issues)


def load_jsonl(
    path: Path | str, categories: CategorySet | None = None, task_type: TaskType | str | None = None
) -> Dataset:
    """Read a JSON lines export back. Classes: from the names in the rows, or matched by name to ``categories``."""

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        with open(path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if line.strip():
                    yield n, json.loads(line)

    return _load_rows(rows(), categories, task_type)


def load_csv(
    path: Path | str, categories: CategorySet | None = None, task_type: TaskType | str | None = None
) -> Dataset:
    """Read a CSV export back (the ``label`` column is the JSON text of the named label)."""

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        with open(path, encoding="utf-8", newline="") as fh:
            for n, row in enumerate(csv.DictReader(fh), 2):
                parsed: dict[str, Any] = dict(row)
                parsed["label"] = json.loads(row["label"]) if row.get("label") else None
                yield n, parsed

    return _load_rows(rows(), categories, task_type)
