"""The app shell in real Chromium: sign in, visit every screen of the shell, no error and no traceback.

Seeds a boxes project from coco128-seg (boxes from its polygons, a few skips), starts ``streamlit run
app.py`` on it, signs in as the admin and takes a screenshot of each page into artifacts/screens/.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from core import geometry
from core.config import shared_datasets
from core.domain import TaskType
from core.images import import_folder
from core.store import Store, items, labels, projects
from core.store.projects import ClassSpec

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SCREENS = ROOT / "artifacts" / "screens"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]  # fmt: skip
PASSWORD = "smoke-secret-pw"
PAGES = [("projects", "Projects"), ("data", "Data"), ("skipped", "Skipped"), ("review", "Review"),
         ("dashboard", "Dashboard"), ("export", "Export")]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed(data: Path, coco: Path) -> None:
    """A boxes project with 40 COCO photos: 25 labeled from the dataset's polygons (by two people), 3 skipped."""
    store = Store(data / "annota.duckdb")
    names = [n.strip() for n in (coco / "classes.txt").read_text().splitlines()]
    wanted = ["person", "car", "dog", "cat", "bicycle", "bus"]
    p = projects.create_project(
        store, "Street scenes", TaskType.BOXES, [ClassSpec(n) for n in wanted],
        description="COCO photos, boxes around people, vehicles and pets.", instructions="Box **every** object.",
    )  # fmt: skip
    classes = {c.name: c.id for c in projects.list_classes(store, p.id)}
    folder = data.parent / "photos"
    folder.mkdir()
    for f in sorted((coco / "images" / "train2017").glob("*.jpg"))[:40]:
        shutil.copy(f, folder / f.name)  # links out of the folder are refused by the import
    import_folder(store, p.id, folder, watch=False)
    rows = store.query("SELECT id, path, width, height FROM items WHERE project_id = ? ORDER BY id", [p.id])
    for n, (item_id, path, w, h) in enumerate(rows):
        if n >= 28:
            break
        if n >= 25:
            labels.skip_item(store, item_id, author="admin", reason="too small to tell" if n % 2 else "")
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
            store, item_id, {"boxes": boxes}, author="admin" if n % 3 else "lena", base_version=0
        )
    assert items.count_items(store, p.id) == 40
    store.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}")
    coco = shared_datasets() / "coco128-seg"
    if not coco.is_dir():
        print(f"SKIP REASON: shared datasets not found at {coco}", file=sys.stderr)
        pytest.skip(f"shared datasets not found at {coco}")
    data = tmp_path_factory.mktemp("smoke") / "data"
    data.mkdir()
    seed(data, coco)
    port = _free_port()
    env = {**os.environ, "ANNOTA_DATA_DIR": str(data), "ANNOTA_ADMIN_PASSWORD": PASSWORD}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
         "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                break
        except OSError:
            time.sleep(0.25)
    else:
        proc.kill()
        pytest.fail("streamlit did not start")
    yield url
    proc.terminate()
    proc.wait(10)


def _settle(page) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_timeout(300)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=20_000
    )
    page.wait_for_timeout(700)


def test_sign_in_and_visit_every_page(server):
    from playwright.sync_api import sync_playwright

    SCREENS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1800})
        page.goto(server)
        page.get_by_label("User name").wait_for(timeout=30_000)
        _settle(page)
        assert "FIRST-SIGN-IN.txt" in page.inner_text("body")
        page.screenshot(path=str(SCREENS / "shell_sign_in.png"), full_page=True)
        page.get_by_label("User name").fill("admin")
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Projects").wait_for(timeout=30_000)
        _settle(page)
        # open the project from the list
        page.locator('[data-testid="stMain"]').get_by_role("button", name="Open", exact=True).first.click()
        _settle(page)
        for slug, title in PAGES:
            # a page load would start a new session (signed out): move with the sidebar's links
            page.locator('[data-testid="stSidebarNav"] a', has_text=title).first.click()
            page.get_by_role("heading", name=title).first.wait_for(timeout=30_000)
            _settle(page)
            body = page.inner_text("body")
            assert "Traceback" not in body and "Could not show" not in body, f"{title}: {body[:500]}"
            page.screenshot(path=str(SCREENS / f"shell_{slug}.png"), full_page=True)
            if slug == "projects":
                for tab in ("New project", "Settings"):
                    page.get_by_role("tab", name=tab).click()
                    _settle(page)
                    name = tab.lower().replace(" ", "_")
                    page.screenshot(path=str(SCREENS / f"shell_projects_{name}.png"), full_page=True)
        browser.close()
