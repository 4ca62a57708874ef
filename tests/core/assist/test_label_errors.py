"""Likely label errors: flipped labels of separable synthetic embeddings rank first; the store-facing
ranking on a real DuckDB project; the CLI's ``label-errors --json`` in a subprocess."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.assist.embeddings import normalize, to_blob
from core.assist.heads import LabelSpace
from core.assist.job_support import insert_embeddings
from core.assist.label_errors import RANKINGS, find_label_errors, out_of_fold, rank_label_errors
from core.domain import TaskType
from core.permissions import SYSTEM
from core.store.items import NewItem, add_items
from core.store.labels import save_label, utcnow
from core.store.projects import create_project, list_classes

ROOT = Path(__file__).resolve().parents[3]
MODEL = "test-backbone@0"


def blobs(
    n_per: int, n_classes: int, dim: int = 32, seed: int = 0, spread: float = 0.15
) -> tuple[np.ndarray, np.ndarray]:
    """Separable clusters: unit vectors around one random centre per class."""
    rng = np.random.default_rng(seed)
    centres = normalize(rng.normal(size=(n_classes, dim)))
    y = np.repeat(np.arange(n_classes), n_per)
    x = normalize(centres[y] + spread * rng.normal(size=(len(y), dim)) / np.sqrt(dim) * 3)
    return x.astype(np.float32), y


def flip(y: np.ndarray, n_classes: int, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(y), size=count, replace=False))
    noisy = y.copy()
    noisy[rows] = (y[rows] + rng.integers(1, n_classes, size=count)) % n_classes
    return noisy, rows


@pytest.mark.parametrize("ranking", RANKINGS)
@pytest.mark.parametrize("seed", [0, 1])
def test_multiclass_flips_rank_first(ranking: str, seed: int) -> None:
    x, y = blobs(40, 4, seed=seed)
    noisy, rows = flip(y, 4, 8, seed)
    space = LabelSpace(TaskType.MULTICLASS, (11, 12, 13, 14))
    proba = out_of_fold(space, x, noisy, seed=seed)
    assert not np.isnan(proba).any()
    r = rank_label_errors(space, noisy, proba, ranking)
    assert sorted(r.order.tolist()) == list(range(len(y)))
    assert set(r.order[: len(rows)].tolist()) == set(rows.tolist())  # every flip before every clean label
    flagged = set(np.flatnonzero(r.flagged).tolist())
    assert flagged <= set(rows.tolist()) and len(flagged) >= 6  # no clean label flagged, most flips
    assert (r.suggested[rows] == y[rows]).all()  # the suggestion is the true class


def test_multiclass_thresholds_are_per_class() -> None:
    """Confident learning: class 1's probabilities are low overall (mean 0.4), so p=0.45 for class 1
    on an item labeled 0 is confident; the same 0.45 would not be for class 0 (mean 0.9)."""
    space = LabelSpace(TaskType.MULTICLASS, (1, 2))
    proba = np.array([[0.9, 0.1], [0.9, 0.1], [0.55, 0.45], [0.6, 0.4], [0.6, 0.4], [0.6, 0.4]])
    y = np.array([0, 0, 0, 1, 1, 1])
    r = rank_label_errors(space, y, proba, "cl_self_confidence")
    # thresholds: class 0: mean(0.9, 0.9, 0.55) = 0.783; class 1: mean(0.4, 0.4, 0.4) = 0.4
    assert r.flagged.tolist() == [False, False, True, False, False, False]
    # row 2 is flagged, so it leads although rows 3-5 have a lower self-confidence (0.4 < 0.55)
    assert r.order[0] == 2
    assert r.order[1:].tolist() == [3, 4, 5, 0, 1]
    plain = rank_label_errors(space, y, proba, "self_confidence")
    assert plain.order[:3].tolist() == [3, 4, 5]


def test_unpredicted_rows_rank_last() -> None:
    space = LabelSpace(TaskType.MULTICLASS, (1, 2))
    proba = np.array([[np.nan, np.nan], [0.2, 0.8], [0.9, 0.1]])
    r = rank_label_errors(space, np.array([0, 0, 0]), proba)
    assert r.order.tolist() == [1, 2, 0]
    assert np.isnan(r.score[0]) and not r.flagged[0]


def test_unknown_ranking_is_refused() -> None:
    space = LabelSpace(TaskType.MULTICLASS, (1, 2))
    with pytest.raises(ValueError, match="unknown ranking"):
        rank_label_errors(space, np.array([0, 1]), np.array([[0.5, 0.5], [0.5, 0.5]]), "best")


def test_multilabel_flips_rank_first_per_class() -> None:
    x, y = blobs(40, 4, seed=3)
    truth = np.eye(4, dtype=np.float32)[y]
    truth[y == 0, 1] = 1.0  # class 0's images also show class 1
    rng = np.random.default_rng(3)
    rows = np.sort(rng.choice(len(y), size=8, replace=False))
    noisy = truth.copy()
    for r in rows:  # one class swapped: a present one removed, an absent one added
        noisy[r, rng.choice(np.flatnonzero(truth[r] > 0))] = 0
        noisy[r, rng.choice(np.flatnonzero(truth[r] == 0))] = 1
    space = LabelSpace(TaskType.MULTILABEL, (1, 2, 3, 4))
    proba = out_of_fold(space, x, noisy, seed=3)
    r = rank_label_errors(space, noisy, proba, "cl_self_confidence")
    assert set(r.order[: len(rows)].tolist()) == set(rows.tolist())
    exact = (r.suggested[rows] == truth[rows]).all(axis=1)
    assert exact.sum() >= 6  # most suggestions undo both swaps
    undone = ((r.suggested[rows] == truth[rows]) & (noisy[rows] != truth[rows])).any(axis=1)
    assert undone.all()  # every one undoes at least one


# ------------------------------------------------------------------ a real project


def make_project(store, n_per: int = 15, flips: int = 3, task: str = "multiclass", tmp: Path | None = None):
    """A project with 3 classes of synthetic embeddings stored as the featurise job stores them;
    every item labeled, ``flips`` of them with a wrong class. Returns (project, truth, flipped ids)."""
    names = ["cat", "dog", "fox"]
    project = create_project(store, "pets", task, names, by=SYSTEM)
    x, y = blobs(n_per, 3, dim=1280, seed=5)  # the product's index holds 1280-d vectors
    paths = [f"/photos/{names[c]}/img_{k:03d}.jpg" for k, c in enumerate(y)]
    add_items(store, project.id, [NewItem(p, 64, 48, f"{k:040x}") for k, p in enumerate(paths)])
    rows = store.query("SELECT id, path FROM items WHERE project_id = ? ORDER BY id", [project.id])
    id_of = {p: int(i) for i, p in rows}
    ids = [id_of[p] for p in paths]
    insert_embeddings(
        store, [(i, project.id, MODEL, to_blob(v), utcnow()) for i, v in zip(ids, x, strict=True)]
    )
    cid = [c.id for c in list_classes(store, project.id)]
    noisy, flipped = flip(y, 3, flips, seed=5)
    for i, c in zip(ids, noisy, strict=True):
        payload = {"class_ids": [cid[c]]} if task == "multilabel" else {"class_id": cid[c]}
        save_label(store, i, payload, author="ann", base_version=0, by=SYSTEM)
    truth = {ids[k]: names[c] for k, c in enumerate(y)}
    return project, truth, {ids[k] for k in flipped}, {ids[k]: paths[k] for k in range(len(ids))}


def test_find_label_errors_on_a_real_store(store) -> None:
    project, truth, flipped, paths = make_project(store)
    report = find_label_errors(store, project.id)
    assert report.reason is None and report.model == MODEL and report.n_labels == 45
    assert len(report.errors) == 45
    names = {c.id: c.name for c in list_classes(store, project.id)}
    top = report.errors[: len(flipped)]
    assert {e.item_id for e in top} == flipped
    for e in top:
        assert e.path == paths[e.item_id]
        assert [names[c] for c in e.suggested] == [truth[e.item_id]]
        assert [names[c] for c in e.label] != [truth[e.item_id]]
        assert e.flagged
    scores = [e.score for e in report.errors]
    assert all(a >= b for a, b in itertools.pairwise(scores))  # the default orders by score alone


def test_find_label_errors_multilabel_store(store) -> None:
    project, truth, flipped, _ = make_project(store, task="multilabel")
    report = find_label_errors(store, project.id)
    assert {e.item_id for e in report.errors[: len(flipped)]} == flipped


def test_find_label_errors_says_why_not(store) -> None:
    project = create_project(store, "few", "multiclass", ["a", "b"], by=SYSTEM)
    report = find_label_errors(store, project.id)
    assert report.errors == [] and report.reason is not None and "featurised" in report.reason
    boxes = create_project(store, "boxes", "boxes", ["a", "b"], by=SYSTEM)
    assert "classification" in (find_label_errors(store, boxes.id).reason or "")


def test_cli_label_errors_json(tmp_path) -> None:
    from core.config import Paths
    from core.store import Store

    data = tmp_path / "data"
    paths = Paths(data).ensure()
    s = Store(paths.db)
    try:
        _, truth, flipped, image_paths = make_project(s)
    finally:
        s.close()
    env = {**os.environ, "ANNOTA_DATA_DIR": str(data), "ANNOTA_ASSIST_SCHEDULER": "0"}
    cmd = [sys.executable, "-m", "core.cli", "label-errors", "pets", "--json"]
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert isinstance(rows, list) and len(rows) == 45
    for row in rows:
        assert {"image", "label", "suggested", "score"} <= set(row)
        assert row["image"] in image_paths.values()
    by_path = {p: i for i, p in image_paths.items()}
    assert {by_path[r["image"]] for r in rows[:3]} == flipped
    assert all(r["suggested"] == [truth[by_path[r["image"]]]] for r in rows[:3])
    text = subprocess.run(cmd[:-1], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert text.returncode == 0, text.stderr
    assert rows[0]["image"] in text.stdout
    missing = subprocess.run([*cmd[:-2], "nope", "--json"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert missing.returncode == 1 and "no project named" in missing.stderr
