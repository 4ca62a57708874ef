"""Pure geometry in the oriented image pixel frame.

Conventions, named in the code: a box is ``xywh`` (COCO: top-left x, y, width, height, pixels)
or ``xyxy`` (corners); a polygon is a list of ``[x, y]`` image pixels. ``canvas_xy`` points are
on the drawing canvas, which shows the image scaled by one factor; ``canvas_to_image`` and
``image_to_canvas`` are the only conversions between the two.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Point = tuple[float, float]


def xywh_to_xyxy(xywh: Sequence[float]) -> list[float]:
    x, y, w, h = (float(v) for v in xywh)
    return [x, y, x + w, y + h]


def xyxy_to_xywh(xyxy: Sequence[float]) -> list[float]:
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    return [min(x1, x2), min(y1, y2), abs(x2 - x1), abs(y2 - y1)]


def xywh_to_cxcywh_norm(xywh: Sequence[float], width: int, height: int) -> list[float]:
    """Centre x, centre y, width, height, each divided by the image size (YOLO)."""
    x, y, w, h = (float(v) for v in xywh)
    return [(x + w / 2) / width, (y + h / 2) / height, w / width, h / height]


def cxcywh_norm_to_xywh(cxcywh: Sequence[float], width: int, height: int) -> list[float]:
    cx, cy, w, h = (float(v) for v in cxcywh)
    return [(cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height]


def clip_xywh(xywh: Sequence[float], width: int, height: int) -> list[float]:
    x1, y1, x2, y2 = xywh_to_xyxy(xywh)
    x1, x2 = max(0.0, min(x1, width)), max(0.0, min(x2, width))
    y1, y2 = max(0.0, min(y1, height)), max(0.0, min(y2, height))
    return [x1, y1, x2 - x1, y2 - y1]


def box_area(xywh: Sequence[float]) -> float:
    return max(0.0, float(xywh[2])) * max(0.0, float(xywh[3]))


def iou_xywh(a: Sequence[float], b: Sequence[float]) -> float:
    ax1, ay1, ax2, ay2 = xywh_to_xyxy(a)
    bx1, by1, bx2, by2 = xywh_to_xyxy(b)
    iw = max(0.0, min(ax2, bx2) - max(ax1, bx1))
    ih = max(0.0, min(ay2, by2) - max(ay1, by1))
    inter = iw * ih
    union = box_area(a) + box_area(b) - inter
    return inter / union if union > 0 else 0.0


def iou_matrix_xyxy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of two ``(N, 4)`` and ``(M, 4)`` xyxy arrays, as ``(N, M)``."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ix1 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy1 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix2 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def polygon_area(points: Sequence[Sequence[float]]) -> float:
    """Unsigned area by the shoelace formula."""
    if len(points) < 3:
        return 0.0
    pts = np.asarray(points, dtype=np.float64)
    x, y = pts[:, 0], pts[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


def polygon_bbox_xywh(points: Sequence[Sequence[float]]) -> list[float]:
    pts = np.asarray(points, dtype=np.float64)
    x1, y1 = pts.min(axis=0)
    x2, y2 = pts.max(axis=0)
    return [float(x1), float(y1), float(x2 - x1), float(y2 - y1)]


def canvas_to_image(points: Sequence[Sequence[float]], scale: float) -> list[list[float]]:
    """Canvas pixels to image pixels, where the canvas shows the image at ``scale`` (canvas/image)."""
    if scale <= 0:
        raise ValueError("scale must be positive")
    return [[float(x) / scale, float(y) / scale] for x, y in points]


def image_to_canvas(points: Sequence[Sequence[float]], scale: float) -> list[list[float]]:
    if scale <= 0:
        raise ValueError("scale must be positive")
    return [[float(x) * scale, float(y) * scale] for x, y in points]


def fit_scale(width: int, height: int, max_width: int, max_height: int | None = None) -> float:
    """The factor that fits an image inside ``max_width`` x ``max_height`` (never above 1 by much)."""
    s = max_width / width
    if max_height:
        s = min(s, max_height / height)
    return s


def rasterize_polygon(points: Sequence[Sequence[float]], width: int, height: int) -> np.ndarray:
    """A boolean ``(height, width)`` mask of the polygon."""
    from PIL import Image, ImageDraw

    img = Image.new("1", (width, height), 0)
    ImageDraw.Draw(img).polygon([(float(x), float(y)) for x, y in points], fill=1, outline=1)
    return np.asarray(img, dtype=bool)


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    inter = np.logical_and(a, b).sum()
    union = np.logical_or(a, b).sum()
    return float(inter / union) if union else 0.0
