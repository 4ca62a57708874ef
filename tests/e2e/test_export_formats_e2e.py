"""Chromium: a polygon project exported as YOLO segmentation with "Include the images in the zip";
the downloaded zip holds data.yaml (task: segment), a label file and the photo itself for each image."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import pytest

from core.config import shared_datasets
from core.permissions import SYSTEM
from tests.e2e.helpers import go, main, new_items, no_error_shown, open_project, shot, sign_in, wait_idle

pytestmark = pytest.mark.e2e


def test_yolo_segmentation_with_images(serve, page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from core.domain import TaskType
    from core.store import Store, items, labels, projects

    flowers = shared_datasets() / "flowers" / "daisy"
    if not flowers.is_dir():
        print(f"\nSKIP REASON: shared datasets not found at {flowers}", file=sys.stderr)
        pytest.skip(f"shared datasets not found at {flowers}")
    files = sorted(flowers.glob("*.jpg"))[:3]
    data = tmp_path / "data"
    data.mkdir()
    store = Store(data / "annota.duckdb")
    p = projects.create_project(store, "Petals", TaskType.POLYGONS, ["petal", "centre"], by=SYSTEM)
    items.add_items(store, p.id, new_items(files))
    cid = projects.list_classes(store, p.id)[0].id
    rows = store.query("SELECT id, width, height FROM items WHERE project_id = ? ORDER BY id", [p.id])
    for iid, w, h in rows:
        poly = [[w * 0.2, h * 0.2], [w * 0.8, h * 0.25], [w * 0.5, h * 0.8]]
        labels.save_label(
            store,
            iid,
            {"polygons": [{"class_id": cid, "points": poly}]},
            author="admin",
            base_version=0,
            by=SYSTEM,
        )
    store.close()
    server = serve(data)
    sign_in(page, url=server.url)
    open_project(page, "Petals")
    go(page, "Export")
    m = main(page)
    m.get_by_text("3 labeled of 3 images").wait_for()
    m.get_by_text("YOLO segmentation (zip)", exact=True).click()
    m.get_by_text("Ultralytics' segmentation layout").wait_for()
    m.get_by_text("Include the images in the zip").click()
    wait_idle(page)
    shot(page, "export-yolo-seg-with-images")
    m.get_by_role("button", name="Export", exact=True).click()
    button = m.get_by_role("button", name="Download").first
    button.wait_for(timeout=90_000)
    wait_idle(page)
    with page.expect_download(timeout=60_000) as info:
        button.click()
    target = tmp_path / "downloads" / info.value.suggested_filename
    target.parent.mkdir()
    info.value.save_as(str(target))
    no_error_shown(page)
    assert target.name.endswith(".zip") and "yolo-seg" in target.name
    with zipfile.ZipFile(target) as zf:
        names = set(zf.namelist())
        assert "task: segment" in zf.read("data.yaml").decode()
        for f in files:
            assert zf.read(f"images/{f.name}") == f.read_bytes()
            line = zf.read(f"labels/{f.stem}.txt").decode().split()
            assert line[0] == "0" and len(line) == 7  # class index and three normalised points
        assert len([n for n in names if n.startswith("images/")]) == 3
