"""Label Studio, CVAT, masks, YOLO segmentation, COCO RLE and imagefolder: save records, load them back,
same labels (within each format's precision), for every task type each format carries; the others are
refused in words. The official readers load the files where they install (pycocotools, ``datasets``)."""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from formats_check import CATS, assert_same_payload, sample_records
from PIL import Image

from core import geometry
from core.domain import TaskType
from core.formats.coco_rle import CocoRleWriter, load_coco_rle, save_coco_rle
from core.formats.cvat import CvatWriter, load_cvat, save_cvat
from core.formats.imagefolder import ImageFolderWriter, load_imagefolder, save_imagefolder
from core.formats.labelstudio import LabelStudioWriter, label_config, load_labelstudio, save_labelstudio
from core.formats.masks import MasksWriter, load_masks, save_masks
from core.formats.records import CategorySet, Dataset, ExportRecord, SaveSummary, write_all
from core.formats.voc import VocWriter
from core.formats.with_images import WithImages
from core.formats.yolo import YoloWriter
from core.formats.yolo_seg import YoloSegWriter, load_yolo_seg, save_yolo_seg

SHAPES = (TaskType.BOXES, TaskType.POLYGONS)

Save = Callable[[Path, TaskType, CategorySet, list[ExportRecord]], SaveSummary]
Load = Callable[[Path], Dataset]
# name -> (file name, save, load, task types it carries)
EXACT: dict[str, tuple[str, Save, Load, tuple[TaskType, ...]]] = {
    "labelstudio": ("out.json", save_labelstudio, load_labelstudio, tuple(TaskType)),
    "cvat": ("out.xml", save_cvat, load_cvat, tuple(TaskType)),
    "imagefolder": ("out.zip", save_imagefolder, load_imagefolder, tuple(TaskType)),
    "yolo-seg": ("out.zip", save_yolo_seg, load_yolo_seg, SHAPES),
}
WRITERS = {"labelstudio": LabelStudioWriter, "cvat": CvatWriter, "imagefolder": ImageFolderWriter,
           "yolo-seg": YoloSegWriter, "masks": MasksWriter, "coco-rle": CocoRleWriter}  # fmt: skip


@pytest.mark.parametrize("task", list(TaskType))
@pytest.mark.parametrize("fmt", list(EXACT))
def test_roundtrip(tmp_path: Path, fmt: str, task: TaskType) -> None:
    name, save, load, tasks = EXACT[fmt]
    if task not in tasks:
        with pytest.raises(ValueError, match="project has"):
            save(tmp_path / name, task, CATS, sample_records(task))
        assert not (tmp_path / name).exists() and not list(tmp_path.iterdir())
        return
    records = sample_records(task)
    summary = save(tmp_path / name, task, CATS, records)
    assert summary.issues == [] and summary.images == len(records)
    ds = load(tmp_path / name)
    assert ds.task_type is task
    assert ds.issues == []
    assert ds.categories == CATS  # annota's class ids come back (kept in the file's annota part)
    got = ds.by_file_name()
    assert sorted(got) == sorted(r.file_name for r in records)
    for rec in records:
        back = got[rec.file_name]
        assert (back.width, back.height, back.path, back.item_id) == (
            rec.width,
            rec.height,
            rec.path,
            rec.item_id,
        )
        assert_same_payload("yolo" if fmt == "yolo-seg" else fmt, task, rec.payload, back.payload, 640, 480)
    # export again what was read: the same labels
    again = save(tmp_path / f"again-{name}", task, CATS, ds.records)
    assert again.annotations == summary.annotations
    for rec in load(tmp_path / f"again-{name}").records:
        assert_same_payload("yolo" if fmt == "yolo-seg" else fmt, task, got[rec.file_name].payload, rec.payload,
                            640, 480)  # fmt: skip


@pytest.mark.parametrize("task", [TaskType.MULTICLASS, TaskType.MULTILABEL])
@pytest.mark.parametrize("fmt", ["masks", "coco-rle", "yolo-seg"])
def test_shape_only_formats_refuse_classification(tmp_path: Path, fmt: str, task: TaskType) -> None:
    with pytest.raises(ValueError, match=r"image-level classes|has no masks"):
        WRITERS[fmt](tmp_path / "out.zip", task, CATS)


def test_coco_rle_refuses_boxes_in_words(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"needs a polygon project.*Export it as plain COCO"):
        CocoRleWriter(tmp_path / "a.json", TaskType.BOXES, CATS)


