"""The image on the labeling screen: a screen-sized JPEG per item, cached in memory, prepared ahead.

The rendition comes from ``core.images.renditions.display_path`` at ``SCREEN_MAX`` px (EXIF-oriented,
made once and cached on disk); without that module the original is opened and oriented here. Its
JPEG bytes (<= ``SCREEN_MAX`` px wide, so Streamlit serves them without re-encoding) are kept in a
small in-process LRU shared by sessions. ``prefetch`` prepares the next items in background threads.
"""

from __future__ import annotations

import base64
import io
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

from core.domain import Item, LabelClass, TaskType

log = logging.getLogger(__name__)

SCREEN_MAX = 1400  # px: below Streamlit's 1460 px limit, so st.image sends our bytes as they are
_CACHE_MAX = 48
_cache: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
_lock = threading.Lock()
_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="annota-prefetch")
_page_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="annota-page")  # a grid page's tiles
_pending: set[tuple[Any, ...]] = set()


class ImageUnavailable(RuntimeError):
    """The item's image cannot be shown; ``str(exc)`` says why, in words."""


def _cache_key(item: Item, max_side: int) -> tuple[Any, ...]:
    return (item.id, item.path, item.sha1, max_side)


def _render_core(paths: Any, item: Item, max_side: int) -> bytes | None:
    """The rendition from ``core.images.renditions`` (made once, cached on disk); ``None`` without it."""
    if paths is None:
        return None
    try:
        from core.images import renditions
    except ImportError:
        return None
    try:
        return Path(renditions.display_path(paths, item, side=max_side)).read_bytes()
    except renditions.ImageUnavailable as exc:
        raise ImageUnavailable(str(exc)) from exc
    except FileNotFoundError as exc:
        raise ImageUnavailable(f"The image file is missing: {item.path}") from exc


def _render_here(item: Item, max_side: int) -> bytes:
    """Without ``core.images``: open, orient and scale the original here."""
    try:
        im = ImageOps.exif_transpose(Image.open(item.path))
        im.load()
    except FileNotFoundError as exc:
        raise ImageUnavailable(f"The image file is missing: {item.path}") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageUnavailable(
            f"The image file cannot be read ({exc.__class__.__name__}): {item.path}"
        ) from exc
    if im.mode not in ("RGB", "L"):
        im = im.convert("RGB")
    im.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=88)
    return buf.getvalue()


def screen_jpeg(item: Item, paths: Any = None, max_side: int = SCREEN_MAX) -> bytes:
    """JPEG bytes of the item's image, EXIF-oriented, at most ``max_side`` px wide and high."""
    key = _cache_key(item, max_side)
    with _lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    data = _render_core(paths, item, max_side)
    if data is None:
        data = _render_here(item, max_side)
    with _lock:
        _cache[key] = data
        while len(_cache) > _CACHE_MAX:
            _cache.popitem(last=False)
    return data


def screen_jpegs(
    items: Sequence[Item], paths: Any = None, max_side: int = SCREEN_MAX
) -> list[bytes | ImageUnavailable]:
    """``screen_jpeg`` of several items (a grid page), the ones not cached yet made side by side in
    threads (Pillow decodes without the GIL); an image that cannot be shown gives its ``ImageUnavailable``."""
    out: list[bytes | ImageUnavailable | None] = []
    todo = []
    for k, item in enumerate(items):
        with _lock:
            hit = _cache.get(_cache_key(item, max_side))
        out.append(hit)
        if hit is None:
            todo.append(k)
    futures = {k: _page_pool.submit(screen_jpeg, items[k], paths, max_side) for k in todo[1:]}
    for k in todo[:1] + list(futures):  # the first miss here, the others in the pool meanwhile
        try:
            out[k] = futures[k].result() if k in futures else screen_jpeg(items[k], paths, max_side)
        except ImageUnavailable as exc:
            out[k] = exc
    return [o if o is not None else ImageUnavailable("not read") for o in out]


def data_url(item: Item, paths: Any = None, max_side: int = SCREEN_MAX) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(screen_jpeg(item, paths, max_side)).decode("ascii")


def is_cached(item: Item, max_side: int = SCREEN_MAX) -> bool:
    with _lock:
        return _cache_key(item, max_side) in _cache


def _warm(item: Item, paths: Any, max_side: int) -> None:
    try:
        screen_jpeg(item, paths, max_side)
    except ImageUnavailable:
        pass  # shown in words when the item comes up
    except Exception:  # a background warm-up must never take the server down
        log.exception("prefetching item %s failed", item.id)
    finally:
        with _lock:
            _pending.discard(_cache_key(item, max_side))


def prefetch(items: Sequence[Item], paths: Any = None, max_side: int = SCREEN_MAX) -> int:
    """Prepare the next items' images in the background; returns how many were started."""
    started = 0
    for item in items:
        key = _cache_key(item, max_side)
        with _lock:
            if key in _cache or key in _pending:
                continue
            _pending.add(key)
        _pool.submit(_warm, item, paths, max_side)
        started += 1
    return started


def overlay_png(
    item: Item, task: TaskType, payload: dict[str, Any], classes: Sequence[LabelClass], paths: Any = None
) -> bytes:
    """The item's image with a version drawn on it (for the stale-save chooser): its boxes or polygons, or
    its classes written over it."""
    im = Image.open(io.BytesIO(screen_jpeg(item, paths, 640))).convert("RGB")
    scale = im.width / max(1, item.width)
    colors = {c.id: c.color for c in classes}
    draw = ImageDraw.Draw(im)
    if task is TaskType.BOXES:
        for box in payload.get("boxes", []):
            x, y, w, h = (v * scale for v in box["xywh"])
            draw.rectangle([x, y, x + w, y + h], outline=colors.get(box["class_id"], "#ffffff"), width=2)
    elif task is TaskType.POLYGONS:
        for poly in payload.get("polygons", []):
            pts = [(px * scale, py * scale) for px, py in poly["points"]]
            if len(pts) >= 2:
                draw.line([*pts, pts[0]], fill=colors.get(poly["class_id"], "#ffffff"), width=2)
    else:  # classification: the classes written over the image, framed in the first one's colour
        ids = (
            [payload["class_id"]]
            if payload.get("class_id") is not None
            else list(payload.get("class_ids", []))
        )
        names = {c.id: c.name for c in classes}
        text = ", ".join(names.get(i, str(i)) for i in ids) or "none of the classes"
        frame = colors.get(ids[0], "#ffffff") if ids else "#888888"
        draw.rectangle([0, 0, im.width - 1, im.height - 1], outline=frame, width=max(3, im.width // 120))
        font = ImageFont.load_default(size=max(14, im.width // 30))
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        pad = 6
        draw.rectangle([0, 0, min(im.width, right - left + 2 * pad), bottom - top + 2 * pad], fill=frame)
        draw.text(
            (pad - left, pad - top), text, fill="#ffffff", font=font, stroke_width=1, stroke_fill="#000000"
        )
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()
