"""Importing folders and uploads: per-file refusals with reasons, duplicates, rescans, the job."""

from __future__ import annotations

import io
import os
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.config import Paths, shared_datasets
from core.domain import ValidationError
from core.images import add_folder, get_source, import_uploads, list_sources, rescan
from core.images.importer import safe_name
from core.jobs import JobRunner, get_job
from core.permissions import SYSTEM
from core.store import Store
from core.store.items import count_items, list_items
from core.store.projects import create_project


def image_bytes(fmt: str = "PNG", seed: int = 0, size: tuple[int, int] = (32, 24)) -> bytes:
    rng = np.random.default_rng(seed)
    im = Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    buf = io.BytesIO()
    im.save(buf, fmt)
    return buf.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 9))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "a.duckdb")
    yield s
    s.close()


@pytest.fixture
def project_id(store: Store) -> int:
    return create_project(store, "Flowers", "multiclass", ["a", "b"], by=SYSTEM).id


def test_broken_files_are_reported_and_good_files_imported(
    tmp_path: Path, store: Store, project_id: int
) -> None:
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes(image_bytes(seed=99))
    (folder / "good1.png").write_bytes(image_bytes(seed=1))
    (folder / "sub" / "good2.jpg").write_bytes(image_bytes("JPEG", seed=2))
    (folder / "truncated.jpg").write_bytes(image_bytes("JPEG", seed=3, size=(64, 64))[:-300])
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.jpg").write_text("not a photo at all\n")
    (folder / "bomb.png").write_bytes(png_claiming(30000, 30000))
    (folder / "escape.png").symlink_to(outside / "secret.png")
    (folder / "readme.txt").write_text("ignored: not an image name")

    src = add_folder(store, project_id, folder, watch=False, by=SYSTEM)
    report = rescan(store, src.id, by=SYSTEM)

    reasons = {Path(p).name: r for p, r in report.errors}
    assert report.added == 2, report
    assert set(reasons) == {"truncated.jpg", "empty.png", "notes.jpg", "bomb.png", "escape.png"}
    assert "truncated" in reasons["truncated.jpg"]
    assert "empty" in reasons["empty.png"]
    assert "not an image" in reasons["notes.jpg"]
    assert "too large" in reasons["bomb.png"]
    assert "outside the folder" in reasons["escape.png"]
    items = list_items(store, project_id)
    assert sorted(Path(i.path).name for i in items) == ["good1.png", "good2.jpg"]
    assert all(i.width == 32 and i.height == 24 for i in items)
    row = get_source(store, src.id)
    assert (row.last_scan_added, row.last_scan_errors) == (2, 5)
    assert row.last_scan_at is not None


def test_duplicates_by_content_are_reported_not_added(tmp_path: Path, store: Store, project_id: int) -> None:
    folder = tmp_path / "dups"
    folder.mkdir()
    same = image_bytes(seed=7)
    for name in ("a.png", "b.png", "c.png"):
        (folder / name).write_bytes(same)
    (folder / "d.png").write_bytes(image_bytes(seed=8))
    report = rescan(store, add_folder(store, project_id, folder, by=SYSTEM).id, by=SYSTEM)
    assert report.added == 2
    assert sorted(Path(p).name for p, _ in report.duplicates) == ["b.png", "c.png"]
    assert all(Path(first).name == "a.png" for _, first in report.duplicates)
    # a second folder holding the same content: duplicates of what the project has
    other = tmp_path / "other"
    other.mkdir()
    (other / "copy.png").write_bytes(same)
    rep2 = rescan(store, add_folder(store, project_id, other, by=SYSTEM).id, by=SYSTEM)
    assert rep2.added == 0 and [Path(f).name for _, f in rep2.duplicates] == ["a.png"]


def test_rescan_adds_only_new_files(tmp_path: Path, store: Store, project_id: int) -> None:
    folder = tmp_path / "grow"
    folder.mkdir()
    for i in range(5):
        (folder / f"{i}.png").write_bytes(image_bytes(seed=i))
    src = add_folder(store, project_id, folder, by=SYSTEM)
    assert rescan(store, src.id, by=SYSTEM).added == 5
    (folder / "new").mkdir()
    (folder / "new" / "5.jpg").write_bytes(image_bytes("JPEG", seed=5))
    again = rescan(store, src.id, by=SYSTEM)
    assert (again.added, again.skipped_known, again.errors) == (1, 5, [])
    assert count_items(store, project_id) == 6
    assert get_source(store, src.id).last_scan_added == 1


def test_add_folder_validates_and_is_idempotent(tmp_path: Path, store: Store, project_id: int) -> None:
    with pytest.raises(ValidationError, match="does not exist"):
        add_folder(store, project_id, tmp_path / "missing", by=SYSTEM)
    f = tmp_path / "file.png"
    f.write_bytes(image_bytes())
    with pytest.raises(ValidationError, match="not a folder"):
        add_folder(store, project_id, f, by=SYSTEM)
    photos = tmp_path / "photos"
    photos.mkdir()
    a = add_folder(store, project_id, photos, watch=True, by=SYSTEM)
    b = add_folder(store, project_id, str(photos) + "/", watch=False, by=SYSTEM)
    assert a.id == b.id and b.watch is False
    assert [s.id for s in list_sources(store, project_id)] == [a.id]


