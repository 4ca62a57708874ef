"""``core.assist.trained``: the newest usable model of a project, found by its run row, typed."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from core.assist import trained
from core.assist.calibration import calibrate_from_heldout
from core.assist.heads import LabelSpace
from core.assist.trained import ModelKind, TrainedModel
from core.domain import TaskType
from core.permissions import SYSTEM
from core.store.projects import create_project


def _run(store, pid: int, model: str, metrics: object, state: str = "done") -> int:  # type: ignore[no-untyped-def]
    text = metrics if isinstance(metrics, str) else json.dumps(metrics)
    row = store.execute(
        "INSERT INTO model_runs (project_id, kind, model, state, metrics) VALUES (?, 'train', ?, ?, ?) RETURNING id",
        [pid, model, state, text],
    )
    return int(row[0][0])


def test_no_model_until_a_training_saves_a_file(store) -> None:  # type: ignore[no-untyped-def]
    pid = create_project(store, "P", TaskType.MULTICLASS, ["a", "b"], by=SYSTEM).id
    _run(store, pid, "linear-head/x", {"skipped": "needs labels of at least two classes"})
    _run(store, pid, "linear-head/x", {"head_path": "/h.npz"}, state="failed")
    _run(store, pid, "linear-head/x", "not json")
    assert trained.latest(store, pid) is None and not trained.any_trained(store, pid)
    run = _run(
        store, pid, "linear-head/x", {"head_path": "/h.npz", "threshold": 0.8, "claim_threshold": None}
    )
    found = trained.latest(store, pid, ModelKind.HEAD)
    assert found is not None and found.run_id == run and found.path == Path("/h.npz")
    assert found.threshold == 0.8 and found.claim_threshold is None and math.isinf(found.page_threshold)
    assert trained.any_trained(store, pid)


def test_a_run_without_a_model_name_is_a_head(store) -> None:  # type: ignore[no-untyped-def]
    pid = create_project(store, "P", TaskType.MULTICLASS, ["a", "b"], by=SYSTEM).id
    store.execute(  # as the grid benchmark and page tests seed one
        "INSERT INTO model_runs (project_id, kind, state, metrics) VALUES (?, 'train', 'done', ?)",
        [pid, '{"head_path": "bench", "page_threshold": 0.5}'],
    )
    found = trained.latest(store, pid, ModelKind.HEAD)
    assert found is not None and found.page_threshold == 0.5
    last = trained.last_training(store, pid)
    assert last is not None and last.run_id == found.run_id and last.n_labels is None


def test_thresholds_read_back_typed(store) -> None:  # type: ignore[no-untyped-def]
    pid = create_project(store, "P", TaskType.MULTILABEL, ["a", "b"], by=SYSTEM).id
    metrics = {"head_path": "/h.npz", "class_thresholds": [0.7, None], "auto_accept_threshold": 0.99}
    _run(store, pid, "linear-head/x", {**metrics, "page_threshold": 0.9, "claim_threshold": 0.95})
    found = trained.latest(store, pid)
    assert found is not None and found.class_thresholds == [0.7, None]
    assert (found.auto_accept_threshold, found.page_threshold, found.claim_threshold) == (0.99, 0.9, 0.95)


def test_the_newest_detector_whose_file_exists(store, tmp_path) -> None:  # type: ignore[no-untyped-def]
    pid = create_project(store, "P", TaskType.BOXES, ["a", "b"], by=SYSTEM).id
    kept = tmp_path / "d.pt"
    kept.write_bytes(b"x")
    older = _run(store, pid, "fcos-lite0@320", {"head_path": str(kept), "threshold": 0.4})
    _run(store, pid, "fcos-lite0@320", {"head_path": str(tmp_path / "deleted.pt")})
    found = trained.latest(store, pid, ModelKind.DETECTOR)
    assert found is not None and found.run_id == older and found.threshold == 0.4
    assert trained.latest(store, pid, ModelKind.HEAD) is None  # a detector is not a head


def test_model_files_are_named_by_project_run_and_kind(store) -> None:  # type: ignore[no-untyped-def]
    head = trained.model_file(store, 3, 7, ModelKind.HEAD)
    assert head.name == "p3-head-run7.npz" and head.parent == store.path.parent / "models"
    assert trained.model_file(store, 3, 7, ModelKind.DETECTOR).name == "p3-detector-run7.pt"
    assert trained.heldout_file(store, 3, 7).name == "p3-heldout-run7.npz"


def test_a_stored_model_proposes_what_its_calibration_proposed() -> None:
    """The thresholds stored as the train job stores them give the calibration's own proposals, and the
    multi-label classes sure enough come pre-ticked only where the proposal is not shown."""
    rng = np.random.default_rng(3)
    space = LabelSpace(TaskType.MULTILABEL, (1, 2, 3))
    truth = rng.random((300, 3)) < 0.3
    proba = np.where(truth, rng.uniform(0.8, 1.0, (300, 3)), rng.uniform(0.0, 0.6, (300, 3))).astype(
        np.float32
    )
    cal = calibrate_from_heldout(space, proba, truth.astype(np.float32), target=0.9)
    finite = [float(t) if np.isfinite(t) else None for t in cal.class_thresholds]
    model = TrainedModel.from_metrics(1, {**cal.metrics, "head_path": "/h.npz", "class_thresholds": finite})
    mine, theirs = model.propose(space, proba), cal.propose(proba)
    assert mine.shown.any() and np.array_equal(mine.shown, theirs.shown)
    assert np.array_equal(mine.classes, theirs.classes)
    assert mine.sure is not None and mine.sure.any() and not mine.sure[mine.shown].any()
    assert np.array_equal(mine.sure, cal.sure(proba) & ~mine.shown[:, None])
    k = int(np.flatnonzero(mine.sure.any(axis=1))[0])
    assert mine.payload(k)["sure_class_ids"] == space.decode(np.flatnonzero(mine.sure[k]))
    nothing = TrainedModel.from_metrics(2, {"head_path": "/h.npz"}).propose(space, proba)
    assert not nothing.shown.any() and nothing.sure is None  # no threshold: nothing shown, nothing ticked
