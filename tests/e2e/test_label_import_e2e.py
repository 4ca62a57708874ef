"""Data page, Import labels, in real Chromium: a COCO file on the server, its preview, the import.

Seeds a boxes project with 10 raccoon photos, writes a COCO file of their boxes (from the dataset's VOC
XML, one box moved outside its image), then in the browser: Data -> "A file or folder on the server" ->
the path -> Preview (matched, refused, the class) -> Import; the store then holds import versions.
"""

from __future__ import annotations

import json
import shutil
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from core.config import shared_datasets
from core.domain import TaskType
from core.images import import_folder
from core.permissions import SYSTEM
from core.store import Store, projects
from tests.e2e.helpers import go, main, no_error_shown, open_project, settle, shot, sign_in

pytestmark = pytest.mark.e2e


@pytest.fixture
def page_timeout_ms() -> int:
    return 90_000  # the shared machine is busy: preview and import each run in the page's thread


def seed(data: Path, raccoon: Path) -> Path:
    store = Store(data / "annota.duckdb")
    p = projects.create_project(store, "Raccoons", TaskType.BOXES, ["raccoon", "other"], by=SYSTEM)
    folder = data.parent / "photos"
    folder.mkdir()
    images, anns = [], []
    for k, xml in enumerate(sorted((raccoon / "annotations").glob("*.xml"))[:10], 1):
        root = ET.parse(xml).getroot()
        name = root.findtext("filename") or ""
        shutil.copy(raccoon / "images" / name, folder / name)
        w, h = int(root.findtext("size/width") or 0), int(root.findtext("size/height") or 0)
        images.append({"id": k, "file_name": name, "width": w, "height": h})
        for obj in root.iter("object"):
            x1, y1, x2, y2 = (
                float(obj.findtext(f"bndbox/{t}") or 0) for t in ("xmin", "ymin", "xmax", "ymax")
            )
            anns.append(
                {"id": len(anns) + 1, "image_id": k, "category_id": 1, "bbox": [x1, y1, x2 - x1, y2 - y1]}
            )
    anns[0]["bbox"][0] = 5000.0  # outside its image: refused
    import_folder(store, p.id, folder, watch=False, by=SYSTEM)
    store.close()
    coco = data.parent / "raccoon-boxes.json"
    coco.write_text(
        json.dumps({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "raccoon"}]})
    )
    return coco


def test_preview_and_import_a_coco_file(serve, page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    raccoon = shared_datasets() / "raccoon"
    if not raccoon.is_dir():
        print(f"SKIP REASON: shared datasets not found at {raccoon}", file=sys.stderr)
        pytest.skip(f"shared datasets not found at {raccoon}")
    data = tmp_path / "data"
    data.mkdir()
    coco = seed(data, raccoon)
    server = serve(data)
    sign_in(page, url=server.url)
    open_project(page, "Raccoons")
    go(page, "Data")
    m = main(page)
    m.get_by_text("A file or folder on the server").click()
    settle(page)
    m.get_by_role("textbox", name="Path on the server").fill(str(coco))
    m.get_by_role("textbox", name="Path on the server").press("Enter")
    settle(page)
    m.get_by_role("button", name="Preview").click()
    m.get_by_text("nothing is saved yet").wait_for()
    settle(page)
    no_error_shown(page)
    text = m.inner_text()
    assert "Images matched" in text and "raccoon" in text
    shot(page, "label_import_preview")
    m.get_by_role("button", name="Import 10 labels").click()
    m.get_by_text("10 labels saved; 1 refused").wait_for()
    settle(page)
    no_error_shown(page)
    shot(page, "label_import_done")
    server.stop()
    store = Store(data / "annota.duckdb")
    try:
        assert (
            store.scalar(
                "SELECT count(*) FROM annotations WHERE source = 'import' AND origin = ?", [coco.name]
            )
            == 10
        )
        refused = store.scalar(
            "SELECT count(*) FROM items i JOIN annotations a ON a.id = i.annotation_id WHERE a.payload LIKE '%5000%'"
        )
        assert refused == 0
    finally:
        store.close()
