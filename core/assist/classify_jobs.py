"""Job handlers for classification assistance: featurise, train (+ calibrate), infer.

Registered with ``core.jobs`` on import (kinds ``assist_featurize``, ``assist_train``,
``assist_infer``). Each run writes a ``model_runs`` row (state, duration, compute seconds as
process CPU time, or wall time on a GPU, cost from the configured price per hour, device,
metrics) for the dashboard. Helpers ``request_*`` queue a job unless one of that kind is already
queued or running for the project, so callers (imports, label saves) may call them freely.

Settings (``ProjectInfo.prefs``, cleaned by ``core.settings``): the price per hour, the queue order
(``learn`` | ``confirm``), the confidence level and the ``StagePolicy`` (``train_every``,
``auto_accept``, ``auto_accept_target``, ...).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core import jobs
from core.assist import audit, queue_ranks, trained
from core.assist.backbone import Backbone
from core.assist.calibration import (
    proposal_confidence,
)
from core.assist.embeddings import EmbeddingIndex, from_blob, index_folder, to_blob
from core.assist.heads import LabelSpace, LinearHead, train_head
from core.assist.job_support import error_collector, insert_embeddings, job_project_id, missing_items
from core.assist.label_calibration import LabelEvidence, calibrate_labels
from core.assist.sampling import QueueOrder
from core.domain import Source, TaskType, User
from core.permissions import SYSTEM, Action, require
from core.quality import consensus
from core.settings import ProjectSettings
from core.store.db import Store, dumps, loads
from core.store.labels import save_label, utcnow

FEATURIZE, TRAIN, INFER = "assist_featurize", "assist_train", "assist_infer"
AUTO_ACCEPT_AUTHOR = "annota:auto-accept"
CHUNK = 256

_lock = threading.Lock()
_backbone: Backbone | None = None


def set_backbone(backbone: Backbone | None) -> None:
    """Use this backbone (the app passes its cached one; tests a prepared one)."""
    global _backbone
    with _lock:
        _backbone = backbone


def get_backbone() -> Backbone:
    """The process's backbone, loaded on first use."""
    global _backbone
    with _lock:
        if _backbone is None:
            _backbone = Backbone.load()
        return _backbone


# ---------------------------------------------------------------- run records


@dataclass
class RunRecord:
    id: int
    metrics: dict[str, Any] = field(default_factory=dict)
    n_labels: int | None = None
    n_items: int | None = None


@contextmanager
def model_run(
    store: Store, project_id: int, job_id: int | None, kind: str, model: str, device: str, price: float
) -> Iterator[RunRecord]:
    """A ``model_runs`` row around a block: running, then done or failed with timings and cost."""
    row = store.execute(
        "INSERT INTO model_runs (project_id, job_id, kind, model, device, state, started_at)"
        " VALUES (?, ?, ?, ?, ?, 'running', ?) RETURNING id",
        [project_id, job_id, kind, model, device, utcnow()],
    )
    rec = RunRecord(int(row[0][0]))
    wall0, cpu0 = time.perf_counter(), time.process_time()
    state = "failed"
    try:
        yield rec
        state = "done"
    except jobs.Cancelled:
        state = "cancelled"
        raise
    finally:
        duration = time.perf_counter() - wall0
        compute = duration if device.startswith("cuda") else time.process_time() - cpu0
        store.execute(
            "UPDATE model_runs SET state = ?, finished_at = ?, duration_s = ?, compute_s = ?, cost = ?,"
            " n_labels = ?, n_items = ?, metrics = ? WHERE id = ?",
            [state, utcnow(), duration, compute, compute / 3600.0 * price, rec.n_labels, rec.n_items,
             dumps(rec.metrics), rec.id],
        )  # fmt: skip


# ---------------------------------------------------------------- project facts


@dataclass(frozen=True)
class ProjectInfo:
    id: int
    space: LabelSpace
    target: float
    prefs: ProjectSettings  # the project's settings, cleaned (``core.settings``)


