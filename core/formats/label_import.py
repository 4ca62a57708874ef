"""Importing labels into a project: detect the format, preview, then apply.

``preview_import`` reads the file with its loader (``core.formats.loaders``) and writes nothing. It
says which records match the project's images (``core.formats.label_match``), which label files have
no image, how many images get no label, the file's classes beside the project's, and every object
that would be refused (outside the image, no area, too few points) with where it is in the file.

``apply_import`` saves the matched labels as new versions, ``source = import``, ``origin`` the file
they came from, through ``core.store.label_batch.save_labels`` (``save_label``'s rules: an image
someone saved after the preview is stale and left as it is). Classes: each file class goes to the
project class of the same name (case ignored), or where ``class_map`` says (a class id, ``create``
or ``ignore``); with ``create_classes`` the missing ones are created, else their labels are refused.

With ``as_proposals`` the labels become proposals instead, as an outside model's predictions (with
their scores): stored in ``predictions`` (shown, confidence the lowest score, 1 without scores), the
payload naming the file (``imported_from``), so the label screen shows an "imported proposal" that a
labeler accepts or corrects. The project's next inference replaces them, as it replaces its own.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from core import domain
from core.domain import TaskType, User, ValidationError
from core.formats.label_mapping import convert_payload
from core.formats.label_match import ImageIndex, project_images
from core.formats.load_support import issue
from core.formats.loaders import LoadError, detect, get_loader
from core.formats.records import CategorySet, ExportRecord, Issue, RecordProblem
from core.images.roots import refusal, shown
from core.permissions import Action, require
from core.store.db import Store, dumps
from core.store.label_batch import LabelWrite, save_labels
from core.store.projects import add_class, get_project, list_classes

BATCH = 5000
SAMPLE = 20  # names listed per kind in a preview (the counts are whole)
CREATE, IGNORE = "create", "ignore"
UNKNOWN = -1  # a file class with no project class: its labels are refused
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class ClassMatch:
    file_id: int
    name: str  # as the file names it
    uses: int  # objects (or image-level labels) of matched images with this class
    target: int | None  # the project's class of the same name (case ignored), None: missing


@dataclass
class Preview:
    path: Path
    fmt: str
    detected: list[str]
    file_task: TaskType
    project_task: TaskType
    records: int  # records in the file
    matched: dict[int, ExportRecord]  # item id -> its record, payload in the project's task, file class ids
    versions: dict[int, int]  # item id -> label version at preview time (stale check on apply)
    unmatched: list[Issue]  # label records / files with no image in the project
    without_labels: int  # project images the file gives no label
    without_labels_sample: list[str]
    already_labeled: int  # matched images that have a label now (they get a new version)
    classes: list[ClassMatch]
    refused: list[Issue]  # objects or labels that would not be saved, and why
    issues: list[Issue]  # what the loader could not read (malformed records)
    objects: int  # objects (or image-level labels) that would be saved
    file_categories: CategorySet
    project_only: list[str] = field(default_factory=list)  # project classes no file class goes to

    @property
    def conversion(self) -> str:
        return (
            ""
            if self.file_task is self.project_task
            else f"{self.file_task.value} -> {self.project_task.value}"
        )

    @property
    def missing_classes(self) -> list[str]:
        return [c.name for c in self.classes if c.target is None]

    def summary(self) -> str:
        return (
            f"{len(self.matched):,} of {self.records:,} labeled images match the project; "
            f"{len(self.unmatched):,} have no image; {self.without_labels:,} project images get no label; "
            f"{len(self.refused):,} refused; {len(self.issues):,} unreadable records"
        )


@dataclass
class ImportResult:
    saved: int = 0
    proposals: int = 0
    stale: list[int] = field(default_factory=list)
    refused: list[Issue] = field(default_factory=list)
    created_classes: list[str] = field(default_factory=list)
    skipped_labeled: int = 0
    dropped: int = 0  # objects or labels the preview refused (left out; listed there)

    def summary(self) -> str:
        what = f"{self.proposals:,} imported proposals" if self.proposals else f"{self.saved:,} labels saved"
        parts = [what]
        if self.created_classes:
            parts.append(f"classes created: {', '.join(self.created_classes)}")
        if self.stale:
            parts.append(
                f"{len(self.stale):,} images saved by someone since the preview were left as they are"
            )
        if self.skipped_labeled:
            parts.append(f"{self.skipped_labeled:,} already labeled images left as they are")
        if self.refused or self.dropped:
            parts.append(f"{len(self.refused) + self.dropped:,} refused (listed with where and why)")
        return "; ".join(parts)


# --- preview ---------------------------------------------------------------------------------------


def _object_key(task: TaskType) -> str:
    return "boxes" if task is TaskType.BOXES else "polygons"


def _geometry_problems(
    task: TaskType, payload: dict[str, Any], width: int, height: int
) -> tuple[dict[str, Any], list[str]]:
    """The payload with the objects that do not fit the image dropped, and why each was dropped."""
    if task.is_classification:
        return payload, []
    key = _object_key(task)
    kept, why = [], []
    for k, obj in enumerate(payload.get(key, []), 1):
        try:
            domain.validate_payload(task, {key: [{**obj, "class_id": 0}]}, width, height, [0])
            kept.append(obj)
        except (ValidationError, TypeError, ValueError) as exc:
            reason = re.sub(r"^(Box|Polygon) 1 ", "", str(exc)).rstrip(".")
            why.append(f"{key[:-1] if key == 'boxes' else 'polygon'} {k}: {reason}".replace("boxe ", "box "))
    return {key: kept}, why


def _class_uses(task: TaskType, payload: dict[str, Any] | None) -> list[int]:
    return domain.payload_class_ids(task, payload)


def check_server_path(path: Path | str) -> Path:
    """A label file or folder typed as a path on the server, if it may be read; else ``LoadError`` with the
    reason. The rule of folder imports (``core.images.roots.refusal``: not /, no system folder, inside
    ANNOTA_IMPORT_ROOTS when set) applies to the folder read: a folder is walked to detect its format, so
    "/" was read whole (seen: "/proc/9663 could not be found"). Uploaded files, kept in the data directory,
    do not come here."""
    given = Path(path).expanduser()
    resolved = os.path.realpath(given)
    folder = resolved if os.path.isdir(resolved) else os.path.dirname(resolved)
    why = refusal(folder, None)
    if why is not None:
        raise LoadError(f"{shown(str(given))} cannot be read for labels: {why}")
    return given


def preview_import(store: Store, project_id: int, path: Path | str, fmt: str = "auto") -> Preview:
    """Read ``path`` and match it to the project, writing nothing (raises ``LoadError`` when unreadable)."""
    path = Path(path)
    if not path.exists():
        raise LoadError(f"{path.name}: no such file or folder.")
    project = get_project(store, project_id)
    index = project_images(store, project_id)
    detected = detect(path)
    if fmt == "auto":
        if not detected:
            raise LoadError(f"{path.name}: not a label format annota reads; choose the format.")
        fmt = detected[0]

    def sizes(name: str) -> tuple[int, int] | None:
        item_id, _ = index.match(name)
        if item_id is None:
            return None
        im = index.images[item_id]
        return im.width, im.height

    ds = get_loader(fmt).load(path, None, sizes=sizes)
    task = TaskType(project.task_type)
    pv = Preview(
        path=path, fmt=fmt, detected=detected, file_task=ds.task_type, project_task=task, records=len(ds.records),
        matched={}, versions={}, unmatched=[i for i in ds.issues if i.level == "unmatched"], without_labels=0,
        without_labels_sample=[], already_labeled=0, classes=[], refused=[],
        issues=[i for i in ds.issues if i.level != "unmatched"], objects=0, file_categories=ds.categories,
    )  # fmt: skip
    _match_records(pv, ds.records, index, task)
    pv.records = len(ds.records) + sum(1 for i in ds.issues if i.level == "unmatched")
    uses: Counter[int] = Counter()
    for rec in pv.matched.values():
        uses.update(_class_uses(task, rec.payload))
    pv.objects = sum(uses.values())
    by_name = {c.name.strip().lower(): c.id for c in list_classes(store, project_id)}
    pv.classes = [
        ClassMatch(c.id, c.name, uses[c.id], by_name.get(c.name.strip().lower())) for c in ds.categories
    ]
    targets = {c.target for c in pv.classes}
    pv.project_only = [c.name for c in list_classes(store, project_id) if c.id not in targets]
    pv.already_labeled = sum(1 for i in pv.matched if index.images[i].version > 0)
    labeled_names = [im.rel for i, im in index.images.items() if i not in pv.matched]
    pv.without_labels = len(labeled_names)
    pv.without_labels_sample = labeled_names[:SAMPLE]
    return pv


def _match_records(pv: Preview, records: list[ExportRecord], index: ImageIndex, task: TaskType) -> None:
    first_at: dict[int, str] = {}
    for rec in records:
        origin = getattr(rec, "origin", "") or pv.path.name
        item_id, why = index.match(rec.file_name)
        if item_id is None:
            pv.unmatched.append(Issue(why, None, rec.file_name, "unmatched"))
            continue
        if item_id in first_at:
            pv.issues.append(issue(origin, f"{rec.file_name} is labeled twice (also in {first_at[item_id]}); "
                                   "the first is kept", rec.file_name))  # fmt: skip
            continue
        first_at[item_id] = origin
        image = index.images[item_id]
        if rec.payload is None:
            continue  # named without a label: nothing to import
        if (
            rec.width
            and rec.height
            and (rec.width, rec.height) not in ((image.width, image.height), (image.height, image.width))
        ):
            pv.issues.append(issue(origin, f"{rec.file_name} is {rec.width} x {rec.height} in the file but "
                                   f"{image.width} x {image.height} in the project", rec.file_name, "warning"))  # fmt: skip
        try:
            payload = convert_payload(pv.file_task, task, rec.payload)
        except (RecordProblem, KeyError, TypeError) as exc:
            pv.refused.append(issue(origin, f"{rec.file_name}: {exc}", rec.file_name))
            continue
        payload, problems = _geometry_problems(task, payload, image.width, image.height)
        pv.refused.extend(issue(origin, f"{rec.file_name} {p}", rec.file_name) for p in problems)
        pv.matched[item_id] = replace(rec, payload=payload, item_id=item_id)
        pv.versions[item_id] = image.version


# --- apply -----------------------------------------------------------------------------------------


@dataclass
class ImportOptions:
    class_map: dict[str, int | str] = field(
        default_factory=dict
    )  # file class name -> class id, create, ignore
    create_classes: bool = False
    as_proposals: bool = False
    skip_labeled: bool = False  # leave images that have a label now as they are


def resolve_classes(
    store: Store, project_id: int, pv: Preview, options: ImportOptions, *, by: User
) -> tuple[dict[int, int | None], list[str]]:
    """File class id -> project class id (None: dropped, ``UNKNOWN``: refused); creates classes as asked.
    Returns the map and the names created. Raises ``ValidationError`` for a map onto a missing class."""
    project_ids = {c.id for c in list_classes(store, project_id)}
    mapping: dict[int, int | None] = {}
    created: list[str] = []
    for c in pv.classes:
        choice = options.class_map.get(c.name)
        if isinstance(choice, int) and not isinstance(choice, bool):
            if choice not in project_ids:
                raise ValidationError(
                    f"Class {c.name!r} is mapped to class {choice}, which is not in this project."
                )
            mapping[c.file_id] = choice
        elif choice == IGNORE:
            mapping[c.file_id] = None
        elif c.target is not None and choice is None:
            mapping[c.file_id] = c.target
        elif choice == CREATE or options.create_classes:
            if c.target is not None:
                mapping[c.file_id] = c.target
                continue
            if c.uses == 0 and choice != CREATE:
                continue  # a class no matched label uses is not created
            mapping[c.file_id] = add_class(store, project_id, c.name, by=by).id
            created.append(c.name)
        else:
            mapping[c.file_id] = UNKNOWN
    return mapping, created


def _remap(
    task: TaskType, payload: dict[str, Any], mapping: dict[int, int | None], names: dict[int, str]
) -> tuple[dict[str, Any] | None, list[str]]:
    """The payload in project class ids; objects of ignored classes dropped; unknown classes refused."""
    why: list[str] = []

    def target(cid: int) -> int | None:
        new = mapping.get(cid, UNKNOWN)
        if new == UNKNOWN:
            why.append(f"class {names.get(cid, cid)!r} is not a class of the project (create it or map it)")
            return None
        return new

    if task is TaskType.MULTICLASS:
        new = target(payload["class_id"]) if payload.get("class_id") is not None else None
        return ({"class_id": new} if new is not None else None), why
    if task is TaskType.MULTILABEL:
        ids = [target(c) for c in payload.get("class_ids", [])]
        if why:
            return None, why
        return {"class_ids": sorted({c for c in ids if c is not None})}, why
    key = _object_key(task)
    objs = []
    for obj in payload.get(key, []):
        new = target(obj["class_id"])
        if new is not None:
            objs.append({**obj, "class_id": new})
    return {key: objs}, why


def apply_import(
    store: Store,
    project_id: int,
    pv: Preview,
    *,
    by: User,
    author: str | None = None,
    options: ImportOptions | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Save the previewed labels (or proposals), as ``by`` (``MANAGE``: an owner's or an admin's); the
    labels' author is ``by``'s name, or ``author`` where an admin gives one. See the module notes."""
    require(store, by, Action.MANAGE, project_id)
    options = options or ImportOptions()
    task = pv.project_task
    mapping, created = resolve_classes(store, project_id, pv, options, by=by)
    names = {c.id: c.name for c in pv.file_categories}
    result = ImportResult(created_classes=created, dropped=len(pv.refused))
    writes: list[LabelWrite] = []
    for item_id, rec in pv.matched.items():
        origin = getattr(rec, "origin", "") or pv.path.name
        if options.skip_labeled and pv.versions[item_id] > 0:
            result.skipped_labeled += 1
            continue
        payload, why = _remap(task, rec.payload or {}, mapping, names)
        result.refused.extend(
            issue(origin, f"{rec.file_name}: {w}", rec.file_name) for w in dict.fromkeys(why)
        )
        if payload is None:
            continue
        writes.append(LabelWrite(item_id, payload, pv.versions[item_id], origin))
    if options.as_proposals:
        result.proposals = _save_proposals(store, project_id, task, writes, pv.path.name, result)
        return result
    for start in range(0, len(writes), BATCH):
        chunk = writes[start : start + BATCH]
        out = save_labels(store, project_id, chunk, by=by, author=author)
        result.saved += len(out.saved)
        result.stale.extend(out.stale)
        by_id = {w.item_id: w for w in chunk}
        result.refused.extend(
            issue(by_id[i].origin or "", f"image {i}: {why}") for i, why in out.refused.items()
        )
        if progress is not None:
            progress(
                min(1.0, (start + len(chunk)) / max(1, len(writes))),
                f"{start + len(chunk):,} of {len(writes):,} labels",
            )
    return result


