"""JSON lines and CSV as label sources.

* JSON lines: annota's export, a row per image ``{file_name, width, height, task_type, label}`` with
  ``label`` in the payload shape, each class id beside its name (``core.formats.tabular``);
* CSV, annota's export: the same columns, ``label`` the JSON text;
* CSV ``image,label``: the image's (relative) path and its class, or several classes joined by ``;``
  (multi-label); an image on several rows has every class of its rows (multi-label). A header row (``image,label``, ``filename,labels``, ...) is recognised and skipped;
  an empty label is an image labeled with no class (multi-label "none of these").

Each bad row is an issue with its line number; the other rows are read.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from core.domain import TaskType
from core.formats.label_mapping import with_categories
from core.formats.load_support import (
    LabelRecord,
    LoadError,
    SizeLookup,
    error_text,
    first_json_line,
    head,
    is_image_name,
    issue,
)
from core.formats.records import CategorySet, Dataset, RecordProblem
from core.formats.tabular import row_fields, row_payload

SIMPLE_HEADERS = {"image", "images", "file", "filename", "file_name", "path", "image_path", "name"}


def sniff_jsonl(path: Path) -> bool:
    if not path.is_file() or path.suffix.lower() not in (".jsonl", ".ndjson", ".json"):
        return False
    row = first_json_line(path)
    return row is not None and "file_name" in row and "label" in row


def sniff_csv(path: Path) -> bool:
    if not path.is_file() or path.suffix.lower() not in (".csv", ".tsv", ".txt"):
        return False
    rows = list(csv.reader(io.StringIO(head(path, 8192))))
    rows = [r for r in rows if r]
    if not rows:
        return False
    if {"file_name", "label", "task_type"} <= {c.strip() for c in rows[0]}:
        return True
    return len(rows[0]) >= 2 and (
        rows[0][0].strip().lower() in SIMPLE_HEADERS or is_image_name(rows[0][0].strip())
    )


def _annota_row(rel: str, line_no: int, row: dict[str, Any], seen: dict[int, str], ds: Dataset) -> None:
    task = TaskType(row.get("task_type") or ds.task_type)
    if task is not ds.task_type:
        raise RecordProblem(f"row task {task.value} differs from {ds.task_type.value}")
    payload = row_payload(task, row, None, seen)
    ds.records.append(
        LabelRecord(
            file_name=str(row["file_name"]), width=int(row.get("width") or 0), height=int(row.get("height") or 0),
            payload=payload, origin=rel, **row_fields(row),
        )
    )  # fmt: skip


def _first_task(rows: list[tuple[int, Any]]) -> TaskType:
    for _, row in rows:
        if isinstance(row, dict) and row.get("task_type") in {t.value for t in TaskType}:
            return TaskType(row["task_type"])
    return TaskType.MULTILABEL


def load_jsonl(
    path: Path, categories: CategorySet | None = None, *, sizes: SizeLookup | None = None
) -> Dataset:
    path = Path(path)
    rows: list[tuple[int, Any]] = []
    bad: list[tuple[int, str]] = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rows.append((n, json.loads(line)))
            except json.JSONDecodeError as exc:
                bad.append((n, f"malformed JSON at column {exc.colno}: {exc.msg}"))
    if not rows:
        raise LoadError(
            f"{path.name}: no JSON row could be read" + (f" (line {bad[0][0]}: {bad[0][1]})." if bad else ".")
        )
    ds = Dataset(_first_task(rows), CategorySet([]))
    ds.issues.extend(issue(f"{path.name} line {n}", why) for n, why in bad)
    seen: dict[int, str] = {}
    for n, row in rows:
        try:
            if not isinstance(row, dict):
                raise RecordProblem("the row is not a JSON object")
            _annota_row(path.name, n, row, seen, ds)
        except (RecordProblem, KeyError, TypeError, ValueError) as exc:
            ds.issues.append(
                issue(
                    f"{path.name} line {n}",
                    error_text(exc),
                    str(row.get("file_name", "")) if isinstance(row, dict) else "",
                )
            )
    ds.categories = CategorySet.of(sorted(seen.items()))
    return with_categories(ds, categories)


def load_csv(
    path: Path, categories: CategorySet | None = None, *, sizes: SizeLookup | None = None
) -> Dataset:
    path = Path(path)
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as fh:
        text = fh.read()
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    lines = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    if not lines:
        raise LoadError(f"{path.name}: the file is empty.")
    header = [c.strip() for c in lines[0]]
    if {"file_name", "label", "task_type"} <= set(header):
        return _load_annota_csv(path, header, lines, categories)
    return _load_simple_csv(path, lines, categories)


def _load_annota_csv(
    path: Path, header: list[str], lines: list[list[str]], categories: CategorySet | None
) -> Dataset:
    rows = [(n, dict(zip(header, cells, strict=False))) for n, cells in enumerate(lines[1:], 2) if cells]
    ds = Dataset(_first_task(rows), CategorySet([]))
    seen: dict[int, str] = {}
    for n, row in rows:
        try:
            parsed: dict[str, Any] = dict(row)
            try:
                parsed["label"] = json.loads(row["label"]) if row.get("label") else None
            except json.JSONDecodeError as exc:
                raise RecordProblem(f"the label column is malformed JSON ({exc.msg})") from None
            _annota_row(path.name, n, parsed, seen, ds)
        except (RecordProblem, KeyError, TypeError, ValueError) as exc:
            ds.issues.append(issue(f"{path.name} line {n}", error_text(exc), row.get("file_name", "")))
    ds.categories = CategorySet.of(sorted(seen.items()))
    return with_categories(ds, categories)


def _load_simple_csv(path: Path, lines: list[list[str]], categories: CategorySet | None) -> Dataset:
    start = 1 if lines[0] and lines[0][0].strip().lower() in SIMPLE_HEADERS else 0
    names: dict[str, int] = {}
    parsed: dict[str, list[str]] = {}  # image -> its labels (an image on several rows: all of them)
    ds = Dataset(TaskType.MULTICLASS, CategorySet([]))
    for n, cells in enumerate(lines[start:], start + 1):
        if not cells or not any(c.strip() for c in cells):
            continue
        image = cells[0].strip()
        if not image:
            ds.issues.append(issue(f"{path.name} line {n}", "the image column is empty"))
            continue
        if len(cells) > 2:
            ds.issues.append(issue(f"{path.name} line {n}", f"{len(cells)} columns; expected image,label "
                                   "(quote a label that holds a comma)", image))  # fmt: skip
            continue
        labels = [c.strip() for c in (cells[1] if len(cells) > 1 else "").split(";") if c.strip()]
        for label in labels:
            names.setdefault(label, len(names) + 1)
        parsed.setdefault(image, []).extend(labels)
    multi = any(len(labels) != 1 for labels in parsed.values())
    ds.task_type = TaskType.MULTILABEL if multi else TaskType.MULTICLASS
    for image, labels in parsed.items():
        ids = sorted({names[x] for x in labels})
        payload = {"class_ids": ids} if multi else {"class_id": ids[0]}
        ds.records.append(LabelRecord(file_name=image, width=0, height=0, payload=payload, origin=path.name))
    ds.categories = CategorySet.of((i, n) for n, i in names.items())
    return with_categories(ds, categories)