def project_info(store: Store, project_id: int) -> ProjectInfo:
    row = store.query_one(
        "SELECT task_type, target_precision, settings FROM projects WHERE id = ?", [project_id]
    )
    if row is None:
        raise ValueError(f"project {project_id} does not exist")
    task = TaskType(row[0])
    class_ids = tuple(
        int(r[0])
        for r in store.query(
            "SELECT id FROM label_classes WHERE project_id = ? ORDER BY ord, id", [project_id]
        )
    )
    return ProjectInfo(
        project_id, LabelSpace(task, class_ids), float(row[1]), ProjectSettings.parse(loads(row[2]))
    )


def project_index(
    store: Store, project_id: int, model_id: str, cache_root: Path | None = None
) -> EmbeddingIndex:
    """The project's search index, brought up to date with the ``embeddings`` table."""
    if cache_root is None:
        cache_root = store.path.parent / "cache" / "embeddings"
    key = f"assist_index:{project_id}:{model_id}:{cache_root}"
    with store.lock:
        index = store.caches.get(key)
        if index is None:
            index = EmbeddingIndex(index_folder(cache_root, project_id, model_id))
            store.caches[key] = index
    stored = int(store.scalar("SELECT count(*) FROM embeddings WHERE project_id = ? AND model = ?",
                              [project_id, model_id]) or 0)  # fmt: skip
    if stored == len(index):  # nothing new (embeddings are only ever added): no id scan
        return index
    ids = np.array([r[0] for r in store.query("SELECT item_id FROM embeddings WHERE project_id = ? AND model = ?",
                                              [project_id, model_id])], dtype=np.int64)  # fmt: skip
    missing = ids[~index.contains_many(ids)].tolist()
    for s in range(0, len(missing), 4096):
        part = missing[s : s + 4096]
        rows = store.query(
            "SELECT item_id, vec FROM embeddings WHERE project_id = ? AND model = ? AND item_id IN (SELECT unnest(?))",
            [project_id, model_id, part],
        )
        index.add([int(r[0]) for r in rows], np.stack([from_blob(r[1], index.dim) for r in rows]))
    return index


def labeled_answers(
    store: Store, info: ProjectInfo, *, one_at_a_time: bool = False
) -> tuple[list[int], list[Any]]:
    """Item ids and answers of the items a person labeled (auto-accepted ones excluded).

    ``one_at_a_time``: only labels given to one image at a time (``annotations.via = 'item'``), the
    ones calibration may use (cluster pages choose easy look-alikes: see ``core.store.labels``)."""
    rows = store.query(
        "SELECT i.id, i.class_ids FROM items i JOIN annotations a ON a.id = i.annotation_id"
        " WHERE i.project_id = ? AND i.status IN ('labeled', 'reviewed') AND a.author <> ?"
        " AND (NOT ? OR coalesce(a.via, 'item') = 'item') ORDER BY i.id",
        [info.id, AUTO_ACCEPT_AUTHOR, one_at_a_time],
    )
    ids: list[int] = []
    answers: list[Any] = []
    known = set(info.space.class_ids)
    for item_id, class_ids in rows:
        cids = [int(c) for c in (class_ids or []) if int(c) in known]
        if info.space.multilabel:
            ids.append(int(item_id))
            answers.append(cids)
        elif len(cids) == 1:
            ids.append(int(item_id))
            answers.append(cids[0])
    return ids, answers


def _active(store: Store, project_id: int, kind: str) -> bool:
    return bool(jobs.list_jobs(store, project_id, active_only=True, kind=kind, limit=1))


def request_job(
    store: Store, kind: str, project_id: int, runner: jobs.JobRunner | None = None, *, by: User | None = None
) -> jobs.Job | None:
    """Queue ``kind`` for the project unless one is already queued or running. A person's request
    (``by``: Featurise now, Train now) needs ``MANAGE``; the scheduler's (``by=None``) is annota's own."""
    if by is not None:
        require(store, by, Action.MANAGE, project_id)
    if _active(store, project_id, kind):
        return None
    if runner is not None:
        return runner.submit(kind, {}, project_id=project_id, created_by="annota")
    return jobs.submit(store, kind, {}, project_id=project_id, created_by="annota")


# ---------------------------------------------------------------- handlers