def _save_proposals(store: Store, project_id: int, task: TaskType, writes: list[LabelWrite], file_name: str,
                    result: ImportResult) -> int:  # fmt: skip
    """Store the labels as shown proposals of an "import" run (an item's older proposal is replaced)."""
    import pyarrow as pa

    project = get_project(store, project_id)
    class_ids = {c.id for c in list_classes(store, project_id)}
    sizes = {r[0]: (r[1], r[2]) for r in store.query(
        "SELECT id, width, height FROM items WHERE project_id = ? AND id IN (SELECT unnest(?))",
        [project_id, [w.item_id for w in writes]])}  # fmt: skip
    rows = []
    for w in writes:
        if w.item_id not in sizes:
            continue
        try:
            clean = domain.validate_payload(project.task_type, w.payload, *sizes[w.item_id], class_ids)
        except ValidationError as exc:
            result.refused.append(issue(w.origin or file_name, f"image {w.item_id}: {exc}"))
            continue
        scores = [o["score"] for o in clean.get(_object_key(task), []) if o.get("score") is not None]
        rows.append((w.item_id, dumps({**clean, "imported_from": w.origin or file_name}),
                     min(scores) if scores else 1.0, domain.payload_class_ids(task, clean)))  # fmt: skip
    table = pa.table({
        "item_id": pa.array([r[0] for r in rows], pa.int64()), "payload": [r[1] for r in rows],
        "confidence": pa.array([r[2] for r in rows], pa.float64()),
        "class_ids": pa.array([r[3] for r in rows], pa.list_(pa.int32())),
    })  # fmt: skip

    def tx(cur: Any) -> int:
        run_id = cur.execute(
            "INSERT INTO model_runs (project_id, kind, model, state, finished_at, n_items) "
            "VALUES (?, 'import', ?, 'done', now(), ?) RETURNING id",
            [project_id, f"import:{file_name}", len(rows)],
        ).fetchone()[0]
        cur.register("imported_proposals", table)
        try:
            cur.execute("DELETE FROM predictions WHERE project_id = ? AND item_id IN (SELECT item_id FROM imported_proposals)",
                        [project_id])  # fmt: skip
            cur.execute(
                "INSERT INTO predictions (item_id, project_id, run_id, payload, confidence, shown, class_ids)"
                " SELECT item_id, ?, ?, payload, confidence, true, class_ids FROM imported_proposals",
                [project_id, run_id],
            )
        finally:
            cur.unregister("imported_proposals")
        return len(rows)

    return int(store.write(tx))


__all__ = ["CREATE", "IGNORE", "ClassMatch", "ImportOptions", "ImportResult", "Preview", "apply_import",
           "preview_import", "resolve_classes"]  # fmt: skip
