"""annota's Label Studio export read by Label Studio's own converter (label-studio-converter, the library
behind Label Studio's export menu), with the labeling config ``label_config`` gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import CLASS_NAMES, sample_payload

from core.domain import TaskType
from core.formats.labelstudio import label_config, save_labelstudio
from core.formats.records import CategorySet, ExportRecord

CATS = CategorySet.of([(7, CLASS_NAMES[0]), (3, CLASS_NAMES[1]), (11, CLASS_NAMES[2])])


def _converter(task: TaskType):  # type: ignore[no-untyped-def]
    lsc = pytest.importorskip(
        "label_studio_converter", reason="label-studio-converter is in requirements-dev.txt"
    )
    return lsc.Converter(config=label_config(task, CATS), project_dir=None, download_resources=False)


def _records(task: TaskType) -> list[ExportRecord]:
    return [ExportRecord(f"img_{k}.jpg", 640, 480, sample_payload(task, k, CATS.ids), f"/d/img_{k}.jpg", 100 + k)
            for k in range(6)]  # fmt: skip


@pytest.mark.parametrize("task", [TaskType.BOXES, TaskType.POLYGONS])
def test_converter_gives_the_same_pixels_as_coco(tmp_path: Path, task: TaskType) -> None:
    records = _records(task)
    save_labelstudio(tmp_path / "ls.json", task, CATS, records)
    _converter(task).convert_to_coco(str(tmp_path / "ls.json"), str(tmp_path / "coco"), is_dir=False)
    data = json.loads((tmp_path / "coco" / "result.json").read_text())
    names = {c["id"]: c["name"] for c in data["categories"]}
    images = {i["id"]: i["file_name"].rsplit("/", 1)[-1] for i in data["images"]}
    got: dict[str, list[tuple[str, list[float]]]] = {}
    for a in data["annotations"]:
        coords = a["bbox"] if task is TaskType.BOXES else a["segmentation"][0]
        got.setdefault(images[a["image_id"]], []).append((names[a["category_id"]], coords))
    for rec in records:
        key = "boxes" if task is TaskType.BOXES else "polygons"
        want = [(CATS.name_of(o["class_id"]), o["xywh"] if task is TaskType.BOXES else [v for p in o["points"] for v in p])
                for o in rec.payload[key]]  # fmt: skip
        back = got.get(rec.file_name, [])
        assert [n for n, _ in back] == [n for n, _ in want], rec.file_name
        for (_, a), (_, b) in zip(back, want, strict=True):
            assert a == pytest.approx(b, abs=1e-6)


@pytest.mark.parametrize("task", [TaskType.MULTICLASS, TaskType.MULTILABEL])
def test_converter_reads_the_choices(tmp_path: Path, task: TaskType) -> None:
    records = _records(task)
    save_labelstudio(tmp_path / "ls.json", task, CATS, records)
    _converter(task).convert_to_json_min(str(tmp_path / "ls.json"), str(tmp_path / "min"), is_dir=False)
    rows = {r["id"]: r for r in json.loads((tmp_path / "min" / "result.json").read_text())}
    for rec in records:
        ids = [rec.payload["class_id"]] if task is TaskType.MULTICLASS else rec.payload["class_ids"]
        if not ids:  # "none of these": an annotation with no result, nothing to convert
            assert "choice" not in rows.get(rec.item_id, {})
            continue
        choice = rows[rec.item_id]["choice"]
        got = [choice] if isinstance(choice, str) else choice["choices"]
        assert sorted(got) == sorted(CATS.name_of(c) for c in ids)
