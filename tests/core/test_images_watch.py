"""The folder watcher: new files appear within seconds; quiet folders cost no listing."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.images import FolderWatcher, add_folder, get_source, rescan
from core.images import sources as sources_mod
from core.store import Store
from core.store.items import count_items, list_items
from core.store.projects import create_project


def png(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def wait_for(predicate, timeout: float = 10.0) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if predicate():
            return time.monotonic() - t0
        time.sleep(0.05)
    raise AssertionError(f"not true after {timeout} s")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "a.duckdb")
    yield s
    s.close()


def test_watcher_picks_up_new_files_within_seconds(tmp_path: Path, store: Store) -> None:
    pid = create_project(store, "W", "multiclass", ["a", "b"]).id
    folder = tmp_path / "watched"
    folder.mkdir()
    (folder / "first.png").write_bytes(png(1))
    src = add_folder(store, pid, folder, watch=True)
    assert rescan(store, src.id).added == 1  # the import job's first scan
    unwatched = tmp_path / "unwatched"
    unwatched.mkdir()
    add_folder(store, pid, unwatched, watch=False)
    watcher = FolderWatcher(store, interval_s=0.2, settle_s=0.3).start()
    try:
        wait_for(lambda: count_items(store, pid) == 1)
        (folder / "deep" / "er").mkdir(parents=True)
        (folder / "deep" / "er" / "second.png").write_bytes(png(2))
        (folder / "third.png").write_bytes(png(3))
        (unwatched / "ignored.png").write_bytes(png(4))
        took = wait_for(lambda: count_items(store, pid) == 3)
        print(f"watcher: new files imported {took:.2f} s after they were written")
        # a file being written: half a PNG first (refused), completed later (then imported)
        data = png(5)
        partial = folder / "copying.png"
        partial.write_bytes(data[: len(data) // 2])
        os.utime(
            partial, (time.time() - 10, time.time() - 10)
        )  # looks settled: it will be probed and refused
        wait_for(lambda: any(p.endswith("copying.png") for p, _ in _last_errors(watcher)))
        partial.write_bytes(data)
        wait_for(lambda: count_items(store, pid) == 4)
    finally:
        watcher.stop()
    assert not watcher.running
    names = sorted(Path(i.path).name for i in list_items(store, pid))
    assert names == ["copying.png", "first.png", "second.png", "third.png"]


def _last_errors(watcher: FolderWatcher) -> list[tuple[str, str]]:
    return [e for rep in watcher.last_reports.values() for e in rep.errors]


def test_quiet_poll_lists_no_folder(tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    pid = create_project(store, "Q", "multiclass", ["a", "b"]).id
    folder = tmp_path / "quiet"
    for sub in ("a", "b", "c"):
        (folder / sub).mkdir(parents=True)
        (folder / sub / f"{sub}.png").write_bytes(png(ord(sub)))
    src = add_folder(store, pid, folder, watch=True)
    watcher = FolderWatcher(store, interval_s=60, settle_s=0.0)
    assert watcher.poll() == {}  # a new source: the import job scans it first
    assert rescan(store, src.id).added == 3  # the job
    assert watcher.poll() == {}  # first poll: a full rescan, nothing new
    assert get_source(store, src.id).last_scan_added == 3  # and the job's report stays
    listed: list[str] = []
    real = sources_mod.list_dir

    def spy(directory: str, *args, **kwargs):
        listed.append(directory)
        return real(directory, *args, **kwargs)

    monkeypatch.setattr(sources_mod, "list_dir", spy)
    assert watcher.poll() == {}
    assert listed == []  # nothing changed: only stat calls
    time.sleep(0.01)
    (folder / "b" / "new.png").write_bytes(png(1000))
    report = watcher.poll()
    assert listed == [str(folder.resolve() / "b")]  # only the changed folder is listed
    assert report[src.id].added == 1
    assert get_source(store, src.id).last_scan_added == 1


def test_watcher_survives_its_folder_going_and_coming_back(tmp_path: Path, store: Store) -> None:
    pid = create_project(store, "G", "multiclass", ["a", "b"]).id
    folder = tmp_path / "comes-and-goes"
    folder.mkdir()
    (folder / "a.png").write_bytes(png(50))
    src = add_folder(store, pid, folder, watch=True)
    assert rescan(store, src.id).added == 1  # the import job's first scan
    watcher = FolderWatcher(store, interval_s=60, settle_s=0.0)
    assert watcher.poll() == {}
    moved = tmp_path / "elsewhere"
    folder.rename(moved)
    assert watcher.poll() == {}
    moved.rename(folder)
    (folder / "b.png").write_bytes(png(51))
    assert watcher.poll()[src.id].added == 1
    assert count_items(store, pid) == 2


def test_a_new_source_is_imported_and_reported_by_its_job_not_the_watcher(
    tmp_path: Path, store: Store
) -> None:
    """With watching on, the watcher used to import a new folder before the import job did: the job then
    said "0 added, 8 already imported" and the source "Last scan: 0 added"."""
    pid = create_project(store, "N", "multiclass", ["a", "b"]).id
    folder = tmp_path / "new"
    folder.mkdir()
    for i in range(8):
        (folder / f"{i}.png").write_bytes(png(100 + i))
    src = add_folder(store, pid, folder, watch=True)
    watcher = FolderWatcher(store, interval_s=60, settle_s=0.0)
    assert watcher.poll() == {}
    assert count_items(store, pid) == 0
    report = rescan(store, src.id)  # the import job
    assert (report.added, report.duplicates) == (8, [])
    watcher.poll()
    assert get_source(store, src.id).last_scan_added == 8