def _mask(poly_payload: dict[str, Any], w: int, h: int, cls: int) -> np.ndarray:
    out = np.zeros((h, w), bool)
    for p in poly_payload["polygons"]:
        if p["class_id"] == cls:
            out |= geometry.rasterize_polygon(p["points"], w, h)
    return out


def _pngs(path: Path) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(path) as zf:
        return {
            n: np.asarray(Image.open(io.BytesIO(zf.read(n)))) for n in zf.namelist() if n.endswith(".png")
        }


@pytest.mark.parametrize("task", SHAPES)
def test_masks_roundtrip_is_exact_in_pixels(tmp_path: Path, task: TaskType) -> None:
    records = sample_records(task)
    summary = save_masks(tmp_path / "a.zip", task, CATS, records)
    assert summary.issues == []
    first = _pngs(tmp_path / "a.zip")
    labeled = [r for r in records if r.payload is not None]
    assert sorted(first) == sorted(f"masks/{r.stem}.png" for r in labeled)  # none for the unlabeled image
    ds = load_masks(tmp_path / "a.zip")
    assert ds.issues == [] and ds.task_type is task and ds.categories == CATS
    save_masks(tmp_path / "b.zip", task, CATS, ds.records)
    second = _pngs(tmp_path / "b.zip")
    for name, pixels in first.items():
        assert pixels.shape == (480, 640)
        assert np.array_equal(pixels, second[name]), name
    got = ds.by_file_name()
    for rec in labeled:
        values = set(np.unique(first[f"masks/{rec.stem}.png"]).tolist()) - {0}
        used = {CATS.index_of(o["class_id"]) + 1 for o in rec.payload[next(iter(rec.payload))]}
        assert values == used
        if task is TaskType.BOXES:  # integer boxes come back exactly; fractional ones on the pixel grid
            want = sorted((b["class_id"], *[round(v) for v in b["xywh"]]) for b in rec.payload["boxes"])
            back = sorted((b["class_id"], *b["xywh"]) for b in got[rec.file_name].payload["boxes"])
            assert [w[0] for w in want] == [b[0] for b in back]
            assert np.allclose([w[1:] for w in want], [b[1:] for b in back], atol=1.0)
        else:  # each polygon's pixels: intersection over union with the original polygon
            for cls in {p["class_id"] for p in rec.payload["polygons"]}:
                iou = geometry.mask_iou(
                    _mask(rec.payload, 640, 480, cls), _mask(got[rec.file_name].payload, 640, 480, cls)
                )
                assert iou > 0.97, (rec.file_name, cls, iou)


def test_masks_class_table_and_palette(tmp_path: Path) -> None:
    save_masks(tmp_path / "m", TaskType.POLYGONS, CATS, sample_records(TaskType.POLYGONS))
    table = (tmp_path / "m" / "classes.csv").read_text().splitlines()
    assert table[0] == "index,name,r,g,b"
    assert [row.split(",")[:2] for row in table[1:]] == [["0", "background"], ["1", "cat"], ["2", "dog"],
                                                          ["3", "traffic light"]]  # fmt: skip
    with Image.open(tmp_path / "m" / "masks" / "img_1.png") as img:
        assert img.mode == "P"
        pal = img.getpalette()[:12]
    assert [tuple(pal[k : k + 3]) for k in range(0, 12, 3)] == [
        tuple(int(v) for v in row.split(",")[2:]) for row in table[1:]
    ]


def test_coco_rle_with_pycocotools(tmp_path: Path) -> None:
    from pycocotools.coco import COCO

    records = sample_records(TaskType.POLYGONS)
    summary = save_coco_rle(tmp_path / "a.json", TaskType.POLYGONS, CATS, records)
    assert summary.issues == []
    coco = COCO(str(tmp_path / "a.json"))
    by_name = {img["file_name"]: img["id"] for img in coco.dataset["images"]}
    for rec in records:
        if not rec.payload:
            continue
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[by_name[rec.file_name]]))
        assert len(anns) == len(rec.payload["polygons"])
        for ann, poly in zip(anns, rec.payload["polygons"], strict=True):
            assert isinstance(ann["segmentation"]["counts"], str)
            mask = coco.annToMask(ann).astype(bool)
            assert int(mask.sum()) == ann["area"]
            want = geometry.rasterize_polygon(poly["points"], rec.width, rec.height)
            assert geometry.mask_iou(mask, want) > 0.97
    ds = load_coco_rle(tmp_path / "a.json")
    assert ds.issues == [] and ds.task_type is TaskType.POLYGONS
    save_coco_rle(tmp_path / "b.json", TaskType.POLYGONS, CATS, ds.records)
    again = COCO(str(tmp_path / "b.json"))
    for a, b in zip(coco.loadAnns(coco.getAnnIds()), again.loadAnns(again.getAnnIds()), strict=True):
        assert geometry.mask_iou(coco.annToMask(a).astype(bool), again.annToMask(b).astype(bool)) > 0.97


