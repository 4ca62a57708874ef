"""Background jobs: a runner of worker threads inside the server process, with a row per job in DuckDB.

A job is a ``kind`` (registered handler) with JSON ``params``. Handlers get a ``JobContext``: they
report progress, check for cancellation and return a JSON-able result. Job rows survive a restart:
``JobRunner.start`` puts every job that was running when the process stopped back in the queue
(handlers are written to resume: imports skip known files, featurisation skips done items), and
gives up on a job after ``max_attempts`` starts.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.disk import DiskFull, as_disk_full
from core.domain import NotFound, User
from core.permissions import Action, require
from core.store.db import Store, StoreClosed, WriteConflict, dumps, loads
from core.store.labels import utcnow

log = logging.getLogger(__name__)


class Cancelled(Exception):
    """Raised inside a handler when the user cancelled its job."""


class Stopping(Exception):
    """Raised inside a handler when the runner stops (server shutdown): the job goes back to the queue
    and resumes at the next start, as after a restart."""


@dataclass(frozen=True)
class Job:
    id: int
    project_id: int | None
    kind: str
    state: str  # queued | running | done | failed | cancelled
    params: dict[str, Any]
    progress: float
    message: str
    result: Any
    error: str | None
    attempts: int
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def active(self) -> bool:
        return self.state in ("queued", "running")

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at or utcnow()
        return (end - self.started_at).total_seconds()


_JOB_COLS = (
    "id, project_id, kind, state, params, progress, message, result, error, attempts, created_by, created_at,"
    " started_at, finished_at"
)


def _job(row: tuple) -> Job:
    return Job(
        id=row[0], project_id=row[1], kind=row[2], state=row[3], params=loads(row[4]) or {}, progress=row[5],
        message=row[6], result=loads(row[7]), error=row[8], attempts=row[9], created_by=row[10],
        created_at=row[11], started_at=row[12], finished_at=row[13],
    )  # fmt: skip


class JobContext:
    """What a handler sees of its job."""

    def __init__(self, store: Store, job: Job, runner: JobRunner) -> None:
        self.store = store
        self.job = job
        self.runner = runner
        self._last_write = 0.0

    @property
    def params(self) -> dict[str, Any]:
        return self.job.params

    @property
    def project_id(self) -> int | None:
        return self.job.project_id

    def progress(self, fraction: float, message: str = "", *, force: bool = False) -> None:
        """Report progress (0..1); written at most a few times a second, and each time the cancel flag is
        read: raises ``Cancelled`` if asked. Raises ``Stopping`` when the runner is stopping."""
        self._check_stopping()
        now = time.monotonic()
        if force or now - self._last_write > 0.25 or fraction >= 1.0:
            self._last_write = now
            # Not ``UPDATE ... RETURNING cancel_requested``: DuckDB (2.0) writes the whole row back for an
            # UPDATE with RETURNING, so a cancel committed meanwhile was silently undone (no conflict
            # raised) and the job ran on. A plain UPDATE touches only its columns.
            with suppress(WriteConflict):  # the row is busy (e.g. a cancel being written): progress can wait
                self.store.execute(
                    "UPDATE jobs SET progress = ?, message = ?, heartbeat_at = ? WHERE id = ?",
                    [max(0.0, min(1.0, float(fraction))), message[:500], utcnow(), self.job.id],
                )
            self.check_cancelled()

    def check_cancelled(self) -> None:
        self._check_stopping()
        if self.store.scalar("SELECT cancel_requested FROM jobs WHERE id = ?", [self.job.id]):
            raise Cancelled()

    def _check_stopping(self) -> None:
        if self.runner.stopping:
            raise Stopping()


Handler = Callable[[JobContext], Any]
_HANDLERS: dict[str, Handler] = {}


JOB_ACTIONS: dict[str, Action] = {"export": Action.EXPORT}  # what a person needs to start a job; else MANAGE


def register(kind: str) -> Callable[[Handler], Handler]:
    """Decorator: ``@register("import_folder") def run(ctx): ...``."""

    def deco(fn: Handler) -> Handler:
        _HANDLERS[kind] = fn
        return fn

    return deco


def handlers() -> dict[str, Handler]:
    return dict(_HANDLERS)


def submit(store: Store, kind: str, params: dict[str, Any] | None = None, *, project_id: int | None = None,
           created_by: str = "") -> Job:  # fmt: skip
    """Queue a job (the runner picks it up); returns its row."""
    row = store.execute(
        f"INSERT INTO jobs (project_id, kind, params, created_by, created_at) VALUES (?, ?, ?, ?, ?) RETURNING {_JOB_COLS}",
        [project_id, kind, dumps(params or {}), created_by, utcnow()],
    )[0]
    return _job(row)


def get_job(store: Store, job_id: int) -> Job:
    row = store.query_one(f"SELECT {_JOB_COLS} FROM jobs WHERE id = ?", [job_id])
    if row is None:
        raise NotFound(f"Job {job_id} does not exist.")
    return _job(row)


def list_jobs(store: Store, project_id: int | None = None, *, active_only: bool = False, limit: int = 50,
              kind: str | None = None) -> list[Job]:  # fmt: skip
    clauses: list[str] = ["1 = 1"]
    params: list[Any] = []
    if project_id is not None:
        clauses.append("project_id = ?")
        params.append(project_id)
    if active_only:
        clauses.append("state IN ('queued', 'running')")
    if kind:
        clauses.append("kind = ?")
        params.append(kind)
    rows = store.query(
        f"SELECT {_JOB_COLS} FROM jobs WHERE {' AND '.join(clauses)} ORDER BY id DESC LIMIT ?",
        [*params, limit],
    )
    return [_job(r) for r in rows]


def cancel(store: Store, job_id: int) -> None:
    """Ask a job to stop: a queued job is cancelled at once, a running one at its next progress report."""
    store.execute("UPDATE jobs SET cancel_requested = true WHERE id = ?", [job_id])
    store.execute(
        "UPDATE jobs SET state = 'cancelled', finished_at = ?, message = 'Cancelled before it started'"
        " WHERE id = ? AND state = 'queued'",
        [utcnow(), job_id],
    )


_FINISH_SQL = (
    "UPDATE jobs SET state = ?, finished_at = ?, result = ?, error = ?, message = ?,"
    " progress = CASE WHEN ? = 'done' THEN 1.0 ELSE progress END WHERE id = ?"
)


class JobRunner:
    """Worker threads that take queued jobs from the database, oldest first."""

    def __init__(self, store: Store, *, workers: int = 2, poll_s: float = 0.5, max_attempts: int = 3) -> None:
        self.store = store
        self.workers = workers
        self.poll_s = poll_s
        self.max_attempts = max_attempts
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._claim_lock = threading.Lock()
        self.recovered: list[int] = []
        # a full disk: why queued jobs wait (set while claiming or recording fails, cleared when it works)
        self.blocked: DiskFull | None = None
        self._unrecorded: dict[int, list[Any]] = {}  # job id -> the end ``_finish`` could not write yet
        self.running_ids: set[int] = set()  # jobs a worker of this runner runs now

    def notice(self) -> str | None:
        """Why jobs wait, in words (None when nothing stops them): a full disk stops claiming and recording."""
        if self.blocked is None:
            return None
        return f"Jobs are waiting: {self.blocked} They continue by themselves once there is space."

    def start(self) -> JobRunner:
        self.recovered = self.recover()
        for n in range(self.workers):
            t = threading.Thread(target=self._loop, name=f"annota-job-{n}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def recover(self) -> list[int]:
        """Jobs left running by a stopped process go back to the queue (or fail after too many tries)."""
        rows = self.store.query("SELECT id, attempts FROM jobs WHERE state = 'running'")
        requeued = []
        for job_id, attempts in rows:
            if attempts >= self.max_attempts:
                self.store.execute(
                    "UPDATE jobs SET state = 'failed', finished_at = ?, error = ? WHERE id = ?",
                    [utcnow(), f"Stopped {attempts} times by a server restart; not retried again.", job_id],
                )
            else:
                self.store.execute(
                    "UPDATE jobs SET state = 'queued', message = 'Resumed after a server restart' WHERE id = ?",
                    [job_id],
                )
                requeued.append(job_id)
        return requeued

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the workers: a running job stops at its next progress report (``Stopping``) and goes back
        to the queue. Returns whether every worker ended within ``timeout`` (one still inside a long
        step is left to finish as a daemon thread; the store waits for its call in flight on close)."""
        self._stop.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in self._threads if t.is_alive()]
        if alive:
            log.warning("job runner: %s still busy after %.0f s", ", ".join(alive), timeout)
        self._threads.clear()
        return not alive

    def notify(self) -> None:
        self._wake.set()

    def submit(self, kind: str, params: dict[str, Any] | None = None, *, project_id: int | None = None,
               created_by: str = "", by: User | None = None) -> Job:  # fmt: skip
        """Queue a job. A job runs as ``SYSTEM``; a person's job is checked here: ``by`` needs the
        kind's action (``JOB_ACTIONS``, else ``MANAGE``) in the project. ``by=None`` is annota's own
        caller (the scheduler, the command line, tests), which acts as ``SYSTEM``."""
        if kind not in _HANDLERS:
            raise ValueError(f"No job handler for {kind!r}.")
        if by is not None:
            if project_id is not None:
                require(self.store, by, JOB_ACTIONS.get(kind, Action.MANAGE), project_id)
            created_by = created_by or by.username
        job = submit(self.store, kind, params, project_id=project_id, created_by=created_by)
        self.notify()
        return job

    def wait(self, job_id: int, timeout: float = 60.0) -> Job:
        """Block until a job ends (for tests and scripts)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = get_job(self.store, job_id)
            if not job.active:
                return job
            time.sleep(0.05)
        raise TimeoutError(f"Job {job_id} still {get_job(self.store, job_id).state} after {timeout} s")

    def _claim(self) -> Job | None:
        kinds = list(_HANDLERS)
        if not kinds:
            return None

        def take(cur: Any) -> tuple | None:
            row = cur.execute(
                "SELECT id FROM jobs WHERE state = 'queued' AND kind IN (SELECT unnest(?)) ORDER BY id LIMIT 1",
                [kinds],
            ).fetchone()
            if row is None:
                return None
            now = utcnow()
            cur.execute(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, started_at = coalesce(started_at, ?),"
                " heartbeat_at = ? WHERE id = ? AND state = 'queued'",
                [now, now, row[0]],
            )
            return cur.execute(f"SELECT {_JOB_COLS} FROM jobs WHERE id = ?", [row[0]]).fetchone()

        with self._claim_lock:  # one transaction: a job cancelled meanwhile is never started
            row = self.store.write(take)
        job = _job(row) if row is not None else None
        return job if job is not None and job.state == "running" else None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._record_pending()
                job = self._claim()
                self.blocked = None
            except Exception as exc:  # the store may be closing, or the disk full; try again later
                full = as_disk_full(exc, self.store.path.parent, "a job's state")
                if full is not None:
                    if self.blocked is None:
                        log.warning("job runner: %s", full)
                    self.blocked = full
                else:
                    log.exception("job runner: claim failed")
                job = None
            if job is None:
                self._wake.wait(self.poll_s)
                self._wake.clear()
                continue
            self._run(job)

    def _run(self, job: Job) -> None:
        ctx = JobContext(self.store, job, self)
        self.running_ids.add(job.id)
        try:
            result = _HANDLERS[job.kind](ctx)
        except Cancelled:
            self._finish(job.id, "cancelled", message="Cancelled")
        except (Stopping, StoreClosed):  # back to the queue; if that cannot be written, ``recover`` will
            if self.store.closed:
                return
            try:
                self.store.execute(
                    "UPDATE jobs SET state = 'queued', message = ? WHERE id = ? AND state = 'running'",
                    ["Stopped by a server shutdown; resumes at the next start", job.id],
                )
            except Exception:
                log.exception("job %s: could not put it back in the queue", job.id)
        except Exception as exc:
            log.warning("job %s (%s) failed: %s", job.id, job.kind, exc)
            full = as_disk_full(exc, self.store.path.parent)
            detail = str(full) if full is not None else f"{type(exc).__name__}: {exc}"
            self._finish(job.id, "failed", error=detail, message=detail[:200], trace=traceback.format_exc())
        else:
            self._finish(job.id, "done", result=result, message="Done")
        finally:
            self.running_ids.discard(job.id)

    def _record_pending(self) -> None:
        """Write the ends a full disk kept ``_finish`` from writing (raises ``DiskFull`` while it lasts)."""
        for job_id, params in list(self._unrecorded.items()):
            self.store.execute(_FINISH_SQL, params)
            self._unrecorded.pop(job_id, None)

    def _finish(self, job_id: int, state: str, *, result: Any = None, error: str | None = None, message: str = "",
                trace: str = "") -> None:  # fmt: skip
        """Record how the job ended. Never raises: a busy row is tried again for a while (a job left
        'running' after its handler ended would block its kind), then the failure is logged and the
        restart recovery (``recover``) settles the job."""
        params = [state, utcnow(), dumps(result) if result is not None else None,
                  (error + ("\n" + trace if trace else "")) if error else None, message, state, job_id]  # fmt: skip
        for attempt in range(20):
            try:
                self.store.execute(_FINISH_SQL, params)
                return
            except WriteConflict:
                time.sleep(0.05 * (attempt + 1))
            except DiskFull as exc:  # kept, and written by the loop once there is space (no restart)
                log.warning("job %s: its end (%s) waits for disk space: %s", job_id, state, exc)
                self.blocked = exc
                self._unrecorded[job_id] = params
                return
            except Exception:  # the store closing under us: nothing more can be written
                log.exception("job %s: could not record its end (%s)", job_id, state)
                return
        log.error("job %s: could not record its end (%s): the database stayed busy", job_id, state)
