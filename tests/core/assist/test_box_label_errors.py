"""Box label errors against a detector's boxes: missing, shifted, wrong-class and extra boxes are found
and ranked by confidence; agreeing boxes give no issue."""

from __future__ import annotations

import numpy as np

from core.assist.box_label_errors import box_issues, rank_box_images
from core.assist.box_metrics import Detections
from core.permissions import SYSTEM


def dets(*rows: tuple[float, float, float, float, int, float]) -> Detections:
    a = np.array(rows, dtype=np.float64).reshape(-1, 6)
    return Detections(a[:, :4].astype(np.float32), a[:, 4].astype(np.int64), a[:, 5].astype(np.float32))


TRUTH = np.array([[10, 10, 50, 50], [100, 100, 140, 140]], dtype=np.float32)


def test_agreeing_boxes_give_no_issue() -> None:
    d = dets((11, 10, 50, 51, 1, 0.9), (100, 101, 140, 140, 2, 0.8), (60, 60, 70, 70, 1, 0.2))  # last: unsure
    assert box_issues(TRUTH, np.array([1, 2]), d, threshold=0.5) == []


def test_each_kind_is_found() -> None:
    d = dets(
        (200, 200, 240, 240, 1, 0.95),  # nothing labeled there: missing
        (10, 10, 50, 50, 2, 0.7),  # on the first box with class 2: class
    )
    found = box_issues(TRUTH, np.array([1, 2]), d, threshold=0.5)
    kinds = [(b.kind, b.label, b.suggested) for b in found]
    # the second person's box has no support: extra (score 1.0) leads
    assert kinds == [("extra", 2, None), ("missing", None, 1), ("class", 1, 2)]
    shifted = box_issues(TRUTH[:1], np.array([1]), dets((30, 30, 70, 70, 1, 0.8)), threshold=0.5)
    assert [(b.kind, b.label, b.suggested) for b in shifted] == [
        ("shifted", 1, 1)
    ]  # IoU 0.14: one issue per box


def test_images_ranked_worst_first() -> None:
    preds = {
        "a.jpg": dets((10, 10, 50, 50, 1, 0.9)),  # agrees
        "b.jpg": dets((10, 10, 50, 50, 1, 0.9), (200, 200, 240, 240, 1, 0.6)),  # a missing box at 0.6
        "c.jpg": dets((10, 10, 50, 50, 1, 0.9), (200, 200, 240, 240, 1, 0.97)),  # a missing box at 0.97
    }
    one = (TRUTH[:1], np.array([1]))
    ranked = rank_box_images(
        [(1, "a.jpg", *one), (2, "b.jpg", *one), (3, "c.jpg", *one)], preds.__getitem__, 0.5
    )
    assert [e.item_id for e in ranked] == [3, 2]
    row = ranked[0].as_json({1: "cat"})
    assert (
        row["image"] == "c.jpg"
        and row["kind"] == "missing"
        and row["suggested"] == "cat"
        and row["score"] == 0.97
    )


def test_find_box_label_errors_reads_the_store(store) -> None:
    from core.assist.box_label_errors import find_box_label_errors
    from core.store.items import NewItem, add_items
    from core.store.labels import save_label
    from core.store.projects import create_project, list_classes

    p = create_project(store, "boxes", "boxes", ["cat", "dog"], by=SYSTEM)
    cat, dog = (c.id for c in list_classes(store, p.id))
    add_items(store, p.id, [NewItem(f"/photos/{n}.jpg", 300, 300, f"{k:040x}") for k, n in enumerate("abc")])
    ids = {
        str(r[1]): int(r[0]) for r in store.query("SELECT id, path FROM items WHERE project_id = ?", [p.id])
    }
    box = {"class_id": cat, "xywh": [10, 10, 40, 40]}
    for path in ("/photos/a.jpg", "/photos/b.jpg"):
        save_label(store, ids[path], {"boxes": [box]}, author="ann", base_version=0, by=SYSTEM)
    preds = {
        "/photos/a.jpg": dets((10, 10, 50, 50, cat, 0.9)),
        "/photos/b.jpg": dets((10, 10, 50, 50, dog, 0.8)),  # the detector sees a dog there
    }
    report = find_box_label_errors(store, p.id, predict=preds.__getitem__, threshold=0.5)
    assert report.n_labels == 2 and report.reason is None  # c.jpg is not labeled: not compared
    assert [(e.item_id, e.issues[0].kind) for e in report.errors] == [(ids["/photos/b.jpg"], "class")]
    row = report.errors[0].as_json({cat: "cat", dog: "dog"})
    assert (row["image"], row["label"], row["suggested"]) == ("/photos/b.jpg", "cat", "dog")
    assert "no trained detector" in (find_box_label_errors(store, p.id).reason or "")


