"""Export a project from the store: streaming, constant memory, as the ``export`` job.

``iter_records`` reads items joined to their current annotation (``items.annotation_id``) in id
order, a window of ``CHUNK`` item ids per query, on its own cursor inside one read transaction (one
snapshot), so neither Python nor DuckDB ever holds all the rows; each
payload is validated again (a class may have been deleted since) and a payload that no longer
validates is left out **and reported**. File names are the images' base names; when two items share
one (compared without case), the first keeps it and the later ones are exported as
``<stem>__<item id><ext>`` with a warning, so label files never overwrite each other.

Job: ``runner.submit("export", {"format": "coco", "include": "labeled"}, project_id=...)``. The
result (``ExportResult.as_dict``) holds ``path`` (the file to offer for download), the counts and the
first issues; every issue is written beside the export as ``<name>.issues.jsonl``.
"""

from __future__ import annotations

import glob
import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core import domain
from core.config import Paths
from core.disk import as_disk_full, disk_full_in_words, remove_quietly
from core.domain import TaskType, User, ValidationError
from core.formats.coco import CocoWriter
from core.formats.coco_rle import CocoRleWriter
from core.formats.cvat import CvatWriter
from core.formats.imagefolder import ImageFolderWriter
from core.formats.labelstudio import LabelStudioWriter
from core.formats.leftovers import ISSUES, PART, remove_leftovers
from core.formats.masks import MasksWriter
from core.formats.records import CategorySet, ExportRecord, FormatWriter, Issue, RecordProblem, discard
from core.formats.spool import SPOOL_MARK
from core.formats.tabular import CsvWriter, JsonlWriter
from core.formats.voc import VocWriter
from core.formats.with_images import WithImages
from core.formats.yolo import YoloWriter
from core.formats.yolo_seg import YoloSegWriter
from core.jobs import JobContext, register
from core.permissions import SYSTEM, Action, require
from core.store.db import Store

WriterFactory = Callable[[Path, TaskType, CategorySet], FormatWriter]


@dataclass(frozen=True)
class FormatSpec:
    name: str
    title: str
    suffix: str
    writer: WriterFactory
    tasks: frozenset[TaskType] = frozenset(TaskType)  # the task types the format carries
    images: str | None = None  # where ``with_images`` puts the images in the zip (None: it cannot)


SHAPES = frozenset({TaskType.BOXES, TaskType.POLYGONS})
POLYGONS = frozenset({TaskType.POLYGONS})
FORMATS: dict[str, FormatSpec] = {
    "coco": FormatSpec("coco", "COCO JSON", ".json", CocoWriter),
    "jsonl": FormatSpec("jsonl", "JSON lines", ".jsonl", JsonlWriter),
    "csv": FormatSpec("csv", "CSV", ".csv", CsvWriter),
    "yolo": FormatSpec("yolo", "YOLO (zip)", ".zip", YoloWriter, images="images"),
    "voc": FormatSpec("voc", "Pascal VOC (zip)", ".zip", VocWriter, images="JPEGImages"),
    "yolo-seg": FormatSpec("yolo-seg", "YOLO segmentation (zip)", ".zip", YoloSegWriter, SHAPES, "images"),
    "coco-rle": FormatSpec("coco-rle", "COCO JSON, RLE masks", ".json", CocoRleWriter, POLYGONS),
    "masks": FormatSpec("masks", "PNG masks (zip)", ".zip", MasksWriter, SHAPES),
    "labelstudio": FormatSpec("labelstudio", "Label Studio JSON", ".json", LabelStudioWriter),
    "cvat": FormatSpec("cvat", "CVAT for images XML", ".xml", CvatWriter),
    "imagefolder": FormatSpec("imagefolder", "HF imagefolder (zip)", ".zip", ImageFolderWriter, images=""),
}
INCLUDE = ("labeled", "all")
MAX_ISSUES_IN_RESULT = 100
CHUNK = 5000
PROGRESS_EVERY = 1000  # records between progress reports (the job writes at most 4 a second)


