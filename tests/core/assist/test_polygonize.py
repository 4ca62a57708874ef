"""Mask -> polygon -> mask keeps the shape with a bounded number of vertices."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from core.assist.polygonize import mask_to_polygon, mask_to_polygons, polygon_to_mask, simplify_contour
from core.config import shared_datasets
from core.geometry import mask_iou, polygon_area, rasterize_polygon


def _disc(h: int, w: int, cx: int, cy: int, r: int) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    cv2.circle(m, (cx, cy), r, 1, -1)
    return m.astype(bool)


@pytest.mark.parametrize(
    ("name", "mask", "min_iou"),
    [
        ("disc r=60", _disc(200, 300, 150, 100, 60), 0.97),
        ("disc r=8", _disc(40, 40, 20, 20, 8), 0.85),
        ("rectangle", np.pad(np.ones((50, 80), bool), ((10, 20), (30, 5))), 0.97),
        (
            "L shape",
            np.pad(np.ones((60, 60), bool), 10) & ~np.pad(np.ones((30, 30), bool), ((10, 40), (40, 10))),
            0.97,
        ),
    ],
)
def test_round_trip_keeps_the_shape(name: str, mask: np.ndarray, min_iou: float) -> None:
    poly = mask_to_polygon(mask)
    assert poly is not None, name
    assert 3 <= len(poly) <= 48
    h, w = mask.shape
    assert mask_iou(polygon_to_mask(poly, w, h), mask) >= min_iou


def test_rectangle_needs_four_vertices() -> None:
    mask = np.zeros((100, 100), bool)
    mask[10:60, 20:90] = True
    poly = mask_to_polygon(mask)
    assert poly is not None and len(poly) == 4


def test_vertex_cap_holds_on_a_ragged_mask() -> None:
    rng = np.random.default_rng(0)
    angles = np.linspace(0, 2 * np.pi, 400, endpoint=False)
    radii = 80 + 15 * np.sin(7 * angles) + rng.uniform(-2, 2, size=angles.size)  # bumpy, noisy edge
    pts = np.stack([200 + radii * np.cos(angles), 200 + radii * np.sin(angles)], axis=1)
    mask = rasterize_polygon(pts.tolist(), 400, 400)
    for cap in (12, 40, 60):
        poly = mask_to_polygon(mask, max_vertices=cap)
        assert poly is not None and 3 <= len(poly) <= cap
    assert mask_iou(polygon_to_mask(mask_to_polygon(mask, max_vertices=60) or [], 400, 400), mask) > 0.9


def test_largest_part_first_and_empty_mask() -> None:
    mask = _disc(200, 200, 50, 50, 10) | _disc(200, 200, 140, 140, 40)
    polys = mask_to_polygons(mask)
    assert len(polys) == 2
    assert polygon_area(polys[0]) > polygon_area(polys[1])
    largest = mask_to_polygon(mask)
    assert largest == polys[0]
    assert mask_to_polygon(np.zeros((10, 10), bool)) is None
    assert mask_to_polygons(np.zeros((10, 10), bool)) == []


def test_simplify_refuses_fewer_than_three_vertices() -> None:
    with pytest.raises(ValueError):
        simplify_contour(np.array([[0, 0], [5, 0], [5, 5]]), max_vertices=2)


def _coco_instances(limit: int) -> list[tuple[np.ndarray, int, int]]:
    root = shared_datasets() / "coco128-seg"
    labels = sorted((root / "labels" / "train2017").glob("*.txt"))
    if not labels:
        pytest.skip(f"coco128-seg not found under {root}")
    from PIL import Image

    out: list[tuple[np.ndarray, int, int]] = []
    for lp in labels:
        img = root / "images" / "train2017" / (lp.stem + ".jpg")
        w, h = Image.open(Path(img)).size
        for line in lp.read_text().splitlines():
            v = line.split()
            if len(v) >= 7:
                out.append((np.array(v[1:], float).reshape(-1, 2) * [w, h], w, h))
        if len(out) >= limit:
            break
    return out[:limit]


def test_real_coco_masks_round_trip() -> None:
    """Truth polygons rasterised, traced back: IoU stays high with <= 48 vertices."""
    ious, counts = [], []
    for pts, w, h in _coco_instances(60):
        mask = rasterize_polygon(pts.tolist(), w, h)
        if mask.sum() < 100:
            continue
        poly = mask_to_polygon(mask)
        assert poly is not None
        counts.append(len(poly))
        ious.append(mask_iou(polygon_to_mask(poly, w, h), mask))
    assert len(ious) >= 20
    assert np.mean(ious) >= 0.93 and min(ious) >= 0.6
    assert max(counts) <= 48
