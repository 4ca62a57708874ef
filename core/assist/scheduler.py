"""Runs assistance by itself: a thread that queues featurisation, training and inference as work arrives.

Every ``interval_s`` seconds, for each active project with assistance on (``core.assist.status``),
the scheduler looks at a few counts and queues at most one job of each kind it finds due. Jobs run
in the job runner's workers; the labeling screen never waits for them. Rules (classification):

* **featurise** when some items have no embedding and either no featurisation has run yet or some
  of those items arrived after the last one started (an import, an upload, the folder watcher).
  Items a finished run could not read are not retried in a loop; "Featurise now" retries them.
* **train** when ``core.assist.stages.project_stage`` says it is due: ``train_every`` new labels
  with an embedding since the last training (the first at ``min_labels_to_train``), labels of two
  classes at least (boxes and polygons: one, ``status.stage_policy``). The training job runs
  inference itself when it ends.
* **infer** when a trained model exists, no featurisation is running, and items were featurised
  after the last inference began (new images get proposals without waiting for the next training).
* **in-order queue**: with ``assist_in_order`` on, ranks the model wrote are cleared.

A project whose counts did not move since the last look is skipped (a few cheap figures decide), and
on a large project the full look runs at most ``duty`` of the time (0.5 s at 500,000 items: every
10 s). A job of a kind never runs twice at once for a project (``classify_jobs.request_job`` checks). A
failed job is retried after ``retry_after_s`` at the earliest, so a broken input cannot loop.
Boxes and polygons: the same rules over the kinds ``core.assist.detect_jobs`` declares
(``FEATURIZE``/``TRAIN``/``INFER``), when that module is installed; otherwise nothing is queued and
``core.assist.status.availability`` says why.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core import jobs
from core.assist import status, trained
from core.assist.stages import project_stage
from core.assist.status import CLASSIFY_KINDS, JobKinds, job_kinds
from core.background import Periodic
from core.domain import Project, ProjectState, User
from core.store import projects
from core.store.db import Store
from core.store.labels import utcnow

log = logging.getLogger(__name__)

__all__ = ["CLASSIFY_KINDS", "AssistScheduler", "Decision", "JobKinds", "job_kinds", "request"]


@dataclass(frozen=True)
class Decision:
    project_id: int
    kind: str
    reason: str
    job_id: int | None  # None: a job of that kind was already queued or running


def request(
    store: Store, kind: str, project_id: int, runner: jobs.JobRunner | None, *, by: User | None = None
) -> jobs.Job | None:
    """Queue ``kind`` unless one is queued or running for the project (``classify_jobs.request_job``)."""
    from core.assist.classify_jobs import request_job

    if runner is not None and kind not in jobs.handlers():
        raise ValueError(f"No job handler for {kind!r}.")
    return request_job(store, kind, project_id, runner, by=by)


class AssistScheduler(Periodic):
    """The background thread; ``tick()`` is one pass and may be called directly (tests, scripts)."""

    thread_name = "annota-assist"
    step_first = False

    def __init__(
        self,
        store: Store,
        runner: jobs.JobRunner | None,
        interval_s: float = 3.0,
        *,
        retry_after_s: float = 300.0,
        recheck_s: float = 30.0,
        duty: float = 0.05,
    ) -> None:
        super().__init__(interval_s)
        self.store = store
        self.runner = runner
        self.retry_after = timedelta(seconds=retry_after_s)
        self.recheck_s = recheck_s  # a project whose counts did not move is looked at again after this
        self.duty = duty  # at most this share of the time on one project's checks (large projects)
        self._seen: dict[int, tuple[tuple[Any, ...], float, float]] = {}  # id -> (fingerprint, at, cost)
        self.ticks = 0

    def step(self) -> object:
        return self.tick()

    # ------------------------------------------------------------ decisions

    def tick(self, *, force: bool = False) -> list[Decision]:
        """One pass over the projects; returns what was queued (or found already queued).

        ``force``: look at every project, even those whose figures did not move."""
        self.ticks += 1
        out: list[Decision] = []
        for project in projects.list_projects(self.store):
            if project.state is not ProjectState.ACTIVE:
                continue
            if not status.read_settings(project).enabled:
                continue
            kinds = job_kinds(project.task_type)
            if kinds is None:
                continue
            fingerprint = self._fingerprint(project)
            seen = self._seen.get(project.id)
            now = time.monotonic()
            if (
                not force
                and seen is not None
                and (
                    (seen[0] == fingerprint and now - seen[1] < self.recheck_s)
                    or now - seen[1] < seen[2] / self.duty
                )
            ):
                continue  # nothing moved, or the last look was expensive and recent
            try:
                out.extend(self._project(project, kinds))
            except Exception as exc:
                log.warning("assist scheduler: project %s: %s", project.id, exc)
            self._seen[project.id] = (fingerprint, now, time.monotonic() - now)
        return out

    def _fingerprint(self, project: Project) -> tuple[Any, ...]:
        """Cheap figures that move when anything the rules read moves (a few ms at 500,000 items)."""
        items = self.store.query_one(
            "SELECT count(*), max(created_at), max(updated_at), count(queue_rank) FROM items WHERE project_id = ?",
            [project.id],
        )
        n_emb = self.store.scalar("SELECT count(*) FROM embeddings WHERE project_id = ?", [project.id])
        job = self.store.query_one(
            "SELECT max(id), max(finished_at), count(*) FILTER (WHERE state IN ('queued', 'running'))"
            " FROM jobs WHERE project_id = ?",
            [project.id],
        )
        return (items, n_emb, job, project.target_precision, sorted(project.settings.items(), key=str))

    def _project(self, project: Project, kinds: JobKinds) -> list[Decision]:
        out: list[Decision] = []
        active = status.active_kinds(self.store, project.id)
        reason = self._featurize_due(project.id, kinds)
        if reason and kinds.featurize not in active:
            out.append(self._queue(project.id, kinds.featurize, reason))
        reason = self._train_due(project, kinds)
        if reason and kinds.train not in active:
            out.append(self._queue(project.id, kinds.train, reason))
        elif not active & {kinds.train, kinds.infer, kinds.featurize}:  # infer once featurisation is done
            reason = self._infer_due(project.id, kinds)
            if reason:
                out.append(self._queue(project.id, kinds.infer, reason))
        if status.read_settings(project).queue_order == "in_order" and not active & {
            kinds.train,
            kinds.infer,
        }:
            ranked = self.store.scalar(
                "SELECT count(*) FROM items WHERE project_id = ? AND queue_rank IS NOT NULL", [project.id]
            )
            if ranked:
                status.clear_queue_ranks(self.store, project.id)
        return out

    def _queue(self, project_id: int, kind: str, reason: str) -> Decision:
        job = request(self.store, kind, project_id, self.runner)
        if job is not None:
            log.info("assist: queued %s for project %s (%s)", kind, project_id, reason)
        return Decision(project_id, kind, reason, job.id if job else None)

    def _last_job(self, project_id: int, kind: str) -> tuple[str, datetime | None, datetime | None] | None:
        row = self.store.query_one(
            "SELECT state, coalesce(started_at, created_at), finished_at FROM jobs WHERE project_id = ? AND kind = ?"
            " ORDER BY id DESC LIMIT 1",
            [project_id, kind],
        )
        return (str(row[0]), row[1], row[2]) if row else None

    def _backing_off(self, last: tuple[str, datetime | None, datetime | None] | None) -> bool:
        """A failed last job: wait ``retry_after`` before another try."""
        if last is None or last[0] != "failed":
            return False
        return last[2] is not None and utcnow() - last[2] < self.retry_after

    def _featurize_due(self, project_id: int, kinds: JobKinds) -> str:
        n_items, newest = self.store.query_one(
            "SELECT count(*), max(created_at) FROM items WHERE project_id = ?", [project_id]
        ) or (0, None)
        n_feat = self.store.scalar(
            "SELECT count(DISTINCT item_id) FROM embeddings WHERE project_id = ?", [project_id]
        )
        if not n_items or int(n_feat or 0) >= int(n_items):
            return ""
        last = self._last_job(project_id, kinds.featurize)
        if last is None:
            return f"{int(n_items) - int(n_feat or 0):,} images have no embedding yet"
        if self._backing_off(last):
            return ""
        if last[0] == "failed":
            return "retrying the featurisation that failed"
        started = last[1]
        if started is None or newest is None:
            return ""
        new = self.store.scalar(
            "SELECT count(*) FROM items i WHERE i.project_id = ? AND i.created_at > ? AND NOT EXISTS"
            " (SELECT 1 FROM embeddings e WHERE e.item_id = i.id AND e.project_id = i.project_id)",
            [project_id, started],
        )
        return f"{int(new):,} new images have no embedding yet" if new else ""

    def _train_due(self, project: Project, kinds: JobKinds) -> str:
        last = self._last_job(project.id, kinds.train)
        if self._backing_off(last):
            return ""
        counts = status.assist_counts(self.store, project)
        stage = project_stage(counts, status.stage_policy(project))
        if not stage.should_train:
            return ""
        if counts.labels_at_last_training is None:
            return f"first training: {counts.n_labeled} labels"
        return f"{counts.n_labeled - counts.labels_at_last_training} new labels since the last training"

    def _infer_due(self, project_id: int, kinds: JobKinds) -> str:
        if not trained.any_trained(self.store, project_id):
            return ""
        since: Any = None
        for kind in (kinds.infer, kinds.train):
            last = self._last_job(project_id, kind)
            if kind == kinds.infer and self._backing_off(last):
                return ""
            if last is not None and last[1] is not None and (since is None or last[1] > since):
                since = last[1]
        if since is None:
            return ""
        new = self.store.scalar(
            "SELECT count(*) FROM embeddings e JOIN items i ON i.id = e.item_id WHERE e.project_id = ?"
            " AND e.created_at > ? AND i.status IN ('new', 'skipped') AND NOT EXISTS"
            " (SELECT 1 FROM predictions p WHERE p.item_id = e.item_id)",
            [project_id, since],
        )
        return f"{int(new):,} newly featurised images have no proposal yet" if new else ""
