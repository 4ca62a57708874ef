"""The held-out accuracy a training shows is one that anyone recomputes from the stored labels.

Issue 9: on flowers the Assist page showed 78 %, 59 %, 65 %, 14 %, 41 % as labels grew from 91 to 139,
14 % being below chance for 5 classes. Cause: calibration runs on the one-at-a-time labels only (a few
dozen there), folded by neighbour groups of 25; with 25 or fewer labels that made one group, the one fold
held out every row, no head predicted any, and the all-zero rows counted as class 0 (the accuracy was the
share of the first class); with 26-75 labels two or three groups held out half the labels each, whole
classes at a time. Real flowers, the real featurise and train jobs, about the project of the issue.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core import jobs
from core.assist import classify_jobs as cj
from core.assist import status
from core.assist.backbone import Backbone
from core.config import default_paths, shared_datasets
from core.permissions import SYSTEM
from core.store.db import Store, loads
from core.store.items import NewItem, add_items
from core.store.labels import save_label
from core.store.projects import create_project

FLOWERS = shared_datasets() / "flowers"
CLASSES = ["daisy", "dandelion", "rose", "sunflower", "tulip"]


@pytest.fixture(scope="module")
def backbone() -> Backbone:
    bb = Backbone.load(cache_dir=default_paths().models)
    cj.set_backbone(bb)
    return bb


def _run(store: Store, kind: str, project_id: int) -> object:
    job = jobs.submit(store, kind, {}, project_id=project_id)
    return jobs.handlers()[kind](jobs.JobContext(store, job, jobs.JobRunner(store)))


def _new_item(path: Path) -> NewItem:
    with Image.open(path) as im:
        w, h = im.size
    return NewItem(str(path), w, h, hashlib.sha1(path.read_bytes()).hexdigest(), path.stat().st_size)


def _recomputed(store: Store, project_id: int, metrics: dict) -> tuple[float, int]:
    """The held-out accuracy from the stored one-at-a-time labels and the run's stored held-out predictions,
    without the calibration code: (accuracy, number of held-out labels)."""
    truth = {
        int(i): int(c[0])
        for i, c in store.query(
            "SELECT i.id, i.class_ids FROM items i JOIN annotations a ON a.id = i.annotation_id"
            " WHERE i.project_id = ? AND coalesce(a.via, 'item') = 'item' AND len(i.class_ids) = 1",
            [project_id],
        )
    }
    with np.load(metrics["heldout_path"]) as f:
        ids, predicted = f["item_ids"].tolist(), f["predicted"].tolist()
    assert set(ids) == set(truth)  # every one-at-a-time label was held out and predicted once
    right = [predicted[n] == truth[i] for n, i in enumerate(ids)]
    return sum(right) / len(right), len(right)


def test_shown_heldout_accuracy_is_what_the_stored_labels_give(backbone: Backbone, tmp_path: Path) -> None:
    if not FLOWERS.is_dir():
        print(f"SKIP REASON: shared flowers dataset absent at {FLOWERS}")
        pytest.skip(f"shared flowers dataset absent at {FLOWERS}")
    store = Store(tmp_path / "a.duckdb")
    p = create_project(store, "flowers", "multiclass", CLASSES, by=SYSTEM)
    paths = [f for name in CLASSES for f in sorted((FLOWERS / name).glob("*.jpg"))[5::11][:20]]
    add_items(store, p.id, [_new_item(f) for f in paths])
    _run(store, cj.FEATURIZE, p.id)
    classes = {name: n for n, name in enumerate(CLASSES)}
    cids = {c: cid for c, cid in zip(CLASSES, sorted(r[0] for r in store.query(
        "SELECT id FROM label_classes WHERE project_id = ?", [p.id])), strict=True)}  # fmt: skip
    rows = store.query("SELECT id, path FROM items WHERE project_id = ? ORDER BY id", [p.id])
    order = np.random.default_rng(3).permutation(len(rows))
    # 91 labels as in the issue: most on grid pages, every fifth one image at a time (19 of them)
    for n, k in enumerate(order[:91]):
        item_id, path = rows[int(k)]
        cls = Path(path).parent.name
        assert cls in classes
        via = "item" if n % 5 == 0 else "page"
        save_label(
            store, int(item_id), {"class_id": cids[cls]}, author="ann", base_version=0, via=via, by=SYSTEM
        )
    result = _run(store, cj.TRAIN, p.id)
    assert isinstance(result, dict) and result["n_labels"] >= 89  # the labeled photos featurised
    metrics = loads(store.scalar("SELECT metrics FROM model_runs WHERE kind = 'train'"))
    acc, n = _recomputed(store, p.id, metrics)
    assert n == metrics["calibration_labels"] == metrics["heldout_labels"] >= 18
    assert metrics["heldout_accuracy"] == pytest.approx(acc)
    (run,) = [r for r in status.runs(store, p.id) if r.kind == "train"]
    assert f"held-out accuracy {acc:.0%} on {n} labels" in run.summary()  # what the Assist page shows
    assert run.n_labels == result["n_labels"]  # the runs table's "labels" column
    print(f"\nheld-out accuracy {acc:.0%} on {n} one-at-a-time labels ({result['n_labels']} labels in all)")
    store.close()


@pytest.mark.parametrize("n", [12, 25, 40])
def test_every_label_is_predicted_by_a_head_that_did_not_see_it(n: int) -> None:
    """Small label sets made one or two neighbour groups: rows were never predicted (all zeros) and counted
    as the first class. Now every row gets out-of-fold probabilities, and a separable set measures well
    above chance (20 %). Not 100 %: the folds keep look-alike groups together, and on classes this tight
    a group can be a whole class (the estimate errs low, on purpose: see calibration.out_of_fold_proba)."""
    from core.assist.calibration import calibrate, out_of_fold_proba
    from core.assist.heads import LabelSpace
    from core.domain import TaskType

    rng = np.random.default_rng(n)
    y = np.arange(n) % 5
    x = rng.normal(scale=0.3, size=(n, 32)).astype(np.float32) + np.eye(5, 32, dtype=np.float32)[y] * 3
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    space = LabelSpace(TaskType.MULTICLASS, (1, 2, 3, 4, 5))
    proba = out_of_fold_proba(space, x, y)
    assert not np.isnan(proba).any() and (proba.sum(axis=1) > 0.99).all()
    cal = calibrate(space, x, y)
    assert cal.metrics["heldout_labels"] == n
    assert cal.metrics["heldout_accuracy"] >= 0.5
