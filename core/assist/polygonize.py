"""Masks to editable polygons and back, in oriented image pixels.

``mask_to_polygon`` traces the outer contour of the mask's largest part (OpenCV ``findContours``)
and simplifies it with ``approxPolyDP``: the tolerance starts at a small fraction of the perimeter
and grows until the polygon has at most ``max_vertices`` points, so a labeler gets a shape with a
few dozen handles rather than hundreds of pixel steps. ``polygon_to_mask`` is
``core.geometry.rasterize_polygon``.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from core.geometry import rasterize_polygon

Polygon = list[list[float]]

DEFAULT_MAX_VERTICES = 48
DEFAULT_EPSILON_FRACTION = 0.004  # of the contour's perimeter: about 1-2 px on a 100 px object


def _contours(mask: np.ndarray) -> list[np.ndarray]:
    m = np.ascontiguousarray(np.asarray(mask, dtype=bool).astype(np.uint8))
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    return [c for c in contours if len(c) >= 3]


def simplify_contour(
    contour: np.ndarray,
    *,
    max_vertices: int = DEFAULT_MAX_VERTICES,
    epsilon_fraction: float = DEFAULT_EPSILON_FRACTION,
) -> np.ndarray:
    """``approxPolyDP`` with a tolerance relative to the perimeter, raised until the cap is met."""
    if max_vertices < 3:
        raise ValueError("a polygon needs at least 3 vertices")
    contour = contour.reshape(-1, 1, 2).astype(np.int32)
    perimeter = cv2.arcLength(contour, closed=True)
    eps = max(0.5, epsilon_fraction * perimeter)
    approx = cv2.approxPolyDP(contour, eps, closed=True)
    while len(approx) > max_vertices:
        eps *= 1.3
        approx = cv2.approxPolyDP(contour, eps, closed=True)
    if len(approx) < 3:  # a sliver: keep its bounding corners rather than nothing
        x, y, w, h = cv2.boundingRect(contour)
        approx = np.array([[[x, y]], [[x + w, y]], [[x + w, y + h]], [[x, y + h]]], dtype=np.int32)
    return approx.reshape(-1, 2)


def mask_to_polygons(
    mask: np.ndarray,
    *,
    max_vertices: int = DEFAULT_MAX_VERTICES,
    epsilon_fraction: float = DEFAULT_EPSILON_FRACTION,
    min_area: float = 16.0,
    max_parts: int | None = None,
) -> list[Polygon]:
    """Every part of the mask larger than ``min_area`` px, largest first, as simplified polygons.

    Points are the boundary pixels' coordinates, so ``polygon_to_mask`` gives back about the same
    pixels.
    """
    contours = [c for c in _contours(mask) if cv2.contourArea(c) >= min_area or len(c) >= 8]
    contours.sort(key=lambda c: cv2.contourArea(c), reverse=True)
    if max_parts is not None:
        contours = contours[:max_parts]
    out: list[Polygon] = []
    for c in contours:
        pts = simplify_contour(c, max_vertices=max_vertices, epsilon_fraction=epsilon_fraction)
        out.append([[float(x), float(y)] for x, y in pts])
    return out


def mask_to_polygon(
    mask: np.ndarray,
    *,
    max_vertices: int = DEFAULT_MAX_VERTICES,
    epsilon_fraction: float = DEFAULT_EPSILON_FRACTION,
) -> Polygon | None:
    """The largest part of the mask as one polygon (``None`` for an empty mask)."""
    polys = mask_to_polygons(
        mask, max_vertices=max_vertices, epsilon_fraction=epsilon_fraction, min_area=0.0, max_parts=1
    )
    return polys[0] if polys else None


def polygon_to_mask(points: Sequence[Sequence[float]], width: int, height: int) -> np.ndarray:
    """A boolean ``(height, width)`` mask of the polygon."""
    return rasterize_polygon(points, width, height)