@dataclass
class ExportResult:
    path: Path
    format: str
    include: str
    approved_only: bool = False  # only reviewer-approved items
    images: int = 0
    labeled: int = 0  # images with a label (the rest: unlabeled, in an ``include: "all"`` export)
    annotations: int = 0  # objects, or image-level classes for classification
    errors: int = 0
    warnings: int = 0
    issues: list[Issue] = field(default_factory=list)  # the first MAX_ISSUES_IN_RESULT
    issues_path: Path | None = None
    bytes: int = 0
    duration_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path), "format": self.format, "include": self.include, "bytes": self.bytes,
            "approved_only": self.approved_only,
            "counts": {"images": self.images, "labeled": self.labeled, "annotations": self.annotations,
                       "errors": self.errors, "warnings": self.warnings},
            "issues": [i.as_dict() for i in self.issues],
            "issues_path": str(self.issues_path) if self.issues_path else None,
            "duration_s": round(self.duration_s, 3),
        }  # fmt: skip


class _IssueLog:
    """Keeps the first issues in memory and streams all of them to a file (opened on the first)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.first: list[Issue] = []
        self.errors = self.warnings = 0
        self._fh: Any = None

    def add(self, issue: Issue) -> None:
        if issue.level == "error":
            self.errors += 1
        else:
            self.warnings += 1
        if len(self.first) < MAX_ISSUES_IN_RESULT:
            self.first.append(issue)
        if self._fh is None:
            self._fh = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 (closed in close)
        self._fh.write(json.dumps(issue.as_dict(), allow_nan=False) + "\n")

    def close(self) -> Path | None:
        if self._fh is None:
            return None
        self._fh.close()
        return self.path

    def discard(self) -> None:
        """A failed export's issue list goes with it (closing may fail on a full disk)."""
        discard(self.path, self._fh)


def project_task_and_categories(store: Store, project_id: int) -> tuple[str, TaskType, CategorySet]:
    row = store.query_one("SELECT name, task_type FROM projects WHERE id = ?", [project_id])
    if row is None:
        raise domain.NotFound(f"Project {project_id} does not exist.")
    cats = CategorySet.of(
        store.query("SELECT id, name FROM label_classes WHERE project_id = ? ORDER BY ord, id", [project_id])
    )
    return str(row[0]), TaskType(row[1]), cats


def _where(include: str, approved_only: bool = False) -> str:
    """``approved_only``: only items whose newest version a reviewer approved (``core.quality.review``)."""
    if include not in INCLUDE:
        raise ValueError(f"include must be one of {', '.join(INCLUDE)}, not {include!r}")
    approved = " AND i.review_state = 'approved'" if approved_only else ""
    if include == "labeled":
        return f"i.project_id = ? AND i.annotation_id IS NOT NULL AND i.status IN ('labeled', 'reviewed'){approved}"
    return f"i.project_id = ?{approved}"


_BASENAME_SQL = "lower(string_split(replace(i.path, '\\', '/'), '/')[-1])"


def _base_name(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1]


def count_records(
    store: Store, project_id: int, include: str = "labeled", approved_only: bool = False
) -> int:
    where = _where(include, approved_only)
    return int(store.scalar(f"SELECT count(*) FROM items i WHERE {where}", [project_id]) or 0)


def iter_records(
    store: Store,
    project_id: int,
    include: str = "labeled",
    *,
    on_issue: Callable[[Issue], None] | None = None,
    chunk_size: int = CHUNK,
    approved_only: bool = False,
) -> Iterator[ExportRecord]:
    """Yield an ``ExportRecord`` per item in id order, validated; problems go to ``on_issue``."""
    _, task, cats = project_task_and_categories(store, project_id)
    class_ids = set(cats.ids)
    report = on_issue or (lambda issue: None)
    where = _where(include, approved_only)
    # a cursor of its own: the job's progress writes go through this thread's store cursor
    cur = store.cursor().cursor()
    cur.execute("BEGIN TRANSACTION")  # one snapshot for every chunk query
    try:
        shared = {
            r[0]
            for r in cur.execute(
                f"SELECT {_BASENAME_SQL} AS n FROM items i WHERE {where} GROUP BY n HAVING count(*) > 1",
                [project_id],
            ).fetchall()
        }
        taken: set[str] = set()  # names among ``shared`` already given out (bounded by the collisions)
        for rows in _chunks(cur, where, project_id, chunk_size):
            for item_id, path, width, height, status, payload_text, author, source in rows:
                file_name = _base_name(path)
                key = file_name.lower()
                if key in shared:
                    if key in taken:
                        stem, dot, ext = file_name.rpartition(".")
                        new_name = f"{stem}__{item_id}.{ext}" if dot else f"{file_name}__{item_id}"
                        report(Issue(f"file name {file_name} is taken by an earlier item; exported as {new_name}",
                                     item_id, new_name, level="warning"))  # fmt: skip
                        file_name = new_name
                    taken.add(key)
                payload = None
                if payload_text is not None:
                    try:
                        payload = domain.validate_payload(
                            task, json.loads(payload_text), width, height, class_ids
                        )
                    except (ValidationError, ValueError, TypeError, AttributeError) as exc:
                        report(
                            Issue(f"label does not validate any more, left out: {exc}", item_id, file_name)
                        )
                        continue
                yield ExportRecord(file_name, width, height, payload, path, item_id, status, author, source)
    finally:
        cur.execute("ROLLBACK")
        cur.close()