@jobs.register(FEATURIZE)
def featurize(ctx: jobs.JobContext) -> dict[str, Any]:
    """Embed every item of the project that has no embedding yet, in committed chunks (resumable);
    items that arrive meanwhile are taken too."""
    project_id = job_project_id(ctx)
    info = project_info(ctx.store, project_id)
    bb = get_backbone()
    batch = int(ctx.params.get("batch_size", 32))
    failed: dict[int, str] = {}
    done = 0
    with model_run(ctx.store, project_id, ctx.job.id, "featurize", bb.model_id, bb.device_name,
                   info.prefs.price_per_hour) as rec:  # fmt: skip
        index = project_index(ctx.store, project_id, bb.model_id)
        while True:
            todo = missing_items(ctx.store, project_id, bb.model_id, set(failed), CHUNK)
            if not todo:
                break
            total = done + len(todo) + _count_missing(ctx.store, project_id, bb.model_id) - len(todo)
            ctx.progress(done / max(total, 1), f"Featurising: {done:,} of {total:,} images")
            ids = [i for i, _ in todo]
            errors: dict[int, str] = {}
            vecs = bb.embed_paths([p for _, p in todo], batch_size=batch, on_error=error_collector(errors))
            failed.update({ids[k]: m for k, m in errors.items()})
            ok = [k for k in range(len(ids)) if k not in errors]
            now = utcnow()
            rows = [(ids[k], project_id, bb.model_id, to_blob(vecs[k]), now) for k in ok]
            if rows:
                insert_embeddings(ctx.store, rows)
                index.add([ids[k] for k in ok], vecs[ok])
            done += len(ok)
        rec.n_items = done
        rec.metrics = {"featurised": done, "failed": len(failed), "errors": dict(list(failed.items())[:20])}
    if (
        trained.latest(ctx.store, project_id, trained.ModelKind.HEAD) is None
        and info.prefs.queue_order != "in_order"
    ):
        from core.store.queue import set_ranks

        set_ranks(ctx.store, project_id, queue_ranks.rank_before_head(ctx.store, project_id, index,
                                                                      info.prefs.audit_share))  # fmt: skip
    ctx.progress(
        1.0, f"Featurised {done:,} images" + (f", {len(failed)} failed" if failed else ""), force=True
    )
    return {"featurised": done, "failed": len(failed)}


def _count_missing(store: Store, project_id: int, model_id: str) -> int:
    return int(
        store.scalar(
            "SELECT count(*) FROM items i WHERE i.project_id = ? AND NOT EXISTS (SELECT 1 FROM embeddings e"
            " WHERE e.item_id = i.id AND e.project_id = i.project_id AND e.model = ?)",
            [project_id, model_id],
        )
        or 0
    )


def save_heldout(path: Path, space: LabelSpace, item_ids: list[int], proba: np.ndarray) -> Path:
    """The held-out predictions a training's figures come from, one row per one-at-a-time label:
    ``item_ids``, ``predicted`` (class ids; multi-label: presence per class in ``class_ids`` order) and
    ``confidence``. Anyone can recompute the held-out accuracy from them and the stored labels."""
    classes, conf = proposal_confidence(space, proba)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        np.savez(
            f,
            item_ids=np.asarray(item_ids, dtype=np.int64),
            predicted=np.asarray(classes, dtype=np.int64),
            confidence=np.asarray(conf, dtype=np.float32),
            class_ids=np.asarray(space.class_ids, dtype=np.int64),
        )
    return path


