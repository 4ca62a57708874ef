"""Folder sources: a folder on the server referenced by a project, scanned, rescanned and watched.

A folder is walked recursively for image files (by extension). Symbolic links are resolved: one
leading out of the folder is refused and reported; links to folders are not followed (no loops).
``FolderWatcher`` polls the watched sources: after a first full rescan it only stats the folders
it knows and lists those whose modification time changed, so a quiet 500,000-file folder costs a
few thousand ``stat`` calls per poll.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from core.background import Periodic
from core.domain import NotFound, User, ValidationError
from core.images.importer import ImportReport, Progress, import_paths, known_among, record_scan
from core.images.probe import is_image_name
from core.images.roots import NOT_UTF8_FILE, check_import_folder, is_utf8, shown
from core.jobs import JobContext, register
from core.permissions import SYSTEM, Action, require
from core.store.db import Store, StoreClosed, loads
from core.store.items import known_paths
from core.store.labels import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceInfo:
    id: int
    project_id: int
    kind: str  # folder | upload
    path: str
    watch: bool
    created_at: datetime
    last_scan_at: datetime | None
    last_scan_added: int
    last_scan_errors: int
    last_scan_refused: tuple[tuple[str, str], ...] = ()  # (path, reason), the first REPORT_LIMIT


_COLS = (
    "id, project_id, kind, path, watch, created_at, last_scan_at, last_scan_added, last_scan_errors,"
    " last_scan_refused"
)


def _source(row: tuple) -> SourceInfo:
    refused = tuple((str(p), str(why)) for p, why in (loads(row[9]) or []))
    sid, project_id, kind, path, watch, created_at, scan_at, added, errors = row[:9]
    return SourceInfo(sid, project_id, kind, path, watch, created_at, scan_at, added, errors, refused)


def get_source(store: Store, source_id: int) -> SourceInfo:
    row = store.query_one(f"SELECT {_COLS} FROM sources WHERE id = ?", [source_id])
    if row is None:
        raise NotFound(f"Source {source_id} does not exist.")
    return _source(row)


def list_sources(
    store: Store, project_id: int | None = None, *, watched_only: bool = False
) -> list[SourceInfo]:
    clauses, params = ["1 = 1"], []
    if project_id is not None:
        clauses.append("project_id = ?")
        params.append(project_id)
    if watched_only:  # an archived project is read-only: its folders are not watched
        clauses.append(
            "watch AND kind = 'folder' AND project_id IN (SELECT id FROM projects WHERE archived_at IS NULL)"
        )
    rows = store.query(f"SELECT {_COLS} FROM sources WHERE {' AND '.join(clauses)} ORDER BY id", params)
    return [_source(r) for r in rows]


def add_folder(
    store: Store, project_id: int, folder: str | os.PathLike[str], watch: bool = True, *, by: User
) -> SourceInfo:
    """Reference a server folder as a source of the project (nothing is imported yet: call ``rescan``).

    The same folder added twice gives the existing source (with ``watch`` updated). A folder the server
    may not import (``core.images.roots``: system folders, the data directory, outside
    ``ANNOTA_IMPORT_ROOTS``) raises ``ValidationError`` with the reason.
    """
    require(store, by, Action.MANAGE, project_id)
    resolved = str(check_import_folder(folder, data_root(store)))
    row = store.query_one(
        "SELECT id FROM sources WHERE project_id = ? AND kind = 'folder' AND path = ?", [project_id, resolved]
    )
    if row:
        set_watch(store, int(row[0]), watch, by=by)
        return get_source(store, int(row[0]))
    sid = store.execute(
        "INSERT INTO sources (project_id, kind, path, watch, created_at) VALUES (?, 'folder', ?, ?, ?) RETURNING id",
        [project_id, resolved, watch, utcnow()],
    )[0][0]
    return get_source(store, int(sid))


def set_watch(store: Store, source_id: int, watch: bool, *, by: User) -> None:
    require(store, by, Action.MANAGE, get_source(store, source_id).project_id)
    store.execute("UPDATE sources SET watch = ? WHERE id = ?", [watch, source_id])


def data_root(store: Store) -> Path:
    """The store's data directory (the runtime's ``Paths`` when it set them, else the database's folder)."""
    paths = store.caches.get("paths")
    return Path(paths.root) if paths is not None else store.path.parent