def _chunks(cur: Any, where: str, project_id: int, chunk_size: int) -> Iterator[list[tuple[Any, ...]]]:
    """Rows in id order, one window of ``chunk_size`` item ids per query.

    One ``ORDER BY`` over the whole join would make DuckDB hold the sorted result (about 400 bytes an
    item); id windows found first (one integer per chunk) keep each query, and memory, small.
    """
    bounds = [
        r[0]
        for r in cur.execute(
            f"SELECT id FROM (SELECT i.id, row_number() OVER (ORDER BY i.id) AS rn FROM items i WHERE {where})"
            " WHERE (rn - 1) % ? = 0 ORDER BY id",
            [project_id, chunk_size],
        ).fetchall()
    ]
    select = (
        "SELECT i.id, i.path, i.width, i.height, i.status, a.payload, a.author, a.source"
        f" FROM items i LEFT JOIN annotations a ON a.id = i.annotation_id WHERE {where} AND i.id >= ?"
    )
    for k, lo in enumerate(bounds):
        if k + 1 < len(bounds):
            yield cur.execute(
                f"{select} AND i.id < ? ORDER BY i.id", [project_id, lo, bounds[k + 1]]
            ).fetchall()
        else:
            yield cur.execute(f"{select} ORDER BY i.id", [project_id, lo]).fetchall()


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "project"


def export_path(out_dir: Path, project_name: str, fmt: str, job_id: int | None = None) -> Path:
    """``<project>-<format>-<UTC time>[-job<id>]<suffix>``: a job's export has a name no other export can
    take (two exports started in the same second wrote one ``.part`` and the second rename failed)."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    base = f"{_slug(project_name)}-{fmt}-{stamp}" + (f"-job{job_id}" if job_id is not None else "")
    suffix = FORMATS[fmt].suffix
    path, k = out_dir / f"{base}{suffix}", 2
    while path.exists() or path.with_name(path.name + PART).exists():
        path, k = out_dir / f"{base}-{k}{suffix}", k + 1
    return path


def default_export_dir(store: Store, project_id: int) -> Path:
    """``<data dir>/exports/<project id>``: the data directory is the one that holds the store's file."""
    return Paths(store.path.parent).exports / str(project_id)


