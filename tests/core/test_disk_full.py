"""A full disk, said in words, and no junk left by it; once space is freed the same store works again.

Injected (``OSError(ENOSPC)`` where the write happens) everywhere; and on a real 24 MB tmpfs filled to
the last byte when this process may mount one (root in a container that allows it): otherwise that part
is skipped with the reason printed.
"""

from __future__ import annotations

import errno
import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.config import Paths
from core.disk import DiskFull, as_disk_full, is_disk_full
from core.domain import TaskType
from core.formats.export import default_export_dir, export_project
from core.images import import_uploads
from core.images import importer as importer_module
from core.jobs import JobRunner, get_job
from core.permissions import SYSTEM
from core.store import Store
from core.store.items import NewItem, add_items, count_items
from core.store.labels import save_label
from core.store.projects import create_project


def _png(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# -- recognising a full disk ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "exc, full",
    [
        (OSError(errno.ENOSPC, "No space left on device"), True),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), True),
        (RuntimeError('Failed to commit: Could not write file "x.wal": No space left on device'), True),
        (OSError(errno.EACCES, "Permission denied"), False),
        (RuntimeError("TransactionContext Error: Catalog write-write conflict"), False),
    ],
)
def test_is_disk_full(exc: BaseException, full: bool) -> None:
    assert is_disk_full(exc) is full


def test_disk_full_words_carry_the_free_space(tmp_path: Path) -> None:
    err = as_disk_full(OSError(errno.ENOSPC, "No space left on device"), tmp_path, "the export")
    assert isinstance(err, DiskFull) and err.free_mb is not None
    assert str(err) == f"The disk is full ({err.free_mb:,.0f} MB free). The export could not be saved. " + (
        "Free some space on the server and try again."
    )