# -- walking ---------------------------------------------------------------------------------------
@dataclass
class FolderScan:
    """Image files found under a folder, refusals met on the way, and the folders' modification times."""

    files: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    dir_mtimes: dict[str, int] = field(default_factory=dict)


def _inside(target: str, root: str) -> bool:
    return target == root or target.startswith(root.rstrip(os.sep) + os.sep)


def list_dir(directory: str, root: str, scan: FolderScan, *, recursive: bool) -> list[str]:
    """Add one folder's image files to ``scan``; returns its sub-folders (walked too when ``recursive``)."""
    subdirs: list[str] = []
    stack = [directory]
    while stack:
        d = stack.pop()
        try:
            scan.dir_mtimes[d] = os.stat(d).st_mtime_ns
            entries = list(os.scandir(d))
        except FileNotFoundError:
            scan.dir_mtimes.pop(d, None)
            continue
        except OSError as exc:
            scan.errors.append((shown(d), f"cannot list the folder: {exc.strerror or exc}"))
            continue
        for e in entries:
            if e.name.startswith("."):
                continue
            if not is_utf8(e.name):  # the database holds UTF-8 text: refuse this one name, not the folder
                try:
                    is_dir = e.is_dir(follow_symlinks=False)
                except OSError:
                    is_dir = False
                if is_dir:
                    scan.errors.append((shown(e.path), NOT_UTF8_FOLDER))
                elif is_image_name(e.name):
                    scan.errors.append((shown(e.path), NOT_UTF8_FILE))
                continue
            try:
                if e.is_symlink():
                    target = os.path.realpath(e.path)
                    if not _inside(target, root):
                        if os.path.isdir(target) or is_image_name(e.name):
                            scan.errors.append(
                                (
                                    shown(e.path),
                                    f"symbolic link pointing outside the folder (to {shown(target)})",
                                )
                            )
                        continue
                    if os.path.isdir(target):
                        continue  # links to folders inside are not followed: their files are found anyway
                    if is_image_name(e.name):
                        scan.files.append(e.path)
                elif e.is_dir(follow_symlinks=False):
                    subdirs.append(e.path)
                    if recursive:
                        stack.append(e.path)
                elif is_image_name(e.name) and e.is_file(follow_symlinks=False):
                    scan.files.append(e.path)
            except OSError as exc:
                scan.errors.append((shown(e.path), f"cannot read: {exc.strerror or exc}"))
    return subdirs


NOT_UTF8_FOLDER = (
    "the folder name is not valid UTF-8 (the bytes shown as \\xNN): its images are not imported; rename it"
)


def scan_folder(folder: str | os.PathLike[str]) -> FolderScan:
    """Walk a folder recursively (sorted paths, so imports run in a stable order)."""
    root = str(Path(folder).resolve())
    scan = FolderScan()
    if not os.path.isdir(root):
        scan.errors.append((root, "the folder no longer exists or is not a folder"))
        return scan
    list_dir(root, root, scan, recursive=True)
    scan.files.sort()
    return scan


# -- rescans --------------------------------------------------------------------------------------
_source_locks: dict[tuple[str, int], threading.Lock] = {}
_guard = threading.Lock()


def _source_lock(store: Store, source_id: int) -> threading.Lock:
    with _guard:
        return _source_locks.setdefault((str(store.path), source_id), threading.Lock())


def rescan(
    store: Store, source_id: int, *, by: User, progress: Progress | None = None, workers: int | None = None
) -> ImportReport:
    """Walk the source's folder and import what is new; the summary is kept on the source row."""
    return _rescan(store, get_source(store, source_id), None, by=by, progress=progress, workers=workers)


