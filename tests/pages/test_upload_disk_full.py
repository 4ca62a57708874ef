"""Uploads on a full disk (Data page): the error says the disk is full with the free MB and stays on
screen, no image file is left without its row, and the same upload works once space is back."""

from __future__ import annotations

import errno

from core.images import importer
from core.store.items import count_items
from tests.pages.helpers import page, png_bytes, texts

PAGE = "pages/data.py"


def test_an_upload_on_a_full_disk_says_so_and_leaves_no_file(runtime, admin, project, monkeypatch):
    def full(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(importer, "add_items", full)
    at = page(PAGE, admin, project.id).run()
    files = [(f"p{k}.png", png_bytes((40 + k, 30), (k, 2, 3)), "image/png") for k in range(8)]
    at.file_uploader[0].set_value(files).run()
    at.button(key=f"import_up_{project.id}").click().run()
    assert not at.exception
    assert any(e.value.startswith("The disk is full (") for e in at.error), texts(at)
    assert "The uploaded images could not be saved" in texts(at)
    uploads = runtime.paths.uploads
    assert not uploads.exists() or [p for p in uploads.rglob("*") if p.is_file()] == []
    assert count_items(runtime.store, project.id) == 0
    monkeypatch.undo()  # space freed: the files still chosen import
    at.button(key=f"import_up_{project.id}").click().run()
    assert count_items(runtime.store, project.id) == 8
    assert "8 image(s) added." in texts(at)
