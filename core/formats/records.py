"""Typed records shared by every format: one ``ExportRecord`` per image, a ``CategorySet``, issues.

Writers take records one at a time (``FormatWriter.write``) so an export streams; loaders return a
``Dataset`` (records in memory: loading is for tests and imports, which are bounded by the file).
A problem with one record is a ``RecordProblem`` raised by the writer before it writes anything for
that record; the caller turns it into an ``Issue`` in the result, so nothing is skipped silently.
"""

from __future__ import annotations

import csv
import io
import json
import math
import posixpath
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from core.disk import remove_quietly
from core.domain import TaskType


@dataclass(frozen=True)
class Category:
    id: int
    name: str


class CategorySet:
    """The project's classes in their display order; ids are annota's class ids."""

    def __init__(self, categories: Iterable[Category]) -> None:
        self.categories: tuple[Category, ...] = tuple(categories)
        self._by_id = {c.id: c for c in self.categories}
        self._by_name = {c.name: c for c in self.categories}
        self._index = {c.id: k for k, c in enumerate(self.categories)}
        if len(self._by_id) != len(self.categories) or len(self._by_name) != len(self.categories):
            raise ValueError("class ids and names must be unique")

    @classmethod
    def of(cls, pairs: Iterable[tuple[int, str]]) -> CategorySet:
        return cls(Category(int(i), str(n)) for i, n in pairs)

    @classmethod
    def from_names(cls, names: Sequence[str], start: int = 1) -> CategorySet:
        return cls(Category(start + k, n) for k, n in enumerate(names))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CategorySet) and self.categories == other.categories

    def __hash__(self) -> int:
        return hash(self.categories)

    def __repr__(self) -> str:
        return f"CategorySet({list(self.categories)!r})"

    def __len__(self) -> int:
        return len(self.categories)

    def __iter__(self) -> Iterator[Category]:
        return iter(self.categories)

    @property
    def ids(self) -> list[int]:
        return [c.id for c in self.categories]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.categories]

    def name_of(self, class_id: int) -> str:
        cat = self._by_id.get(class_id)
        if cat is None:
            raise RecordProblem(f"class {class_id} is not a class of this project")
        return cat.name

    def id_of(self, name: str) -> int:
        cat = self._by_name.get(name)
        if cat is None:
            raise RecordProblem(f"class name {name!r} is not a class of this project")
        return cat.id

    def index_of(self, class_id: int) -> int:
        """0-based position (YOLO class index)."""
        idx = self._index.get(class_id)
        if idx is None:
            raise RecordProblem(f"class {class_id} is not a class of this project")
        return idx

    def id_at(self, index: int) -> int:
        if not 0 <= index < len(self.categories):
            raise RecordProblem(f"class index {index} is outside 0..{len(self.categories) - 1}")
        return self.categories[index].id

    def remap_by_name(self, target: CategorySet | None) -> dict[int, int]:
        """Class ids of this set to the ids of the same names in ``target`` (for loading into a project);
        with no ``target``, each id to itself."""
        if target is None:
            return {c.id: c.id for c in self.categories}
        return {c.id: target.id_of(c.name) for c in self.categories}


@dataclass(frozen=True)
class ExportRecord:
    """One image and its current label. ``payload`` is None for an unlabeled image."""

    file_name: str
    width: int
    height: int
    payload: dict[str, Any] | None = None
    path: str = ""
    item_id: int | None = None
    status: str = "labeled"
    author: str | None = None
    source: str | None = None

    @property
    def stem(self) -> str:
        return posixpath.splitext(self.file_name)[0]


@dataclass(frozen=True)
class Issue:
    """A record the export could not take as it was. ``level``: ``error`` (left out) or ``warning``."""

    message: str
    item_id: int | None = None
    file_name: str = ""
    level: str = "error"

    def as_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "item_id": self.item_id,
            "file_name": self.file_name,
            "message": self.message,
        }


class RecordProblem(ValueError):
    """Raised by a writer or loader for one record; the caller reports it as an ``Issue``."""


@dataclass
class Dataset:
    """What a loader read back: the task, the classes, the records and per-record issues."""

    task_type: TaskType
    categories: CategorySet
    records: list[ExportRecord] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)

    def by_file_name(self) -> dict[str, ExportRecord]:
        return {r.file_name: r for r in self.records}


@dataclass
class SaveSummary:
    """Counts of a ``save_*`` call."""

    paths: list[Path]
    images: int = 0
    annotations: int = 0
    issues: list[Issue] = field(default_factory=list)


class FormatWriter(Protocol):
    """A streaming writer: ``write`` one record (returns the objects written), then ``close``."""

    def write(self, record: ExportRecord) -> int: ...

    def close(self) -> list[Path]: ...

    def abort(self) -> None: ...


_strict = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def strict_dumps(value: Any) -> str:
    """Compact JSON that strict readers accept: a NaN or an infinity is a ``RecordProblem``, never a bare
    ``NaN`` in the file (Python's default would write one)."""
    try:
        return _strict(value)
    except ValueError as exc:
        raise RecordProblem("a coordinate or score is not a finite number (NaN or infinity)") from exc