def _rescan(
    store: Store, src: SourceInfo, scan: FolderScan | None, *, by: User, progress: Progress | None = None,
    workers: int | None = None, record_empty: bool = True,
) -> ImportReport:  # fmt: skip
    require(store, by, Action.MANAGE, src.project_id)
    if src.kind != "folder":
        raise ValidationError("Only folder sources can be rescanned.")
    if os.path.isdir(src.path):  # a source added before a rule (or a root) changed is held to it too
        check_import_folder(src.path, data_root(store))
    with _source_lock(store, src.id):
        t0 = time.perf_counter()
        scan = scan if scan is not None else scan_folder(src.path)
        if progress:
            progress(0.0, f"Found {len(scan.files):,} image files; reading them")
        known = known_paths(store, src.project_id) if len(scan.files) > 20_000 else None
        report = ImportReport(errors=list(scan.errors))
        import_paths(
            store, src.project_id, scan.files, by=by, source_id=src.id, known=known, progress=progress,
            workers=workers, report=report,
        )  # fmt: skip
        report.seconds = time.perf_counter() - t0
        if record_empty or report.added or report.errors:
            record_scan(store, src.id, report)
    return report


def import_folder(
    store: Store, project_id: int, folder: str | os.PathLike[str], *, by: User, watch: bool = True,
    progress: Progress | None = None,
) -> tuple[SourceInfo, ImportReport]:  # fmt: skip
    """Add a folder source and import it now (in the caller's thread; pages submit the job instead)."""
    src = add_folder(store, project_id, folder, watch=watch, by=by)
    return get_source(store, src.id), rescan(store, src.id, by=by, progress=progress)


@register("import_folder")
def _import_folder_job(ctx: JobContext) -> dict:
    """Job ``import_folder``: params ``{"source_id": int}`` or ``{"folder": str, "watch": bool}``. A job
    acts as ``SYSTEM``: whoever submits it is checked then (``jobs.Runner.submit``)."""
    sid = ctx.params.get("source_id")
    if sid is None:
        folder = ctx.params.get("folder")
        if not folder or ctx.project_id is None:
            raise ValidationError("An import job needs a source_id, or a folder and a project.")
        sid = add_folder(
            ctx.store, ctx.project_id, folder, watch=bool(ctx.params.get("watch", True)), by=SYSTEM
        ).id
    ctx.progress(0.0, "Listing the folder", force=True)
    report = rescan(ctx.store, int(sid), by=SYSTEM, progress=ctx.progress)
    ctx.progress(1.0, report.summary())
    return {"source_id": int(sid), **report.to_dict()}


# -- watching --------------------------------------------------------------------------------------
@dataclass
class _Watched:
    root: str
    dir_mtimes: dict[str, int]
    # files to look at again: too fresh (retried once settled) or refused (retried once changed)
    pending: dict[str, tuple[tuple[int, int], bool]] = field(
        default_factory=dict
    )  # path: ((size, mtime), fresh)


