"""Every format x every task type: save records, load them back, same labels and geometry."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from conftest import CLASS_NAMES
from formats_check import CATS, FORMATS, assert_same_payload, roundtrip, sample_records

from core.domain import TaskType
from core.formats.coco import load_coco
from core.formats.records import CategorySet, ExportRecord
from core.formats.yolo import parse_data_yaml


@pytest.mark.parametrize("task", list(TaskType))
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_roundtrip_every_format_and_task(tmp_path: Path, fmt: str, task: TaskType) -> None:
    records = sample_records(task)
    ds = roundtrip(fmt, tmp_path, task, CATS, records)
    expected_task = TaskType.BOXES if (fmt == "voc" and task is TaskType.POLYGONS) else task
    assert ds.task_type is expected_task
    assert ds.issues == []
    if fmt in ("jsonl", "csv"):  # classes come back from the names in the rows: the used ones, by id
        assert set(ds.categories) == set(CATS)
    else:  # annota.json, or COCO's categories: the project's classes in order
        assert ds.categories == CATS
    got = ds.by_file_name()
    assert sorted(got) == sorted(r.file_name for r in records)
    for rec in records:
        back = got[rec.file_name]
        assert (back.width, back.height, back.path, back.item_id, back.status) == (
            rec.width, rec.height, rec.path, rec.item_id, rec.status)  # fmt: skip
        assert_same_payload(fmt, task, rec.payload, back.payload, rec.width, rec.height)


@pytest.mark.parametrize(
    ("task", "yolo_task", "files"),
    [
        (TaskType.BOXES, "detect", {"labels/img_0.txt", "labels/img_1.txt", "manifest.csv", "data.yaml"}),
        (TaskType.POLYGONS, "segment", {"labels/img_0.txt", "annota.json"}),
        (TaskType.MULTICLASS, "classify", {"lists/cat.txt", "lists/dog.txt", "lists/traffic_light.txt"}),
    ],
)
def test_yolo_layout(tmp_path: Path, task: TaskType, yolo_task: str, files: set[str]) -> None:
    FORMATS["yolo"][1](tmp_path / "y.zip", task, CATS, sample_records(task))
    with zipfile.ZipFile(tmp_path / "y.zip") as zf:
        names = set(zf.namelist())
        assert files <= names
        assert not any(n.startswith("labels/unlabeled") for n in names)  # unlabeled: no label file
        assert parse_data_yaml(zf.read("data.yaml").decode()) == (yolo_task, CLASS_NAMES)
        if task is TaskType.BOXES:
            assert zf.read("labels/img_0.txt") == b""  # labeled with no boxes: an empty file
            line = zf.read("labels/img_1.txt").decode().split()
            # box 0 of image 1: class 3 ("dog") is index 1; xywh [11.5, 20.25, 100, 50.5] in 640 x 480
            assert line == [
                "1",
                f"{61.5 / 640:.6f}",
                f"{45.5 / 480:.6f}",
                f"{100 / 640:.6f}",
                f"{50.5 / 480:.6f}",
            ]


def test_voc_xml_and_classification_lists(tmp_path: Path) -> None:
    FORMATS["voc"][1](tmp_path / "v.zip", TaskType.BOXES, CATS, sample_records(TaskType.BOXES))
    with zipfile.ZipFile(tmp_path / "v.zip") as zf:
        xml = zf.read("Annotations/img_1.xml").decode()
        # VOC's 1-based integer pixels: [11.5, 20.25, 100, 50.5] covers pixels 12..111 x 20..70 (0-based)
        assert "<name>dog</name>" in xml and "<xmin>13</xmin>" in xml and "<ymin>21</ymin>" in xml
        assert "<xmax>112</xmax>" in xml and "<ymax>71</ymax>" in xml
        assert "<width>640</width>" in xml
    FORMATS["voc"][1](tmp_path / "c.zip", TaskType.MULTILABEL, CATS, sample_records(TaskType.MULTILABEL))
    with zipfile.ZipFile(tmp_path / "c.zip") as zf:
        lines = zf.read("ImageSets/Main/cat_trainval.txt").decode().splitlines()
        assert lines[0] == "img_0  1" and "img_1 -1" in lines  # image 1 is dog + traffic light
        assert "img_3 -1" in lines  # "none of these"


def test_coco_classification_is_image_level(tmp_path: Path) -> None:
    FORMATS["coco"][1](tmp_path / "c.json", TaskType.MULTILABEL, CATS, sample_records(TaskType.MULTILABEL))
    data = json.loads((tmp_path / "c.json").read_text())
    assert data["info"]["annota_task_type"] == "multilabel"
    ann = data["annotations"][0]
    assert set(ann) == {"id", "image_id", "category_id", "iscrowd", "area"}
    img3 = next(i for i in data["images"] if i["file_name"] == "img_3.jpg")  # "none of these"
    assert img3["annota"]["labeled"] is True
    assert not [a for a in data["annotations"] if a["image_id"] == img3["id"]]


def test_loading_into_other_class_ids_by_name(tmp_path: Path) -> None:
    other = CategorySet.of([(1, "traffic light"), (2, "cat"), (3, "dog")])
    FORMATS["coco"][1](tmp_path / "c.json", TaskType.BOXES, CATS, sample_records(TaskType.BOXES))
    ds = load_coco(tmp_path / "c.json", categories=other)
    box = ds.by_file_name()["img_2.jpg"].payload["boxes"][0]  # type: ignore[index]
    assert box["class_id"] == 1  # "traffic light": 11 in the file, 1 in the target project


def test_unknown_class_is_a_reported_issue_not_a_skip(tmp_path: Path) -> None:
    bad = ExportRecord("bad.jpg", 100, 100, {"boxes": [{"class_id": 99, "xywh": [1, 1, 5, 5]}]}, item_id=5)
    good = ExportRecord("good.jpg", 100, 100, {"boxes": [{"class_id": 7, "xywh": [1, 1, 5, 5]}]}, item_id=6)
    for fmt, (name, save, load) in FORMATS.items():
        out = tmp_path / fmt
        out.mkdir()
        summary = save(out / name, TaskType.BOXES, CATS, [bad, good])
        assert summary.images == 1, fmt
        assert [(i.item_id, i.file_name) for i in summary.issues] == [(5, "bad.jpg")], fmt
        assert "99" in summary.issues[0].message
        assert [r.file_name for r in load(out / name).records] == ["good.jpg"], fmt
