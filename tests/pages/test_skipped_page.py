"""Skipped: empty state, the list with who/when/why, paging, hand-over to the label page."""

from __future__ import annotations

from core.permissions import SYSTEM
from core.store.items import NewItem, add_items
from core.store.labels import skip_item
from tests.pages.helpers import page, texts, write_pngs

PAGE = "pages/skipped.py"


def _items(runtime, project, tmp_path, n):
    files = write_pngs(tmp_path / "imgs", n)
    add_items(runtime.store, project.id, [NewItem(str(f), 64, 48, f"sha{i}") for i, f in enumerate(files)])


def test_nothing_skipped(runtime, admin, project):
    at = page(PAGE, admin, project.id).run()
    assert not at.exception and not at.error
    assert "Nothing skipped" in texts(at)


def test_list_shows_who_when_why_and_hands_over(runtime, admin, project, tmp_path):
    _items(runtime, project, tmp_path, 3)
    skip_item(runtime.store, 2, author="lena", reason="too dark to tell", by=SYSTEM)
    skip_item(runtime.store, 3, author="admin", by=SYSTEM)
    at = page(PAGE, admin, project.id).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    body = texts(at)
    assert "2 skipped image(s)" in body
    assert "lena" in body and "too dark to tell" in body and "no reason given" in body
    assert "img_001.png" in body
    assert len(at.image) == 2  # thumbnails
    at.button(key="label_2").click().run()
    assert at.session_state["label_item_id"] == 2


def test_paging(runtime, admin, project, tmp_path):
    _items(runtime, project, tmp_path, 23)
    for i in range(1, 24):
        skip_item(runtime.store, i, author="admin", reason=f"r{i}", by=SYSTEM)
    at = page(PAGE, admin, project.id).run()
    assert len([b for b in at.button if b.label == "Label it"]) == 20
    assert "Page 1 of 2" in texts(at)
    at.button(key="skipped_page_next").click().run()
    assert len([b for b in at.button if b.label == "Label it"]) == 3
    assert "Page 2 of 2" in texts(at)


def test_missing_image_is_said_in_words(runtime, admin, project, tmp_path):
    add_items(runtime.store, project.id, [NewItem(str(tmp_path / "gone.png"), 64, 48, "gone")])
    skip_item(runtime.store, 1, author="admin", reason="x", by=SYSTEM)
    at = page(PAGE, admin, project.id).run()
    assert not at.exception and not at.error
    # a placeholder with the reason where the thumbnail would be (not a blank area)
    box = [m.value for m in at.markdown if "Image unavailable" in m.value]
    assert len(box) == 1 and "gone.png is gone" in box[0] and str(tmp_path) not in box[0]
