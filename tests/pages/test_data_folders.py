"""Data page, server folders: a refused folder says why; the files a scan refused are named with reasons."""

from __future__ import annotations

import os

from core import images
from core.jobs import list_jobs
from core.permissions import SYSTEM
from core.store.items import count_items
from tests.pages.helpers import page, texts, write_pngs

PAGE = "pages/data.py"


def _add(at, folder: str):  # type: ignore[no-untyped-def]
    at.text_input[0].input(folder)
    return next(b for b in at.button if b.label == "Add folder and import").click().run()


def test_a_system_folder_is_refused_with_the_reason(runtime, admin, project):
    at = _add(page(PAGE, admin, project.id).run(), "/etc")
    assert not at.exception
    errors = [e.value for e in at.error]
    assert errors == [
        "This folder cannot be imported: /etc is a system folder (/etc): choose a folder that holds images."
    ]
    assert images.list_sources(runtime.store, project.id) == [] and list_jobs(runtime.store, project.id) == []


def test_the_data_directory_is_refused_with_the_reason(runtime, admin, project):
    at = _add(page(PAGE, admin, project.id).run(), str(runtime.paths.uploads))
    assert any("inside annota's data directory" in e.value for e in at.error), [e.value for e in at.error]
    at = _add(at, str(runtime.paths.root.parent))
    assert any("holds annota's data directory" in e.value for e in at.error), [e.value for e in at.error]


def test_refused_files_are_listed_by_name_with_reasons(runtime, admin, project, tmp_path):
    folder = tmp_path / "photos"
    write_pngs(folder, 3)
    (folder / "notes.png").write_text("not a picture")
    with open(os.path.join(os.fsencode(folder), b"caf\xe9.png"), "wb") as fh:
        fh.write((folder / "img_000.png").read_bytes())
    at = _add(page(PAGE, admin, project.id).run(), str(folder))
    assert not at.error, [e.value for e in at.error]
    for job in list_jobs(runtime.store, project.id):
        assert runtime.runner.wait(job.id, timeout=120).state == "done"
    assert count_items(runtime.store, project.id) == 3
    at.run()
    assert not at.exception
    assert "3 added, 2 refused" in texts(at)
    assert "2 file(s) refused: which and why" in [e.label for e in at.expander]
    table = at.dataframe[0].value
    rows = dict(zip(table["file"], table["why"], strict=True))
    assert rows[str(folder.resolve() / "caf\\xe9.png")].startswith("the file name is not valid UTF-8")
    assert rows[str(folder.resolve() / "notes.png")].startswith("not an image")


def test_a_folder_the_watcher_cannot_scan_says_so(runtime, admin, project, tmp_path):
    folder = tmp_path / "watched"
    write_pngs(folder, 1)
    src = images.add_folder(runtime.store, project.id, folder, watch=True, by=SYSTEM)
    images.rescan(runtime.store, src.id, by=SYSTEM)
    runtime.watcher.stop()  # so that no poll clears the error set below
    runtime.watcher.source_errors[src.id] = "OSError: [Errno 5] Input/output error: '/mnt/share'"
    at = page(PAGE, admin, project.id).run()
    assert not at.exception
    assert any("cannot scan this folder" in w.value for w in at.warning)
    assert "OSError: [Errno 5] Input/output error: '/mnt/share'" in [t.value for t in at.text]
