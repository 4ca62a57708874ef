"""Thumbnails and display renditions: oriented once, cached on disk, typed errors when unavailable."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image, JpegImagePlugin

from core.config import Paths
from core.images import (
    ImageUnavailable,
    display_path,
    import_paths,
    load_display,
    prefetch,
    rendition_scale,
    thumbnail_path,
)
from core.images import renditions as rmod
from core.permissions import SYSTEM
from core.store import Store
from core.store.items import list_items
from core.store.projects import create_project

RED, BLUE = (220, 20, 20), (20, 20, 220)


@dataclass(frozen=True)
class Ref:
    id: int
    path: str
    sha1: str


def halves_jpeg(path: Path, size: tuple[int, int], orientation: int = 1) -> Path:
    """Left half red, right half blue (in the stored frame), with an EXIF orientation."""
    w, h = size
    im = Image.new("RGB", size, BLUE)
    im.paste(RED, (0, 0, w // 2, h))
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=95, exif=exif.tobytes())
    path.write_bytes(buf.getvalue())
    return path


def close(a: tuple[int, ...], b: tuple[int, ...], tol: int = 40) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=False))


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(tmp_path / "data").ensure()


def test_thumbnail_is_oriented_scaled_and_cached(tmp_path: Path, paths: Paths, monkeypatch) -> None:
    store = Store(tmp_path / "a.duckdb")
    try:
        pid = create_project(store, "R", "boxes", ["a", "b"], by=SYSTEM).id
        src = halves_jpeg(tmp_path / "rot6.jpg", (1200, 600), orientation=6)
        assert import_paths(store, pid, [str(src)], by=SYSTEM).added == 1
        item = list_items(store, pid)[0]
    finally:
        store.close()
    assert (item.width, item.height) == (600, 1200)  # the oriented frame

    drafts: list[tuple[int, int]] = []
    real_draft = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):
        drafts.append(size)
        return real_draft(self, mode, size)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    before = rmod.stats["renders"]
    thumb = thumbnail_path(paths, item)
    assert drafts == [(256, 256)]  # decoded in draft mode
    assert (
        thumb.is_relative_to(paths.thumbnails) and str(item.id) in thumb.name and item.sha1[:16] in thumb.name
    )
    with Image.open(thumb) as im:
        assert im.size == (128, 256)  # portrait after orientation 6
        assert close(im.getpixel((64, 20)), RED) and close(im.getpixel((64, 236)), BLUE)
    assert rmod.stats["renders"] == before + 1

    def must_not_render(*args, **kwargs):
        raise AssertionError("re-decoded a cached rendition")

    monkeypatch.setattr(rmod, "_render", must_not_render)
    assert thumbnail_path(paths, item) == thumb
    assert rmod.stats["renders"] == before + 1


def test_display_rendition_limits_the_longest_side(tmp_path: Path, paths: Paths) -> None:
    original = tmp_path / "wide.png"
    Image.new("RGBA", (3000, 1000), (0, 200, 0, 255)).save(original)
    ref = Ref(7, str(original), "ab" * 20)
    path = display_path(paths, ref)
    assert path.is_relative_to(paths.renditions)
    im = load_display(paths, ref)
    assert im.mode == "RGB" and im.size == (2048, 683)
    assert rendition_scale(3000, 1000) == pytest.approx(2048 / 3000)
    small = tmp_path / "small.jpg"
    halves_jpeg(small, (300, 200))
    ref_small = Ref(8, str(small), "cd" * 20)
    assert load_display(paths, ref_small).size == (300, 200)  # never enlarged
    assert rendition_scale(300, 200) == 1.0
    # another content hash for the same item id: another cache entry, never a stale picture
    assert display_path(paths, Ref(8, str(small), "ef" * 20)) != display_path(paths, ref_small)


def test_unavailable_originals_raise_with_words(tmp_path: Path, paths: Paths) -> None:
    with pytest.raises(ImageUnavailable, match="is gone"):
        thumbnail_path(paths, Ref(1, str(tmp_path / "deleted.jpg"), "00" * 20))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(ImageUnavailable, match=r"cannot be read|broken"):
        display_path(paths, Ref(2, str(broken), "11" * 20))


def test_prefetch_prepares_the_next_images(tmp_path: Path, paths: Paths) -> None:
    refs = [Ref(i, str(halves_jpeg(tmp_path / f"{i}.jpg", (320, 240))), f"{i:040x}") for i in range(1, 5)]
    refs.append(Ref(99, str(tmp_path / "missing.jpg"), "f" * 40))
    futures = prefetch(paths, refs, thumbnails=True)
    results = [f.result(timeout=30) for f in futures]
    assert results[-1] is None  # the missing one is skipped, not raised
    assert all(
        rmod.display_file(paths, r).is_file() and rmod.thumbnail_file(paths, r).is_file() for r in refs[:4]
    )
    assert len(prefetch(paths, refs[:4], thumbnails=True)) == 0  # all cached: nothing to do