@jobs.register(TRAIN)
def train(ctx: jobs.JobContext) -> dict[str, Any]:
    """Train the head on every human label, calibrate by cross-validation, then run inference."""
    project_id = job_project_id(ctx)
    info = project_info(ctx.store, project_id)
    bb = get_backbone()
    level = info.prefs.confidence_level
    policy = info.prefs.policy
    index = project_index(ctx.store, project_id, bb.model_id)
    ids, answers = labeled_answers(ctx.store, info)
    keep = [k for k, i in enumerate(ids) if i in index]
    ids, answers = [ids[k] for k in keep], [answers[k] for k in keep]
    with model_run(ctx.store, project_id, ctx.job.id, "train", f"linear-head/{bb.model_id}", "cpu",
                   info.prefs.price_per_hour) as rec:  # fmt: skip
        rec.n_labels, rec.n_items = len(ids), len(index)
        y = info.space.encode(answers)
        seen = int((y.sum(axis=0) > 0).sum()) if info.space.multilabel else len(set(answers))
        if len(ids) < 2 or seen < 2:
            rec.metrics = {"skipped": "needs labels of at least two classes"}
            return {"trained": False, "n_labels": len(ids)}
        ctx.progress(0.1, f"Calibrating on {len(ids):,} labels")
        x = index.get(ids)
        center = _project_center(index)
        single = set(labeled_answers(ctx.store, info, one_at_a_time=True)[0])
        state = audit.audit_state(ctx.store, project_id)
        head = train_head(info.space, x, y, center=center)
        id_arr = np.asarray(ids, dtype=np.int64)
        labeled_prefix = np.setdiff1d(state.prefix, state.skipped)
        n_rest = len(np.setdiff1d(index.ids, id_arr))
        evidence = LabelEvidence(
            single=np.array([i in single for i in ids], dtype=bool),
            in_turn=np.isin(id_arr, state.drawn),  # labeled in their turn
            in_prefix=np.isin(id_arr, labeled_prefix),
            n_skipped=len(state.skipped),
            n_pool=max(state.n_items, len(index)),
            rest_confidence=queue_ranks.rest_confidence(info.space, index, ids, head, seed=project_id),
            n_rest=n_rest,
        )
        lc = calibrate_labels(
            info.space,
            x,
            y,
            evidence,
            info.target,
            level,
            center=center,
            max_coverage=info.prefs.max_coverage,
        )
        cal, source = lc.calibration, lc.source
        heldout_file = None
        if len(lc.proba):
            heldout_file = save_heldout(
                trained.heldout_file(ctx.store, project_id, rec.id),
                info.space,
                [ids[k] for k in lc.rows],
                lc.proba,
            )
        if source == "audit":
            audit.record_audit_labels(ctx.store, project_id, state.prefix.tolist())
        in_prefix = evidence.in_turn
        rows = lc.rows.tolist()
        ctx.progress(0.6, "Saving the head")
        path = trained.model_file(ctx.store, project_id, rec.id, trained.ModelKind.HEAD)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(head.to_bytes())
        auto = cal.threshold_at(policy.auto_accept_target) if policy.auto_accept else float("inf")
        rec.metrics = {
            **cal.metrics,
            "calibration_labels": len(rows),
            "calibration_source": source,  # audit | one-at-a-time
            "audit_labels": int(in_prefix.sum()),
            "audit_prefix": len(state.prefix),
            "audit_skipped": len(state.skipped),
            "audit_most_sure": (  # [n, right]: why an audit that certifies nothing holds proposals back
                audit.most_sure(cal.heldout_confidence, cal.heldout_correct, info.target, level)
                if source == "audit"
                else None
            ),
            trained.FILE_KEY: str(path),
            "heldout_path": None if heldout_file is None else str(heldout_file),
            "class_thresholds": [_finite(t) for t in cal.class_thresholds],
            "auto_accept_threshold": _finite(auto),
        }
    result = infer_with(ctx, info, bb.model_id, head, trained.TrainedModel.from_metrics(rec.id, rec.metrics))
    return {
        "trained": True,
        "run_id": rec.id,
        "n_labels": len(ids),
        "threshold": rec.metrics["threshold"],
        **result,
    }


def _project_center(index: EmbeddingIndex) -> np.ndarray:
    total = np.zeros(index.dim, dtype=np.float64)
    for _, chunk in index.iter_chunks():
        total += chunk.sum(axis=0)
    return (total / max(len(index), 1)).astype(np.float32)


