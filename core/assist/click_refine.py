"""Corrective clicks on a mask: positive to add a missed part, negative to cut an extra one.

A ``ClickSession`` starts from a box (the refined box pipeline of ``MiniSam.segment``) or from a
first click, then each corrective click runs the decoder once more with every click so far, the box
corners, and (``chain``) the previous step's low-res logits as ``mask_input`` (``has_mask_input=1``),
as SAM, RITM and SimpleClick do in their interactive loops. ``undo`` drops the last click and gives
back the previous step's result as it was (no decoder call).

Which of the decoder's four candidate masks to keep once clicks exist is a ``Variant``: SAM's
single-mask output (index 0, what its ONNX export returns for three or more points), the candidate
with the highest predicted IoU, or the candidate that honours most clicks. ``DEFAULT_VARIANT`` is
the one chosen on coco128-seg with the simulated clicker of ``benchmarks/assist_segment_clicks.py``
(figures in ``docs/benchmarks.md``).

``next_click`` is that standard clicker: of the false-negative and false-positive regions, the
larger by area; the click at its pixel farthest from the region's border (``cv2.distanceTransform``),
positive on a miss, negative on an extra.

Coordinates are oriented image pixels (``image_xy``), masks boolean ``(H, W)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from core.assist.segmenter import (
    CROP_BELOW,
    CROP_CONTEXT,
    ImageEmbedding,
    ImageLike,
    MiniSam,
    SegmentResult,
    _innermost_point,
    clip_to_box,
    crop_rect,
    upscale_logits,
)


@dataclass(frozen=True)
class Click:
    x: float
    y: float
    positive: bool


@dataclass(frozen=True)
class Variant:
    """How a corrective click is decoded: ``chain`` feeds the previous low-res logits as
    ``mask_input``; ``choose`` picks the candidate (``single``: SAM's single-mask output,
    ``best_iou``: highest predicted IoU, ``consistent``: most clicks honoured, then predicted IoU);
    ``clip`` keeps the mask inside the box (grown to hold every positive click); ``crop_below``: a
    box whose longer side is under this fraction of the image's is refined, box and clicks, on the
    embedding of a window ``CROP_CONTEXT`` times its size around it (one more encoder pass, a finer
    grid for small objects); 0: the whole-image embedding, with small boxes' first mask still cut
    on a crop by the box pipeline. ``inner``: the box mask's innermost pixel, the positive click the
    box pipeline adds, stays in every later prompt."""

    name: str
    chain: bool = True
    choose: str = "single"
    clip: bool = True
    crop_below: float = 0.0
    inner: bool = False


VARIANTS = {
    v.name: v
    for v in (
        Variant("chain_single"),
        Variant("fresh_single", chain=False),
        Variant("chain_best_iou", choose="best_iou"),
        Variant("chain_consistent", choose="consistent"),
        Variant("fresh_consistent", chain=False, choose="consistent"),
        Variant("chain_single_noclip", clip=False),
        Variant("chain_single_crop", crop_below=1 / CROP_CONTEXT),
        Variant("chain_single_cropsmall", crop_below=CROP_BELOW),
        Variant("chain_single_cropsmall_inner", crop_below=CROP_BELOW, inner=True),
    )
}
DEFAULT_VARIANT = VARIANTS["chain_single_cropsmall_inner"]


def _prompt(clicks: Sequence[Click], box: Sequence[float] | None) -> tuple[list[list[float]], list[float]]:
    coords = [[c.x, c.y] for c in clicks]
    labels = [1.0 if c.positive else 0.0 for c in clicks]
    if box is not None:
        coords += [[float(box[0]), float(box[1])], [float(box[2]), float(box[3])]]
        labels += [2.0, 3.0]
    else:
        coords.append([0.0, 0.0])
        labels.append(-1.0)
    return coords, labels


def _honoured(mask: np.ndarray, clicks: Sequence[Click]) -> int:
    h, w = mask.shape
    n = 0
    for c in clicks:
        x, y = min(w - 1, max(0, int(c.x))), min(h - 1, max(0, int(c.y)))
        n += int(bool(mask[y, x]) == c.positive)
    return n


def grown_box(box: Sequence[float], clicks: Sequence[Click]) -> list[float]:
    """The box grown to hold every positive click (a click outside the box asks for more than it)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    for c in clicks:
        if c.positive:
            x1, y1, x2, y2 = min(x1, c.x), min(y1, c.y), max(x2, c.x), max(y2, c.y)
    return [x1, y1, x2, y2]


def decode_clicks(
    sam: MiniSam,
    emb: ImageEmbedding,
    clicks: Sequence[Click],
    box: Sequence[float] | None = None,
    previous: SegmentResult | None = None,
    variant: Variant = DEFAULT_VARIANT,
    hint: Click | None = None,
) -> SegmentResult:
    """The mask for the box and ``clicks`` (at least one), refining ``previous`` per ``variant``."""
    if not clicks:
        raise ValueError("a corrective step needs at least one click")
    coords, labels = _prompt([hint, *clicks] if hint is not None else clicks, box)
    mask_input = previous.low_res_logits if variant.chain and previous is not None else None
    logits, ious = sam.decode_candidates(emb, coords, labels, mask_input)
    if variant.choose == "best_iou":  # (the hint, when given, is not counted by "consistent")
        k = int(np.argmax(ious))
    elif variant.choose == "consistent":
        masks = [upscale_logits(lg, emb) > 0.0 for lg in logits]
        k = max(range(len(masks)), key=lambda i: (_honoured(masks[i], clicks), float(ious[i])))
    elif box is None and previous is None and len(clicks) == 1 and len(logits) > 1:
        k = 1 + int(np.argmax(ious[1:]))  # one click alone is ambiguous: SAM's best multimask answer
    else:
        k = 0
    mask = upscale_logits(logits[k], emb) > 0.0
    if variant.clip and box is not None:
        mask = clip_to_box(mask, grown_box(box, clicks))
    return SegmentResult(mask=mask, score=float(ious[k]), low_res_logits=logits[k][None, None].copy())


