import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core import geometry as g


@pytest.mark.parametrize(
    "xywh, xyxy",
    [([0, 0, 10, 5], [0, 0, 10, 5]), ([2.5, 3, 4, 6], [2.5, 3, 6.5, 9]), ([10, 10, 0, 0], [10, 10, 10, 10])],
)
def test_xywh_xyxy(xywh, xyxy):
    assert g.xywh_to_xyxy(xywh) == pytest.approx(xyxy)
    assert g.xyxy_to_xywh(xyxy) == pytest.approx(xywh)


def test_xyxy_to_xywh_orders_corners():
    assert g.xyxy_to_xywh([10, 8, 2, 3]) == [2, 3, 8, 5]


@pytest.mark.parametrize(
    "a, b, iou",
    [
        ([0, 0, 10, 10], [0, 0, 10, 10], 1.0),
        ([0, 0, 10, 10], [10, 10, 5, 5], 0.0),
        ([0, 0, 10, 10], [5, 0, 10, 10], 50 / 150),
        ([0, 0, 4, 4], [1, 1, 2, 2], 4 / 16),
    ],
)
def test_iou(a, b, iou):
    assert g.iou_xywh(a, b) == pytest.approx(iou)
    m = g.iou_matrix_xyxy(np.array([g.xywh_to_xyxy(a)]), np.array([g.xywh_to_xyxy(b)]))
    assert m[0, 0] == pytest.approx(iou)


@pytest.mark.parametrize(
    "points, area",
    [
        ([[0, 0], [4, 0], [4, 3]], 6.0),
        ([[0, 0], [2, 0], [2, 2], [0, 2]], 4.0),
        ([[0, 0], [1, 1], [2, 2]], 0.0),
    ],
)
def test_polygon_area(points, area):
    assert g.polygon_area(points) == pytest.approx(area)


def test_polygon_bbox():
    assert g.polygon_bbox_xywh([[3, 4], [10, 1], [5, 9]]) == [3, 1, 7, 8]


@given(
    w=st.integers(1, 4000),
    h=st.integers(1, 4000),
    fx=st.floats(0, 1),
    fy=st.floats(0, 1),
    fw=st.floats(0.001, 1),
    fh=st.floats(0.001, 1),
)
def test_yolo_roundtrip(w, h, fx, fy, fw, fh):
    xywh = [fx * w * (1 - fw), fy * h * (1 - fh), fw * w, fh * h]
    back = g.cxcywh_norm_to_xywh(g.xywh_to_cxcywh_norm(xywh, w, h), w, h)
    assert back == pytest.approx(xywh, abs=1e-6)


@given(scale=st.floats(0.05, 8), x=st.floats(0, 5000), y=st.floats(0, 5000))
def test_canvas_image_roundtrip(scale, x, y):
    canvas = g.image_to_canvas([[x, y]], scale)
    assert g.canvas_to_image(canvas, scale)[0] == pytest.approx([x, y], rel=1e-9, abs=1e-9)


def test_canvas_scale_must_be_positive():
    with pytest.raises(ValueError):
        g.canvas_to_image([[1, 2]], 0)


def test_rasterize_and_mask_iou():
    square = g.rasterize_polygon([[2, 2], [8, 2], [8, 8], [2, 8]], 10, 10)
    assert square.shape == (10, 10)
    assert 36 <= square.sum() <= 49
    assert g.mask_iou(square, square) == 1.0
    assert g.mask_iou(square, np.zeros_like(square)) == 0.0


def test_clip():
    assert g.clip_xywh([-5, -5, 20, 20], 10, 10) == [0, 0, 10, 10]