# -- injected ---------------------------------------------------------------------------------------
def test_a_store_write_on_a_full_disk_is_not_busy(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import duckdb

    calls = []

    def full(cur: duckdb.DuckDBPyConnection) -> None:
        calls.append(1)
        raise duckdb.TransactionException(
            'Failed to commit: Could not write file "a.wal": No space left on device'
        )

    with pytest.raises(DiskFull, match=r"The disk is full \(\d[\d,]* MB free\)"):
        store.write(full)
    assert calls == [1]  # not retried as if busy
    assert store.execute("SELECT 1") == [(1,)]  # and the store goes on


def test_an_upload_whose_rows_cannot_be_saved_leaves_no_file(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = Paths(tmp_path / "data").ensure()
    project = create_project(store, "P", TaskType.MULTICLASS, ["a", "b"], by=SYSTEM)

    def full(*_a: object, **_k: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(importer_module, "add_items", full)
    files = [(f"img_{k}.png", _png(k)) for k in range(8)]
    with pytest.raises(DiskFull, match="The uploaded images could not be saved"):
        import_uploads(store, paths, project.id, files, by=SYSTEM)
    assert _files(paths.uploads) == []  # the 8 files written before the rows failed are gone
    monkeypatch.undo()
    report = import_uploads(store, paths, project.id, files, by=SYSTEM)  # space back: all of them
    assert report.added == 8 and len(_files(paths.uploads)) == 8


def test_an_upload_file_that_cannot_be_written_leaves_no_part(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = Paths(tmp_path / "data").ensure()
    project = create_project(store, "P", TaskType.MULTICLASS, ["a", "b"], by=SYSTEM)
    real = Path.write_bytes

    def half(self: Path, data: bytes) -> int:
        real(self, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", half)
    with pytest.raises(DiskFull):
        import_uploads(store, paths, project.id, [("a.png", _png(1)), ("b.png", _png(2))], by=SYSTEM)
    assert _files(paths.uploads) == [] and count_items(store, project.id) == 0


def test_a_job_end_a_full_disk_kept_from_the_store_is_written_once_there_is_space(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core import jobs

    runner = JobRunner(store, workers=1, poll_s=0.05)
    job = jobs.submit(store, "export", {"format": "coco"}, project_id=None)  # fails: no project
    real = store.execute
    full = {"on": True}

    def execute(sql: str, params: object = None) -> list:
        if full["on"] and sql.lstrip().startswith("UPDATE jobs SET state = ?"):
            raise DiskFull(0.0, "the change")
        return real(sql, params)

    monkeypatch.setattr(store, "execute", execute)
    import core.formats.export  # noqa: F401 (registers the handler)

    runner.start()
    try:
        deadline = time.monotonic() + 60
        while runner.notice() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert runner.notice() is not None and "The disk is full (0 MB free)" in runner.notice()
        assert get_job(store, job.id).state == "running"  # its end waits in memory
        full["on"] = False  # space freed: no restart
        done = runner.wait(job.id, timeout=60)
    finally:
        runner.stop()
    assert done.state == "failed" and "needs a project" in (done.error or "")
    assert runner.notice() is None


def test_a_job_that_cannot_be_claimed_on_a_full_disk_waits_in_words(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import core.formats.export  # noqa: F401 (registers the handler)
    from core import jobs

    job = jobs.submit(store, "export", {"format": "coco"}, project_id=None)
    runner = JobRunner(store, workers=1, poll_s=0.05)
    real = runner._claim
    full = {"on": True}

    def claim() -> object:  # the claim's write meets the full disk
        if full["on"]:
            raise DiskFull(1.0, "a job's state")
        return real()

    monkeypatch.setattr(runner, "_claim", claim)
    runner.start()
    try:
        deadline = time.monotonic() + 60
        while runner.notice() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert runner.notice() == (
            "Jobs are waiting: The disk is full (1 MB free). A job's state could not be saved. Free some space"
            " on the server and try again. They continue by themselves once there is space."
        )
        assert get_job(store, job.id).state == "queued"
        full["on"] = False
        done = runner.wait(job.id, timeout=60)
    finally:
        runner.stop()
    assert done.state == "failed" and "needs a project" in (done.error or "") and runner.notice() is None


# -- a real full disk (tmpfs) --------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "disk"
    mnt.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mnt)], check=True,
                       capture_output=True, text=True, timeout=30)  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        reason = getattr(exc, "stderr", "") or str(exc)
        print(f"SKIP REASON: cannot mount a small tmpfs here ({reason.strip()})", file=sys.stderr)
        pytest.skip(f"cannot mount a small tmpfs here ({reason.strip()})")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False, capture_output=True, timeout=30)


def _fill(path: Path) -> None:
    """Write ``path`` until the disk has no byte left."""
    with open(path, "wb", buffering=0) as fh:
        for size in (1 << 20, 1 << 14, 1 << 10, 64, 1):
            try:
                while True:
                    fh.write(b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC


def test_a_real_full_disk_then_space_freed(small_disk: Path) -> None:
    paths = Paths(small_disk / "data").ensure()
    store = Store(paths.db)
    try:
        project = create_project(store, "Full disk", TaskType.BOXES, ["cat", "dog"], by=SYSTEM)
        cid = int(store.scalar("SELECT min(id) FROM label_classes"))
        add_items(store, project.id, [NewItem(f"/photos/{'x' * 80}/img_{k:05d}.jpg", 640, 480, f"h{k}")
                                       for k in range(800)])  # fmt: skip
        ids = [r[0] for r in store.query("SELECT id FROM items ORDER BY id")]
        box = {"boxes": [{"class_id": cid, "xywh": [10, 10, 50, 50]}]}
        for item_id in ids[:500]:
            save_label(store, item_id, box, author="ann", base_version=0, by=SYSTEM)
        import core.formats.export  # noqa: F401 (registers the handler)
        from core import jobs

        waiting = jobs.submit(store, "export", {"format": "coco"}, project_id=project.id)
        filler = small_disk / "filler.bin"
        _fill(filler)

        with pytest.raises(
            DiskFull, match=r"^The disk is full \(0 MB free\)\. The change could not be saved"
        ):
            save_label(store, ids[700], box, author="ann", base_version=0, by=SYSTEM)
        out = default_export_dir(store, project.id)
        with pytest.raises(
            DiskFull, match=r"^The disk is full \(\d+ MB free\)\. The export could not be saved"
        ):
            export_project(store, project.id, "coco", by=SYSTEM)
        assert _files(out) == []  # no .part keeps the disk full
        with pytest.raises(DiskFull, match=r"The uploaded images could not be saved|The change could not"):
            import_uploads(store, paths, project.id, [(f"u{k}.png", _png(k)) for k in range(8)], by=SYSTEM)
        assert _files(paths.uploads) == []
        runner = JobRunner(store, workers=1, poll_s=0.05).start()
        try:
            deadline = time.monotonic() + 60
            while (
                runner.notice() is None and get_job(store, waiting.id).active and time.monotonic() < deadline
            ):
                time.sleep(0.05)
            # never silent: either the job waits and the runner says why (its claim, or its end, could not
            # be written), or a small write still fitted and the job failed with the words of a full disk
            if get_job(store, waiting.id).active:
                assert runner.notice() and runner.notice().startswith("Jobs are waiting: The disk is full (")
            else:
                assert (get_job(store, waiting.id).error or "").startswith("The disk is full (")

            os.remove(filler)  # space freed: everything works, the same store, no restart
            ended = runner.wait(waiting.id, timeout=120)
            print(f"the export queued before the disk filled ended {ended.state}: {ended.message}")
            if ended.state == "failed":  # it had started and met the full disk: it said so; a new one works
                assert (ended.error or "").startswith("The disk is full ("), ended.error
                ended = runner.wait(
                    runner.submit("export", {"format": "coco"}, project_id=project.id).id, 120
                )
            assert ended.state == "done", ended.error
            assert Path(ended.result["path"]).is_file() and ended.result["counts"]["images"] == 500
            assert runner.notice() is None
            assert [p.name for p in _files(out)] == [Path(ended.result["path"]).name]
        finally:
            runner.stop()
        save_label(store, ids[700], box, author="ann", base_version=0, by=SYSTEM)
        assert export_project(store, project.id, "yolo", by=SYSTEM).images == 501
        assert (
            import_uploads(
                store, paths, project.id, [(f"u{k}.png", _png(k)) for k in range(8)], by=SYSTEM
            ).added
            == 8
        )
        assert len(_files(paths.uploads)) == 8
    finally:
        store.close()


def test_a_folder_import_on_a_full_disk_fails_in_words(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import duckdb

    import core.images.sources  # noqa: F401 (registers import_folder)

    folder = tmp_path / "photos"
    folder.mkdir()
    for k in range(3):
        (folder / f"p{k}.png").write_bytes(_png(k))
    project = create_project(store, "P", TaskType.MULTICLASS, ["a", "b"], by=SYSTEM)

    def full(*_a: object, **_k: object) -> int:  # the items' rows meet the full disk as DuckDB says it
        raise duckdb.TransactionException(
            'Failed to commit: Could not write file "a.wal": No space left on device'
        )

    monkeypatch.setattr(importer_module, "add_items", full)
    runner = JobRunner(store, workers=1, poll_s=0.05).start()
    try:
        job = runner.submit("import_folder", {"folder": str(folder), "watch": False}, project_id=project.id)
        done = runner.wait(job.id, timeout=120)
    finally:
        runner.stop()
    assert done.state == "failed"
    assert done.message.startswith("The disk is full (") and "busy" not in (done.error or "")
    assert count_items(store, project.id) == 0