@dataclass
class ClickSession:
    """A box (or a first click) and then corrective clicks on one image, with undo per click."""

    sam: MiniSam
    emb: ImageEmbedding
    box: list[float] | None = None
    pixels: ImageLike | None = None
    variant: Variant = DEFAULT_VARIANT
    clicks: list[Click] = field(default_factory=list)
    steps: list[SegmentResult] = field(default_factory=list)
    # the crop the session is refined on (its embedding, left, top); None: the whole image
    frame: tuple[ImageEmbedding, int, int] | None = None
    _frames: list[tuple[ImageEmbedding, int, int] | None] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self._frames = [self.frame] * len(self.steps)
        if self.box is None:
            return
        x1, y1, x2, y2 = (float(v) for v in self.box)
        self.box = [min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)]
        side = max(self.box[2] - self.box[0], self.box[3] - self.box[1])
        if (
            self.frame is None
            and self.pixels is not None
            and side < self.variant.crop_below * max(self.emb.width, self.emb.height)
        ):
            rect = crop_rect(self.box, self.emb.width, self.emb.height)
            cemb = self.sam.crop_embedding(self.emb, rect, self.pixels)
            if cemb is not None:
                self.frame = (cemb, rect[0], rect[1])
        if self.steps:
            return
        if self.frame is None:
            self.steps.append(self.sam.segment(self.emb, box_xyxy=self.box, pixels=self.pixels))
        else:
            cemb, left, top = self.frame
            inner = self.sam._box_pipeline(cemb, _shift(self.box, left, top))
            self.steps.append(self._paste(inner))
        self._frames.append(self.frame)

    def _paste(self, inner: SegmentResult) -> SegmentResult:
        """A crop frame's result with its mask in the whole image (logits stay in the crop frame)."""
        assert self.frame is not None
        cemb, left, top = self.frame
        mask = np.zeros((self.emb.height, self.emb.width), dtype=bool)
        mask[top : top + cemb.height, left : left + cemb.width] = inner.mask
        return SegmentResult(mask=mask, score=inner.score, low_res_logits=inner.low_res_logits)

    @property
    def result(self) -> SegmentResult | None:
        """The current mask's result (``None`` before the first prompt)."""
        return self.steps[-1] if self.steps else None

    def add(self, x: float, y: float, positive: bool = True) -> SegmentResult:
        """One more click: the decoder runs again with every click, the box and the previous mask."""
        if not self.steps and not positive:
            raise ValueError("the first click must mark the object (a positive click) or draw a box first")
        click = Click(float(x), float(y), bool(positive))
        clicks = [*self.clicks, click]
        previous = self.result
        if self.frame is not None:
            cemb, left, top = self.frame
            if 0 <= click.x - left < cemb.width and 0 <= click.y - top < cemb.height:
                moved = [Click(c.x - left, c.y - top, c.positive) for c in clicks]
                box = None if self.box is None else _shift(self.box, left, top)
                hint = self._hint(left, top)
                res = self._paste(decode_clicks(self.sam, cemb, moved, box, previous, self.variant, hint))
                self._push(click, res)
                return res
            self.frame = None  # a click outside the crop: on the whole image from here, afresh
            previous = None
        res = decode_clicks(self.sam, self.emb, clicks, self.box, previous, self.variant, self._hint(0, 0))
        self._push(click, res)
        return res

    def _hint(self, left: int, top: int) -> Click | None:
        """The box mask's innermost pixel as a positive click (``Variant.inner``), in the frame."""
        if not self.variant.inner or self.box is None or not self.steps or not self.steps[0].mask.any():
            return None
        x, y = _innermost_point(self.steps[0].mask)
        return Click(x - left, y - top, True)

    def _push(self, click: Click, res: SegmentResult) -> None:
        self.clicks.append(click)
        self.steps.append(res)
        self._frames.append(self.frame)

    def undo(self) -> SegmentResult | None:
        """Drop the last click; the previous result comes back as it was (``None`` when none is left)."""
        if not self.clicks:
            return self.result
        self.clicks.pop()
        self.steps.pop()
        self._frames.pop()
        self.frame = self._frames[-1] if self._frames else None
        return self.result


def _shift(box: Sequence[float], left: int, top: int) -> list[float]:
    return [box[0] - left, box[1] - top, box[2] - left, box[3] - top]


def next_click(pred: np.ndarray, truth: np.ndarray) -> Click | None:
    """The simulated labeler's next click (``None`` when the mask is already exact)."""
    fn = np.logical_and(truth, ~pred)
    fp = np.logical_and(pred, ~truth)
    n_fn, n_fp = int(fn.sum()), int(fp.sum())
    if not n_fn and not n_fp:
        return None
    positive = n_fn >= n_fp
    region = fn if positive else fp
    # padded so the image's edge counts as the region's border too (as RITM's clicker does)
    dist = cv2.distanceTransform(np.pad(region, 1).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return Click(float(x), float(y), positive)
