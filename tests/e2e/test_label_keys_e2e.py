"""Keys pressed while the next image (or grid page) loads, in real Chromium against ``streamlit run app.py``.

A key acts on the image that was on screen when it was pressed, or does nothing. The page records every
item id whose image it showed (a ``requestAnimationFrame`` loop reads the ``label_shown_<id>`` block
around the image, and the grid's ``label_grid_tile_*_<id>`` tiles, once their picture is decoded); after
a burst of presses 90-350 ms apart, every image the store says was labeled must be among them.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from core.domain import TaskType
from core.permissions import SYSTEM
from core.store import Store, items, labels, projects
from tests.e2e.helpers import (
    IMG_READY_JS,
    dataset_or_skip,
    new_items,
    open_label,
    shot,
    show_grid,
    sign_in,
    unfocus,
    wait_idle,
    wait_quiet,
)
from tests.pages.test_label_grid import featurise

pytestmark = pytest.mark.e2e

N_PRESSES = 24
GAPS_MS = (90, 350)

RECORD_SHOWN_JS = """() => {
  if (window.__shown) return;
  window.__shown = new Set();
  const grab = (sel, re) => document.querySelectorAll(sel).forEach(el => {
    const img = el.querySelector('img');
    if (!img || !img.complete || img.naturalWidth === 0) return;
    for (const c of el.classList) { const m = c.match(re); if (m) window.__shown.add(Number(m[1])); }
  });
  const tick = () => {
    grab('[class*="st-key-label_shown_"]', /^st-key-label_shown_(\\d+)$/);
    grab('[class*="st-key-label_grid_tile_"]', /^st-key-label_grid_tile_(?:on|off|own)_(\\d+)$/);
    requestAnimationFrame(tick);
  };
  tick();
}"""


@pytest.fixture
def viewport() -> dict[str, int]:
    return {"width": 1500, "height": 1000}


@pytest.fixture
def server(serve, tmp_path: Path):  # type: ignore[no-untyped-def]
    flowers = dataset_or_skip("flowers")
    data = tmp_path / "data"
    data.mkdir()
    photos = sorted((flowers / "daisy").glob("*.jpg"))[:40] + sorted((flowers / "tulip").glob("*.jpg"))[:24]
    store = Store(data / "annota.duckdb")
    one = projects.create_project(store, "Keys one", TaskType.MULTICLASS, ["daisy", "tulip"], by=SYSTEM)
    items.add_items(store, one.id, new_items(photos[:40]))
    grid = projects.create_project(store, "Keys grid", TaskType.MULTICLASS, ["daisy", "tulip"], by=SYSTEM)
    items.add_items(store, grid.id, new_items(photos[40:]))
    gids = [r[0] for r in store.query("SELECT id FROM items WHERE project_id = ? ORDER BY id", [grid.id])]
    featurise(store, grid.id, gids)  # look-alike pages without a backbone run
    store.close()
    app = serve(data)
    return {"url": app.url, "data": data, "one": one, "grid": grid, "stop": app.stop}


def labeled_ids(data: Path, project_id: int) -> set[int]:
    store = None
    for _ in range(40):  # the server has stopped; give the file lock a moment
        try:
            store = Store(data / "annota.duckdb", read_only=True)
            break
        except Exception:
            time.sleep(0.5)
    if store is None:
        pytest.fail("the store stayed locked after the server stopped")
    try:
        rows = store.query(
            "SELECT id FROM items WHERE project_id = ? AND annotation_id IS NOT NULL", [project_id]
        )
        ids = {int(r[0]) for r in rows}
        for iid in ids:  # labeled by the labeler, with the class key pressed
            assert labels.current_annotation(store, iid).author == "admin"
        return ids
    finally:
        store.close()


def burst(page, keys: list[str], seed: int) -> list[int]:  # type: ignore[no-untyped-def]
    """Press ``keys`` in turn with random gaps in ``GAPS_MS``, never waiting for the screen."""
    rng = random.Random(seed)
    gaps = []
    for k in keys:
        page.keyboard.press(k)
        gap = rng.randint(*GAPS_MS)
        gaps.append(gap)
        page.wait_for_timeout(gap)
    return gaps


def burst_while_recording(page, server, project, keys: list[str], seed: int, screen: str):  # type: ignore[no-untyped-def]
    """Record every image shown, ``burst`` the keys, let the runs end, take the screenshot ``screen``, stop the
    server: (the gaps, the item ids shown, the item ids the store says were labeled)."""
    page.evaluate(RECORD_SHOWN_JS)
    unfocus(page)
    gaps = burst(page, keys, seed=seed)
    page.wait_for_timeout(1500)
    wait_idle(page, 60_000)
    shown = set(page.evaluate("() => [...window.__shown]"))
    shot(page, screen, full_page=False)
    server["stop"]()
    return gaps, shown, labeled_ids(server["data"], project.id)


def test_class_keys_label_only_images_that_were_displayed(server, page):  # type: ignore[no-untyped-def]
    sign_in(page, url=server["url"])
    open_label(page, "Keys one", "one class per image")
    page.wait_for_function(IMG_READY_JS)
    wait_quiet(page)
    gaps, shown, saved = burst_while_recording(
        page, server, server["one"], ["1"] * N_PRESSES, 24, "keys-after-burst"
    )
    print(f"\n{N_PRESSES} presses, gaps {gaps} ms: {len(saved)} labeled, {len(shown)} displayed")
    assert saved, "no press labeled anything"
    assert saved <= shown, f"labeled but never displayed: {sorted(saved - shown)}"


def test_grid_keys_act_only_on_the_page_shown(server, page):  # type: ignore[no-untyped-def]
    sign_in(page, url=server["url"])
    open_label(page, "Keys grid", "one class per image")
    show_grid(page, 4)
    page.wait_for_function(
        "() => { const t = [...document.querySelectorAll('[class*=st-key-label_grid_tile_] img')];"
        " return t.length === 4 && t.every(i => i.complete && i.naturalWidth > 0); }"
    )
    wait_quiet(page)
    keys = ["Shift+1", "Enter"] * 8
    gaps, shown, saved = burst_while_recording(page, server, server["grid"], keys, 9, "keys-grid-after-burst")
    print(f"\ngrid: 16 presses, gaps {gaps} ms: {len(saved)} labeled, {len(shown)} tiles displayed")
    assert saved, "no page was submitted"
    assert saved <= shown, f"labeled but never displayed: {sorted(saved - shown)}"
