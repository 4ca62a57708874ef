"""The box detector: typed detections, metrics as tables, and a tiny real training on raccoon photos.

The training runs once per module (``trained``) and its tests share it; torch runs on one thread here
(small convolutions: on a busy 2-core CPU one thread is several times faster than two, same result).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.assist_detect import load_voc
from core.assist.box_metrics import Detections, Truth, average_precision, calibrate_threshold, match
from core.assist.detector import (
    BoxDetector,
    DetectorConfig,
    FeatureCache,
    LabeledImage,
    TrainReport,
    train_detector,
)
from core.config import shared_datasets
from core.geometry import iou_matrix_xyxy

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _dets(rows: list[tuple[float, float, float, float, int, float]]) -> Detections:
    a = np.asarray(rows, np.float64).reshape(-1, 6)
    return Detections(a[:, :4].astype(np.float32), a[:, 4].astype(np.int64), a[:, 5].astype(np.float32))


TRUTH = Truth(np.array([[0, 0, 10, 10], [20, 20, 40, 40]], np.float32), np.array([1, 1]))


@pytest.mark.parametrize(
    ("rows", "iou", "expected"),
    [
        ([(0, 0, 10, 10, 1, 0.9)], 0.7, [True]),
        ([(0, 0, 10, 10, 2, 0.9)], 0.7, [False]),  # wrong class
        ([(0, 0, 10, 10, 1, 0.9), (0, 0, 10, 10, 1, 0.8)], 0.7, [True, False]),  # a box matches once
        ([(0, 0, 10, 10, 1, 0.5), (0, 0, 10, 10, 1, 0.8)], 0.7, [False, True]),  # the higher score wins
        ([(0, 0, 10, 8, 1, 0.9)], 0.7, [True]),  # IoU 0.8
        ([(0, 0, 10, 6, 1, 0.9)], 0.7, [False]),  # IoU 0.6
        ([(0, 0, 10, 6, 1, 0.9)], 0.5, [True]),
    ],
)
def test_match_table(
    rows: list[tuple[float, float, float, float, int, float]], iou: float, expected: list[bool]
) -> None:
    assert match(_dets(rows), TRUTH, iou).tolist() == expected


def test_average_precision_perfect_and_half() -> None:
    perfect = _dets([(0, 0, 10, 10, 1, 0.9), (20, 20, 40, 40, 1, 0.8)])
    assert average_precision([perfect], [TRUTH]) == pytest.approx(1.0)
    half = _dets([(0, 0, 10, 10, 1, 0.9), (60, 60, 70, 70, 1, 0.8)])
    assert average_precision([half], [TRUTH]) == pytest.approx(0.5)
    assert average_precision([Detections.empty()], [TRUTH]) == 0.0


def test_calibration_picks_the_lowest_threshold_that_reaches_the_target() -> None:
    # scores 0.9..0.4; right, right, right, wrong, right, wrong, wrong
    truths, dets = [], []
    right = [True, True, True, False, True, False, False]
    for k, ok in enumerate(right):
        truths.append(Truth(np.array([[0, 0, 10, 10]], np.float32), np.array([1])))
        box = (0, 0, 10, 10) if ok else (50, 50, 60, 60)
        dets.append(_dets([(*box, 1, 0.9 - 0.08 * k)]))
    cal = calibrate_threshold(dets, truths, iou=0.7, target=0.8, min_support=3)
    assert cal.reached and cal.n_proposals == 5 and cal.precision == pytest.approx(0.8)
    assert cal.threshold == pytest.approx(0.9 - 0.08 * 4)
    strict = calibrate_threshold(dets, truths, iou=0.7, target=1.0, min_support=3)
    assert strict.reached and strict.n_proposals == 3
    wrong = [k for k, ok in enumerate(right) if not ok]
    impossible = calibrate_threshold([dets[k] for k in wrong], [truths[k] for k in wrong], target=0.5)
    assert not impossible.reached and impossible.precision == 0.0
    nothing = calibrate_threshold([Detections.empty()], truths[:1])
    assert not nothing.reached and nothing.threshold == 1.0


def test_detections_payload_is_the_domain_shape() -> None:
    d = _dets([(10, 20, 40, 60, 3, 0.87654)])
    assert d.to_payload() == {"boxes": [{"class_id": 3, "xywh": [10.0, 20.0, 30.0, 40.0], "score": 0.8765}]}
    assert len(d.above(0.9)) == 0 and len(d.above(0.5)) == 1
    with pytest.raises(ValueError):
        Detections(np.zeros((2, 4)), np.zeros(1), np.zeros(2))


@pytest.fixture(scope="module")
def raccoons() -> list[tuple[Path, np.ndarray]]:
    folder = shared_datasets() / "raccoon"
    data = load_voc(folder)
    if len(data) < 10:
        pytest.skip(f"raccoon dataset not found under {folder}")
    return data[:10]


@pytest.fixture(scope="module")
def trained(raccoons: list[tuple[Path, np.ndarray]]) -> tuple[BoxDetector, TrainReport]:
    """10 photos, 256 px, 14 epochs (a second or two on one thread)."""
    cfg = DetectorConfig(input_size=256, epochs=14, batch_size=4, lr=3e-3)
    labeled = [LabeledImage(p, b, np.full(len(b), 7), key=p.name) for p, b in raccoons]
    return train_detector(labeled, [7], cfg)


def test_tiny_training_loss_falls(trained: tuple[BoxDetector, TrainReport]) -> None:
    _, report = trained
    assert report.n_images == 10 and report.epochs == 14 and len(report.losses) == 14
    assert report.n_boxes >= 10 and np.isfinite(report.losses).all()
    assert report.losses[-1] < 0.6 * report.losses[0]


def test_tiny_training_puts_the_top_box_on_the_raccoon(
    trained: tuple[BoxDetector, TrainReport], raccoons: list[tuple[Path, np.ndarray]]
) -> None:
    det, _ = trained
    hits = 0
    for p, boxes in raccoons:
        found = det.predict(p)
        assert set(found.class_id.tolist()) <= {7}
        assert (np.diff(found.score) <= 0).all()  # best first
        if len(found) and iou_matrix_xyxy(found.xyxy[:1], boxes).max() >= 0.5:
            hits += 1
    assert hits >= 7, f"the top box overlapped a raccoon on only {hits} of 10 training photos"


def test_saved_detector_loads_and_proposes_the_same_boxes(
    trained: tuple[BoxDetector, TrainReport], raccoons: list[tuple[Path, np.ndarray]], tmp_path: Path
) -> None:
    det, _ = trained
    path = det.save(tmp_path / "det.pt", {"calibration": {"threshold": 0.3}})
    again, extra = BoxDetector.load(path)
    assert extra == {"calibration": {"threshold": 0.3}} and again.class_ids == [7]
    assert again.model_name == det.model_name == "fcos-lite0@256"
    a, b = det.predict(raccoons[0][0]), again.predict(raccoons[0][0])
    assert np.allclose(a.xyxy, b.xyxy, atol=1e-3) and np.allclose(a.score, b.score, atol=1e-5)


def test_feature_cache_spares_reading_the_images_again(raccoons: list[tuple[Path, np.ndarray]]) -> None:
    """What ``fit_detector`` relies on between its two fits: cached trunk features, by key."""
    cfg = DetectorConfig(input_size=128, epochs=2, batch_size=2)
    labeled = [LabeledImage(p, b, np.full(len(b), 7), key=p.name) for p, b in raccoons[:3]]
    cache: FeatureCache = {}
    _, first = train_detector(labeled, [7], cfg, cache=cache)
    assert sorted(cache) == sorted((p.name, 128, flip) for p, _ in raccoons[:3] for flip in (False, True))
    gone = [LabeledImage(Path("/nonexistent") / i.key, i.xyxy, i.class_id, key=i.key) for i in labeled]
    _, again = train_detector(gone, [7], cfg, cache=cache)  # would raise if an image were read
    assert again.losses == pytest.approx(first.losses, rel=1e-5)
