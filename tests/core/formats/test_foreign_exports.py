"""The Label Studio and CVAT loaders on files those tools wrote (tests/fixtures, sources in its README)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.domain import TaskType
from core.formats.cvat import load_cvat, sniff_cvat
from core.formats.labelstudio import load_labelstudio, sniff_labelstudio
from core.formats.records import CategorySet

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
LS = FIXTURES / "labelstudio"
CVAT = FIXTURES / "cvat"


def _rounded(xs: list[float]) -> list[float]:
    return [round(v, 2) for v in xs]


def test_labelstudio_rectangles_newest_annotation_in_pixels() -> None:
    ds = load_labelstudio(LS / "rectangles.json")
    assert ds.task_type is TaskType.BOXES
    assert ds.categories.names == ["parasites", "white"]
    assert ds.issues == []
    recs = ds.by_file_name()
    assert sorted(recs) == ["image1", "image2"]
    first = recs["image1"]
    assert (first.width, first.height) == (2800, 2800)
    # task 1 has two annotations; the newer one (updated 21:05:03, id 2) is read: x 37.887 % of 2800 px ...
    boxes = [(ds.categories.name_of(b["class_id"]), _rounded(b["xywh"])) for b in first.payload["boxes"]]
    assert boxes == [
        ("parasites", [1060.84, 2009.47, 107.1, 127.5]),
        ("white", [1377.05, 647.72, 147.91, 112.2]),
    ]
    assert len(recs["image2"].payload["boxes"]) == 2


def test_labelstudio_polygons_in_pixels() -> None:
    ds = load_labelstudio(LS / "polygons.json")
    assert ds.task_type is TaskType.POLYGONS and ds.categories.names == ["Airplane"]
    (rec,) = ds.records
    assert (rec.file_name, rec.width, rec.height) == ("image2", 640, 426)
    (poly,) = rec.payload["polygons"]
    assert len(poly["points"]) == 37
    assert _rounded(poly["points"][0]) == [384.0, 83.32]  # [60 %, 19.559 %] of 640 x 426


def test_labelstudio_urls_scores_and_completed_by_objects() -> None:
    ds = load_labelstudio(LS / "boxes_reviewed.json")
    assert ds.issues == []
    recs = ds.by_file_name()
    assert sorted(recs) == ["00155094b7acc33b.jpg", "0030019819f25b28.jpg"]  # the file of each image URL
    (box,) = recs["0030019819f25b28.jpg"].payload["boxes"]
    assert box["score"] == pytest.approx(0.23053804129850775)
    assert _rounded(box["xywh"]) == [37.3, 67.34, 710.48, 413.34]


def test_labelstudio_rotated_rectangles_are_reported_not_read() -> None:
    ds = load_labelstudio(LS / "rotated_boxes.json")
    assert ds.issues and all("rotated by" in i.message and i.level == "warning" for i in ds.issues)
    raw = json.loads((LS / "rotated_boxes.json").read_text())
    rotated = sum(1 for t in raw for r in t["annotations"][-1]["result"] if r["value"].get("rotation"))
    assert len(ds.issues) == rotated
    # an image whose every region was skipped is not turned into "labeled with nothing"
    assert all(r.payload is None or r.payload["boxes"] for r in ds.records)


def test_labelstudio_names_matched_to_a_projects_classes() -> None:
    project = CategorySet.of([(40, "white"), (41, "parasites")])
    ds = load_labelstudio(LS / "rectangles.json", project)
    assert ds.categories == project
    assert [b["class_id"] for b in ds.by_file_name()["image1"].payload["boxes"]] == [41, 40]
    with pytest.raises(ValueError):
        load_labelstudio(FIXTURES / "cvat" / "task_train.xml")


def test_cvat_task_export() -> None:
    ds = load_cvat(CVAT / "task_train.xml")
    assert ds.task_type is TaskType.POLYGONS  # the file has a polygon: its boxes become four corners
    assert ds.categories.names == ["label1", "label2"]
    recs = ds.by_file_name()
    assert (recs["img0.jpg"].width, recs["img0.jpg"].height) == (8, 8)
    assert recs["img0.jpg"].payload == {
        "polygons": [{"class_id": 1, "points": [[0, 2], [4, 2], [4, 4], [0, 4]]}]
    }
    assert recs["img1.jpg"].payload is None  # its polygon has no label, its points are not read
    messages = sorted(i.message for i in ds.issues)
    assert messages == [
        "image 0 (img0.jpg): a <polyline> is not read as polygons",
        "image 1 (img1.jpg): a <points> is not read as polygons",
        "image 1 (img1.jpg): a <polygon>: a <polygon> has no label",
    ]


def test_cvat_project_export_with_subsets() -> None:
    ds = load_cvat(CVAT / "project_annotations.xml")
    recs = ds.by_file_name()
    assert recs["img1.jpg"].payload == {"polygons": [{"class_id": 1, "points": [[1, 2], [3, 4], [6, 5]]}]}
    again = [i for i in ds.issues if "listed again" in i.message]
    assert len(again) == 4 and {i.file_name for i in again} == {"img0.jpg", "img1.jpg"}


def test_cvat_into_a_projects_classes_and_unknown_names() -> None:
    ds = load_cvat(CVAT / "task_train.xml", CategorySet.of([(5, "label1")]))
    assert ds.by_file_name()["img0.jpg"].payload["polygons"][0]["class_id"] == 5
    ds = load_cvat(CVAT / "task_train.xml", CategorySet.of([(5, "other")]))
    assert any("'label1' is not a class" in i.message for i in ds.issues)


def test_sniffing(tmp_path: Path) -> None:
    assert all(sniff_labelstudio(p) for p in LS.glob("*.json"))
    assert all(sniff_cvat(p) for p in CVAT.glob("*.xml"))
    coco = tmp_path / "coco.json"
    coco.write_text('{"images": [], "annotations": [], "categories": []}')
    voc = tmp_path / "a.xml"
    voc.write_text("<annotation><filename>a.jpg</filename></annotation>")
    assert not sniff_labelstudio(coco) and not sniff_cvat(voc) and not sniff_cvat(LS / "polygons.json")


def _task(k: int, choices: list[str] | None, image: str, cancelled: bool = False) -> dict[str, object]:
    result = [] if choices is None else [{"id": f"c{k}", "type": "choices", "from_name": "choice", "to_name": "image",
                                          "value": {"choices": choices}}]  # fmt: skip
    return {"id": k, "data": {"image": image}, "annotations": [{"id": k, "result": result, "was_cancelled": cancelled}],
            "predictions": []}  # fmt: skip


def test_labelstudio_choices_without_annotas_meta(tmp_path: Path) -> None:
    """Written by hand in Label Studio's task shape (no real classification export was found to keep):
    the task type is guessed from the choices, image names from local-file and upload URLs."""
    tasks = [
        _task(1, ["cat"], "/data/local-files/?d=pets%2Fcat1.jpg"),
        _task(2, ["dog"], "/data/upload/3/0a1b2c3d-dog1.jpg"),
        _task(3, ["dog"], "https://example.org/img/x.jpg", cancelled=True),
    ]
    (tmp_path / "one.json").write_text(json.dumps(tasks))
    ds = load_labelstudio(tmp_path / "one.json")
    assert ds.task_type is TaskType.MULTICLASS and ds.categories.names == ["cat", "dog"]
    recs = ds.by_file_name()
    assert recs["pets/cat1.jpg"].payload == {"class_id": 1} and recs["dog1.jpg"].payload == {"class_id": 2}
    assert recs["x.jpg"].payload is None  # its only annotation was cancelled
    tasks.append(_task(4, ["cat", "dog"], "/data/upload/3/0a1b2c3d-both.jpg"))
    (tmp_path / "many.json").write_text(json.dumps(tasks))
    ds = load_labelstudio(tmp_path / "many.json")
    assert ds.task_type is TaskType.MULTILABEL
    assert ds.by_file_name()["both.jpg"].payload == {"class_ids": [1, 2]}
