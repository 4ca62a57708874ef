"""Renditions of an item's image: thumbnails (~256 px) and display images (<= 2048 px), cached on disk.

A rendition is made on first use: the original is decoded (JPEG in draft mode, at the smallest
scale still at least as large as asked), EXIF orientation applied once, scaled down, flattened to
RGB and saved as JPEG under ``Paths.thumbnails`` / ``Paths.renditions``. The cache key is the item
id and its content hash, so a changed item never shows a stale picture. All geometry lives in the
oriented frame, which is the frame of every rendition (scaled by ``rendition_scale``).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image, UnidentifiedImageError

from core.config import Paths
from core.images.probe import orientation_of

log = logging.getLogger(__name__)

THUMB_SIDE = 256
DISPLAY_SIDE = 2048
_QUALITY = {"thumb": 82, "display": 90}
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
stats = {"renders": 0}  # renditions made by this process (cache misses)


class ImageUnavailable(OSError):
    """The original of an item is gone or cannot be decoded; the message is for the user."""


class ItemRef(Protocol):
    """What renditions need of an item (``core.domain.Item`` has it)."""

    @property
    def id(self) -> int: ...

    @property
    def path(self) -> str: ...

    @property
    def sha1(self) -> str: ...


def _cache_file(folder: Path, item: ItemRef) -> Path:
    return folder / f"{item.id % 256:02x}" / f"{item.id}-{item.sha1[:16]}.jpg"


def thumbnail_file(paths: Paths, item: ItemRef) -> Path:
    """Where the item's thumbnail is (or will be) cached; nothing is made."""
    return _cache_file(paths.thumbnails, item)


def display_file(paths: Paths, item: ItemRef) -> Path:
    return _cache_file(paths.renditions, item)


def open_oriented(path: str | os.PathLike[str], max_side: int | None = None) -> Image.Image:
    """Decode an original in its oriented frame (EXIF applied), first frame of a GIF, RGB.

    With ``max_side`` a JPEG is decoded in draft mode at a reduced scale (never below ``max_side``).
    Raises ``ImageUnavailable`` with a reason.
    """
    p = Path(path)
    try:
        im = Image.open(p)
    except FileNotFoundError as exc:
        raise ImageUnavailable(f"The image file {p} is gone (moved, renamed or deleted).") from exc
    except PermissionError as exc:
        raise ImageUnavailable(f"The server may not read the image file {p}.") from exc
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as exc:
        raise ImageUnavailable(f"The image file {p} cannot be read: {exc}") from exc
    try:
        with im:
            orientation = orientation_of(im)
            if max_side and im.format in ("JPEG", "MPO"):
                im.draft("RGB", (max_side, max_side))
            im.load()
            out = _to_rgb(im)
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageUnavailable(f"The image file {p} is broken: {exc}") from exc
    method = _TRANSPOSE.get(orientation)
    return out.transpose(method) if method is not None else out


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode == "RGB":
        return im.copy()
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        arr = np.asarray(im, dtype=np.float32)
        hi = float(arr.max()) or 1.0
        return Image.fromarray((arr * (255.0 / hi)).clip(0, 255).astype(np.uint8)).convert("RGB")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im.convert("RGB")


def _render(item: ItemRef, target: Path, max_side: int, quality: int) -> Path:
    im = open_oriented(item.path, max_side)
    if max(im.size) > max_side:
        im.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{threading.get_ident()}.part")
    im.save(tmp, "JPEG", quality=quality, optimize=False)
    os.replace(tmp, target)
    stats["renders"] += 1
    return target


def thumbnail_path(paths: Paths, item: ItemRef, *, side: int = THUMB_SIDE) -> Path:
    """The item's thumbnail (longest side ``side``), made on first call; raises ``ImageUnavailable``."""
    target = thumbnail_file(paths, item) if side == THUMB_SIDE else _sized(paths.thumbnails, item, side)
    if target.exists():
        return target
    return _render(item, target, side, _QUALITY["thumb"])


def display_path(paths: Paths, item: ItemRef, *, side: int = DISPLAY_SIDE) -> Path:
    """The item's display rendition (longest side at most ``side``), made on first call."""
    target = display_file(paths, item) if side == DISPLAY_SIDE else _sized(paths.renditions, item, side)
    if target.exists():
        return target
    return _render(item, target, side, _QUALITY["display"])


def _sized(folder: Path, item: ItemRef, side: int) -> Path:
    f = _cache_file(folder, item)
    return f.with_name(f"{f.stem}-{side}.jpg")


def load_display(paths: Paths, item: ItemRef) -> Image.Image:
    """The display rendition, decoded (RGB). Its scale to the item's frame: ``rendition_scale``."""
    path = display_path(paths, item)
    with Image.open(path) as im:
        im.load()
        return im.copy()


def load_thumbnail(paths: Paths, item: ItemRef) -> Image.Image:
    with Image.open(thumbnail_path(paths, item)) as im:
        im.load()
        return im.copy()


def rendition_scale(item_width: int, item_height: int, side: int = DISPLAY_SIDE) -> float:
    """Rendition pixels per item pixel (1.0 when the image fits): divide canvas coordinates by it."""
    longest = max(item_width, item_height)
    return 1.0 if longest <= side else side / longest


# -- prefetching --------------------------------------------------------------------------------------
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(2, thread_name_prefix="annota-render")
        return _pool


def _prepare(paths: Paths, item: ItemRef, thumbnails: bool) -> Path | None:
    try:
        if thumbnails:
            thumbnail_path(paths, item)
        return display_path(paths, item)
    except ImageUnavailable as exc:
        log.info("prefetch: %s", exc)
        return None


def prefetch(
    paths: Paths, items: Iterable[ItemRef], *, thumbnails: bool = False
) -> list[Future[Path | None]]:
    """Make the display renditions (and thumbnails) of the next items in the background.

    Returns the futures (a path, or None where the original is unavailable); callers may ignore them.
    """
    pool = _executor()
    return [
        pool.submit(_prepare, paths, it, thumbnails)
        for it in items
        if not display_file(paths, it).exists() or (thumbnails and not thumbnail_file(paths, it).exists())
    ]
