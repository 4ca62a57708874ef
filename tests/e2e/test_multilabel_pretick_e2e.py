"""Multi-label help in real Chromium.

Pre-ticks: the classes the model is sure of come ticked, the labeler adds the one it left out by key and
submits with Enter; the label saved is the labeler's (source ``human``). Grid: a page of 4 look-alikes
gets one class by key, each tile's chips (shown when it is pointed at) have it ticked, one tile gets a second class by a click
on its chip, and Submit saves each tile's set.

The projects, their stored prediction (a partial proposal, ``sure_class_ids``) and embeddings are seeded
through core; the calibration that produces such rows is tested in tests/core/assist. Screenshots:
artifacts/screens/multilabel-pretick.png, multilabel-grid.png.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import Paths
from core.domain import Source, TaskType
from core.permissions import SYSTEM
from core.store import Store, labels, projects
from core.store.items import add_items
from tests.e2e.helpers import (
    image_id,
    main,
    no_error_shown,
    open_label,
    press,
    settle,
    shot,
    sign_in,
    unfocus,
    wait_images,
    wait_quiet,
)
from tests.pages.test_label_grid import featurise
from tests.pages.test_label_page import make_images

pytestmark = pytest.mark.e2e


def _tags_project(store: Store, data: Path, name: str, n: int) -> tuple[int, list[int], dict[str, int]]:
    """A multi-label project (cat, dog, bird) of ``n`` generated images: its id, item ids and classes."""
    p = projects.create_project(store, name, TaskType.MULTILABEL, ["cat", "dog", "bird"], by=SYSTEM)
    add_items(store, p.id, make_images(data.parent / f"imgs-{n}", n))
    ids = [r[0] for r in store.query("SELECT id FROM items WHERE project_id = ? ORDER BY id", [p.id])]
    return p.id, ids, {c.name: c.id for c in projects.list_classes(store, p.id)}


def _seed(data: Path) -> tuple[int, list[int], dict[str, int]]:
    store = Store(Paths(data).ensure().db)
    try:
        pid, ids, cls = _tags_project(store, data, "Tags", 2)
        payload = f'{{"class_ids": [{cls["cat"]}], "score": 0.7, "sure_class_ids": [{cls["cat"]}]}}'
        store.execute(
            "INSERT INTO predictions (item_id, project_id, payload, confidence, shown) VALUES (?, ?, ?, 0.7, false)",
            [ids[0], pid, payload],
        )
        return pid, ids, cls
    finally:
        store.close()


def test_sure_classes_come_ticked_and_the_labeler_completes_the_set(serve, page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    _, ids, cls = _seed(data)
    server = serve(data)
    sign_in(page, url=server.url)
    open_label(page, "Tags", "any number of classes per image")
    assert image_id(page) == ids[0]
    m = main(page)
    m.get_by_text("Pre-ticked by the model").wait_for()
    toggles = m.get_by_test_id("stBaseButton-primary")
    assert toggles.filter(has_text="cat").count() == 1  # ticked: a primary button
    assert toggles.filter(has_text="bird").count() == 0
    wait_images(page)
    shot(page, "multilabel-pretick")
    no_error_shown(page)
    press(page, "3")  # bird, the class the model left out
    m.get_by_test_id("stBaseButton-primary").filter(has_text="bird").wait_for()
    press(page, "Enter")
    settle(page)
    page.wait_for_function(
        "() => !document.body.innerText.includes('Pre-ticked by the model')"
    )  # the next image has no prediction
    server.stop()
    store = Store(Paths(data).db)
    try:
        ann = labels.current_annotation(store, ids[0])
        assert ann is not None and ann.payload == {"class_ids": sorted([cls["cat"], cls["bird"]])}
        assert ann.source is Source.HUMAN
    finally:
        store.close()


def _seed_grid(data: Path) -> tuple[list[int], dict[str, int]]:
    """A multi-label project of 8 images whose embeddings form two tight clusters (no backbone runs)."""
    store = Store(Paths(data).ensure().db)
    try:
        pid, ids, cls = _tags_project(store, data, "Tag pages", 8)
        featurise(store, pid, ids)  # two tight look-alike clusters, no backbone run
        return ids, cls
    finally:
        store.close()


def test_a_multilabel_grid_page_saves_each_tiles_set(serve, page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    ids, cls = _seed_grid(data)
    server = serve(data)
    sign_in(page, url=server.url)
    open_label(page, "Tag pages", "any number of classes per image")
    m = main(page)
    m.get_by_test_id("stButtonGroup").get_by_text("Grid", exact=True).click()
    wait_quiet(page)
    m.get_by_test_id("stButtonGroup").get_by_text("4", exact=True).click()
    m.get_by_text("Page of 4").wait_for()
    wait_quiet(page)
    unfocus(page)
    press(page, "Shift+3")  # bird, on digit 3, is Shift+3 in the grid
    m.get_by_role("button", name="Submit 4 images").wait_for()
    m.get_by_role("button", name="1 · bird").wait_for()  # each tile says what it will get
    wait_quiet(page)
    m.locator("[class*='st-key-label_grid_tile_']").first.hover()  # the chips show on the tile pointed at
    first_tile_chips = m.locator("[class*='st-key-label_grid_own_']").first
    first_tile_chips.get_by_text("cat", exact=True).click()
    m.get_by_role("button", name="1 · cat, bird").wait_for()
    wait_quiet(page)
    wait_images(page)
    shot(page, "multilabel-grid")
    no_error_shown(page)
    unfocus(page)
    press(page, "Enter")
    m.get_by_text("3 images added bird; 1 given its own classes.").wait_for()
    server.stop()
    store = Store(Paths(data).db)
    try:
        got = {
            int(r[0]): sorted(r[1])
            for r in store.query(
                "SELECT i.id, i.class_ids FROM items i WHERE i.annotation_id IS NOT NULL AND i.id IN (SELECT unnest(?))",
                [ids],
            )
        }
        assert len(got) == 4
        assert sorted(got.values()) == sorted([[cls["bird"]]] * 3 + [sorted([cls["cat"], cls["bird"]])])
        for iid in got:
            assert labels.current_annotation(store, iid).source is Source.HUMAN
    finally:
        store.close()
