"""Importing images into a project: files found in a folder, or uploaded bytes.

Every file is probed (size after EXIF orientation, content hash) in a small thread pool, in
batches; each batch is deduplicated by content hash within the project and inserted in one bulk
statement (``core.store.items.add_items``). A file that cannot be imported is reported with its
reason and never stops the batch. Already imported paths are skipped, so an import can be rerun
(or resumed after a restart) at any time.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.config import Paths
from core.disk import disk_full_in_words, remove_quietly
from core.domain import User
from core.images.probe import (
    MAX_UPLOAD_BYTES,
    Probe,
    ProbeError,
    is_image_name,
    probe_bytes,
    probe_file,
    size_words,
)
from core.images.roots import NOT_UTF8_FILE, is_utf8, shown
from core.permissions import Action, require
from core.store.db import Store, dumps
from core.store.items import NewItem, add_items
from core.store.labels import utcnow

Progress = Callable[[float, str], None]
BATCH_SIZE = 2048
REPORT_LIMIT = 200  # per list, in the JSON form of a report (a job result)


@dataclass
class ImportReport:
    """The outcome of one import or rescan, per file where something went wrong."""

    added: int = 0
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (path, path of the image it repeats)
    skipped_known: int = 0  # paths imported before (a rescan)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    seconds: float = 0.0
    seen: int = 0  # image files looked at

    def merge(self, other: ImportReport) -> ImportReport:
        self.added += other.added
        self.duplicates.extend(other.duplicates)
        self.skipped_known += other.skipped_known
        self.errors.extend(other.errors)
        self.seconds += other.seconds
        self.seen += other.seen
        return self

    def summary(self) -> str:
        parts = [f"{self.added:,} added"]
        if self.duplicates:
            parts.append(f"{len(self.duplicates):,} duplicates")
        if self.skipped_known:
            parts.append(f"{self.skipped_known:,} already imported")
        if self.errors:
            parts.append(f"{len(self.errors):,} refused")
        return ", ".join(parts) + f" in {self.seconds:.1f} s"

    def to_dict(self, limit: int = REPORT_LIMIT) -> dict[str, Any]:
        """JSON-able (the job result); long lists are cut to ``limit`` entries, counts stay whole."""
        return {
            "added": self.added,
            "duplicates": len(self.duplicates),
            "skipped_known": self.skipped_known,
            "errors": len(self.errors),
            "seconds": round(self.seconds, 3),
            "seen": self.seen,
            "error_list": [list(e) for e in self.errors[:limit]],
            "duplicate_list": [list(d) for d in self.duplicates[:limit]],
            "summary": self.summary(),
        }


# -- locks: one importer at a time per project for the dedupe-then-insert step ------------------------
_locks: dict[tuple[str, int], threading.Lock] = {}
_locks_guard = threading.Lock()


def project_lock(store: Store, project_id: int) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault((str(store.path), project_id), threading.Lock())


# -- queries ------------------------------------------------------------------------------------
def _existing_by_hash(store: Store, project_id: int, hashes: Sequence[str]) -> dict[str, str]:
    if not hashes:
        return {}
    rows = store.query(  # an image removed from the project counts too: it is not imported again
        "SELECT sha1, min(path) FROM (SELECT sha1, path FROM items WHERE project_id = ?"
        " UNION ALL SELECT sha1, path FROM removed_items WHERE project_id = ?)"
        " WHERE sha1 IN (SELECT unnest(?)) GROUP BY sha1",
        [project_id, project_id, list(hashes)],
    )
    return {r[0]: r[1] for r in rows}


def known_among(store: Store, project_id: int, paths: Sequence[str]) -> set[str]:
    """Which of these paths the project holds already or had removed (one query, for small and middle-sized lists)."""
    if not paths:
        return set()
    rows = store.query(  # removed images count as held: a rescan or the watcher does not bring them back
        "SELECT path FROM items WHERE project_id = ? AND path IN (SELECT unnest(?))"
        " UNION SELECT path FROM removed_items WHERE project_id = ? AND path IN (SELECT unnest(?))",
        [project_id, list(paths), project_id, list(paths)],
    )
    return {r[0] for r in rows}


def ensure_upload_source(store: Store, paths: Paths, project_id: int) -> int:
    """The project's one ``upload`` source row (created on first upload)."""
    folder = str(upload_dir(paths, project_id))
    row = store.query_one("SELECT id FROM sources WHERE project_id = ? AND kind = 'upload'", [project_id])
    if row:
        return int(row[0])
    return int(
        store.execute(
            "INSERT INTO sources (project_id, kind, path, watch, created_at) VALUES (?, 'upload', ?, false, ?)"
            " RETURNING id",
            [project_id, folder, utcnow()],
        )[0][0]
    )