def test_yolo_seg_layout_and_boxes_as_corners(tmp_path: Path) -> None:
    records = sample_records(TaskType.BOXES)
    save_yolo_seg(tmp_path / "s", TaskType.BOXES, CATS, records)
    assert "task: segment" in (tmp_path / "s" / "data.yaml").read_text()
    line = (tmp_path / "s" / "labels" / "img_1.txt").read_text().split()
    x, y, w, h = records[1].payload["boxes"][0]["xywh"]
    want = [x / 640, y / 480, (x + w) / 640, y / 480, (x + w) / 640, (y + h) / 480, x / 640, (y + h) / 480]
    assert int(line[0]) == CATS.index_of(records[1].payload["boxes"][0]["class_id"])
    assert np.allclose([float(v) for v in line[1:]], want, atol=1e-6)
    assert json.loads((tmp_path / "s" / "annota.json").read_text())["source_task"] == "boxes"


def test_labelstudio_percentages_and_config(tmp_path: Path) -> None:
    records = sample_records(TaskType.BOXES)
    save_labelstudio(tmp_path / "ls.json", TaskType.BOXES, CATS, records)
    tasks = json.loads((tmp_path / "ls.json").read_text())
    (result,) = tasks[1]["annotations"][0]["result"]
    x, y, w, h = records[1].payload["boxes"][0]["xywh"]
    assert result["type"] == "rectanglelabels" and result["original_width"] == 640
    assert result["value"]["x"] == pytest.approx(x / 640 * 100) and result["value"][
        "height"
    ] == pytest.approx(h / 480 * 100)
    assert tasks[-1]["annotations"] == []  # the unlabeled image
    config = label_config(TaskType.BOXES, CATS)
    assert (
        '<RectangleLabels name="label" toName="image">' in config
        and '<Label value="traffic light"/>' in config
    )


def test_cvat_xml_shapes(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    save_cvat(tmp_path / "c.xml", TaskType.POLYGONS, CATS, sample_records(TaskType.POLYGONS))
    root = ET.parse(tmp_path / "c.xml").getroot()
    assert root.findtext("version") == "1.1"
    assert [lbl.findtext("name") for lbl in root.iter("label")] == CATS.names
    img = root.findall("image")[0]
    (poly,) = img.findall("polygon")
    assert poly.get("label") == "cat" and poly.get("points") == "10,10;200.5,15;180,160.25;20,140"


# --- the images in the zip -------------------------------------------------------------------------


def _photos(tmp_path: Path, task: TaskType) -> list[ExportRecord]:
    out = []
    for k, rec in enumerate(sample_records(task)[:4]):
        src = tmp_path / "photos" / rec.file_name
        src.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (rec.width, rec.height), (40 * k, 90, 10)).save(src)
        out.append(ExportRecord(rec.file_name, rec.width, rec.height, rec.payload, str(src), rec.item_id))
    return out


@pytest.mark.parametrize(
    ("writer", "folder", "label_file"),
    [(YoloWriter, "images", "labels/img_1.txt"), (YoloSegWriter, "images", "labels/img_1.txt"),
     (VocWriter, "JPEGImages", "Annotations/img_1.xml"), (ImageFolderWriter, "", "metadata.jsonl")],
)  # fmt: skip
def test_with_images_puts_each_image_beside_its_labels(
    tmp_path: Path, writer: Callable[..., Any], folder: str, label_file: str
) -> None:
    records = _photos(tmp_path, TaskType.POLYGONS)
    missing = ExportRecord("gone.jpg", 640, 480, records[0].payload, str(tmp_path / "gone.jpg"), 99)
    summary = write_all(
        WithImages(writer(tmp_path / "out.zip", TaskType.POLYGONS, CATS), folder), [*records, missing]
    )
    assert [i.file_name for i in summary.issues] == ["gone.jpg"] and "cannot be read" in summary.issues[
        0
    ].message
    with zipfile.ZipFile(tmp_path / "out.zip") as zf:
        names = set(zf.namelist())
        for rec in records:
            rel = f"{folder}/{rec.file_name}" if folder else rec.file_name
            assert zf.read(rel) == Path(rec.path).read_bytes()
        assert label_file in names
        assert not any("gone" in n for n in names)  # its labels are left out with it


def test_with_images_refuses_single_file_formats(tmp_path: Path) -> None:
    writer = CvatWriter(tmp_path / "c.xml", TaskType.BOXES, CATS)
    with pytest.raises(ValueError, match="one file"):
        WithImages(writer, "images")
    writer.abort()