def test_uploads_are_saved_checked_and_deduplicated(tmp_path: Path, store: Store, project_id: int) -> None:
    paths = Paths(tmp_path / "data").ensure()
    good = image_bytes("JPEG", seed=11)
    report = import_uploads(
        store,
        paths,
        project_id,
        [
            ("holiday.jpg", good),
            ("again.jpg", good),
            ("../../etc/evil name.png", image_bytes(seed=12, size=(8, 8))),
            ("notes.jpg", b"plain text"),
            ("doc.pdf", b"%PDF-1.4"),
            ("huge.png", image_bytes(seed=13)),
        ],
        max_bytes=len(good) + 10,
        by=SYSTEM,
    )
    assert report.added == 2
    assert [p for p, _ in report.duplicates] == ["again.jpg"]
    reasons = dict(report.errors)
    assert set(reasons) == {"notes.jpg", "doc.pdf", "huge.png"}
    assert "not an image" in reasons["notes.jpg"] and "file too large" in reasons["huge.png"]
    assert "not an image file name" in reasons["doc.pdf"]
    stored = [Path(i.path) for i in list_items(store, project_id)]
    assert all(p.is_file() and p.is_relative_to(paths.uploads / str(project_id)) for p in stored)
    assert sorted(p.read_bytes() == good for p in stored) == [False, True]
    assert [s.kind for s in list_sources(store, project_id)] == ["upload"]
    assert safe_name("../../etc/evil name.png") == "evil_name.png"


def test_flowers_import_runs_as_a_job_with_progress(store: Store, project_id: int) -> None:
    folder = shared_datasets() / "flowers"
    if not folder.is_dir():
        print(f"SKIP: {folder} is absent (the shared datasets are not on this machine)")
        pytest.skip(f"{folder} is absent")
    import core.images  # noqa: F401  (registers the job kinds)

    src = add_folder(store, project_id, folder, watch=False, by=SYSTEM)
    runner = JobRunner(store, workers=1, poll_s=0.05).start()
    try:
        t0 = time.perf_counter()
        job = runner.submit("import_folder", {"source_id": src.id}, project_id=project_id)
        seen_progress: list[float] = []
        while True:
            j = get_job(store, job.id)
            seen_progress.append(j.progress)
            if not j.active:
                break
            assert time.perf_counter() - t0 < 120, "the flowers import took too long"
            time.sleep(0.05)
    finally:
        runner.stop()
    assert j.state == "done", j.error
    assert j.progress == 1.0
    n_files = sum(1 for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    result = j.result
    assert result["added"] + result["duplicates"] + result["errors"] == n_files
    assert result["added"] >= 950
    assert count_items(store, project_id) == result["added"]
    assert get_source(store, src.id).last_scan_added == result["added"]
    print(
        f"flowers: {result['summary']}; progress seen: {sorted(set(round(p, 2) for p in seen_progress))[:8]}"
    )


def test_symlink_inside_folder_is_imported_once(tmp_path: Path, store: Store, project_id: int) -> None:
    folder = tmp_path / "links"
    folder.mkdir()
    (folder / "real.png").write_bytes(image_bytes(seed=21))
    os.symlink(folder / "real.png", folder / "alias.png")
    os.symlink(folder, folder / "loop")  # a folder link: not followed, no endless walk
    report = rescan(store, add_folder(store, project_id, folder, by=SYSTEM).id, by=SYSTEM)
    assert report.added == 1 and len(report.duplicates) == 1 and report.errors == []


def test_import_job_with_a_folder_param_adds_the_source(
    tmp_path: Path, store: Store, project_id: int
) -> None:
    import core.images  # noqa: F401  (registers the job kinds)

    folder = tmp_path / "by-param"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.png").write_bytes(image_bytes(seed=40 + i))
    (folder / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    runner = JobRunner(store, workers=1, poll_s=0.05).start()
    try:
        job = runner.submit("import_folder", {"folder": str(folder), "watch": False}, project_id=project_id)
        done = runner.wait(job.id, timeout=120)
        missing = runner.wait(
            runner.submit("import_folder", {"folder": str(tmp_path / "nope")}, project_id=project_id).id
        )
    finally:
        runner.stop()
    assert done.state == "done" and done.progress == 1.0
    assert (done.result["added"], done.result["errors"]) == (3, 1)
    assert (
        done.result["error_list"][0][0].endswith("bad.png") and "truncated" in done.result["error_list"][0][1]
    )
    [src] = list_sources(store, project_id)
    assert src.id == done.result["source_id"] and src.watch is False
    assert missing.state == "failed" and "does not exist" in (missing.error or "")
