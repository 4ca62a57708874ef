"""Exports through the real store and the real job runner; COCO output checked with pycocotools."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from conftest import Labeled, make_project
from formats_check import FORMATS, assert_same_payload
from pycocotools.coco import COCO

from core import geometry
from core.domain import TaskType
from core.formats import export
from core.formats.export import export_project, iter_records
from core.jobs import JobRunner
from core.permissions import SYSTEM
from core.store.items import NewItem, add_items
from core.store.labels import save_label
from core.store.projects import create_project


@pytest.fixture
def runner_for():
    runners: list[JobRunner] = []

    def start(lab: Labeled) -> JobRunner:
        runners.append(JobRunner(lab.store, workers=1, poll_s=0.05).start())
        return runners[-1]

    yield start
    for r in runners:
        r.stop()


@pytest.mark.parametrize("task", list(TaskType))
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_export_job_roundtrips(tmp_path: Path, runner_for, fmt: str, task: TaskType) -> None:
    lab = make_project(tmp_path, task)
    runner = runner_for(lab)
    job = runner.wait(
        runner.submit("export", {"format": fmt, "include": "labeled"}, project_id=lab.project_id).id
    )
    assert job.state == "done", job.error
    res = job.result
    path = Path(res["path"])
    assert path.exists() and path.parent == tmp_path / "exports" / str(lab.project_id)
    assert res["counts"]["images"] == res["counts"]["labeled"] == len(lab.payloads)
    assert res["counts"]["errors"] == res["counts"]["warnings"] == 0 and res["issues"] == []
    assert not list(path.parent.glob("*.part"))
    ds = FORMATS[fmt][2](path)
    got = {r.item_id: r for r in ds.records}
    assert set(got) == set(lab.payloads)
    for item_id, payload in lab.payloads.items():
        assert_same_payload(fmt, task, payload, got[item_id].payload, 640, 480)
        assert got[item_id].author == "ann"


@pytest.mark.parametrize(("include", "images", "labeled"), [("labeled", 4, 4), ("all", 6, 4)])
def test_include(tmp_path: Path, include: str, images: int, labeled: int) -> None:
    lab = make_project(tmp_path, TaskType.BOXES)
    res = export_project(lab.store, lab.project_id, "jsonl", include=include, by=SYSTEM)
    assert (res.images, res.labeled) == (images, labeled)
    rows = [json.loads(line) for line in res.path.read_text().splitlines()]
    assert [r["item_id"] for r in rows] == sorted(r["item_id"] for r in rows)  # id order
    assert sum(r["label"] is None for r in rows) == images - labeled


def test_coco_loads_in_pycocotools_polygons(tmp_path: Path) -> None:
    lab = make_project(tmp_path, TaskType.POLYGONS)
    res = export_project(lab.store, lab.project_id, "coco", by=SYSTEM)
    coco = COCO(str(res.path))
    assert sorted(coco.getImgIds()) == sorted(lab.payloads)
    assert len(coco.getAnnIds()) == res.annotations == sum(len(p["polygons"]) for p in lab.payloads.values())
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == ["cat", "dog", "traffic light"]
    for item_id, payload in lab.payloads.items():
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[item_id], iscrowd=False))
        assert len(anns) == len(payload["polygons"])
        for ann, poly in zip(anns, payload["polygons"], strict=True):
            assert ann["category_id"] == poly["class_id"]
            assert ann["area"] == pytest.approx(geometry.polygon_area(poly["points"]), abs=1e-3)
            assert ann["bbox"] == pytest.approx(geometry.polygon_bbox_xywh(poly["points"]), abs=1e-3)
            mask = coco.annToMask(ann)
            assert mask.shape == (480, 640)
            want = geometry.rasterize_polygon(poly["points"], 640, 480)
            assert geometry.mask_iou(mask.astype(bool), want) > 0.97
            assert abs(int(mask.sum()) - ann["area"]) / ann["area"] < 0.05


def test_coco_loads_in_pycocotools_boxes_and_classes(tmp_path: Path) -> None:
    lab = make_project(tmp_path / "b", TaskType.BOXES)
    coco = COCO(str(export_project(lab.store, lab.project_id, "coco", by=SYSTEM).path))
    anns = coco.loadAnns(coco.getAnnIds(areaRng=[0, 1e9]))
    assert anns and all(a["iscrowd"] == 0 and a["area"] == a["bbox"][2] * a["bbox"][3] for a in anns)
    lab2 = make_project(tmp_path / "c", TaskType.MULTILABEL)
    coco2 = COCO(str(export_project(lab2.store, lab2.project_id, "coco", by=SYSTEM).path))
    dog = lab2.class_ids[1]
    assert sorted(coco2.getImgIds(catIds=[dog])) == sorted(
        i for i, p in lab2.payloads.items() if dog in p["class_ids"]
    )


def test_colliding_file_names_are_renamed_and_reported(tmp_path: Path) -> None:
    lab = make_project(tmp_path, TaskType.BOXES, n=2, n_unlabeled=0)
    add_items(lab.store, lab.project_id, [NewItem("/other/IMG_000.JPG", 640, 480, "x1"),
                                          NewItem("/third/img_000.jpg", 640, 480, "x2")])  # fmt: skip
    new_ids = lab.item_ids[-1] + 1, lab.item_ids[-1] + 2
    for item_id in new_ids:
        save_label(lab.store, item_id, {"boxes": []}, author="ann", base_version=0, by=SYSTEM)
    res = export_project(lab.store, lab.project_id, "yolo", by=SYSTEM)
    assert (res.images, res.errors, res.warnings) == (4, 0, 2)
    assert [i.item_id for i in res.issues] == list(new_ids)
    assert all(i.level == "warning" and "img_000" in i.message.lower() for i in res.issues)
    with zipfile.ZipFile(res.path) as zf:
        labels = sorted(n for n in zf.namelist() if n.startswith("labels/"))
    assert labels == sorted(["labels/img_000.txt", "labels/img_001.txt", f"labels/IMG_000__{new_ids[0]}.txt",
                             f"labels/img_000__{new_ids[1]}.txt"])  # fmt: skip
    assert res.issues_path is not None and len(res.issues_path.read_text().splitlines()) == 2


def test_label_that_no_longer_validates_is_reported(tmp_path: Path, runner_for) -> None:
    lab = make_project(tmp_path, TaskType.BOXES)
    shrunk, gone = [i for i, p in lab.payloads.items() if p["boxes"]][:2]
    lab.store.execute("UPDATE items SET width = 50 WHERE id = ?", [shrunk])  # boxes now reach outside
    lab.store.execute(  # a class removed behind the label's back
        "DELETE FROM label_classes WHERE id = ?", [lab.payloads[gone]["boxes"][0]["class_id"]]
    )
    runner = runner_for(lab)
    job = runner.wait(runner.submit("export", {"format": "coco"}, project_id=lab.project_id).id)
    assert job.state == "done", job.error
    counts = job.result["counts"]
    assert counts["errors"] >= 2 and counts["images"] == len(lab.payloads) - counts["errors"]
    reported = {i["item_id"]: i for i in job.result["issues"]}
    assert {shrunk, gone} <= set(reported)
    assert "outside the image" in reported[shrunk]["message"]
    assert all(i["level"] == "error" for i in reported.values())
    coco = COCO(job.result["path"])
    assert shrunk not in coco.getImgIds() and gone not in coco.getImgIds()


@pytest.mark.parametrize(("params", "message"), [({"format": "tiff"}, "Unknown export format"),
                                                  ({"format": "csv", "include": "some"}, "include must be")])  # fmt: skip
def test_bad_params_fail_the_job(tmp_path: Path, runner_for, params: dict, message: str) -> None:
    lab = make_project(tmp_path, TaskType.MULTICLASS)
    runner = runner_for(lab)
    job = runner.wait(runner.submit("export", params, project_id=lab.project_id).id)
    assert job.state == "failed" and message in job.error


@pytest.mark.parametrize("chunk_size", [1, 3, 7, 1000])
def test_streams_in_chunks_in_id_order(tmp_path: Path, chunk_size: int) -> None:
    lab = make_project(tmp_path, TaskType.POLYGONS, n=25, n_unlabeled=5)
    other = create_project(lab.store, "other", TaskType.POLYGONS, ["x", "y"], by=SYSTEM).id  # ids interleave
    for k in range(3):
        add_items(lab.store, other, [NewItem(f"/o/{k}.jpg", 10, 10, f"o{k}")])
        add_items(lab.store, lab.project_id, [NewItem(f"/p/{k}.jpg", 10, 10, f"p{k}")])
    mine = [
        r[0]
        for r in lab.store.query("SELECT id FROM items WHERE project_id = ? ORDER BY id", [lab.project_id])
    ]
    recs = list(iter_records(lab.store, lab.project_id, "all", chunk_size=chunk_size))
    assert [r.item_id for r in recs] == mine == [*lab.item_ids, *mine[-3:]]
    labeled = list(iter_records(lab.store, lab.project_id, "labeled", chunk_size=chunk_size))
    assert [r.item_id for r in labeled] == sorted(lab.payloads)
    assert [r.payload for r in recs if r.payload] == [
        lab.payloads[i] for i in lab.item_ids if i in lab.payloads
    ]


def test_cancelled_export_leaves_no_file(tmp_path: Path, monkeypatch) -> None:
    lab = make_project(tmp_path, TaskType.BOXES, n=30, n_unlabeled=0)
    monkeypatch.setattr(export, "PROGRESS_EVERY", 4)

    class Stop(Exception):
        pass

    def progress(fraction: float, message: str) -> None:
        if fraction > 0.3:
            raise Stop()

    out = tmp_path / "out.zip"
    with pytest.raises(Stop):
        export_project(lab.store, lab.project_id, "yolo", out_path=out, progress=progress, by=SYSTEM)
    assert list(tmp_path.glob("out*")) == []


def test_out_path_must_fit_the_format(tmp_path: Path) -> None:
    lab = make_project(tmp_path, TaskType.BOXES, n=2, n_unlabeled=0)
    with pytest.raises(ValueError, match="zip"):
        export_project(lab.store, lab.project_id, "yolo", out_path=tmp_path / "labels", by=SYSTEM)
