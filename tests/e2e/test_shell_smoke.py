"""The app shell in real Chromium: sign in, visit every screen of the shell, no error and no traceback.

Seeds a boxes project from coco128-seg (boxes from its polygons, a few skips), starts ``streamlit run
app.py`` on it, signs in as the admin and takes a screenshot of each page into artifacts/screens/.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core import geometry
from core.domain import TaskType
from core.images import import_folder
from core.permissions import SYSTEM
from core.store import Store, items, labels, projects
from core.store.projects import ClassSpec
from tests.e2e.helpers import dataset_or_skip, go, main, no_error_shown, settle, shot, sign_in, wait_images

pytestmark = pytest.mark.e2e

PAGES = [("projects", "Projects"), ("data", "Data"), ("skipped", "Skipped"), ("review", "Review"),
         ("dashboard", "Dashboard"), ("export", "Export")]  # fmt: skip


def seed(data: Path, coco: Path) -> None:
    """A boxes project with 40 COCO photos: 25 labeled from the dataset's polygons (by two people), 3 skipped."""
    store = Store(data / "annota.duckdb")
    names = [n.strip() for n in (coco / "classes.txt").read_text().splitlines()]
    wanted = ["person", "car", "dog", "cat", "bicycle", "bus"]
    p = projects.create_project(
        store, "Street scenes", TaskType.BOXES, [ClassSpec(n) for n in wanted],
        description="COCO photos, boxes around people, vehicles and pets.", instructions="Box **every** object.", by=SYSTEM,
    )  # fmt: skip
    classes = {c.name: c.id for c in projects.list_classes(store, p.id)}
    folder = data.parent / "photos"
    folder.mkdir()
    for f in sorted((coco / "images" / "train2017").glob("*.jpg"))[:40]:
        shutil.copy(f, folder / f.name)  # links out of the folder are refused by the import
    import_folder(store, p.id, folder, watch=False, by=SYSTEM)
    rows = store.query("SELECT id, path, width, height FROM items WHERE project_id = ? ORDER BY id", [p.id])
    for n, (item_id, path, w, h) in enumerate(rows):
        if n >= 28:
            break
        if n >= 25:
            labels.skip_item(
                store, item_id, author="admin", reason="too small to tell" if n % 2 else "", by=SYSTEM
            )
            continue
        boxes = []
        label_file = coco / "labels" / "train2017" / (Path(path).stem + ".txt")
        for line in label_file.read_text().splitlines() if label_file.exists() else []:
            vals = line.split()
            name = names[int(vals[0])]
            if name in classes:
                pts = [[float(x) * w, float(y) * h] for x, y in zip(vals[1::2], vals[2::2], strict=False)]
                x, y, bw, bh = geometry.polygon_bbox_xywh(pts)
                if bw > 1 and bh > 1:
                    boxes.append({"class_id": classes[name], "xywh": [x, y, bw, bh]})
        labels.save_label(
            store, item_id, {"boxes": boxes}, author="admin" if n % 3 else "lena", base_version=0, by=SYSTEM
        )
    assert items.count_items(store, p.id) == 40
    store.close()


@pytest.fixture
def viewport() -> dict[str, int]:
    return {"width": 1440, "height": 1800}


@pytest.fixture
def server(serve, tmp_path: Path):  # type: ignore[no-untyped-def]
    coco = dataset_or_skip("coco128-seg")
    data = tmp_path / "data"
    data.mkdir()
    seed(data, coco)
    return serve(data)


def test_sign_in_and_visit_every_page(server, page):  # type: ignore[no-untyped-def]
    page.goto(server.url)
    page.get_by_label("User name").wait_for()
    settle(page)
    assert "FIRST-SIGN-IN.txt" in page.inner_text("body")
    shot(page, "shell_sign_in")
    sign_in(page)
    main(page).get_by_role("heading", name="Projects").wait_for()
    settle(page)
    # open the project from the list
    main(page).get_by_role("button", name="Open", exact=True).first.click()
    settle(page)
    for slug, title in PAGES:
        # a page load would start a new session (signed out): move with the sidebar's links
        go(page, title)
        body = page.inner_text("body")
        assert "Traceback" not in body and "Could not show" not in body, f"{title}: {body[:500]}"
        no_error_shown(page)
        wait_images(page)
        shot(page, f"shell_{slug}")
        if slug == "projects":
            for tab in ("New project", "Settings"):
                main(page).get_by_role("tab", name=tab).click()
                settle(page)
                no_error_shown(page)
                wait_images(page)
                shot(page, f"shell_projects_{tab.lower().replace(' ', '_')}")