def test_cli_box_project_without_detector(tmp_path) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    from core.config import Paths
    from core.store import Store
    from core.store.projects import create_project

    data = tmp_path / "data"
    s = Store(Paths(data).ensure().db)
    try:
        create_project(s, "shelves", "boxes", ["can", "box"], by=SYSTEM)
    finally:
        s.close()
    env = {**os.environ, "ANNOTA_DATA_DIR": str(data), "ANNOTA_ASSIST_SCHEDULER": "0"}
    root = Path(__file__).resolve().parents[3]
    cmd = [sys.executable, "-m", "core.cli", "label-errors", "shelves"]
    out = subprocess.run([*cmd, "--json"], cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "[]"
    assert "no trained detector" in out.stderr
    text = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert text.returncode == 1 and text.stderr.startswith("error: shelves: no trained detector")


def test_real_detector_finds_a_moved_box(tmp_path) -> None:
    """The raccoon detector trained on 10 photos by the product's job; an 11th photo, labeled after the
    training with its box moved into an empty corner, comes out with that box unsupported."""
    import torch
    from PIL import Image

    from benchmarks.assist_detect import load_voc
    from core import jobs
    from core.assist import classify_jobs as cj
    from core.assist import detect_jobs as dj
    from core.assist.backbone import Backbone
    from core.assist.box_label_errors import find_box_label_errors
    from core.config import default_paths, shared_datasets
    from core.geometry import xyxy_to_xywh
    from core.store.db import Store
    from core.store.items import NewItem, add_items
    from core.store.labels import save_label
    from core.store.projects import create_project, list_classes
    from tests.conftest import datasets_or_skip

    datasets_or_skip()
    data = load_voc(shared_datasets() / "raccoon")[:11]
    cj.set_backbone(Backbone.load(cache_dir=default_paths().models))
    store = Store(tmp_path / "a.duckdb")
    settings = {"assist_detect_epochs": 6, "assist_detect_input_size": 256}
    p = create_project(store, "raccoons", "boxes", ["raccoon", "other"], settings=settings, by=SYSTEM)
    news = []
    for path, _ in data:
        with Image.open(path) as im:
            news.append(
                NewItem(str(path), im.width, im.height, str(path).encode().hex()[-40:].rjust(40, "0"))
            )
    add_items(store, p.id, news)
    raccoon = list_classes(store, p.id)[0].id
    ids = {
        str(r[1]): int(r[0]) for r in store.query("SELECT id, path FROM items WHERE project_id = ?", [p.id])
    }
    for path, boxes in data[:10]:
        payload = {"boxes": [{"class_id": raccoon, "xywh": xyxy_to_xywh(b)} for b in boxes.tolist()]}
        save_label(store, ids[str(path)], payload, author="ann", base_version=0, by=SYSTEM)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        job = jobs.submit(store, dj.TRAIN, {}, project_id=p.id)
        jobs.handlers()[dj.TRAIN](jobs.JobContext(store, job, jobs.JobRunner(store)))
        planted, _ = data[10]
        w, h = news[10].width, news[10].height
        moved = [0.0, 0.0, w * 0.12, h * 0.12]  # a small box in the top-left corner
        save_label(
            store,
            ids[str(planted)],
            {"boxes": [{"class_id": raccoon, "xywh": moved}]},
            author="ann",
            base_version=0,
            by=SYSTEM,
        )
        report = find_box_label_errors(store, p.id)
    finally:
        torch.set_num_threads(threads)
        store.close()
    assert report.reason is None and report.n_labels == 11
    mine = [e for e in report.errors if e.item_id == ids[str(planted)]]
    assert mine and "extra" in {i.kind for i in mine[0].issues}, [(e.path, e.issues) for e in report.errors]
