"""Calibration: conservative thresholds whose true precision reaches the target."""

from __future__ import annotations

import numpy as np
import pytest

from core.assist.backbone import Backbone
from core.assist.calibration import calibrate, calibrate_from_heldout
from core.assist.embeddings import normalize
from core.assist.heads import LabelSpace, train_head
from core.assist.thresholds import choose_threshold, min_shown_for, precision_lower_bound
from core.config import default_paths, shared_datasets
from core.domain import TaskType

FLOWERS = shared_datasets() / "flowers"
CLASSES = ["daisy", "dandelion", "rose", "sunflower", "tulip"]


def _true_precision_above(t: float) -> float:
    """Scores s ~ U(0, 1), P(correct | s) = s ** 0.25: the exact precision of all s >= t."""
    return 1.0 if t >= 1 else (1 - t**1.25) / (1.25 * (1 - t))


@pytest.mark.parametrize(
    ("correct", "shown", "level", "low", "high"),
    [
        (45, 45, 0.9, 0.95, 0.951),  # 0.1 ** (1/45) = 0.9501
        (0, 10, 0.9, 0.0, 0.0),
        (50, 100, 0.8, 0.45, 0.5),
        (95, 100, 0.95, 0.89, 0.90),
    ],
)
def test_clopper_pearson_lower_bound(correct: int, shown: int, level: float, low: float, high: float) -> None:
    lb = float(precision_lower_bound(correct, shown, level))
    assert low <= lb <= high


def test_min_shown_is_the_smallest_count_that_can_pass() -> None:
    n = min_shown_for(0.95, 0.8)
    assert precision_lower_bound(n, n, 0.8) >= 0.95 > precision_lower_bound(n - 1, n - 1, 0.8)


@pytest.mark.parametrize("level", [0.8, 0.9])
def test_threshold_is_honest_where_true_precision_is_known(level: float) -> None:
    """Over many draws, the chosen threshold's TRUE precision misses the target at most ~(1 - level)
    of the time, while the naive rule (point estimate >= target) misses far more often."""
    rng = np.random.default_rng(1)
    n, reps, target = 300, 300, 0.95
    misses = naive_misses = found = 0
    for _ in range(reps):
        s = rng.random(n)
        ok = rng.random(n) < s**0.25
        choice = choose_threshold(s, ok, target, level)
        if choice.found:
            found += 1
            assert (s >= choice.threshold).sum() == choice.n_shown
            misses += _true_precision_above(choice.threshold) < target
        order = np.argsort(-s)
        running = np.cumsum(ok[order]) / np.arange(1, n + 1)
        passing = np.flatnonzero(running >= target)
        naive_misses += bool(len(passing)) and _true_precision_above(s[order][passing.max()]) < target
    assert found > reps / 3  # it does propose something often
    assert misses / reps <= (1 - level) + 0.04, misses / reps
    assert naive_misses / reps > 0.3, naive_misses / reps


def test_no_threshold_when_the_model_is_guessing() -> None:
    rng = np.random.default_rng(2)
    s = rng.random(400)
    ok = rng.random(400) < 0.5
    choice = choose_threshold(s, ok)
    assert not choice.found and choice.n_shown == 0 and choice.coverage == 0.0


def test_ties_are_never_split() -> None:
    s = np.array([0.9] * 40 + [0.8] * 40)
    ok = np.array([True] * 40 + [True] * 39 + [False])
    choice = choose_threshold(s, ok, 0.9, 0.8)
    assert choice.n_shown in (40, 80)


@pytest.fixture(scope="module")
def calib_flowers() -> tuple[np.ndarray, np.ndarray]:
    if not FLOWERS.is_dir():
        pytest.skip(f"shared flowers dataset absent at {FLOWERS}")
    paths, labels = [], []
    for k, name in enumerate(CLASSES):
        files = sorted((FLOWERS / name).glob("*.jpg"))[1::4][:50]
        paths += files
        labels += [k] * len(files)
    bb = Backbone.load(cache_dir=default_paths().models)
    return normalize(bb.embed_paths(paths)), np.array(labels)


