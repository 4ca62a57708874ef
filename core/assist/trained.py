"""A trained model: the ``model_runs`` row of a finished training, its file and its thresholds.

A training job (``classify_jobs.train``: a linear head; ``detect_jobs.train``: the detector) writes a
``model_runs`` row whose ``metrics`` JSON holds ``head_path`` (the saved file) next to its figures and
thresholds. This module is the one place that knows that contract: the file a run saves to
(``model_file``), the newest usable model (``latest``), whether any exists (``any_trained``), and the
thresholds read back typed (``TrainedModel.threshold`` ...), so inference, grid pages, the scheduler and
the status page read fields, never dict keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.store.db import Store, loads

if TYPE_CHECKING:
    from core.assist.calibration import Proposals
    from core.assist.heads import LabelSpace

FILE_KEY = "head_path"  # the metrics key of the saved file
DETECTOR_MODEL = "fcos-lite0"  # the detector's model name; its runs are named ``fcos-lite0@<size>``
RECENT_DETECTORS = 5  # detector runs looked at for one whose file still exists


class ModelKind(StrEnum):
    HEAD = "head"  # a linear head on backbone embeddings (classification)
    DETECTOR = "detector"  # the box detector (boxes and polygons)


_SUFFIX = {ModelKind.HEAD: "head", ModelKind.DETECTOR: "detector"}
_EXT = {ModelKind.HEAD: "npz", ModelKind.DETECTOR: "pt"}


def model_file(store: Store, project_id: int, run_id: int, kind: ModelKind) -> Path:
    """Where training run ``run_id`` saves its model (in the data directory's ``models`` folder)."""
    return store.path.parent / "models" / f"p{project_id}-{_SUFFIX[kind]}-run{run_id}.{_EXT[kind]}"


def heldout_file(store: Store, project_id: int, run_id: int) -> Path:
    """Where a head's training saves the held-out predictions its figures come from."""
    return store.path.parent / "models" / f"p{project_id}-heldout-run{run_id}.npz"


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class TrainedModel:
    """A finished training that saved a model file, with its thresholds (``None``: not found)."""

    run_id: int
    path: Path
    metrics: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_metrics(cls, run_id: int, metrics: dict[str, Any]) -> TrainedModel:
        return cls(int(run_id), Path(str(metrics.get(FILE_KEY) or "")), dict(metrics))

    @property
    def threshold(self) -> float | None:
        """The confidence a proposal needs to be shown (reaches the target on held-out labels)."""
        return _number(self.metrics.get("threshold"))

    @property
    def class_thresholds(self) -> list[float | None]:
        """Multi-label: each class's own threshold, in the label space's order (may be empty)."""
        return [_number(t) for t in self.metrics.get("class_thresholds") or []]

    @property
    def auto_accept_threshold(self) -> float | None:
        """The stricter confidence above which a shown proposal becomes a label, when auto-accept is on."""
        return _number(self.metrics.get("auto_accept_threshold"))

    @property
    def claim_threshold(self) -> float | None:
        """Multi-label: a class above it comes pre-ticked (``Calibration.sure``)."""
        return _number(self.metrics.get("claim_threshold"))

    @property
    def claim_thresholds(self) -> np.ndarray | None:
        """Multi-label: per class, the probability from which it comes pre-ticked (the pooled threshold
        checked class by class; inf: never); runs before that check had only the pooled one."""
        values = self.metrics.get("claim_thresholds")
        if isinstance(values, list) and values:
            return np.array([np.inf if _number(v) is None else _number(v) for v in values], dtype=np.float64)
        return None if self.claim_threshold is None else np.array([self.claim_threshold], dtype=np.float64)

    @property
    def page_threshold(self) -> float:
        """Multi-class: the confidence a grid page grouped by the head's guess needs (inf: none)."""
        value = _number(self.metrics.get("page_threshold"))
        return float("inf") if value is None else value

    @property
    def detector_threshold(self) -> float:
        """The detector's calibrated box threshold (0.5 when the run recorded none)."""
        return float(
            (self.metrics.get("calibration") or {}).get("threshold", self.metrics.get("threshold", 0.5))
        )

    def propose(self, space: LabelSpace, proba: np.ndarray) -> Proposals:
        """Proposals for rows of ``proba`` at this model's stored thresholds (``calibration.propose_at``:
        the rule a fresh calibration uses; a missing threshold shows nothing)."""
        from core.assist.calibration import propose_at

        thr = np.array([np.inf if t is None else t for t in self.class_thresholds], dtype=np.float64)
        threshold = np.inf if self.threshold is None else self.threshold
        return propose_at(space, proba, threshold, thr, self.claim_thresholds)


_DONE_TRAIN = (  # a finished training whose metrics name its file (malformed metrics: not one)
    "project_id = ? AND kind = 'train' AND state = 'done'"
    f" AND CASE WHEN json_valid(metrics) THEN json_extract_string(metrics, '$.{FILE_KEY}') END IS NOT NULL"
)


def latest(store: Store, project_id: int, kind: ModelKind | None = None) -> TrainedModel | None:
    """The newest finished training that saved a model (``kind``: of that kind; a detector's file must
    still exist, so a deleted file falls back to the one before)."""
    if kind is not ModelKind.DETECTOR:
        model = "" if kind is None else " AND coalesce(model, '') NOT LIKE ?"
        params: list[Any] = [project_id] if kind is None else [project_id, f"{DETECTOR_MODEL}%"]
        row = store.query_one(
            f"SELECT id, metrics FROM model_runs WHERE {_DONE_TRAIN}{model} ORDER BY id DESC LIMIT 1", params
        )
        return None if row is None else TrainedModel.from_metrics(int(row[0]), loads(row[1]) or {})
    rows = store.query(
        f"SELECT id, metrics FROM model_runs WHERE {_DONE_TRAIN} AND model LIKE ? ORDER BY id DESC LIMIT ?",
        [project_id, f"{DETECTOR_MODEL}%", RECENT_DETECTORS],
    )
    for run_id, metrics in rows:
        found = TrainedModel.from_metrics(int(run_id), loads(metrics) or {})
        if found.path.is_file():
            return found
    return None


@dataclass(frozen=True)
class TrainingRun:
    """The newest finished training, whether or not it saved a model (a skipped one says why)."""

    run_id: int
    n_labels: int | None  # the labels it saw: the stage counts new labels from here
    metrics: dict[str, Any] = field(default_factory=dict)


def last_training(store: Store, project_id: int) -> TrainingRun | None:
    row = store.query_one(
        "SELECT id, n_labels, metrics FROM model_runs WHERE project_id = ? AND kind = 'train' AND state = 'done'"
        " ORDER BY id DESC LIMIT 1",
        [project_id],
    )
    if row is None:
        return None
    return TrainingRun(int(row[0]), None if row[1] is None else int(row[1]), dict(loads(row[2]) or {}))


def showed_proposals_before(store: Store, project_id: int, run_id: int) -> bool:
    """Whether any finished training before ``run_id`` found a threshold (showed proposals): after two
    trainings in a row that certify nothing, the proposals shown before are still the ones withdrawn."""
    rows = store.query(
        "SELECT metrics FROM model_runs WHERE project_id = ? AND kind = 'train' AND state = 'done' AND id < ?"
        " ORDER BY id DESC",
        [project_id, run_id],
    )
    return any((loads(m) or {}).get("threshold") is not None for (m,) in rows)


def any_trained(store: Store, project_id: int) -> bool:
    """Whether the project has a finished training that saved a model (of either kind)."""
    return bool(store.scalar(f"SELECT count(*) FROM model_runs WHERE {_DONE_TRAIN}", [project_id]))
