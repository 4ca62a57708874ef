"""File names that are not UTF-8 (raw Latin-1 bytes, as old cameras and Windows shares write them) are
refused one by one, by name with the bytes escaped; the other files of the folder import."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.images import add_folder, get_source, rescan
from core.images.importer import import_paths
from core.permissions import SYSTEM
from core.store import Store
from core.store.items import count_items
from core.store.projects import create_project
from tests.core.watched_folder import watched_and_seen


def png(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def write_bytes_name(folder: Path, raw_name: bytes, data: bytes) -> None:
    """A file whose name is these bytes on the real disk (not decodable as UTF-8)."""
    with open(os.path.join(os.fsencode(folder), raw_name), "wb") as fh:
        fh.write(data)


@pytest.fixture
def project_id(store: Store) -> int:
    return create_project(store, "Names", "multiclass", ["a", "b"], by=SYSTEM).id


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    f = tmp_path / "photos"
    f.mkdir()
    for i in range(50):
        (f / f"{i:02d}.png").write_bytes(png(i))
    write_bytes_name(f, b"caf\xe9.png", png(1000))
    return f


def test_one_latin1_name_is_refused_alone_and_the_rest_import(
    store: Store, project_id: int, folder: Path
) -> None:
    src = add_folder(store, project_id, folder, watch=False, by=SYSTEM)
    report = rescan(store, src.id, by=SYSTEM)
    assert report.added == 50
    assert report.errors == [
        (
            str(folder.resolve() / "caf\\xe9.png"),
            "the file name is not valid UTF-8 (the bytes shown as \\xNN); rename the file to import it",
        )
    ]
    assert get_source(store, src.id).last_scan_errors == 1
    again = rescan(store, src.id, by=SYSTEM)  # a rescan too goes through, and names the file again
    assert (again.added, again.skipped_known, len(again.errors)) == (0, 50, 1)
    assert count_items(store, project_id) == 50


def test_a_folder_with_a_latin1_name_is_refused_with_its_reason(
    store: Store, project_id: int, folder: Path
) -> None:
    sub = os.path.join(os.fsencode(folder), b"r\xe9union")
    os.mkdir(sub)
    with open(os.path.join(sub, b"ok.png"), "wb") as fh:
        fh.write(png(2000))
    report = rescan(store, add_folder(store, project_id, folder, watch=False, by=SYSTEM).id, by=SYSTEM)
    assert report.added == 50
    refused = dict(report.errors)
    assert "its images are not imported" in refused[str(folder.resolve() / "r\\xe9union")]


def test_the_job_result_keeps_the_escaped_name(store: Store, project_id: int, folder: Path) -> None:
    import core.images  # noqa: F401 (registers the job)
    from core.jobs import JobRunner

    src = add_folder(store, project_id, folder, watch=False, by=SYSTEM)
    runner = JobRunner(store, workers=1, poll_s=0.05).start()
    try:
        done = runner.wait(
            runner.submit("import_folder", {"source_id": src.id}, project_id=project_id).id, 120
        )
    finally:
        runner.stop()
    assert done.state == "done", done.error
    assert (done.result["added"], done.result["errors"]) == (50, 1)
    assert done.result["error_list"][0][0].endswith("caf\\xe9.png")


def test_import_paths_refuses_such_a_path_given_directly(store: Store, project_id: int, folder: Path) -> None:
    bad = os.fsdecode(os.path.join(os.fsencode(folder), b"caf\xe9.png"))
    rep = import_paths(store, project_id, [bad, str(folder / "00.png")], by=SYSTEM)
    assert rep.added == 1 and rep.errors[0][0].endswith("caf\\xe9.png")


def test_the_watcher_imports_the_good_files_of_a_poll_that_meets_a_bad_name(
    store: Store, project_id: int, tmp_path: Path
) -> None:
    watched = tmp_path / "watched"
    src, watcher = watched_and_seen(store, project_id, watched, "first.png", png(1))
    for i in range(10):
        (watched / f"new-{i}.png").write_bytes(png(100 + i))
    write_bytes_name(watched, b"\xe9t\xe9.png", png(999))
    os.utime(watched, ns=(0, 1))  # the folder's time surely differs from the one seen
    report = watcher.poll()[src.id]
    assert report.added == 10
    assert report.errors == [
        (
            str(watched.resolve() / "\\xe9t\\xe9.png"),
            "the file name is not valid UTF-8 (the bytes shown as \\xNN); rename the file to import it",
        )
    ]
    assert count_items(store, project_id) == 11