def test_flowers_calibration_holds_on_unseen_photos(calib_flowers: tuple[np.ndarray, np.ndarray]) -> None:
    """Calibrate on 150 labeled photos (cross-validation), check precision on 100 others."""
    x, y = calib_flowers
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    lab, unseen = order[:150], order[150:]
    space = LabelSpace(TaskType.MULTICLASS, (1, 2, 3, 4, 5))
    cal = calibrate(space, x[lab], y[lab], target=0.9, confidence_level=0.8)
    assert cal.choice.found and cal.choice.lower_bound >= 0.9
    m = cal.metrics
    assert m["n_labels"] == 150 and m["threshold"] == pytest.approx(cal.threshold)
    assert set(m["per_class"]) == {"1", "2", "3", "4", "5"}
    head = train_head(space, x[lab], y[lab])
    props = cal.propose(head.predict_proba(x[unseen]))
    assert props.shown.any()
    assert (props.confidence[props.shown] >= cal.threshold).all()  # nothing below the threshold
    truth = np.array(space.class_ids)[y[unseen]]
    precision = float((props.classes[props.shown] == truth[props.shown]).mean())
    assert precision >= 0.9, precision
    assert props.payload(int(np.flatnonzero(props.shown)[0]))["class_id"] in space.class_ids
    stricter = cal.threshold_at(0.99)
    assert stricter >= cal.threshold


def test_multilabel_proposals_need_every_claimed_class_to_pass() -> None:
    space = LabelSpace(TaskType.MULTILABEL, (7, 8))
    rng = np.random.default_rng(3)
    n = 400
    truth = rng.random((n, 2)) < 0.4
    # class 7 is predicted well, class 8 by a coin
    p7 = np.clip(np.where(truth[:, 0], 0.97, 0.03) + rng.normal(0, 0.01, n), 0, 1)
    p8 = rng.random(n)
    proba = np.stack([p7, p8], axis=1)
    cal = calibrate_from_heldout(space, proba, truth.astype(np.float32), 0.95, 0.8)
    assert cal.class_choices[0].found and not cal.class_choices[1].found
    props = cal.propose(proba)
    assert not props.shown[props.classes[:, 1]].any()  # a claim of class 8 is never shown
    assert cal.metrics["per_class"]["8"]["threshold"] is None
    exact = np.all(props.classes == truth, axis=1)
    if props.shown.any():
        assert exact[props.shown].mean() >= 0.9


def test_an_empty_multilabel_set_is_never_a_shown_proposal() -> None:
    """Every photo holds one class; the head is sure where it knows the class, and on a tenth of the rest
    it finds nothing (every class far below 0.5). Before, such rows had a high whole-set confidence (each
    "absent" claim sure) and were shown: all wrong. Now an empty set has confidence 0."""
    from core.assist.calibration import proposal_confidence, propose_at

    space = LabelSpace(TaskType.MULTILABEL, (1, 2, 3))
    rng = np.random.default_rng(5)
    n = 600
    cls = rng.integers(0, 3, n)
    truth = np.eye(3, dtype=bool)[cls]
    proba = np.where(truth, rng.uniform(0.97, 1.0, (n, 3)), rng.uniform(0.0, 0.02, (n, 3)))
    lost = rng.random(n) < 0.1
    proba[lost] = rng.uniform(0.0, 0.02, (int(lost.sum()), 3))  # found nothing: the empty set
    classes, conf = proposal_confidence(space, proba)
    assert np.all(conf[lost] == 0.0) and np.all(conf[~lost] > 0.9)
    cal = calibrate_from_heldout(space, proba, truth.astype(np.float32), 0.95, 0.8)
    props = cal.propose(proba)
    assert props.shown.any() and not props.shown[lost].any()
    assert np.all(props.classes[props.shown] == truth[props.shown])  # every shown set is right
    assert not propose_at(space, proba, 0.5).shown[lost].any()  # whatever the stored threshold


def test_page_threshold_is_the_lowest_confidence_with_the_purity():
    from core.assist.calibration import DEFAULT_PAGE_CONFIDENCE, page_threshold

    conf = np.linspace(1.0, 0.01, 100)
    correct = np.r_[np.ones(40, bool), np.tile([True, False], 30)]  # 40 right, then half right
    t = page_threshold(conf, correct, purity=0.8)
    top = conf >= t
    assert correct[top].mean() >= 0.8  # the grouped items are right at least as often as asked
    assert correct[conf >= conf[conf < t].max()].mean() < 0.8  # one step lower would not be
    # too few held-out labels: the fixed default; none pure enough: nothing is grouped
    assert page_threshold(conf[:10], correct[:10]) == DEFAULT_PAGE_CONFIDENCE
    assert page_threshold(conf, np.zeros(100, bool)) > conf.max()


