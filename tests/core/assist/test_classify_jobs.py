"""Job handlers on a real store with real flower photos: featurise (resumable), train+calibrate, infer."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from core import jobs
from core.assist import classify_jobs as cj
from core.assist.backbone import Backbone
from core.config import default_paths, shared_datasets
from core.permissions import SYSTEM
from core.store.db import Store, loads
from core.store.items import NewItem, add_items
from core.store.labels import save_label
from core.store.projects import create_project

FLOWERS = shared_datasets() / "flowers"
CLASSES = ["daisy", "dandelion", "rose", "sunflower", "tulip"]


def _new_item(path: Path) -> NewItem:
    with Image.open(path) as im:
        w, h = im.size
    return NewItem(str(path), w, h, hashlib.sha1(path.read_bytes()).hexdigest(), path.stat().st_size)


def _run(store: Store, kind: str, project_id: int) -> tuple[jobs.Job, object]:
    job = jobs.submit(store, kind, {}, project_id=project_id)
    ctx = jobs.JobContext(store, job, jobs.JobRunner(store))
    return job, jobs.handlers()[kind](ctx)


@pytest.fixture(scope="module")
def cj_backbone() -> Backbone:
    bb = Backbone.load(cache_dir=default_paths().models)
    cj.set_backbone(bb)
    return bb


def test_featurise_train_infer_on_a_store(cj_backbone: Backbone, tmp_path: Path) -> None:
    if not FLOWERS.is_dir():
        pytest.skip(f"shared flowers dataset absent at {FLOWERS}")
    assert {cj.FEATURIZE, cj.TRAIN, cj.INFER} <= set(jobs.handlers())
    store = Store(tmp_path / "a.duckdb")
    project = create_project(
        store, "flowers", "multiclass", CLASSES, settings={"assist_price_per_hour": 3.6}, by=SYSTEM
    )
    files = {name: sorted((FLOWERS / name).glob("*.jpg"))[3::9][:16] for name in CLASSES}
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    add_items(store, project.id, [_new_item(p) for ps in files.values() for p in ps[:12]])
    add_items(store, project.id, [NewItem(str(broken), 10, 10, "0" * 40)])

    _, result = _run(store, cj.FEATURIZE, project.id)
    assert result == {"featurised": 60, "failed": 1}
    assert store.scalar("SELECT count(*) FROM embeddings WHERE project_id = ?", [project.id]) == 60
    vec = store.scalar("SELECT vec FROM embeddings LIMIT 1")
    assert len(vec) == 1280 * 2  # float16

    add_items(store, project.id, [_new_item(p) for ps in files.values() for p in ps[12:]])  # new arrivals
    _, result = _run(store, cj.FEATURIZE, project.id)
    assert result["featurised"] == 20  # only the new ones (and the broken file, failing again)

    classes = {c.name: c.id for c in _classes(store, project.id)}
    items = store.query("SELECT id, path FROM items WHERE project_id = ? ORDER BY id", [project.id])
    truth = {int(i): Path(p).parent.name for i, p in items if Path(p).parent.name in classes}
    labeled = [i for i in truth if list(truth).index(i) % 2 == 0][:40]
    for i in labeled:
        save_label(store, i, {"class_id": classes[truth[i]]}, author="ann", base_version=0, by=SYSTEM)
    job, result = _run(store, cj.TRAIN, project.id)
    assert isinstance(result, dict) and result["trained"] and result["n_labels"] == 40

    runs = store.query_dicts("SELECT * FROM model_runs WHERE project_id = ? ORDER BY id", [project.id])
    assert [r["kind"] for r in runs] == ["featurize", "featurize", "train", "infer"]
    assert all(r["state"] == "done" for r in runs)
    train_run = runs[2]
    assert train_run["job_id"] == job.id and train_run["n_labels"] == 40
    assert train_run["compute_s"] > 0 and train_run["cost"] == pytest.approx(
        train_run["compute_s"] / 1000, rel=1e-6
    )
    assert "onnxruntime" in runs[0]["device"] or "cuda" in runs[0]["device"]
    metrics = loads(train_run["metrics"])
    assert set(metrics["per_class"]) == {str(c) for c in classes.values()}
    assert loads(runs[0]["metrics"])["failed"] == 1

    preds = store.query_dicts("SELECT * FROM predictions WHERE project_id = ?", [project.id])
    unlabeled = set(truth) - set(labeled)
    assert {int(p["item_id"]) for p in preds} == unlabeled
    thr = metrics["threshold"]
    for p in preds:
        assert p["shown"] == (thr is not None and p["confidence"] >= thr)
        assert loads(p["payload"])["class_id"] == p["class_ids"][0]
    name_of = {v: k for k, v in classes.items()}
    acc = np.mean([name_of[p["class_ids"][0]] == truth[int(p["item_id"])] for p in preds])
    assert acc > 0.6, acc
    ranks = store.query("SELECT queue_rank FROM items WHERE id IN (SELECT unnest(?))", [sorted(unlabeled)])
    assert sorted(r[0] for r in ranks) == list(range(len(unlabeled)))

    _, again = _run(store, cj.INFER, project.id)
    assert isinstance(again, dict) and again["inferred"] == len(unlabeled)
    assert store.scalar("SELECT count(*) FROM predictions WHERE project_id = ?", [project.id]) == len(
        unlabeled
    )


def _featurised_flowers(tmp_path: Path, task: str, per_class: int) -> tuple[Store, int, list, dict[str, int]]:
    """A flowers project of ``per_class`` photos a class, featurised by the real job: (store, project id,
    its ``(item id, path)`` rows in id order, class ids by name)."""
    if not FLOWERS.is_dir():
        pytest.skip(f"shared flowers dataset absent at {FLOWERS}")
    store = Store(tmp_path / "a.duckdb")
    project = create_project(store, "flowers", task, CLASSES, by=SYSTEM)
    paths = [p for name in CLASSES for p in sorted((FLOWERS / name).glob("*.jpg"))[:per_class]]
    add_items(store, project.id, [_new_item(p) for p in paths])
    _run(store, cj.FEATURIZE, project.id)
    classes = {c.name: c.id for c in _classes(store, project.id)}
    items = store.query("SELECT id, path FROM items WHERE project_id = ? ORDER BY id", [project.id])
    return store, project.id, items, classes


def _label(store: Store, items: list, classes: dict[str, int], via_of: Any) -> None:
    """Label each ``(item id, path)`` with its folder's class, ``via_of(n)`` saying how (multi-class)."""
    for n, (item_id, path) in enumerate(items):
        cid = classes[Path(path).parent.name]
        save_label(store, item_id, {"class_id": cid}, author="ann", base_version=0, via=via_of(n), by=SYSTEM)


