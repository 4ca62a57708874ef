import subprocess
import sys
import threading
import time

import duckdb
import pytest

from core.domain import ItemStatus, ProjectState, Source, ValidationError
from core.permissions import SYSTEM
from core.store import Store, items, labels, projects, queue, stats
from core.store.db import StoreClosed, StoreInUse
from core.store.items import ItemFilter, NewItem
from core.store.projects import ClassSpec


def _project(store, task="multiclass", n=10, classes=("cat", "dog", "bird")):
    p = projects.create_project(store, "P", task, list(classes), created_by="admin", by=SYSTEM)
    items.add_items(store, p.id, [NewItem(f"/img/{i}.jpg", 200, 100, f"sha{i}") for i in range(n)])
    return p, projects.list_classes(store, p.id)


def test_migrations_are_recorded_and_idempotent(tmp_path):
    s = Store(tmp_path / "a.duckdb")
    v = s.schema_version()
    assert v >= 2
    s.close()
    s2 = Store(tmp_path / "a.duckdb")
    assert s2.schema_version() == v
    assert s2.scalar("SELECT count(*) FROM schema_version") == v
    s2.close()


def test_create_project_assigns_colours_and_hotkeys(store):
    p = projects.create_project(
        store, "Birds", "boxes", [ClassSpec("a", "#112233", "q"), "b", "c"], by=SYSTEM
    )
    cls = projects.list_classes(store, p.id)
    assert [c.name for c in cls] == ["a", "b", "c"]
    assert cls[0].color == "#112233" and cls[0].hotkey == "q"
    assert cls[1].hotkey == "1" and cls[2].hotkey == "2"
    assert len({c.color for c in cls}) == 3


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"name": "", "task_type": "multiclass", "classes": ["a", "b"]}, "needs a name"),
        ({"name": "x", "task_type": "multiclass", "classes": ["a"]}, "at least two"),
        (
            {
                "name": "x",
                "task_type": "multiclass",
                "classes": [ClassSpec("a", hotkey="1"), ClassSpec("b", hotkey="1")],
            },
            "twice",
        ),
        (
            {"name": "x", "task_type": "multiclass", "classes": ["a", "b"], "instructions_url": "ftp://x"},
            "http",
        ),
    ],
)
def test_create_project_refuses(store, kwargs, message):
    with pytest.raises(ValidationError, match=message):
        projects.create_project(store, **kwargs, by=SYSTEM)
    assert projects.list_projects(store) == []


def test_rename_recolour_add_class_while_running(store):
    p, cls = _project(store)
    projects.update_class(store, cls[0].id, name="kitten", color="#00FF00", hotkey="x", by=SYSTEM)
    projects.add_class(store, p.id, "fish", by=SYSTEM)
    names = [c.name for c in projects.list_classes(store, p.id)]
    assert names == ["kitten", "dog", "bird", "fish"]
    keys = [c.hotkey for c in projects.list_classes(store, p.id)]
    assert keys == ["x", "2", "3", "1"]  # the freed "1" is reused, no key twice
    with pytest.raises(ValidationError, match="already"):
        projects.add_class(store, p.id, "DOG", by=SYSTEM)


def test_delete_class_needs_reassignment_when_used(store):
    p, cls = _project(store, classes=("cat", "dog", "bird", "fish"))
    it = items.get_item(store, 1)
    labels.save_label(store, it.id, {"class_id": cls[0].id}, author="ann", base_version=0, by=SYSTEM)
    with pytest.raises(ValidationError, match="used by 1 item"):
        projects.delete_class(store, cls[0].id, by=SYSTEM)
    assert projects.delete_class(store, cls[2].id, by=SYSTEM) == 0  # unused: fine
    assert projects.delete_class(store, cls[0].id, reassign_to=cls[1].id, by=SYSTEM) == 1
    item = items.get_item(store, it.id)
    assert item.annotation.payload == {"class_id": cls[1].id}
    assert item.version == 2
    assert [a.version for a in labels.history(store, it.id)] == [2, 1]  # the old version is kept
    with pytest.raises(ValidationError, match="at least two"):
        projects.delete_class(store, cls[3].id, by=SYSTEM)


def test_pause_resume(store):
    p, _ = _project(store)
    assert projects.set_state(store, p.id, "paused", by=SYSTEM).state is ProjectState.PAUSED
    assert projects.set_state(store, p.id, "active", by=SYSTEM).state is ProjectState.ACTIVE


def test_save_creates_versions_and_never_overwrites(store):
    p, cls = _project(store)
    a1 = labels.save_label(
        store, 1, {"class_id": cls[0].id}, author="ann", base_version=0, duration_ms=900, by=SYSTEM
    )
    a2 = labels.save_label(store, 1, {"class_id": cls[1].id}, author="bob", base_version=1, by=SYSTEM)
    assert (a1.version, a2.version, a2.parent_id) == (1, 2, a1.id)
    item = items.get_item(store, 1)
    assert item.status is ItemStatus.LABELED and item.annotation.id == a2.id
    hist = labels.history(store, 1)
    assert [(h.author, h.payload["class_id"]) for h in hist] == [("bob", cls[1].id), ("ann", cls[0].id)]