@pytest.mark.parametrize("task", list(TaskType))
def test_imagefolder_loads_with_datasets(
    tmp_path: Path, task: TaskType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    datasets = pytest.importorskip("datasets", reason="datasets is in requirements-dev.txt")
    records = _photos(tmp_path, task)
    write_all(WithImages(ImageFolderWriter(tmp_path / "hf.zip", task, CATS), ""), records)
    with zipfile.ZipFile(tmp_path / "hf.zip") as zf:
        zf.extractall(tmp_path / "unzipped")
    split = datasets.load_dataset("imagefolder", data_dir=str(tmp_path / "unzipped"),
                                  cache_dir=str(tmp_path / "cache"))["train"]  # fmt: skip
    assert split.num_rows == len(records)
    rows = {r["annota"]["item_id"]: r for r in split}
    for rec in records:
        row = rows[rec.item_id]
        assert row["image"].size == (rec.width, rec.height)
        if task is TaskType.MULTICLASS:
            assert row["label"] == CATS.name_of(rec.payload["class_id"])
        elif task is TaskType.MULTILABEL:
            assert row["labels"] == [CATS.name_of(c) for c in rec.payload["class_ids"]]
        else:
            key = "boxes" if task is TaskType.BOXES else "polygons"
            objs = rec.payload[key]
            assert row["objects"]["categories"] == [CATS.index_of(o["class_id"]) for o in objs]
            if task is TaskType.BOXES:
                assert row["objects"]["bbox"] == [[float(v) for v in o["xywh"]] for o in objs]
            else:
                assert row["objects"]["segmentation"] == [
                    [[float(v) for p in o["points"] for v in p]] for o in objs
                ]
    assert os.environ["HF_DATASETS_OFFLINE"] == "1"


@pytest.mark.parametrize("task", list(TaskType))
def test_coco_category_ids_from_one_in_class_order(tmp_path: Path, task: TaskType) -> None:
    from pycocotools.coco import COCO

    from core.formats.coco import load_coco, save_coco

    records = sample_records(task)
    save_coco(tmp_path / "c.json", task, CATS, records)  # annota's class ids 7, 3, 11
    coco = COCO(str(tmp_path / "c.json"))
    assert [(c["id"], c["name"]) for c in coco.dataset["categories"]] == [
        (1, "cat"),
        (2, "dog"),
        (3, "traffic light"),
    ]
    by_name = {img["file_name"]: img["id"] for img in coco.dataset["images"]}
    for rec in records[:6]:
        used = [CATS.index_of(c) + 1 for c in _class_ids(task, rec.payload)]
        assert [
            a["category_id"] for a in coco.loadAnns(coco.getAnnIds(imgIds=[by_name[rec.file_name]]))
        ] == used
    assert load_coco(tmp_path / "c.json").categories == CATS  # annota_id gives annota's ids back


def _class_ids(task: TaskType, payload: dict[str, Any] | None) -> list[int]:
    from core.domain import payload_class_ids

    return payload_class_ids(task, payload)


def test_voc_integer_pixels_and_files_without_the_key(tmp_path: Path) -> None:
    import re

    from core.formats.voc import load_voc, save_voc

    records = sample_records(TaskType.BOXES)
    save_voc(tmp_path / "v", TaskType.BOXES, CATS, records)
    xml = (tmp_path / "v" / "Annotations" / "img_2.xml").read_text()
    coords = re.findall(r"<(?:x|y)(?:min|max)>([^<]*)<", xml)
    assert coords and all(c.isdigit() for c in coords)  # whole pixels, as VOC's tools expect
    assert json.loads((tmp_path / "v" / "annota.json").read_text())["voc_pixels"] == "1-based integers"
    back = load_voc(tmp_path / "v").by_file_name()["img_2.jpg"].payload["boxes"]
    want = [[round(x), round(y), round(x + w) - round(x), round(y + h) - round(y)]
            for x, y, w, h in (b["xywh"] for b in records[2].payload["boxes"])]  # fmt: skip
    assert [b["xywh"] for b in back] == want
    meta = json.loads((tmp_path / "v" / "annota.json").read_text())
    del meta["voc_pixels"]  # an older annota export or another tool's: read as written
    (tmp_path / "v" / "annota.json").write_text(json.dumps(meta))
    old = load_voc(tmp_path / "v").by_file_name()["img_2.jpg"].payload["boxes"]
    assert [b["xywh"][:2] for b in old] == [[w[0] + 1, w[1] + 1] for w in want]
