"""The next grid page chosen ahead (``core.assist.page_ahead``): used when still right, never when not."""

from __future__ import annotations

import threading

from core.assist import cluster_pages, page_ahead, page_submit
from core.domain import TaskType
from core.permissions import SYSTEM
from core.store import labels
from tests.core.assist.test_cluster_pages import _project


def _key(project_id: int, user: str = "ann", size: int = 4) -> page_ahead.Key:
    return page_ahead.Key(project_id, user, TaskType.MULTICLASS.value, size)


def _ahead(store, key):  # type: ignore[no-untyped-def]
    """The candidates chosen ahead for ``key`` (waiting for the background choice), left in place."""
    book = page_ahead._book(store)
    with book.lock:
        entry = book.ahead.get(key)
    assert entry is not None, "no page was chosen ahead"
    return entry.future.result(timeout=60)


def test_the_next_page_is_chosen_ahead_without_the_page_on_screen_and_then_served(store, monkeypatch):
    p, classes, _, cluster_of = _project(store)
    first = cluster_pages.next_page(store, p.id, "ann", TaskType.MULTICLASS, 4)
    assert first is not None
    ahead = _ahead(store, _key(p.id))
    assert ahead and all(not set(c.item_ids) & set(first.item_ids) for c in ahead)
    page_submit.submit_page(store, first, first.item_ids, classes[0].id, TaskType.MULTICLASS, by=SYSTEM)
    here = threading.current_thread()
    chosen_here = []  # choices made in this thread (the submit's rerun), not in the background
    real = cluster_pages._candidates

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        if threading.current_thread() is here:
            chosen_here.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(cluster_pages, "_candidates", counted)
    second = cluster_pages.next_page(store, p.id, "ann", TaskType.MULTICLASS, 4)
    assert chosen_here == []  # served from the choice made ahead
    assert second is not None and second.item_ids == tuple(int(i) for i in ahead[0].item_ids)
    assert len({cluster_of[i] for i in second.item_ids}) == 1  # still one cluster's look-alikes
    assert not set(second.item_ids) & set(first.item_ids)


def test_a_page_chosen_ahead_is_dropped_once_an_item_of_it_is_labeled_elsewhere(store):
    p, classes, _, _ = _project(store)
    first = cluster_pages.next_page(store, p.id, "ann", TaskType.MULTICLASS, 4)
    assert first is not None
    ahead = _ahead(store, _key(p.id))
    taken = int(ahead[0].item_ids[0])  # someone labels an item of the page chosen ahead, one at a time
    labels.save_label(store, taken, {"class_id": classes[1].id}, by=SYSTEM, author="bob", base_version=0)
    page_submit.submit_page(store, first, first.item_ids, classes[0].id, TaskType.MULTICLASS, by=SYSTEM)
    second = cluster_pages.next_page(store, p.id, "ann", TaskType.MULTICLASS, 4)
    assert second is not None and taken not in second.item_ids
    assert not set(second.item_ids) & set(first.item_ids)


def test_tiles_handed_back_never_come_back_on_a_page_chosen_ahead(store):
    p, classes, _, _ = _project(store)
    first = cluster_pages.next_page(store, p.id, "ann", TaskType.MULTICLASS, 4)
    assert first is not None
    _ahead(store, _key(p.id))
    kept, out = first.item_ids[:2], first.item_ids[2:]
    page_submit.submit_page(store, first, kept, classes[0].id, TaskType.MULTICLASS, by=SYSTEM)
    for _ in range(4):  # the next pages, each chosen ahead while the one before was on screen
        page = cluster_pages.next_page(store, p.id, "ann", TaskType.MULTICLASS, 4)
        if page is None:
            break
        assert not set(page.item_ids) & set(out)
        page_submit.submit_page(store, page, page.item_ids, classes[0].id, TaskType.MULTICLASS, by=SYSTEM)


def test_a_page_chosen_ahead_for_another_size_or_before_a_model_run_is_not_used(store):
    p, classes, _, _ = _project(store)
    first = cluster_pages.next_page(store, p.id, "ann", TaskType.MULTICLASS, 4)
    assert first is not None
    _ahead(store, _key(p.id))
    assert page_ahead.take(store, _key(p.id, size=6), []) is None  # chosen for pages of 4
    store.execute("INSERT INTO model_runs (project_id, kind, state) VALUES (?, 'infer', 'done')", [p.id])
    assert page_ahead.take(store, _key(p.id), []) is None  # a model ran since: chosen again
