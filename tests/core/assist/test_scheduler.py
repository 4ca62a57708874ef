"""The assist scheduler: featurises, trains and infers by itself, through the real job runner.

The end-to-end case uses 45 real flower photos (skipped with a printed reason when the shared
datasets are absent); the decision cases call ``tick()`` on a store without workers.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import pytest
from PIL import Image

from core import jobs
from core.assist import classify_jobs as cj
from core.assist import status
from core.assist.backbone import Backbone
from core.assist.predictions import proposal_stats
from core.assist.scheduler import AssistScheduler
from core.assist.stages import Stage
from core.config import default_paths, shared_datasets
from core.domain import ProjectState
from core.permissions import SYSTEM
from core.store.db import Store
from core.store.items import NewItem, add_items
from core.store.labels import save_label
from core.store.projects import create_project, list_classes, set_state, update_project

CLASSES = ["daisy", "dandelion", "rose", "sunflower", "tulip"]


def _flowers() -> Path:
    root = shared_datasets() / "flowers"
    if not root.is_dir():
        print(f"SKIP REASON: shared flowers dataset absent at {root}", file=sys.stderr)
        pytest.skip(f"shared flowers dataset absent at {root}")
    return root


def _new_item(path: Path) -> NewItem:
    with Image.open(path) as im:
        w, h = im.size
    return NewItem(str(path), w, h, hashlib.sha1(path.read_bytes()).hexdigest(), path.stat().st_size)


def _wait(cond: Callable[[], object], timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _count(store: Store, sql: str, params: list) -> int:
    return int(store.scalar(sql, params) or 0)


@pytest.fixture(scope="module")
def backbone() -> Backbone:
    bb = Backbone.load(cache_dir=default_paths().models)  # the ONNX export is cached there
    cj.set_backbone(bb)
    return bb


def test_scheduler_featurises_trains_and_infers_by_itself(backbone: Backbone, tmp_path: Path) -> None:
    flowers = _flowers()
    store = Store(tmp_path / "a.duckdb")
    project = create_project(store, "flowers", "multiclass", CLASSES, by=SYSTEM)
    files = {n: sorted((flowers / n).glob("*.jpg"))[5::11][:9] for n in CLASSES}
    first = [(n, p) for n in CLASSES for p in files[n][:8]]  # 40 images
    add_items(store, project.id, [_new_item(p) for _, p in first])
    runner = jobs.JobRunner(store, workers=2, poll_s=0.1).start()
    sched = AssistScheduler(store, runner, interval_s=0.2).start()
    try:
        emb = "SELECT count(*) FROM embeddings WHERE project_id = ?"
        _wait(lambda: _count(store, emb, [project.id]) == 40, 60, "featurisation of 40 images")
        assert _count(store, "SELECT count(*) FROM jobs WHERE kind = ?", [cj.TRAIN]) == 0  # no labels yet

        ids = {str(r[1]): int(r[0]) for r in store.query("SELECT id, path FROM items ORDER BY id")}
        cls = {c.name: c.id for c in list_classes(store, project.id)}
        labeled = [(n, p) for n in CLASSES for p in files[n][:4]]  # 20 labels, 4 per class
        for name, path in labeled:
            save_label(
                store, ids[str(path)], {"class_id": cls[name]}, author="ann", base_version=0, by=SYSTEM
            )

        unlabeled = set(ids.values()) - {ids[str(p)] for _, p in labeled}
        preds = "SELECT count(*) FROM predictions WHERE project_id = ?"
        idle = "SELECT count(*) FROM jobs WHERE state IN ('queued', 'running')"

        def settled() -> bool:
            predicted = {int(r[0]) for r in store.query("SELECT item_id FROM predictions")}
            return predicted == unlabeled and _count(store, idle, []) == 0

        _wait(settled, 90, "proposals for the 20 unlabeled images")
        runs = store.query(
            "SELECT kind, state, n_labels FROM model_runs WHERE project_id = ? ORDER BY id", [project.id]
        )
        trainings = [r[2] for r in runs if r[0] == "train"]
        assert runs[0][:2] == ("featurize", "done") and all(r[1] == "done" for r in runs)
        assert (
            trainings and 10 <= trainings[0] <= 20 and ("infer", "done", None) in runs
        )  # the first at 10 labels
        ov = status.overview(store, project.id)
        assert ov.stage.stage in (Stage.CLUSTERING, Stage.PRELABELING)
        assert ov.counts.labels_at_last_training == trainings[-1]
        assert ov.stage.next_training_in == trainings[-1] + 10 - 20 and not ov.stage.should_train
        n_train = len(trainings)

        # new images arrive (an import, the watcher): featurised and given proposals, without a new training
        add_items(store, project.id, [_new_item(files[n][8]) for n in CLASSES])
        _wait(lambda: _count(store, preds, [project.id]) == 25, 60, "proposals for the 5 new images")
        assert _count(store, "SELECT count(*) FROM jobs WHERE kind = ?", [cj.TRAIN]) == n_train
        assert _count(store, "SELECT count(*) FROM jobs WHERE kind = ?", [cj.INFER]) >= 1
        assert proposal_stats(store, project.id).proposals == 25
    finally:
        sched.stop()
        runner.stop()
    # never two jobs of one kind at once
    spans = store.query(
        "SELECT kind, started_at, finished_at FROM jobs WHERE project_id = ? ORDER BY kind, started_at",
        [project.id],
    )
    for (k1, _, end1), (k2, start2, _) in pairwise(spans):
        assert k1 != k2 or end1 <= start2, (k1, end1, start2)
    assert all(r[0] == "done" for r in store.query("SELECT state FROM jobs"))
    store.close()


def _project_with_items(store: Store, tmp_path: Path, task: str = "multiclass", n: int = 3, **kw):  # type: ignore[no-untyped-def]
    project = create_project(store, f"p-{task}-{n}", task, ["a", "b"], **kw, by=SYSTEM)
    add_items(
        store, project.id, [NewItem(str(tmp_path / f"{task}{i}.jpg"), 10, 10, f"{task}{i}") for i in range(n)]
    )
    return project


def test_tick_skips_projects_that_are_off_paused_or_unassisted(store: Store, tmp_path: Path) -> None:
    on = _project_with_items(store, tmp_path)
    off = _project_with_items(store, tmp_path, n=4, settings={"assist_enabled": False})
    paused = _project_with_items(store, tmp_path, n=5)
    set_state(store, paused.id, ProjectState.PAUSED, by=SYSTEM)
    boxes = _project_with_items(store, tmp_path, "boxes")
    sched = AssistScheduler(store, None)
    decisions = sched.tick(force=True)
    assert [(d.project_id, d.kind) for d in decisions] == [(on.id, cj.FEATURIZE)]
    assert "3 images have no embedding" in decisions[0].reason
    assert sched.tick(force=True) == []  # already queued: not twice
    assert _count(store, "SELECT count(*) FROM jobs", []) == 1
    assert not status.overview(store, boxes.id).settings.enabled  # boxes and polygons: off until turned on
    kinds = status.job_kinds("boxes")
    if kinds is None:
        assert "not available" in status.availability("boxes").reason
    else:
        update_project(store, boxes.id, settings={"assist_enabled": True}, by=SYSTEM)
        assert [(d.project_id, d.kind) for d in sched.tick(force=True)] == [(boxes.id, kinds.featurize)]
    update_project(store, off.id, settings={"assist_enabled": True}, by=SYSTEM)
    assert [d.project_id for d in sched.tick(force=True)] == [off.id]


def test_failed_featurisation_waits_before_a_retry_and_broken_files_do_not_loop(
    store: Store, tmp_path: Path
) -> None:
    project = _project_with_items(store, tmp_path)
    sched = AssistScheduler(store, None, retry_after_s=3600)
    (first,) = sched.tick(force=True)
    store.execute("UPDATE jobs SET state = 'failed', started_at = now(), finished_at = ? WHERE id = ?",
                  [jobs.utcnow(), first.job_id])  # fmt: skip
    assert sched.tick(force=True) == []  # backing off
    sched.retry_after = sched.retry_after * 0
    assert [d.reason for d in sched.tick(force=True)] == ["retrying the featurisation that failed"]
    # a run that finished but could not read the files: not asked again until new images arrive
    store.execute(
        "UPDATE jobs SET state = 'done', started_at = ?, finished_at = ?", [jobs.utcnow(), jobs.utcnow()]
    )
    assert sched.tick(force=True) == []
    time.sleep(0.01)
    add_items(store, project.id, [NewItem(str(tmp_path / "new.jpg"), 10, 10, "new")])
    assert [d.reason for d in sched.tick(force=True)] == ["1 new images have no embedding yet"]


def test_in_order_queue_clears_model_ranks(store: Store, tmp_path: Path) -> None:
    project = _project_with_items(store, tmp_path, settings={"assist_in_order": True})
    store.execute("UPDATE items SET queue_rank = 3 - id WHERE project_id = ?", [project.id])
    AssistScheduler(store, None).tick(force=True)
    assert _count(store, "SELECT count(*) FROM items WHERE queue_rank IS NOT NULL", []) == 0


def test_quiet_projects_are_not_looked_at_again(store: Store, tmp_path: Path) -> None:
    project = _project_with_items(store, tmp_path)
    sched = AssistScheduler(store, None, recheck_s=3600, duty=1e9)  # only moved figures bring a new look
    calls: list[int] = []
    sched._project = lambda p, k: calls.append(p.id) or []  # type: ignore[method-assign]
    sched.tick()
    sched.tick()
    assert calls == [project.id]  # nothing moved: not looked at again
    add_items(store, project.id, [NewItem(str(tmp_path / "late.jpg"), 10, 10, "late")])
    sched.tick()
    update_project(store, project.id, settings={"assist_train_every": 5}, by=SYSTEM)
    sched.tick()
    store.execute("INSERT INTO jobs (project_id, kind) VALUES (?, 'x')", [project.id])
    sched.tick()
    assert calls == [project.id] * 4
