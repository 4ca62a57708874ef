"""The command line's administration: archive, delete-project, remove-images (through a subprocess)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from core.config import Paths
from core.store import Store, admin, items
from tests.core.test_cli import ok, refused


def _png(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def test_archive_remove_images_and_delete_from_the_command_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        (photos / f"p{i}.png").write_bytes(_png(i))
    ok(data, "create-project", "Birds", "--type", "multiclass", "--classes", "a,b")
    ok(data, "create-project", "Other", "--type", "multiclass", "--classes", "a,b")
    ok(data, "import-images", "Birds", str(photos))

    listing = tmp_path / "gone.txt"
    listing.write_text(f"# two of them\n{photos / 'p0.png'}\n{photos / 'nope.png'}\n")
    assert "not images of 'Birds'" in refused(data, "remove-images", "Birds", "--paths-file", str(listing))
    out = ok(data, "remove-images", "Birds", "--paths-file", str(listing), "--ignore-missing")
    assert "removed 1 image(s)" in out and "1 path(s) not found" in out
    assert "0 added, 3 already imported" in ok(data, "import-images", "Birds", str(photos))  # p0 stays out

    assert "archived 'Birds'" in ok(data, "archive", "Birds")
    assert "Birds" not in ok(data, "projects", "list")
    assert "Birds\tmulticlass\tarchived" in ok(data, "projects", "list", "--archived")
    assert "archived and read-only" in refused(data, "import-images", "Birds", str(photos))
    assert "unarchived" in ok(data, "archive", "Birds", "--undo")

    assert "exactly" in refused(data, "delete-project", "Birds", "--confirm", "birds")
    out = ok(data, "delete-project", "Birds", "--confirm", "Birds")
    assert "deleted 'Birds'" in out and "2 items" in out and "1 removed_items" in out
    assert "Birds" not in ok(data, "projects", "list", "--archived")
    assert "Other" in ok(data, "projects", "list")
    store = Store(Paths(data).db)
    try:
        assert store.scalar("SELECT count(*) FROM items") == 0
        assert store.scalar("SELECT count(*) FROM projects") == 1
        assert admin.removed_images(store, 1) == [] and items.count_items(store, 2) == 0
    finally:
        store.close()
    assert [p.name for p in photos.iterdir()] and len(list(photos.iterdir())) == 3  # server files stay
