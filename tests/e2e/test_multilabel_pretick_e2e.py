"""Multi-label pre-ticks in real Chromium: the classes the model is sure of come ticked, the labeler adds
the one it left out by key and submits with Enter; the label saved is the labeler's (source ``human``).

The project and its stored prediction (a partial proposal, ``sure_class_ids``) are seeded through core; the
calibration that produces such rows is tested in tests/core/assist. Screenshot:
artifacts/screens/multilabel-pretick.png.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import Paths
from core.domain import Source, TaskType
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
    wait_images,
)
from tests.pages.test_label_page import make_images

pytestmark = pytest.mark.e2e


def _seed(data: Path) -> tuple[int, list[int], dict[str, int]]:
    paths = Paths(data).ensure()
    store = Store(paths.db)
    try:
        p = projects.create_project(store, "Tags", TaskType.MULTILABEL, ["cat", "dog", "bird"])
        add_items(store, p.id, make_images(data.parent / "imgs", 2))
        ids = [r[0] for r in store.query("SELECT id FROM items WHERE project_id = ? ORDER BY id", [p.id])]
        cls = {c.name: c.id for c in projects.list_classes(store, p.id)}
        payload = f'{{"class_ids": [{cls["cat"]}], "score": 0.7, "sure_class_ids": [{cls["cat"]}]}}'
        store.execute(
            "INSERT INTO predictions (item_id, project_id, payload, confidence, shown) VALUES (?, ?, ?, 0.7, false)",
            [ids[0], p.id, payload],
        )
        return p.id, ids, cls
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