def test_calibration_uses_only_labels_given_one_at_a_time(cj_backbone: Backbone, tmp_path: Path) -> None:
    """Cluster pages pick easy look-alikes; their labels train the head but never calibrate it."""
    store, pid, items, classes = _featurised_flowers(tmp_path, "multiclass", 8)
    _label(store, items[:35], classes, lambda n: "item" if n % 3 == 0 else "page")  # 12 alone, 23 on pages
    _, result = _run(store, cj.TRAIN, pid)
    assert isinstance(result, dict) and result["n_labels"] == 35  # the head learns from every label
    metrics = loads(store.scalar("SELECT metrics FROM model_runs WHERE kind = 'train'"))
    assert metrics["calibration_labels"] == 12
    assert metrics["n_labels"] == 12  # held-out predictions only for the one-at-a-time labels


def test_a_few_one_at_a_time_labels_train_without_a_threshold(cj_backbone: Backbone, tmp_path: Path) -> None:
    """Mostly grid pages and fewer than MIN_CALIBRATION_LABELS single labels: the head trains, nothing is shown."""
    store, pid, items, classes = _featurised_flowers(tmp_path, "multiclass", 6)
    _label(store, items[:25], classes, lambda n: "item" if n % 5 == 0 else "page")  # 5 alone, 20 on pages
    _, result = _run(store, cj.TRAIN, pid)
    assert isinstance(result, dict) and result["trained"] and result["threshold"] is None
    metrics = loads(store.scalar("SELECT metrics FROM model_runs WHERE kind = 'train'"))
    assert metrics["calibration_labels"] == 5 and metrics["page_threshold"] is not None
    assert store.scalar("SELECT count(*) FROM predictions WHERE project_id = ? AND shown", [pid]) == 0


