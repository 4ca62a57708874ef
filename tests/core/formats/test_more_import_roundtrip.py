"""Label Studio, CVAT, imagefolder, YOLO segmentation, masks and COCO RLE through a real project:
export -> import into a fresh project with the same images -> export again: the same labels (masks and
RLE: the same pixels). Also the export job's refusals and ``with_images``."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.domain import TaskType
from core.formats.export import FORMATS, export_project
from core.formats.label_import import apply_import, preview_import
from core.permissions import SYSTEM
from core.store import Store
from core.store.items import NewItem, add_items
from core.store.labels import save_label
from core.store.projects import create_project, list_classes
from tests.core.formats.conftest import CLASS_NAMES, make_project, sample_payload
from tests.core.formats.test_label_import_roundtrip import _labels

EXACT = ["labelstudio", "cvat", "imagefolder", "yolo-seg"]
CASES = [(t, f) for f in EXACT for t in TaskType if t in FORMATS[f].tasks]


def _fresh(tmp_path: Path, task: TaskType, n: int = 8) -> tuple[Store, int]:
    store = Store(tmp_path / "b.duckdb")
    project = create_project(store, "Fresh", task, CLASS_NAMES, by=SYSTEM)
    add_items(
        store,
        project.id,
        [NewItem(f"/photos/set{k % 2}/img_{k:03d}.jpg", 640, 480, f"h{k}") for k in range(n)],
    )
    return store, project.id


def _through_a_fresh_project(tmp_path: Path, task: TaskType, fmt: str) -> tuple[Path, Path, int]:
    lab = make_project(tmp_path / "a", task, n=8)
    suffix = FORMATS[fmt].suffix
    first = export_project(
        lab.store, lab.project_id, fmt, out_path=tmp_path / f"first{suffix}", by=SYSTEM
    ).path
    lab.store.close()
    fresh, project_id = _fresh(tmp_path, task)
    pv = preview_import(fresh, project_id, first)
    assert pv.fmt == (fmt if fmt != "coco-rle" else "coco")
    assert not pv.refused and not pv.unmatched and not [i for i in pv.issues if i.level == "error"]
    result = apply_import(fresh, project_id, pv, author="importer", by=SYSTEM)
    assert result.saved == len(lab.payloads) and not result.refused
    again = export_project(fresh, project_id, fmt, out_path=tmp_path / f"again{suffix}", by=SYSTEM).path
    fresh.close()
    return first, again, result.saved


@pytest.mark.parametrize(("task", "fmt"), CASES, ids=[f"{t.value}-{f}" for t, f in CASES])
def test_round_trip_gives_the_same_labels(tmp_path: Path, task: TaskType, fmt: str) -> None:
    first, again, _ = _through_a_fresh_project(tmp_path, task, fmt)
    before, after = _labels(first), _labels(again)
    assert before and after == before


def _pngs(path: Path) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(path) as zf:
        return {
            n: np.asarray(Image.open(io.BytesIO(zf.read(n)))) for n in zf.namelist() if n.endswith(".png")
        }


@pytest.mark.parametrize("task", [TaskType.BOXES, TaskType.POLYGONS])
def test_masks_round_trip_gives_the_same_pixels(tmp_path: Path, task: TaskType) -> None:
    first, again, saved = _through_a_fresh_project(tmp_path, task, "masks")
    a, b = _pngs(first), _pngs(again)
    assert len(a) == saved and sorted(a) == sorted(b)
    for name in a:
        assert np.array_equal(a[name], b[name]), name


def test_coco_rle_round_trip_gives_the_same_masks(tmp_path: Path) -> None:
    from pycocotools.coco import COCO

    first, again, _ = _through_a_fresh_project(tmp_path, TaskType.POLYGONS, "coco-rle")
    a, b = COCO(str(first)), COCO(str(again))
    names_a = {i["id"]: i["file_name"] for i in a.dataset["images"]}
    names_b = {i["id"]: i["file_name"] for i in b.dataset["images"]}

    def union(coco: COCO, names: dict[int, str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for ann in coco.loadAnns(coco.getAnnIds()):
            name = names[ann["image_id"]]
            out[name] = out.get(name, 0) | coco.annToMask(ann)
        return out

    ma, mb = union(a, names_a), union(b, names_b)
    assert ma and sorted(ma) == sorted(mb)
    for name in ma:  # polygons traced from the mask and rasterised again: the same pixels but the outline
        inter, uni = np.logical_and(ma[name], mb[name]).sum(), np.logical_or(ma[name], mb[name]).sum()
        assert inter / uni > 0.98, name


@pytest.mark.parametrize("fmt", ["masks", "yolo-seg", "coco-rle"])
def test_a_format_refuses_a_task_it_cannot_carry(tmp_path: Path, fmt: str) -> None:
    lab = make_project(tmp_path, TaskType.MULTICLASS, n=2)
    with pytest.raises(ValueError, match=r"carries .* only; this project is image classification"):
        export_project(
            lab.store, lab.project_id, fmt, out_path=tmp_path / f"x{FORMATS[fmt].suffix}", by=SYSTEM
        )
    assert not list(tmp_path.glob("x*"))
    lab.store.close()


def test_with_images_only_where_the_format_has_a_folder(tmp_path: Path) -> None:
    lab = make_project(tmp_path, TaskType.BOXES, n=2)
    for fmt in ("coco", "labelstudio", "cvat", "csv"):
        with pytest.raises(ValueError, match="is one file; it cannot include the images"):
            export_project(
                lab.store,
                lab.project_id,
                fmt,
                with_images=True,
                out_path=tmp_path / f"x{FORMATS[fmt].suffix}",
                by=SYSTEM,
            )
    lab.store.close()


@pytest.mark.parametrize(("fmt", "folder"), [("yolo", "images/"), ("yolo-seg", "images/"), ("voc", "JPEGImages/"),
                                             ("imagefolder", "")])  # fmt: skip
def test_export_with_images(tmp_path: Path, fmt: str, folder: str) -> None:
    store = Store(tmp_path / "a.duckdb")
    project = create_project(store, "Photos", TaskType.POLYGONS, CLASS_NAMES, by=SYSTEM)
    ids = [c.id for c in list_classes(store, project.id)]
    files = []
    for k in range(3):
        f = tmp_path / "photos" / f"p{k}.jpg"
        f.parent.mkdir(exist_ok=True)
        Image.new("RGB", (640, 480), (60 * k, 20, 90)).save(f)
        files.append(f)
    gone = tmp_path / "photos" / "gone.jpg"
    add_items(store, project.id, [NewItem(str(f), 640, 480, f"s{k}") for k, f in enumerate([*files, gone])])
    items = [r[0] for r in store.query("SELECT id FROM items WHERE project_id = ? ORDER BY id", [project.id])]
    for k, item_id in enumerate(items):
        save_label(
            store, item_id, sample_payload(TaskType.POLYGONS, k, ids), author="ann", base_version=0, by=SYSTEM
        )
    result = export_project(
        store, project.id, fmt, with_images=True, out_path=tmp_path / "out.zip", by=SYSTEM
    )
    assert result.images == 3 and result.errors == 1
    assert result.issues[0].file_name == "gone.jpg" and "cannot be read" in result.issues[0].message
    with zipfile.ZipFile(result.path) as zf:
        for f in files:
            assert zf.read(folder + f.name) == f.read_bytes()
        assert not any("gone" in n for n in zf.namelist())
    store.close()