def _finite(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


@jobs.register(INFER)
def infer(ctx: jobs.JobContext) -> dict[str, Any]:
    """Proposals for every unlabeled featurised item from the latest trained head."""
    project_id = job_project_id(ctx)
    info = project_info(ctx.store, project_id)
    bb = get_backbone()
    found = trained.latest(ctx.store, project_id, trained.ModelKind.HEAD)
    if found is None:
        return {"inferred": 0, "reason": "no trained head yet"}
    head = LinearHead.from_bytes(found.path.read_bytes())
    if head.space != info.space:
        return {"inferred": 0, "reason": "the label classes changed since the last training"}
    return infer_with(ctx, info, bb.model_id, head, found)


def infer_with(
    ctx: jobs.JobContext, info: ProjectInfo, model_id: str, head: LinearHead, model: trained.TrainedModel
) -> dict[str, Any]:
    """Write ``predictions`` for the unlabeled items, re-rank the queue, auto-accept if enabled."""
    store = ctx.store
    index = project_index(store, info.id, model_id)
    threshold, auto = model.threshold, model.auto_accept_threshold
    labeled = {int(r[0]) for r in store.query(
        "SELECT id FROM items WHERE project_id = ? AND status IN ('labeled', 'reviewed')", [info.id])}  # fmt: skip

    with model_run(store, info.id, ctx.job.id, "infer", f"linear-head/{model_id}", "cpu",
                   info.prefs.price_per_hour) as rec:  # fmt: skip
        all_ids: list[np.ndarray] = []
        all_proba: list[np.ndarray] = []
        for ids, vecs in index.iter_chunks():
            keep = np.array([int(i) not in labeled for i in ids], dtype=bool)
            if keep.any():
                all_ids.append(ids[keep])
                all_proba.append(head.predict_proba(vecs[keep]))
        item_ids = np.concatenate(all_ids) if all_ids else np.zeros(0, np.int64)
        proba = np.concatenate(all_proba) if all_proba else np.zeros((0, info.space.n_classes), np.float32)
        props = model.propose(info.space, proba)
        conf, shown = props.confidence, props.shown
        sure = props.sure if props.sure is not None else np.zeros(proba.shape, dtype=bool)
        now = utcnow()
        rows = []
        for k, item in enumerate(item_ids.tolist()):
            payload = props.payload(k)  # with ``sure_class_ids`` for a partial proposal (pre-ticked)
            cids = props.class_ids(k)
            rows.append((item, info.id, rec.id, dumps(payload), float(conf[k]), bool(shown[k]), cids, now))

        def replace(cur: Any) -> None:
            cur.execute("DELETE FROM predictions WHERE project_id = ?", [info.id])
            if rows:
                cur.executemany(
                    "INSERT INTO predictions (item_id, project_id, run_id, payload, confidence, shown, class_ids,"
                    " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )

        store.write(replace)
        order = QueueOrder(info.prefs.rank_order)
        if len(item_ids):
            from core.store.queue import set_ranks

            ranks = queue_ranks.rank_with_head(store, info.id, index, item_ids, order, info.space, proba, labeled,
                                               info.prefs.audit_share)  # fmt: skip
            set_ranks(store, info.id, ranks.as_dict())
        accepted = _auto_accept(store, info, item_ids, rows, conf, shown, auto)
        rec.n_items = len(item_ids)
        rec.metrics = {
            "threshold": threshold,
            "proposals": len(rows),
            "shown": int(shown.sum()),
            "coverage": float(shown.mean()) if len(rows) else 0.0,
            "pre_ticked": int(sure.any(axis=1).sum()),
            "auto_accepted": accepted,
            "queue_order": order.value,
        }
    return {"inferred": len(rows), "shown": int(shown.sum()), "auto_accepted": accepted}


def _auto_accept(
    store: Store, info: ProjectInfo, item_ids: np.ndarray, rows: list[tuple[Any, ...]], conf: np.ndarray,
    shown: np.ndarray, auto: float | None,
) -> int:  # fmt: skip
    """Only when the owner turned it on: shown proposals above the stricter threshold become labels."""
    if auto is None or not info.prefs.policy.auto_accept:
        return 0
    n = 0
    blind, params = consensus.queue_filter(store, info.id)  # consensus images wait for k blind answers
    for k in np.flatnonzero(shown & (conf >= auto)).tolist():
        version = store.scalar(
            f"SELECT version FROM items WHERE id = ? AND status = 'new'{blind}", [int(item_ids[k]), *params]
        )
        if version is None:
            continue
        save_label(store, int(item_ids[k]), loads(rows[k][3]), author=AUTO_ACCEPT_AUTHOR,
                   base_version=int(version), source=Source.PRELABEL, proposal_kept=True, by=SYSTEM)  # fmt: skip
        n += 1
    return n