def export_project(
    store: Store,
    project_id: int,
    fmt: str,
    *,
    by: User,
    include: str = "labeled",
    out_path: Path | None = None,
    progress: Callable[[float, str], None] | None = None,
    job_id: int | None = None,
    with_images: bool = False,
    approved_only: bool = False,
) -> ExportResult:
    """Write one export file (zip for YOLO/VOC); returns its path, counts and issues.

    ``approved_only``: only the items a reviewer approved (their newest version), in every format.

    ``with_images``: the image files go into the zip too (formats with ``images``: YOLO, YOLO
    segmentation, VOC, imagefolder); an image whose file cannot be read is left out and reported.

    ``progress(fraction, message)`` may raise (a cancelled job). On any failure nothing is left: the
    ``.part``, the spool folder and the issue list are removed, even when closing them fails (a full
    disk), and a full disk is raised as ``DiskFull`` with the free space after that cleanup.
    """
    require(store, by, Action.EXPORT, project_id)
    if fmt not in FORMATS:
        raise ValueError(f"Unknown export format {fmt!r}; one of {', '.join(FORMATS)}.")
    started = time.perf_counter()
    name, task, cats = project_task_and_categories(store, project_id)
    spec = FORMATS[fmt]
    if task not in spec.tasks:
        carried = " and ".join(sorted(t.display_name.lower() for t in spec.tasks))
        raise ValueError(f"{spec.title} carries {carried} only; this project is {task.display_name.lower()}.")
    if with_images and spec.images is None:
        raise ValueError(f"A {spec.title} export is one file; it cannot include the images.")
    total = count_records(store, project_id, include, approved_only)
    path = out_path or export_path(default_export_dir(store, project_id), name, fmt, job_id)
    if path.suffix.lower() != FORMATS[fmt].suffix:
        raise ValueError(f"A {FORMATS[fmt].title} export is a {FORMATS[fmt].suffix} file, not {path.name}.")
    with disk_full_in_words(path.parent, "the export"):
        path.parent.mkdir(parents=True, exist_ok=True)
    log = _IssueLog(path.with_name(path.name + ISSUES))
    result = ExportResult(path=path, format=fmt, include=include, approved_only=approved_only)
    writer: FormatWriter | None = None
    seen = 0
    try:
        writer = FORMATS[fmt].writer(path, task, cats)
        if with_images:
            writer = WithImages(writer, spec.images or "")
        for rec in iter_records(store, project_id, include, on_issue=log.add, approved_only=approved_only):
            try:
                result.annotations += writer.write(rec)
                result.images += 1
                result.labeled += rec.payload is not None
            except RecordProblem as exc:
                log.add(Issue(str(exc), rec.item_id, rec.file_name))
            seen = result.images + log.errors
            if progress and seen % PROGRESS_EVERY == 0:
                progress(0.98 * seen / max(total, 1), f"{seen:,} of {total:,} images")
        if progress:
            progress(0.99, f"Finishing: {result.images:,} images, {result.annotations:,} annotations")
        result.issues_path = log.close()  # first: once the export has its name, nothing may fail
        writer.close()
    except BaseException as exc:
        _remove_partial(path, writer, log)
        full = as_disk_full(exc, path.parent, "the export")
        if full is not None:
            raise full from exc
        raise
    result.issues, result.errors, result.warnings = log.first, log.errors, log.warnings
    result.bytes = path.stat().st_size
    result.duration_s = time.perf_counter() - started
    return result


def _remove_partial(path: Path, writer: FormatWriter | None, log: _IssueLog) -> None:
    """Everything a failed export wrote goes, whatever fails on the way (each step on its own)."""
    if writer is not None:
        with suppress(Exception):
            writer.abort()
    log.discard()
    remove_quietly(
        path.with_name(path.name + PART), *path.parent.glob(f".{glob.escape(path.name)}{SPOOL_MARK}*")
    )


@register("export")
def run_export(ctx: JobContext) -> dict[str, Any]:
    """Job handler. Params: ``format`` (a ``FORMATS`` name), ``include`` (labeled | all), ``with_images``
    (bool, formats that can hold them), ``approved_only`` (bool: reviewer-approved items only)."""
    if ctx.project_id is None:
        raise ValueError("An export job needs a project.")
    fmt = str(ctx.params.get("format", "coco")).lower()
    include = str(ctx.params.get("include", "labeled"))
    ctx.progress(0.0, f"Exporting {FORMATS[fmt].title if fmt in FORMATS else fmt}", force=True)
    running = {r[0] for r in ctx.store.query("SELECT id FROM jobs WHERE state = 'running'")}
    remove_leftovers(default_export_dir(ctx.store, ctx.project_id), running | {ctx.job.id}, one_folder=True,
                     only_jobs=True)  # fmt: skip
    result = export_project(
        ctx.store,
        ctx.project_id,
        fmt,
        by=SYSTEM,  # a job: whoever submitted it was checked then (jobs.Runner.submit)
        include=include,
        progress=ctx.progress,
        job_id=ctx.job.id,
        with_images=bool(ctx.params.get("with_images", False)),
        approved_only=bool(ctx.params.get("approved_only", False)),
    )
    return result.as_dict()