class FolderWatcher(Periodic):
    """A thread that polls the watched folder sources every ``interval_s`` and imports new files.

    A source is watched once its first scan (the import job's) is done: the job imports and reports a
    new folder, not the watcher. A source whose first import never ended (the job failed, was cancelled
    or gave up after restarts) and that no import job is working on any more is taken over after
    ``adopt_after_s``: the watcher finishes its import. The first poll of a watched source rescans it
    fully; later polls stat the known folders and list only the changed ones. A folder counts as seen
    only once its new files are imported: a poll that fails is done again in full at the next one.
    Files modified less than ``settle_s`` ago (perhaps still being copied) and refused files wait, and
    are looked at again when their size or time changes. One source failing never stops the others; its
    error is logged once (``source_errors`` keeps it).
    """

    thread_name = "annota-watcher"

    def __init__(
        self, store: Store, interval_s: float = 2.0, *, settle_s: float = 1.0, adopt_after_s: float = 30.0
    ) -> None:
        super().__init__(interval_s)
        self.store = store
        self.settle_s = settle_s
        self.adopt_after_s = adopt_after_s
        self._state: dict[int, _Watched] = {}
        self.polls = 0
        self.last_reports: dict[int, ImportReport] = {}
        self.source_errors: dict[int, str] = {}

    def step(self) -> object:
        return self.poll()

    def poll(self) -> dict[int, ImportReport]:
        """One pass over the watched sources; returns the reports of sources where something happened."""
        self.polls += 1
        out: dict[int, ImportReport] = {}
        sources = list_sources(self.store, watched_only=True)
        for gone in set(self._state) - {s.id for s in sources}:
            del self._state[gone]
        for src in sources:
            try:
                rep = self._poll_source(src)
            except StoreClosed:
                raise
            except Exception as exc:
                text = f"{type(exc).__name__}: {exc}"
                if self.source_errors.get(src.id) != text:  # once, not at every poll
                    log.warning("folder watcher: %s: %s (tried again at each poll)", shown(src.path), text)
                self.source_errors[src.id] = text
                continue
            self.source_errors.pop(src.id, None)
            if rep is not None and (rep.added or rep.errors or rep.duplicates):
                out[src.id] = rep
                self.last_reports[src.id] = rep
        return out

    def _import_unfinished(self, src: SourceInfo) -> bool:
        """Whether the never-scanned source's first import is still to be left to its job."""
        if (utcnow() - src.created_at).total_seconds() < self.adopt_after_s:
            return True  # just added: its import job is being submitted
        rows = self.store.query(
            "SELECT params FROM jobs WHERE kind = 'import_folder' AND state IN ('queued', 'running')"
            " AND project_id = ?",
            [src.project_id],
        )
        for (params,) in rows:
            sid = (loads(params) or {}).get("source_id")
            if sid is None or int(sid) == src.id:
                return True
        return False

    def _poll_source(self, src: SourceInfo) -> ImportReport | None:
        state = self._state.get(src.id)
        if state is None or state.root != src.path:
            never_scanned = src.last_scan_at is None
            if never_scanned and self._import_unfinished(src):
                return None  # a new source: its import job does the first scan, and reports it
            scan = scan_folder(src.path)
            # a scan with nothing new keeps the source's last report (the import job's count); an
            # import the watcher finishes is recorded
            rep = _rescan(self.store, src, scan, by=SYSTEM, record_empty=never_scanned)
            if never_scanned:
                log.info("folder watcher: finished the import of %s: %s", shown(src.path), rep.summary())
            self._state[src.id] = _Watched(src.path, scan.dir_mtimes)
            self._remember_refused(self._state[src.id], rep)
            return rep
        if state.root not in state.dir_mtimes:  # the folder was gone: start afresh once it is back
            if os.path.isdir(state.root):
                del self._state[src.id]
                return self._poll_source(src)
            return None
        changed = [d for d, m in state.dir_mtimes.items() if _mtime(d) != m]
        now_ns = time.time_ns()
        retry = [
            p for p, (sig, is_fresh) in state.pending.items()
            if _signature(p) != sig or (is_fresh and now_ns - sig[1] >= self.settle_s * 1e9)
        ]  # fmt: skip
        if not changed and not retry:
            return None
        scan = FolderScan()
        for d in changed:
            subdirs = list_dir(d, state.root, scan, recursive=False)
            for sub in subdirs:
                if sub not in state.dir_mtimes:
                    list_dir(sub, state.root, scan, recursive=True)
        candidates = sorted(set(scan.files) | set(retry))
        known = known_among(self.store, src.project_id, [p for p in candidates if is_utf8(p)])
        fresh: list[str] = []
        waiting: dict[str, tuple[tuple[int, int], bool]] = {}
        for p in candidates:
            if p in known:
                continue
            sig = _signature(p)
            if sig is None:
                continue
            if now_ns - sig[1] < self.settle_s * 1e9:
                waiting[p] = (sig, True)
            else:
                fresh.append(p)
        rep = ImportReport(errors=list(scan.errors))
        if fresh:
            with _source_lock(self.store, src.id):
                import_paths(self.store, src.project_id, fresh, by=SYSTEM, source_id=src.id, report=rep)
        # only now, the import done, do the listed folders count as seen (a failure above lists them again)
        for d in changed:
            state.dir_mtimes.pop(d, None)
        for d in [d for d in state.dir_mtimes if not os.path.isdir(d)]:
            del state.dir_mtimes[d]
        state.dir_mtimes.update(scan.dir_mtimes)
        for p in retry:
            state.pending.pop(p, None)
        state.pending.update(waiting)
        if not fresh and not scan.errors:
            return ImportReport()
        self._remember_refused(state, rep)
        if rep.added or rep.errors:
            record_scan(self.store, src.id, rep)
        return rep

    @staticmethod
    def _remember_refused(state: _Watched, rep: ImportReport) -> None:
        for path, _reason in rep.errors:
            sig = _signature(path)
            if sig is not None and os.path.isfile(path) and not os.path.islink(path):
                state.pending[path] = (sig, False)


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def _signature(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)