def record_scan(store: Store, source_id: int, report: ImportReport) -> None:
    """Keep the outcome of the latest scan on the source row (shown beside the source): counts, and the
    refused files with their reasons (the first ``REPORT_LIMIT``), whether a job or the watcher scanned."""
    refused = dumps([list(e) for e in report.errors[:REPORT_LIMIT]])
    store.execute(
        "UPDATE sources SET last_scan_at = ?, last_scan_added = ?, last_scan_errors = ?, last_scan_refused = ?"
        " WHERE id = ?",
        [utcnow(), report.added, len(report.errors), refused, source_id],
    )


# -- probing in parallel ------------------------------------------------------------------------
def default_workers() -> int:
    return max(2, min(8, 2 * (os.cpu_count() or 2)))


def _probe_chunk(paths: Sequence[str]) -> list[Probe | ProbeError]:
    out: list[Probe | ProbeError] = []
    for p in paths:
        try:
            out.append(probe_file(p))
        except ProbeError as exc:
            out.append(exc)
        except Exception as exc:  # a Pillow plugin failing in an unforeseen way: refuse the file, go on
            out.append(ProbeError(f"cannot read the image: {type(exc).__name__}: {exc}"))
    return out


def _probe_all(
    pool: ThreadPoolExecutor | None, paths: Sequence[str], workers: int
) -> list[Probe | ProbeError]:
    if pool is None or len(paths) < 64:
        return _probe_chunk(paths)
    step = -(-len(paths) // (workers * 2))
    futures = [pool.submit(_probe_chunk, paths[i : i + step]) for i in range(0, len(paths), step)]
    out: list[Probe | ProbeError] = []
    for f in futures:
        out.extend(f.result())
    return out


# -- the batch step shared by folders and uploads -------------------------------------------------
def _add_probed(
    store: Store,
    project_id: int,
    source_id: int | None,
    probed: Sequence[tuple[str, Probe]],
    seen: dict[str, str],
    report: ImportReport,
    before_insert: Callable[[str, Probe], str] | None = None,
) -> None:
    """Dedupe probed files by hash (this run's and the project's) and insert the new ones."""
    with project_lock(store, project_id):
        existing = _existing_by_hash(store, project_id, [pr.sha1 for _, pr in probed if pr.sha1 not in seen])
        new: list[NewItem] = []
        for path, pr in probed:
            first = seen.get(pr.sha1) or existing.get(pr.sha1)
            if first is not None:
                report.duplicates.append((path, first))
                continue
            stored = before_insert(path, pr) if before_insert else path
            seen[pr.sha1] = stored
            new.append(NewItem(stored, pr.width, pr.height, pr.sha1, pr.bytes, pr.orientation))
        report.added += add_items(store, project_id, new, source_id)


def import_paths(
    store: Store,
    project_id: int,
    files: Sequence[str],
    *,
    by: User,
    source_id: int | None = None,
    known: set[str] | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
    batch_size: int = BATCH_SIZE,
    report: ImportReport | None = None,
) -> ImportReport:
    """Import image files by absolute path; paths the project holds already are counted, not re-read.

    ``known`` is the project's set of imported paths when the caller has it (a full rescan);
    otherwise each batch asks the store. ``progress(fraction, message)`` is called after each batch.
    """
    require(store, by, Action.MANAGE, project_id)
    t0 = time.perf_counter()
    rep = report if report is not None else ImportReport()
    bad = [p for p in files if not is_utf8(p)]
    if bad:  # the database holds UTF-8 text: such a name is refused alone, the others go in
        rep.errors.extend((shown(p), NOT_UTF8_FILE) for p in bad)
        rep.seen += len(bad)
        files = [p for p in files if is_utf8(p)]
    total = len(files)
    seen: dict[str, str] = {}
    n_workers = workers or default_workers()
    pool = ThreadPoolExecutor(n_workers, thread_name_prefix="annota-probe") if n_workers > 1 else None
    try:
        for start in range(0, total, batch_size):
            batch = list(files[start : start + batch_size])
            old = (
                {p for p in batch if p in known}
                if known is not None
                else known_among(store, project_id, batch)
            )
            rep.skipped_known += len(old)
            todo = [p for p in batch if p not in old]
            rep.seen += len(batch)
            good: list[tuple[str, Probe]] = []
            for path, res in zip(todo, _probe_all(pool, todo, n_workers), strict=True):
                if isinstance(res, ProbeError):
                    rep.errors.append((path, res.reason))
                else:
                    good.append((path, res))
            _add_probed(store, project_id, source_id, good, seen, rep)
            if progress:
                done = min(total, start + batch_size)
                progress(
                    done / total,
                    f"{done:,} of {total:,} files: {rep.added:,} added, {len(rep.errors):,} refused",
                )
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
    rep.seconds += time.perf_counter() - t0
    return rep


# -- uploads ---------------------------------------------------------------------------------------
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def upload_dir(paths: Paths, project_id: int) -> Path:
    return paths.uploads / str(project_id)


def safe_name(name: str) -> str:
    """A file name safe to write: no folders, no odd characters, never empty or hidden."""
    base = os.path.basename(name.replace("\\", "/")) or "image"
    clean = _SAFE.sub("_", base).strip("._") or "image"
    return clean[-120:]


def import_uploads(
    store: Store,
    paths: Paths,
    project_id: int,
    files: Iterable[tuple[str, bytes]],
    *,
    by: User,
    max_bytes: int = MAX_UPLOAD_BYTES,
) -> ImportReport:
    """Import uploaded files ``(file name, bytes)``: checked as folder files are, saved under the uploads folder.

    Refused files (not an image, broken, too large) and duplicates are reported by their file name.
    """
    require(store, by, Action.MANAGE, project_id)
    t0 = time.perf_counter()
    rep = ImportReport()
    good: list[tuple[str, Probe]] = []
    data_by_name: dict[str, bytes] = {}
    for name, data in files:
        rep.seen += 1
        label = name or "(no name)"
        if not is_image_name(label):
            rep.errors.append(
                (label, "not an image file name (accepted: jpg, jpeg, png, webp, bmp, tif, tiff, gif)")
            )
            continue
        if len(data) > max_bytes:
            rep.errors.append(
                (
                    label,
                    f"file too large: {size_words(len(data))} (the limit is {size_words(max_bytes)})",
                )
            )
            continue
        try:
            pr = probe_bytes(data, label)
        except ProbeError as exc:
            rep.errors.append((label, exc.reason))
            continue
        key = f"{len(good)}:{label}"
        data_by_name[key] = data
        good.append((key, pr))
    if good:
        folder = upload_dir(paths, project_id)
        source_id = ensure_upload_source(store, paths, project_id)

        written: list[Path] = []  # files this call wrote: removed again if their rows cannot be saved

        def save(key: str, pr: Probe) -> str:
            target = folder / pr.sha1[:2] / f"{pr.sha1[:12]}-{safe_name(key.split(':', 1)[1])}"
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                tmp = target.with_name(f".{target.name}.part")
                try:
                    tmp.write_bytes(data_by_name[key])
                    os.replace(tmp, target)
                except BaseException:
                    remove_quietly(tmp)
                    raise
                written.append(target)
            return str(target)

        sub = ImportReport()
        try:
            with disk_full_in_words(folder, "the uploaded images"):
                _add_probed(store, project_id, source_id, good, {}, sub, before_insert=save)
        except BaseException:
            remove_quietly(*written)  # no image file without its row (a full disk left 8 such files)
            raise
        rep.added += sub.added
        rep.duplicates.extend((key.split(":", 1)[1], first) for key, first in sub.duplicates)
        rep.seconds = time.perf_counter() - t0
        record_scan(store, source_id, rep)
    rep.seconds = time.perf_counter() - t0
    return rep
