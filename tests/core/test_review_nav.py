"""Stepping through the Review page's filtered list one item at a time (core.store.review_nav)."""

from __future__ import annotations

from core.permissions import SYSTEM
from core.store import projects
from core.store.items import ItemFilter, NewItem, add_items, list_items
from core.store.labels import save_label, skip_item
from core.store.review_nav import cursor_for, position, step


def _project(store, n: int = 9):  # type: ignore[no-untyped-def]
    p = projects.create_project(store, "P", "multiclass", ["cat", "dog"], by=SYSTEM)
    add_items(store, p.id, [NewItem(f"/x/{i}.jpg", 10, 10, f"h{i}") for i in range(n)])
    cat, dog = projects.list_classes(store, p.id)
    return p, cat, dog


def _walk(store, pid, f, start, direction):  # type: ignore[no-untyped-def]
    out, cur = [], start
    while cur is not None:
        out.append(cur.item_id)
        cur = step(store, pid, f, cur, direction)
    return out


def test_steps_follow_the_grid_order_both_ways_with_a_filter(store):
    p, cat, dog = _project(store)
    ids = [i.id for i in list_items(store, p.id, limit=100)]
    for n, iid in enumerate(ids[:6]):  # labeled ones first (newest first), then the unlabeled by id
        save_label(
            store, iid, {"class_id": (cat if n % 2 else dog).id}, author="a", base_version=0, by=SYSTEM
        )
    skip_item(store, ids[6], author="a", by=SYSTEM)
    for f in (ItemFilter(), ItemFilter(class_id=cat.id), ItemFilter(status="new")):
        grid = [i.id for i in list_items(store, p.id, f, limit=100)]
        assert _walk(store, p.id, f, cursor_for(store, grid[0]), +1) == grid
        assert _walk(store, p.id, f, cursor_for(store, grid[-1]), -1) == grid[::-1]
        assert [position(store, p.id, f, cursor_for(store, i)) for i in grid] == list(range(len(grid)))


def test_after_a_correction_next_continues_from_the_old_place(store):
    p, cat, dog = _project(store)
    ids = [i.id for i in list_items(store, p.id, limit=100)]
    for iid in ids[:5]:
        save_label(store, iid, {"class_id": cat.id}, author="a", base_version=0, by=SYSTEM)
    f = ItemFilter(status="labeled")
    grid = [i.id for i in list_items(store, p.id, f, limit=100)]
    here = cursor_for(store, grid[2])
    save_label(
        store, grid[2], {"class_id": dog.id}, author="b", base_version=1, by=SYSTEM
    )  # moves to the top
    assert [i.id for i in list_items(store, p.id, f, limit=1)] == [grid[2]]
    assert step(store, p.id, f, here, +1).item_id == grid[3]  # type: ignore[union-attr]
    assert step(store, p.id, f, here, -1).item_id == grid[1]  # type: ignore[union-attr]
    assert step(store, p.id, f, cursor_for(store, grid[-1]), +1) is None
