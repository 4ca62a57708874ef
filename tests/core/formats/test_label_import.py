"""Importing labels from real files: raccoon VOC, coco128-seg YOLO segmentation, COCO built from them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.assist.predictions import shown_prediction
from core.domain import Source, TaskType
from core.formats.coco_import import rle_counts, rle_mask
from core.formats.label_import import IGNORE, ImportOptions, apply_import, preview_import
from core.images.sources import import_folder
from core.permissions import SYSTEM
from core.store import Store
from core.store.labels import current_annotation, save_label
from core.store.projects import create_project, list_classes
from tests.conftest import datasets_or_skip


def _project(store: Store, task: TaskType, classes: list[str], folder: Path) -> int:
    project = create_project(store, "P", task, classes, by=SYSTEM)
    import_folder(store, project.id, folder, watch=False, by=SYSTEM)
    return project.id


def _item(store: Store, project_id: int, name: str) -> int:
    return int(
        store.scalar("SELECT id FROM items WHERE project_id = ? AND path LIKE ?", [project_id, f"%/{name}"])
    )


def test_raccoon_voc_folder_imports_as_new_import_versions(store: Store) -> None:
    raccoon = datasets_or_skip() / "raccoon"
    pid = _project(store, TaskType.BOXES, ["raccoon", "dog"], raccoon / "images")
    item = _item(store, pid, "raccoon-1.jpg")
    cid = {c.name: c.id for c in list_classes(store, pid)}
    save_label(
        store,
        item,
        {"boxes": [{"class_id": cid["dog"], "xywh": [1, 1, 10, 10]}]},
        author="ann",
        base_version=0,
        by=SYSTEM,
    )
    pv = preview_import(store, pid, raccoon / "annotations")
    assert pv.fmt == "voc" and pv.file_task is TaskType.BOXES
    assert len(pv.matched) == 147 and pv.records == 150 and len(pv.unmatched) == 3  # 3 duplicate photos
    assert pv.already_labeled == 1 and not pv.refused and not pv.issues
    assert [(c.name, c.target) for c in pv.classes] == [("raccoon", cid["raccoon"])]
    result = apply_import(store, pid, pv, author="importer", by=SYSTEM)
    assert result.saved == 147 and not result.stale
    ann = current_annotation(store, item)
    assert ann is not None and ann.version == 2 and ann.source is Source.IMPORT  # version 1 (ann's) is kept
    assert ann.payload == {"boxes": [{"class_id": cid["raccoon"], "xywh": [81.0, 88.0, 441.0, 320.0]}]}
    assert store.scalar("SELECT origin FROM annotations WHERE id = ?", [ann.id]) == "raccoon-1.xml"


def test_coco128_seg_yolo_polygons_match_by_stem_and_create_classes(store: Store) -> None:
    seg = datasets_or_skip() / "coco128-seg"
    pid = _project(store, TaskType.POLYGONS, ["person", "car"], seg / "images" / "train2017")
    pv = preview_import(store, pid, seg)
    assert pv.fmt == "yolo" and pv.file_task is TaskType.POLYGONS
    assert len(pv.matched) == len(list((seg / "labels" / "train2017").glob("*.txt"))) - len(pv.unmatched)
    assert len(pv.matched) >= 120 and not pv.issues
    assert {"person", "car"} <= {c.name for c in pv.classes if c.target is not None}
    assert "bowl" in pv.missing_classes
    result = apply_import(
        store, pid, pv, author="importer", options=ImportOptions(create_classes=True), by=SYSTEM
    )
    assert "bowl" in result.created_classes and not result.refused
    item = _item(store, pid, "000000000009.jpg")
    polys = current_annotation(store, item).payload["polygons"]  # type: ignore[union-attr]
    names = {c.id: c.name for c in list_classes(store, pid)}
    lines = (seg / "labels" / "train2017" / "000000000009.txt").read_text().split("\n")
    assert len(polys) == len([x for x in lines if x.strip()]) - len(
        [r for r in pv.refused if "000000000009" in r.message]
    )
    assert names[polys[0]["class_id"]] == "bowl"  # class 45 of classes.txt


def _coco_from_raccoon(raccoon: Path, out: Path, *, scores: bool = False) -> Path:
    import xml.etree.ElementTree as ET

    images, anns = [], []
    duplicates = {
        "raccoon-116.xml",
        "raccoon-74.xml",
        "raccoon-98.xml",
    }  # photos import_folder drops as repeats
    xmls = [x for x in sorted((raccoon / "annotations").glob("*.xml")) if x.name not in duplicates]
    for k, xml in enumerate(xmls[:20], 1):
        root = ET.parse(xml).getroot()
        images.append({"id": k, "file_name": root.findtext("filename"), "width": int(root.findtext("size/width")),
                       "height": int(root.findtext("size/height"))})  # fmt: skip
        for obj in root.iter("object"):
            x1, y1, x2, y2 = (float(obj.findtext(f"bndbox/{t}")) for t in ("xmin", "ymin", "xmax", "ymax"))
            ann = {
                "id": len(anns) + 1,
                "image_id": k,
                "category_id": 7,
                "bbox": [x1, y1, x2 - x1, y2 - y1],
                "iscrowd": 0,
            }
            if scores:
                ann["score"] = 0.5 + 0.01 * k
            anns.append(ann)
    out.write_text(
        json.dumps({"images": images, "annotations": anns, "categories": [{"id": 7, "name": "raccoon"}]})
    )
    return out


def test_coco_boxes_as_imported_proposals_keep_scores_and_leave_labels(store: Store, tmp_path: Path) -> None:
    raccoon = datasets_or_skip() / "raccoon"
    pid = _project(store, TaskType.BOXES, ["raccoon", "dog"], raccoon / "images")
    coco = _coco_from_raccoon(raccoon, tmp_path / "detections.json", scores=True)
    pv = preview_import(store, pid, coco)
    assert pv.fmt == "coco" and len(pv.matched) == 20
    result = apply_import(
        store, pid, pv, author="importer", options=ImportOptions(as_proposals=True), by=SYSTEM
    )
    assert result.proposals == 20 and result.saved == 0
    assert store.scalar("SELECT count(*) FROM annotations") == 0  # not labels
    item = _item(store, pid, "raccoon-1.jpg")
    pred = shown_prediction(store, item)
    assert pred is not None and pred.payload["imported_from"] == "detections.json"
    data = json.loads(coco.read_text())
    image_id = next(i["id"] for i in data["images"] if i["file_name"] == "raccoon-1.jpg")
    scores = [a["score"] for a in data["annotations"] if a["image_id"] == image_id]
    assert [b["score"] for b in pred.payload["boxes"]] == pytest.approx(scores)
    assert pred.confidence == pytest.approx(min(scores))
    assert store.scalar("SELECT kind FROM model_runs WHERE id = ?", [pred.run_id]) == "import"


def test_rle_masks_become_polygons_and_iscrowd_is_kept(store: Store, tmp_path: Path) -> None:
    raccoon = datasets_or_skip() / "raccoon"
    pid = _project(store, TaskType.POLYGONS, ["raccoon", "dog"], raccoon / "images")
    h, w = 417, 650  # raccoon-1.jpg
    mask = np.zeros((h, w), dtype=bool)
    mask[100:200, 50:300] = True
    flat = mask.T.ravel()  # column-major, as COCO counts
    change = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    counts = np.diff(np.concatenate([[0], change, [flat.size]])).tolist()
    if flat[0]:
        counts = [0, *counts]
    data = {"images": [{"id": 1, "file_name": "raccoon-1.jpg", "width": w, "height": h}],
            "categories": [{"id": 1, "name": "raccoon"}],
            "annotations": [{"id": 5, "image_id": 1, "category_id": 1, "iscrowd": 1,
                             "segmentation": {"size": [h, w], "counts": counts}, "area": 25000, "bbox": [50, 100, 250, 100]}]}  # fmt: skip
    path = tmp_path / "rle.json"
    path.write_text(json.dumps(data))
    assert rle_mask({"size": [h, w], "counts": counts}).sum() == mask.sum()
    pv = preview_import(store, pid, path)
    (rec,) = pv.matched.values()
    (poly,) = rec.payload["polygons"]  # type: ignore[index]
    xs, ys = [p[0] for p in poly["points"]], [p[1] for p in poly["points"]]
    assert (min(xs), max(xs), min(ys), max(ys)) == (50, 299, 100, 199) and poly["iscrowd"] == 1
    assert apply_import(store, pid, pv, author="i", by=SYSTEM).saved == 1
    saved = current_annotation(store, next(iter(pv.matched)))
    assert saved is not None and saved.payload["polygons"][0]["iscrowd"] == 1  # kept as a flag


def test_compressed_rle_counts_decode_as_pycocotools_writes_them() -> None:
    # pycocotools.mask.encode of a 4x4 mask with pixels (1,1),(2,1),(1,2),(2,2) set: counts "52203"
    assert rle_counts("52203") == [5, 2, 2, 2, 5]
    m = rle_mask({"size": [4, 4], "counts": "52203"})
    assert m.sum() == 4 and m[1:3, 1:3].all()


def test_class_map_ignore_and_map_onto_existing(store: Store, tmp_path: Path) -> None:
    raccoon = datasets_or_skip() / "raccoon"
    pid = _project(store, TaskType.BOXES, ["animal", "dog"], raccoon / "images")
    coco = _coco_from_raccoon(raccoon, tmp_path / "a.json")
    pv = preview_import(store, pid, coco)
    assert pv.missing_classes == ["raccoon"]
    animal = next(c.id for c in list_classes(store, pid) if c.name == "animal")
    result = apply_import(
        store, pid, pv, author="i", options=ImportOptions(class_map={"raccoon": animal}), by=SYSTEM
    )
    assert result.saved == 20 and not result.created_classes
    item = _item(store, pid, "raccoon-1.jpg")
    assert current_annotation(store, item).payload["boxes"][0]["class_id"] == animal  # type: ignore[union-attr]
    pv2 = preview_import(store, pid, coco)
    result2 = apply_import(
        store, pid, pv2, author="i", options=ImportOptions(class_map={"raccoon": IGNORE}), by=SYSTEM
    )
    assert current_annotation(store, item).payload == {"boxes": []}  # type: ignore[union-attr]
    assert result2.saved == 20 and not result2.refused


def test_a_save_after_the_preview_is_stale_and_kept(store: Store, tmp_path: Path) -> None:
    raccoon = datasets_or_skip() / "raccoon"
    pid = _project(store, TaskType.BOXES, ["raccoon", "dog"], raccoon / "images")
    pv = preview_import(store, pid, _coco_from_raccoon(raccoon, tmp_path / "a.json"))
    item = _item(store, pid, "raccoon-1.jpg")
    save_label(store, item, {"boxes": []}, author="ann", base_version=0, by=SYSTEM)
    result = apply_import(store, pid, pv, author="i", by=SYSTEM)
    assert result.stale == [item] and result.saved == 19
    assert current_annotation(store, item).author == "ann"  # type: ignore[union-attr]


def test_iscrowd_goes_out_and_back_through_coco(store: Store, tmp_path: Path) -> None:
    from core.formats.export import export_project
    from core.store.items import NewItem, add_items

    p = create_project(store, "Crowd", TaskType.BOXES, ["person", "car"], by=SYSTEM)
    add_items(store, p.id, [NewItem("/x/a.jpg", 100, 80, "h1")])
    item = int(store.scalar("SELECT id FROM items"))
    person = list_classes(store, p.id)[0].id
    save_label(store, item, {"boxes": [{"class_id": person, "xywh": [1, 1, 50, 40], "iscrowd": 1},
                                       {"class_id": person, "xywh": [60, 10, 20, 20]}]}, author="a", base_version=0, by=SYSTEM)  # fmt: skip
    out = export_project(store, p.id, "coco", out_path=tmp_path / "c.json", by=SYSTEM).path
    assert [a["iscrowd"] for a in json.loads(out.read_text())["annotations"]] == [1, 0]
    pv = preview_import(store, p.id, out)
    assert [b.get("iscrowd") for b in pv.matched[item].payload["boxes"]] == [1, None]  # type: ignore[index]
