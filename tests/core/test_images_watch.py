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
from core.permissions import SYSTEM
from core.store import Store
from core.store.items import count_items, list_items
from core.store.projects import create_project
from tests.core.watched_folder import watched_and_seen


def png(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def wait_for(predicate, timeout: float = 60.0) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if predicate():
            return time.monotonic() - t0
        time.sleep(0.05)
    raise AssertionError(f"not true after {timeout} s")


def test_watcher_picks_up_new_files_within_seconds(tmp_path: Path, store: Store) -> None:
    pid = create_project(store, "W", "multiclass", ["a", "b"], by=SYSTEM).id
    folder = tmp_path / "watched"
    folder.mkdir()
    (folder / "first.png").write_bytes(png(1))
    src = add_folder(store, pid, folder, watch=True, by=SYSTEM)
    assert rescan(store, src.id, by=SYSTEM).added == 1  # the import job's first scan
    unwatched = tmp_path / "unwatched"
    unwatched.mkdir()
    add_folder(store, pid, unwatched, watch=False, by=SYSTEM)
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
    pid = create_project(store, "Q", "multiclass", ["a", "b"], by=SYSTEM).id
    folder = tmp_path / "quiet"
    for sub in ("a", "b", "c"):
        (folder / sub).mkdir(parents=True)
        (folder / sub / f"{sub}.png").write_bytes(png(ord(sub)))
    src = add_folder(store, pid, folder, watch=True, by=SYSTEM)
    watcher = FolderWatcher(store, interval_s=60, settle_s=0.0)
    assert watcher.poll() == {}  # a new source: the import job scans it first
    assert rescan(store, src.id, by=SYSTEM).added == 3  # the job
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
    pid = create_project(store, "G", "multiclass", ["a", "b"], by=SYSTEM).id
    folder = tmp_path / "comes-and-goes"
    src, watcher = watched_and_seen(store, pid, folder, "a.png", png(50))
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
    pid = create_project(store, "N", "multiclass", ["a", "b"], by=SYSTEM).id
    folder = tmp_path / "new"
    folder.mkdir()
    for i in range(8):
        (folder / f"{i}.png").write_bytes(png(100 + i))
    src = add_folder(store, pid, folder, watch=True, by=SYSTEM)
    watcher = FolderWatcher(store, interval_s=60, settle_s=0.0)
    assert watcher.poll() == {}
    assert count_items(store, pid) == 0
    report = rescan(store, src.id, by=SYSTEM)  # the import job
    assert (report.added, report.duplicates) == (8, [])
    watcher.poll()
    assert get_source(store, src.id).last_scan_added == 8


def test_a_poll_whose_import_fails_is_done_again_in_full(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The watcher used to mark a folder seen before importing its new files: one failure, and those files
    were never looked at again. Now the next poll lists the folder again and imports them."""
    pid = create_project(store, "F", "multiclass", ["a", "b"], by=SYSTEM).id
    folder = tmp_path / "flaky"
    src, watcher = watched_and_seen(store, pid, folder, "a.png", png(60))
    for i in range(5):
        (folder / f"n{i}.png").write_bytes(png(70 + i))
    os.utime(folder, ns=(0, 1))
    real = sources_mod.import_paths

    def broken(*args, **kwargs):
        raise RuntimeError("the database hiccuped")

    monkeypatch.setattr(sources_mod, "import_paths", broken)
    assert watcher.poll() == {}  # the failure is kept, not raised: other sources go on
    assert "the database hiccuped" in watcher.source_errors[src.id]
    monkeypatch.setattr(sources_mod, "import_paths", real)
    assert watcher.poll()[src.id].added == 5
    assert count_items(store, pid) == 6 and src.id not in watcher.source_errors


def test_one_failing_source_does_not_stop_the_others(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = create_project(store, "O", "multiclass", ["a", "b"], by=SYSTEM).id
    sources = []
    for name in ("one", "two"):
        f = tmp_path / name
        f.mkdir()
        src = add_folder(store, pid, f, watch=True, by=SYSTEM)
        rescan(store, src.id, by=SYSTEM)
        sources.append((src, f))
    watcher = FolderWatcher(store, interval_s=60, settle_s=0.0)
    real = sources_mod._rescan

    def first_fails(store_, src, *args, **kwargs):
        if src.id == sources[0][0].id:
            raise OSError("the share is gone")
        return real(store_, src, *args, **kwargs)

    monkeypatch.setattr(sources_mod, "_rescan", first_fails)
    (sources[1][1] / "x.png").write_bytes(png(80))
    assert watcher.poll()[sources[1][0].id].added == 1
    assert "the share is gone" in watcher.source_errors[sources[0][0].id]


def _interrupted_import(store: Store, pid: int, folder: Path, n_files: int, n_done: int, seed: int):
    """A source of ``folder`` (made, with ``n_files`` images) whose import job stopped part way (killed,
    failed after restarts): ``n_done`` files are in, the source was never recorded as scanned."""
    from core import jobs
    from core.images.importer import import_paths

    folder.mkdir()
    for i in range(n_files):
        (folder / f"{i:03d}.png").write_bytes(png(seed + i))
    src = add_folder(store, pid, folder, watch=True, by=SYSTEM)
    files = sorted(str(p) for p in folder.resolve().glob("*.png"))
    import_paths(store, pid, files[:n_done], source_id=src.id, by=SYSTEM)
    job = jobs.submit(store, "import_folder", {"source_id": src.id}, project_id=pid)
    store.execute(
        "UPDATE jobs SET state = 'failed', attempts = 3, error = 'Stopped 3 times by a server restart' WHERE id = ?",
        [job.id],
    )
    return src, job


def test_the_watcher_finishes_an_import_its_job_gave_up_on(tmp_path: Path, store: Store) -> None:
    pid = create_project(store, "I", "multiclass", ["a", "b"], by=SYSTEM).id
    src, _job = _interrupted_import(store, pid, tmp_path / "big", n_files=40, n_done=29, seed=300)
    assert get_source(store, src.id).last_scan_at is None and count_items(store, pid) == 29
    watcher = FolderWatcher(store, interval_s=60, settle_s=0.0, adopt_after_s=0.0)
    report = watcher.poll()[src.id]
    assert (report.added, report.skipped_known) == (11, 29)
    assert count_items(store, pid) == 40
    after = get_source(store, src.id)
    assert after.last_scan_at is not None and after.last_scan_added == 11


def test_the_watcher_leaves_a_running_import_to_its_job(tmp_path: Path, store: Store) -> None:
    from core import jobs

    pid = create_project(store, "J", "multiclass", ["a", "b"], by=SYSTEM).id
    src, job = _interrupted_import(store, pid, tmp_path / "busy", n_files=6, n_done=2, seed=400)
    store.execute("UPDATE jobs SET state = 'running' WHERE id = ?", [job.id])  # a job is on it
    watcher = FolderWatcher(store, interval_s=60, settle_s=0.0, adopt_after_s=0.0)
    assert watcher.poll() == {} and count_items(store, pid) == 2
    jobs.cancel(store, job.id)
    store.execute("UPDATE jobs SET state = 'cancelled' WHERE id = ?", [job.id])
    assert watcher.poll()[src.id].added == 4
    fresh = FolderWatcher(store, interval_s=60, settle_s=0.0)  # default grace: a just-added source waits
    other = tmp_path / "just-added"
    other.mkdir()
    (other / "z.png").write_bytes(png(499))
    add_folder(store, pid, other, watch=True, by=SYSTEM)
    assert fresh.poll() == {}


def test_files_the_watcher_refuses_are_kept_by_name_with_their_reasons(tmp_path: Path, store: Store) -> None:
    """The Data page showed only "2 refused" for the watcher's scans; the source now keeps which and why,
    as a rescan job's result does."""
    pid = create_project(store, "R", "multiclass", ["a", "b"], by=SYSTEM).id
    folder = tmp_path / "refusing"
    folder.mkdir()
    src = add_folder(store, pid, folder, watch=True, by=SYSTEM)
    rescan(store, src.id, by=SYSTEM)
    watcher = FolderWatcher(store, interval_s=60, settle_s=0.0)
    watcher.poll()
    (folder / "good.png").write_bytes(png(90))
    (folder / "notes.png").write_bytes(b"just some text, not a picture")
    (folder / "cut.png").write_bytes(png(91)[:40])
    os.utime(folder, ns=(0, 1))
    assert watcher.poll()[src.id].added == 1
    after = get_source(store, src.id)
    assert after.last_scan_errors == 2
    refused = dict(after.last_scan_refused)
    assert set(refused) == {str(folder.resolve() / "notes.png"), str(folder.resolve() / "cut.png")}
    assert refused[str(folder.resolve() / "notes.png")].startswith("not an image")
    assert refused[str(folder.resolve() / "cut.png")].startswith("truncated")