def finite(values: Iterable[float], what: str = "a coordinate") -> list[float]:
    """The values as floats, or a ``RecordProblem`` if one is NaN or infinite."""
    out = [float(v) for v in values]
    if not all(math.isfinite(v) for v in out):
        raise RecordProblem(f"{what} is not a finite number (NaN or infinity)")
    return out


def discard(part: Path, *handles: Any) -> None:
    """An aborted writer's end: close its files, then delete ``part`` whatever happens.

    On a full disk, closing a file fails (its last buffered bytes cannot be written); the file is closed
    all the same and the partial file must still go, or it keeps the disk full."""
    for fh in handles:
        if fh is not None:
            with suppress(Exception):
                fh.close()
    remove_quietly(part)


def part_path(path: Path) -> Path:
    """Where a writer writes until it closes: ``<path>.part`` beside the target (its folder made), so a
    cancelled or failed export never leaves a file under the final name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(path.name + ".part")


def write_all(writer: FormatWriter, records: Iterable[ExportRecord]) -> SaveSummary:
    """Feed every record to a writer, collecting ``RecordProblem``s as issues; close it (abort on error)."""
    images = annotations = 0
    issues: list[Issue] = []
    try:
        for rec in records:
            try:
                annotations += writer.write(rec)
                images += 1
            except RecordProblem as exc:
                issues.append(Issue(str(exc), rec.item_id, rec.file_name))
    except BaseException:
        writer.abort()
        raise
    return SaveSummary(writer.close(), images, annotations, issues)


def objects_of(task_type: TaskType, payload: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Boxes or polygons of a payload (empty for classification)."""
    if not payload:
        return []
    if task_type is TaskType.BOXES:
        return list(payload.get("boxes", []))
    if task_type is TaskType.POLYGONS:
        return list(payload.get("polygons", []))
    return []


def image_class_ids(task_type: TaskType, payload: dict[str, Any] | None) -> list[int]:
    """The image-level classes of a classification payload."""
    if not payload:
        return []
    if task_type is TaskType.MULTICLASS:
        return [payload["class_id"]] if payload.get("class_id") is not None else []
    if task_type is TaskType.MULTILABEL:
        return list(payload.get("class_ids", []))
    return []


def classification_payload(task_type: TaskType, class_ids: Sequence[int]) -> dict[str, Any] | None:
    """The payload for image-level classes read back from a file (None: no label for multi-class)."""
    if task_type is TaskType.MULTICLASS:
        if not class_ids:
            return None
        if len(set(class_ids)) > 1:
            raise RecordProblem(f"a multi-class image has {len(set(class_ids))} classes")
        return {"class_id": int(class_ids[0])}
    return {"class_ids": sorted({int(c) for c in class_ids})}


def fmt_num(value: float, digits: int = 2) -> str:
    """A compact decimal: ``10``, ``10.5``, ``10.25`` (no exponent, no trailing zeros)."""
    text = f"{float(value):.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


MANIFEST_COLUMNS = [
    "file_name",
    "item_id",
    "path",
    "width",
    "height",
    "status",
    "author",
    "source",
    "labeled",
]


def manifest_row(rec: ExportRecord) -> str:
    """One CSV line of ``manifest.csv`` (multi-file formats keep the original paths and sizes there)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(
        [rec.file_name, "" if rec.item_id is None else rec.item_id, rec.path, rec.width, rec.height, rec.status,
         rec.author or "", rec.source or "", int(rec.payload is not None)]
    )  # fmt: skip
    return buf.getvalue()


def read_manifest(text: str) -> dict[str, dict[str, str]]:
    return {row["file_name"]: row for row in csv.DictReader(io.StringIO(text))}


def manifest_record(row: dict[str, str], payload: dict[str, Any] | None) -> ExportRecord:
    item_id = row.get("item_id")
    return ExportRecord(
        file_name=row["file_name"], width=int(row["width"]), height=int(row["height"]), payload=payload,
        path=row.get("path") or "", item_id=int(item_id) if item_id else None, status=row.get("status") or "labeled",
        author=row.get("author") or None, source=row.get("source") or None,
    )  # fmt: skip


def meta_json(fmt: str, task: TaskType, categories: CategorySet, **extra: str) -> str:
    """``annota.json`` of a multi-file export: the task and the class ids, for loading back exactly, then
    a format's ``extra`` keys (VOC's pixel convention, YOLO segmentation's source task)."""
    return json.dumps(
        {
            "format": fmt,
            "task_type": task.value,
            "categories": [{"id": c.id, "name": c.name} for c in categories],
            **extra,
        },
        indent=1,
        allow_nan=False,
    )


def read_meta(text: str) -> tuple[TaskType, CategorySet]:
    meta = json.loads(text)
    return TaskType(meta["task_type"]), CategorySet.of((c["id"], c["name"]) for c in meta["categories"])


def safe_names(names: Sequence[str]) -> list[str]:
    """Class names made safe for file names, unique (``a b`` -> ``a_b``; a repeat gets ``_2``)."""
    out: list[str] = []
    for name in names:
        base = re.sub(r"[^\w.-]+", "_", name).strip("._") or "class"
        cand, k = base, 2
        while cand in out:
            cand, k = f"{base}_{k}", k + 1
        out.append(cand)
    return out