def test_stale_save_is_refused_with_both_versions(store):
    p, cls = _project(store)
    labels.save_label(store, 1, {"class_id": cls[0].id}, author="ann", base_version=0, by=SYSTEM)
    with pytest.raises(labels.StaleEdit) as err:
        labels.save_label(store, 1, {"class_id": cls[2].id}, author="bob", base_version=0, by=SYSTEM)
    assert err.value.current.author == "ann"
    assert err.value.attempted == {"class_id": cls[2].id}
    assert "ann" in str(err.value)
    assert len(labels.history(store, 1)) == 1
    # bob chooses his version: a new version based on the current one
    labels.save_label(
        store, 1, err.value.attempted, author="bob", base_version=err.value.current.version, by=SYSTEM
    )
    assert items.get_item(store, 1).annotation.payload == {"class_id": cls[2].id}


def test_invalid_save_writes_nothing(store):
    p, cls = _project(store, task="boxes")
    with pytest.raises(ValidationError, match="outside"):
        labels.save_label(
            store,
            1,
            {"boxes": [{"class_id": cls[0].id, "xywh": [190, 0, 50, 10]}]},
            author="a",
            base_version=0,
            by=SYSTEM,
        )
    assert items.get_item(store, 1).version == 0
    assert store.scalar("SELECT count(*) FROM annotations") == 0


