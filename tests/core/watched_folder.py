"""A watched folder already imported and seen by a watcher, the start of the folder watcher's tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.images import FolderWatcher, add_folder, rescan
from core.permissions import SYSTEM
from core.store import Store


def watched_and_seen(
    store: Store, project_id: int, folder: Path, name: str, image: bytes
) -> tuple[Any, FolderWatcher]:
    """``folder`` made with one image ``name``, added as a watched source whose first scan (the import job's)
    imported it, and a watcher polled by hand (no interval, no settle time) whose first poll found nothing
    new: (the source, the watcher)."""
    folder.mkdir()
    (folder / name).write_bytes(image)
    src = add_folder(store, project_id, folder, watch=True, by=SYSTEM)
    assert rescan(store, src.id, by=SYSTEM).added == 1  # the import job's first scan
    watcher = FolderWatcher(store, interval_s=60, settle_s=0.0)
    assert watcher.poll() == {}
    return src, watcher
