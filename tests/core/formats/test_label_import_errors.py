"""Malformed label files: each bad record is an issue naming the file and the line, id or object, and
why; the other records are still read and imported."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from core.domain import TaskType
from core.formats.label_import import apply_import, check_server_path, preview_import
from core.formats.loaders import LoadError, detect, load_labels
from core.permissions import SYSTEM
from core.store import Store
from core.store.items import NewItem, add_items
from core.store.projects import create_project


def _project(store: Store, task: TaskType, n: int = 3) -> int:
    p = create_project(store, "P", task, ["cat", "dog"], by=SYSTEM)
    add_items(store, p.id, [NewItem(f"/data/imgs/img{k}.jpg", 100, 80, f"h{k}") for k in range(n)])
    return p.id


def _messages(issues: list) -> list[str]:
    return [i.message for i in issues]


def test_coco_bad_annotations_are_named_by_id_and_the_rest_imports(store: Store, tmp_path: Path) -> None:
    pid = _project(store, TaskType.POLYGONS)
    data = {
        "images": [{"id": 1, "file_name": "img0.jpg", "width": 100, "height": 80},
                   {"id": 2, "file_name": "img1.jpg", "width": 100, "height": 80},
                   {"file_name": "no-id.jpg"}],
        "categories": [{"id": 1, "name": "cat"}],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 1, "segmentation": [[10, 10, 50, 10, 50, 40]]},
            {"id": 11, "image_id": 1, "category_id": 1, "segmentation": [[10, 10, 50, 10]]},  # too few
            {"id": 12, "image_id": 1, "category_id": 9, "segmentation": [[10, 10, 50, 10, 50, 40]]},  # class
            {"id": 13, "image_id": 7, "category_id": 1, "segmentation": [[10, 10, 50, 10, 50, 40]]},  # image
            {"id": 14, "image_id": 2, "category_id": 1, "segmentation": [[10, 10, 150, 10, 50, 40]]},  # outside
            {"id": 15, "image_id": 2, "category_id": 1, "segmentation": [[10, 10, 20, 20, 30, 30]]},  # no area
        ],
    }  # fmt: skip
    path = tmp_path / "inst.json"
    path.write_text(json.dumps(data))
    pv = preview_import(store, pid, path)
    issues = _messages(pv.issues)
    assert any(m.startswith("inst.json annotation 11:") and "4 coordinates" in m for m in issues)
    assert any(m.startswith("inst.json annotation 12:") and "unknown category_id 9" in m for m in issues)
    assert any(
        m.startswith("inst.json annotation 13:") and "image_id 7 is not in images" in m for m in issues
    )
    assert any(m.startswith("inst.json images[2]:") for m in issues)
    refused = _messages(pv.refused)
    assert any("img1.jpg polygon 1: reaches outside the image (100 x 80 px)" in m for m in refused)
    assert any("img1.jpg polygon 2: has no area" in m for m in refused)
    result = apply_import(store, pid, pv, author="i", by=SYSTEM)
    assert result.saved == 2  # img0 with its good polygon, img1 with none of its two


def test_malformed_json_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"images": [\n  {"id": 1,}\n]}')
    with pytest.raises(LoadError, match=r"broken.json: malformed JSON at line 2 column"):
        load_labels(path, "coco")


def test_yolo_bad_lines_are_named_by_file_and_line(store: Store, tmp_path: Path) -> None:
    pid = _project(store, TaskType.BOXES)
    zpath = tmp_path / "yolo.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("data.yaml", "names:\n  0: cat\n  1: dog\n")
        zf.writestr("labels/img0.txt", "0 0.5 0.5 0.2 0.2\n5 0.5 0.5 0.2 0.2\n1 0.5 x 0.2 0.2\n1 0.5 0.5\n")
        zf.writestr("labels/img1.txt", "1 0.5 0.5 0.2 0.2 0.87\n")
        zf.writestr("labels/ghost.txt", "0 0.5 0.5 0.2 0.2\n")
    assert detect(zpath)[0] == "yolo"
    pv = preview_import(store, pid, zpath)
    issues = _messages(pv.issues)
    assert any(m.startswith("labels/img0.txt line 2:") and "unknown class index 5" in m for m in issues)
    assert any(
        m.startswith("labels/img0.txt line 3:") and "is not '<class> <numbers...>'" in m for m in issues
    )
    assert any(m.startswith("labels/img0.txt line 4:") and "2 numbers" in m for m in issues)
    assert [i.message for i in pv.unmatched] == ["labels/ghost.txt: no image of the project matches this label file, "
                                                 "so its size is unknown"]  # fmt: skip
    assert len(pv.matched) == 2
    img1 = next(r for r in pv.matched.values() if r.file_name.endswith("img1"))
    assert img1.payload == {"boxes": [{"class_id": 2, "xywh": [40.0, 32.0, 20.0, 16.0], "score": 0.87}]}


def test_voc_malformed_xml_and_missing_box_are_named(store: Store, tmp_path: Path) -> None:
    pid = _project(store, TaskType.BOXES)
    folder = tmp_path / "voc" / "Annotations"
    folder.mkdir(parents=True)
    (folder / "img0.xml").write_text(
        "<annotation><filename>img0.jpg</filename><size><width>100</width><height>80</height></size>"
        "<object><name>cat</name><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>30</xmax><ymax>40</ymax></bndbox></object>"
        "<object><name>dog</name></object></annotation>"
    )
    (folder / "img1.xml").write_text(
        "<annotation><filename>img1.jpg</filename>\n<object><name>cat</annotation>"
    )
    pv = preview_import(store, pid, tmp_path / "voc")
    issues = _messages(pv.issues)
    assert any(m.startswith("Annotations/img1.xml: malformed XML at line 2") for m in issues)
    assert "Annotations/img0.xml object 2: has no <bndbox>" in issues
    assert len(pv.matched) == 1


def test_jsonl_and_csv_bad_rows_are_named_by_line(store: Store, tmp_path: Path) -> None:
    pid = _project(store, TaskType.MULTILABEL)
    rows = [
        {"file_name": "img0.jpg", "width": 100, "height": 80, "task_type": "multilabel",
         "label": {"class_ids": [1], "classes": ["cat"]}},
        "{not json",
        {"file_name": "img1.jpg", "width": 100, "height": 80, "task_type": "multilabel",
         "label": {"class_ids": [1, 2], "classes": ["cat"]}},
    ]  # fmt: skip
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    pv = preview_import(store, pid, path)
    assert pv.fmt == "jsonl" and len(pv.matched) == 1
    issues = _messages(pv.issues)
    assert any(m.startswith("rows.jsonl line 2: malformed JSON") for m in issues)
    assert any(m.startswith("rows.jsonl line 3:") and "differ in length" in m for m in issues)

    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("image,label\nimg0.jpg,cat;dog\nimg1.jpg,cat,extra\n,dog\nimg2.jpg,\n")
    pv = preview_import(store, pid, csv_path)
    assert pv.fmt == "csv" and pv.file_task is TaskType.MULTILABEL
    issues = _messages(pv.issues)
    assert any(m.startswith("labels.csv line 3: 3 columns") for m in issues)
    assert any(m.startswith("labels.csv line 4: the image column is empty") for m in issues)
    assert sorted(r.payload["class_ids"].__len__() for r in pv.matched.values()) == [0, 2]  # type: ignore[index]


def test_class_folders_are_detected_and_multi_label_when_an_image_repeats(
    store: Store, tmp_path: Path
) -> None:
    pid = _project(store, TaskType.MULTILABEL)
    for cls, names in {"cat": ["img0.jpg", "img1.jpg"], "dog": ["img1.jpg", "img2.jpg"]}.items():
        (tmp_path / "f" / cls).mkdir(parents=True)
        for n in names:
            (tmp_path / "f" / cls / n).write_bytes(b"\xff\xd8")
    assert detect(tmp_path / "f") == ["folders"]
    pv = preview_import(store, pid, tmp_path / "f")
    assert pv.file_task is TaskType.MULTILABEL and len(pv.matched) == 3
    assert sorted(len(r.payload["class_ids"]) for r in pv.matched.values()) == [1, 1, 2]  # type: ignore[index]


def test_yolo_ultralytics_layout_in_a_zip_with_a_top_folder_and_a_names_list(
    store: Store, tmp_path: Path
) -> None:
    pid = _project(store, TaskType.POLYGONS)
    zpath = tmp_path / "dataset.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("ds/data.yaml", "path: .\ntrain: train/images\nnames: [cat, dog]\n")
        zf.writestr("ds/train/labels/img0.txt", "1 0.1 0.1 0.5 0.1 0.5 0.5\n")
        zf.writestr(
            "ds/valid/labels/img2.txt", "0 0.1 0.1 0.5 0.1 0.5 0.5 0.9\n0 0.5 0.5 0.2 0.2\n"
        )  # conf; a box
    assert detect(zpath)[0] == "yolo"
    pv = preview_import(store, pid, zpath)
    assert pv.file_task is TaskType.POLYGONS and not pv.issues and len(pv.matched) == 2
    assert [c.name for c in pv.classes] == ["cat", "dog"]
    by_name = {r.file_name: r.payload for r in pv.matched.values()}
    assert by_name["train/images/img0"] == {
        "polygons": [{"class_id": 2, "points": [[10.0, 8.0], [50.0, 8.0], [50.0, 40.0]]}]
    }
    p2 = by_name["valid/images/img2"]["polygons"]  # type: ignore[index]
    assert p2[0]["score"] == 0.9 and p2[1]["points"] == [
        [40.0, 32.0],
        [60.0, 32.0],
        [60.0, 48.0],
        [40.0, 48.0],
    ]


def test_csv_an_image_on_several_rows_has_each_rows_class(store: Store, tmp_path: Path) -> None:
    pid = _project(store, TaskType.MULTILABEL)
    path = tmp_path / "long.csv"
    path.write_text("img0.jpg,cat\nimg0.jpg,dog\nimg1.jpg,dog\n")  # no header
    pv = preview_import(store, pid, path)
    assert pv.fmt == "csv" and pv.file_task is TaskType.MULTILABEL and not pv.issues
    assert sorted(len(r.payload["class_ids"]) for r in pv.matched.values()) == [1, 2]  # type: ignore[index]


@pytest.mark.parametrize("typed", ["/", "/etc", "/etc/passwd", "/proc/self"])
def test_a_server_path_is_refused_where_a_folder_import_is(typed):
    # "/" typed as the labels' path was walked whole to detect a format ("/proc/<pid> could not be found")
    with pytest.raises(LoadError, match="cannot be read for labels"):
        check_server_path(typed)


def test_a_label_file_or_folder_of_ones_own_is_read(tmp_path, monkeypatch):
    monkeypatch.delenv("ANNOTA_IMPORT_ROOTS", raising=False)
    (tmp_path / "labels.json").write_text("{}")
    assert check_server_path(tmp_path / "labels.json") == tmp_path / "labels.json"
    assert check_server_path(tmp_path) == tmp_path
    monkeypatch.setenv("ANNOTA_IMPORT_ROOTS", str(tmp_path / "elsewhere"))
    with pytest.raises(LoadError, match="outside the folders"):
        check_server_path(tmp_path / "labels.json")