def test_multilabel_sure_claims_are_pooled_over_classes_and_honest():
    """Claims "class present" from all classes share one threshold; noise gives none."""
    rng = np.random.default_rng(3)
    space = LabelSpace(TaskType.MULTILABEL, (1, 2, 3))
    n = 120
    truth = rng.random((n, 3)) < 0.3
    # confident where present, unsure elsewhere; 2 % of absent classes get a high score too
    proba = np.where(truth, rng.uniform(0.85, 1.0, (n, 3)), rng.uniform(0.0, 0.6, (n, 3)))
    flip = rng.random((n, 3)) < 0.02
    proba = np.where(flip & ~truth, rng.uniform(0.85, 0.9, (n, 3)), proba)  # errors score lower
    cal = calibrate_from_heldout(space, proba.astype(np.float32), truth.astype(np.float32), target=0.9)
    assert np.isfinite(cal.claim_threshold) and cal.claim_choice.lower_bound >= 0.9
    sure = cal.sure(proba)
    assert truth[sure].mean() >= 0.9 and sure.any(axis=1).mean() > 0.3
    assert cal.metrics["claim_threshold"] == pytest.approx(cal.claim_threshold)
    noise = calibrate_from_heldout(space, rng.random((n, 3)).astype(np.float32), truth.astype(np.float32))
    assert not np.isfinite(noise.claim_threshold) and not noise.sure(proba).any()
    multiclass = calibrate_from_heldout(
        LabelSpace(TaskType.MULTICLASS, (1, 2, 3)), proba / proba.sum(1, keepdims=True), truth.argmax(1)
    )
    assert not multiclass.sure(proba).any() and multiclass.metrics["claim_threshold"] is None


def test_multilabel_pooled_claims_are_checked_class_by_class():
    """A class whose claims are evidently worse than the target does not hide among good ones: it keeps
    only its own threshold, while the good classes keep the pooled one."""
    rng = np.random.default_rng(5)
    space = LabelSpace(TaskType.MULTILABEL, (1, 2, 3))
    n = 400
    truth = rng.random((n, 3)) < 0.4
    proba = np.where(truth, rng.uniform(0.9, 1.0, (n, 3)), rng.uniform(0.0, 0.3, (n, 3)))
    # class 3 is claimed with the same high scores where it is absent, an eighth of the time
    bad = (rng.random(n) < 0.12) & ~truth[:, 2]
    proba[bad, 2] = rng.uniform(0.9, 1.0, bad.sum())
    cal = calibrate_from_heldout(space, proba.astype(np.float32), truth.astype(np.float32), target=0.9)
    pooled = cal.claim_threshold
    assert np.isfinite(pooled)
    at_pooled = proba[:, 2] >= pooled
    assert truth[at_pooled, 2].mean() < 0.9  # the pool let class 3's bad claims through
    cut = cal.claim_cutoffs
    assert cut[0] == cut[1] == pooled and cut[2] > pooled  # class 3 alone is held to its own threshold
    sure = cal.sure(proba)
    for j in range(3):
        if sure[:, j].any():
            assert truth[sure[:, j], j].mean() >= 0.9
    assert cal.metrics["claim_thresholds"][:2] == [pytest.approx(pooled)] * 2
    # a trained model's stored thresholds give the same pre-ticks
    from core.assist.trained import TrainedModel

    model = TrainedModel.from_metrics(1, {**cal.metrics, "head_path": "/h.npz", "class_thresholds": []})
    props = model.propose(space, proba)
    assert np.array_equal(props.sure, sure & ~props.shown[:, None])
    # an old run stored only the pooled threshold: it still pre-ticks at it
    old = TrainedModel.from_metrics(1, {"head_path": "/h.npz", "claim_threshold": pooled})
    assert np.array_equal(old.propose(space, proba).sure, proba >= pooled)