def test_multilabel_inference_stores_the_classes_to_pre_tick(cj_backbone: Backbone, tmp_path: Path) -> None:
    """Where the whole set is not shown, the classes above the pooled claim threshold are stored."""
    store, pid, items, classes = _featurised_flowers(tmp_path, "multilabel", 6)
    for item_id, path in items[::2]:
        save_label(
            store,
            item_id,
            {"class_ids": [classes[Path(path).parent.name]]},
            author="ann",
            base_version=0,
            by=SYSTEM,
        )
    _, trained = _run(store, cj.TRAIN, pid)
    assert isinstance(trained, dict) and trained["trained"]
    metrics = loads(store.scalar("SELECT metrics FROM model_runs WHERE kind = 'train'"))
    assert "claim_threshold" in metrics and "claim_lower_bound" in metrics
    assert len(metrics["claim_thresholds"]) == len(_classes(store, pid))  # the pool checked class by class
    assert isinstance(metrics["page_threshold"], float)  # multi-label pages are grouped by the model too
    # as if the held-out claims had passed at 0.5: every unshown "present" claim is pre-ticked
    metrics.update(claim_threshold=0.5, claim_thresholds=None, threshold=None)
    store.execute("UPDATE model_runs SET metrics = ? WHERE kind = 'train'", [json.dumps(metrics)])
    _, inferred = _run(store, cj.INFER, pid)
    assert isinstance(inferred, dict) and inferred["shown"] == 0
    rows = [loads(p) for (p,) in store.query("SELECT payload FROM predictions WHERE project_id = ?", [pid])]
    assert len(rows) == 15
    ticked = [r for r in rows if r.get("sure_class_ids")]
    assert ticked and all(r["sure_class_ids"] == r["class_ids"] for r in ticked)
    assert all("sure_class_ids" not in r for r in rows if not r["class_ids"])
    run = loads(store.scalar("SELECT metrics FROM model_runs WHERE kind = 'infer' ORDER BY id DESC LIMIT 1"))
    assert run["pre_ticked"] == len(ticked)


def _classes(store: Store, project_id: int) -> list:
    from core.store.projects import list_classes

    return list_classes(store, project_id)


def test_the_training_caps_the_proposals_at_the_projects_coverage(
    cj_backbone: Backbone, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The train job hands the project's ``assist_max_coverage`` to the one calibration rule."""
    store, pid, items, classes = _featurised_flowers(tmp_path, "multiclass", 6)
    store.execute("UPDATE projects SET settings = ? WHERE id = ?", ['{"assist_max_coverage": 0.35}', pid])
    _label(store, items[:25], classes, lambda n: "item")
    seen: list[float] = []
    real = cj.calibrate_labels

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["max_coverage"])
        return real(*args, **kwargs)

    monkeypatch.setattr(cj, "calibrate_labels", spy)
    _, result = _run(store, cj.TRAIN, pid)
    assert isinstance(result, dict) and result["trained"]
    assert seen == [0.35]


def test_an_audit_training_records_how_its_surest_answers_fared(
    cj_backbone: Backbone, tmp_path: Path
) -> None:
    """Labels given in audit order calibrate on the audit; the run records ``audit_most_sure``: of the
    smallest set of audit answers that could certify the target, the model's surest, how many it got
    right, which the saved held-out predictions and the labels reproduce."""
    from core.assist import audit
    from core.assist.thresholds import min_shown_for

    store, pid, items, classes = _featurised_flowers(tmp_path, "multiclass", 32)
    path_of = {int(i): p for i, p in items}
    sequence = audit.audit_state(store, pid).sequence.tolist()
    n_sure = min_shown_for(0.95, 0.8)
    assert len(sequence) > n_sure + 2, "the seeded audit draw holds enough items for this test"
    _label(store, [(i, path_of[i]) for i in sequence[: n_sure + 2]], classes, lambda n: "item")
    _, result = _run(store, cj.TRAIN, pid)
    assert isinstance(result, dict) and result["trained"]
    metrics = loads(store.scalar("SELECT metrics FROM model_runs WHERE kind = 'train'"))
    assert metrics["calibration_source"] == "audit"
    saved = np.load(metrics["heldout_path"])
    truth = np.array([classes[Path(path_of[int(i)]).parent.name] for i in saved["item_ids"]])
    top = np.argsort(-saved["confidence"], kind="stable")[:n_sure]
    assert metrics["audit_most_sure"] == [n_sure, int((saved["predicted"][top] == truth[top]).sum())]