def test_two_threads_saving_the_same_item_at_once(store):
    """Both saves start from version 0: exactly one wins, the other is told, nothing is lost."""
    p, cls = _project(store, n=40)
    outcomes: dict[int, list[str]] = {}
    barrier = threading.Barrier(2)

    def work(name, cid):
        for item_id in range(1, 41):
            barrier.wait()
            try:
                labels.save_label(store, item_id, {"class_id": cid}, author=name, base_version=0, by=SYSTEM)
                outcomes.setdefault(item_id, []).append(name)
            except labels.StaleEdit:
                outcomes.setdefault(item_id, []).append("stale")

    ts = [threading.Thread(target=work, args=(n, c.id)) for n, c in (("ann", cls[0]), ("bob", cls[1]))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for item_id in range(1, 41):
        result = sorted(outcomes[item_id])
        assert result.count("stale") == 1, result
        winner = next(r for r in result if r != "stale")
        item = items.get_item(store, item_id)
        assert item.version == 1 and item.annotation.author == winner
    assert store.scalar("SELECT count(*) FROM annotations") == 40


def test_two_threads_saving_different_items_both_land(store):
    p, cls = _project(store, n=60)

    def work(start):
        for item_id in range(start, 61, 2):
            labels.save_label(
                store, item_id, {"class_id": cls[0].id}, author=f"u{start}", base_version=0, by=SYSTEM
            )

    ts = [threading.Thread(target=work, args=(s,)) for s in (1, 2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert store.scalar("SELECT count(*) FROM annotations") == 60
    assert items.status_counts(store, p.id)["labeled"] == 60


def test_queue_leases_give_each_labeler_their_own_items(store):
    p, cls = _project(store, n=200)
    got: dict[str, list[int]] = {}

    def work(user):
        for _ in range(20):
            item_id = queue.next_item_id(store, p.id, user)
            got.setdefault(user, []).append(item_id)
            labels.save_label(store, item_id, {"class_id": cls[0].id}, author=user, base_version=0, by=SYSTEM)

    ts = [threading.Thread(target=work, args=(f"user{i}",)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    handed = [i for ids in got.values() for i in ids]
    assert len(handed) == 160 and len(set(handed)) == 160


def test_queue_returns_own_lease_until_saved_and_skips_skipped(store):
    p, cls = _project(store, n=3)
    first = queue.next_item_id(store, p.id, "ann")
    assert queue.next_item_id(store, p.id, "ann") == first  # a rerun gets the same item back
    assert queue.next_item_id(store, p.id, "bob") != first
    labels.skip_item(store, first, author="ann", reason="blurry", by=SYSTEM)
    assert [s.item_id for s in labels.skipped_items(store, p.id)] == [first]
    remaining = {queue.next_item_id(store, p.id, "ann")}
    assert first not in remaining
    # come back to a skipped item and label it: it leaves the skipped list
    labels.save_label(store, first, {"class_id": cls[0].id}, author="ann", base_version=0, by=SYSTEM)
    assert labels.skipped_items(store, p.id) == []


def test_queue_follows_ranks_and_ends(store):
    p, cls = _project(store, n=5)
    queue.set_ranks(store, p.id, {5: 0.1, 3: 0.2})
    assert queue.next_item_id(store, p.id, "a") == 5
    assert queue.next_item_id(store, p.id, "b") == 3
    assert queue.next_item_id(store, p.id, "c") == 1
    for i in range(1, 6):
        labels.save_label(
            store,
            i,
            {"class_id": cls[0].id},
            author="x",
            base_version=items.get_item(store, i).version,
            by=SYSTEM,
        )
    assert queue.next_item_id(store, p.id, "a") is None


def test_filters_and_stats(store):
    p, cls = _project(store, task="boxes", n=6)
    box = lambda c: {"class_id": c, "xywh": [1, 1, 10, 10]}  # noqa: E731
    labels.save_label(
        store, 1, {"boxes": [box(cls[0].id), box(cls[0].id)]}, author="ann", base_version=0, by=SYSTEM
    )
    labels.save_label(store, 2, {"boxes": [box(cls[1].id)]}, author="bob", base_version=0, by=SYSTEM)
    labels.save_label(
        store, 3, {"boxes": []}, author="bob", base_version=0, source=Source.PRELABEL, by=SYSTEM
    )
    labels.skip_item(store, 4, author="ann", by=SYSTEM)
    s = stats.project_stats(store, p.id)
    assert (s.total, s.labeled, s.skipped, s.remaining) == (6, 3, 1, 2)
    assert s.by_class == {cls[0].id: 2, cls[1].id: 1}
    assert s.images_by_class == {cls[0].id: 1, cls[1].id: 1}
    assert s.by_labeler == {"bob": 2, "ann": 1}
    assert sum(n for _, _, n in s.per_day) == 3
    assert [i.id for i in items.list_items(store, p.id, ItemFilter(class_id=cls[0].id))] == [1]
    assert {i.id for i in items.list_items(store, p.id, ItemFilter(labeled_by="bob"))} == {2, 3}
    assert [i.id for i in items.list_items(store, p.id, ItemFilter(source="prelabel"))] == [3]
    assert items.count_items(store, p.id, ItemFilter(status="new")) == 2
    assert labels.recent_by(store, p.id, "ann") == [4, 1]
    assert stats.all_project_progress(store)[p.id] == (6, 3, 1)


def test_labels_record_how_they_were_given(store):
    p, cls = _project(store, n=3)
    labels.save_label(store, 1, {"class_id": cls[0].id}, author="ann", base_version=0, by=SYSTEM)
    labels.save_label(store, 2, {"class_id": cls[0].id}, author="ann", base_version=0, via="page", by=SYSTEM)
    assert store.query("SELECT item_id, via FROM annotations ORDER BY item_id") == [(1, "item"), (2, "page")]
    with pytest.raises(ValueError, match="via"):
        labels.save_label(
            store, 3, {"class_id": cls[0].id}, author="ann", base_version=0, via="bulk", by=SYSTEM
        )


def _wait_calls(s, n: int = 1, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while s._calls < n:
        assert time.monotonic() < deadline, "the call never started"
        time.sleep(0.01)


def test_close_waits_for_a_call_in_flight(tmp_path):
    """Closing under a running query used to fail ("connection is busy"); now close waits for it."""
    s = Store(tmp_path / "c.duckdb")
    out: dict = {}

    def slow() -> None:
        try:
            out["sum"] = s.scalar("SELECT sum(i) FROM range(30000000) t(i)")
        except Exception as exc:  # pragma: no cover - the failure this test guards against
            out["error"] = exc

    t = threading.Thread(target=slow)
    t.start()
    _wait_calls(s)
    s.close()
    t.join(120)
    assert out == {"sum": sum(range(30000000))}
    with pytest.raises(StoreClosed):
        s.query("SELECT 1")


def test_close_interrupts_a_call_that_outlasts_its_timeout(tmp_path):
    s = Store(tmp_path / "c.duckdb")
    out: dict = {}

    def endless() -> None:
        try:
            out["sum"] = s.scalar("SELECT sum(i) FROM range(100000000000) t(i)")  # hours
        except Exception as exc:
            out["error"] = exc

    t = threading.Thread(target=endless)
    t.start()
    _wait_calls(s)
    s.close(timeout=0.2)
    t.join(120)
    assert not t.is_alive() and "sum" not in out
    assert isinstance(out["error"], duckdb.Error)  # interrupted, not left running


def test_a_second_process_on_the_data_directory_is_named(tmp_path):
    """DuckDB lets one process write a file: the second server is told who holds it, not "try again"."""
    db = tmp_path / "annota.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, sys, time; c = duckdb.connect({str(db)!r}); print('ok', flush=True); time.sleep(600)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ok"
        with pytest.raises(StoreInUse) as err:
            Store(db)
        assert err.value.pid == holder.pid
        text = str(err.value)
        assert f"Another annota process (PID {holder.pid}) holds the data directory {tmp_path}" in text
        assert "ANNOTA_DATA_DIR" in text
    finally:
        holder.kill()
        holder.wait(60)
