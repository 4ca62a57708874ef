"""The one calibration rule of a training (``label_calibration.calibrate_labels``), on synthetic heads."""

from __future__ import annotations

import numpy as np

from core.assist import audit
from core.assist.calibration import proposal_confidence
from core.assist.heads import LabelSpace, train_head
from core.assist.label_calibration import MIN_CALIBRATION_LABELS, LabelEvidence, calibrate_labels
from core.domain import TaskType

SPACE = LabelSpace(TaskType.MULTICLASS, (1, 2, 3))


def _data(n: int = 600, seed: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, 16))
    y = rng.integers(0, 3, n)
    return (centres[y] + rng.normal(size=(n, 16)) * 0.8).astype(np.float32), y


def _evidence(n: int, single: np.ndarray, in_turn: np.ndarray, rest_conf: np.ndarray) -> LabelEvidence:
    return LabelEvidence(
        single=single, in_turn=in_turn, in_prefix=in_turn, n_skipped=0, n_pool=3 * n,
        rest_confidence=rest_conf,
    )  # fmt: skip


def test_the_source_follows_the_labels_there_are() -> None:
    x, y = _data()
    rest_conf = train_head(SPACE, x, y).predict_proba(x).max(axis=1)
    none = np.zeros(len(y), bool)
    few = none.copy()
    few[: MIN_CALIBRATION_LABELS - 1] = True
    assert calibrate_labels(SPACE, x, y, _evidence(600, few, none, rest_conf), 0.9, 0.8).source == "none"
    single = np.ones(len(y), bool)
    got = calibrate_labels(SPACE, x, y, _evidence(600, single, none, rest_conf), 0.9, 0.8)
    assert got.source == "one-at-a-time" and len(got.rows) == len(got.proba) > 0
    in_turn = none.copy()
    in_turn[:150] = True
    got = calibrate_labels(SPACE, x, y, _evidence(600, single, in_turn, rest_conf), 0.9, 0.8)
    assert got.source == "audit" and set(got.rows.tolist()) <= set(range(150))


def test_grid_page_labels_bring_in_the_pool_bound() -> None:
    """(No coverage cap here.) One image at a time the weighted bound decides alone; once grid pages labeled more than a few
    percent of the images (audit tiles aside), the pool bound must agree too: the threshold rises."""
    x, y = _data()
    rest_conf = train_head(SPACE, x, y).predict_proba(x).max(axis=1)
    in_turn = np.zeros(len(y), bool)
    in_turn[:150] = True
    single = np.ones(len(y), bool)
    weighted = audit.calibrate_on_audit(SPACE, x, y, in_turn, 0.9, 0.8, rest_confidence=rest_conf).calibration
    alone = calibrate_labels(
        SPACE, x, y, _evidence(600, single, in_turn, rest_conf), 0.9, 0.8, max_coverage=1.0
    ).calibration
    assert alone.threshold == weighted.threshold
    few = single.copy()
    few[590:] = False  # 10 page labels of 600: under the share, still the weighted bound alone
    assert calibrate_labels(
        SPACE, x, y, _evidence(600, few, in_turn, rest_conf), 0.9, 0.8, max_coverage=1.0
    ).calibration.threshold == (weighted.threshold)
    pages = single.copy()
    pages[300:] = False  # half the other labels came from grid pages
    both = calibrate_labels(
        SPACE, x, y, _evidence(600, pages, in_turn, rest_conf), 0.9, 0.8, max_coverage=1.0
    ).calibration
    assert both.threshold > weighted.threshold  # here the pool bound is the stricter (0.70 against 0.67)
    assert both.metrics["threshold"] == both.threshold


def _multilabel_data(n: int = 600, seed: int = 5) -> tuple[LabelSpace, np.ndarray, np.ndarray]:
    """Three classes, each present or not from its own direction of the features (well separated)."""
    space = LabelSpace(TaskType.MULTILABEL, (1, 2, 3))
    rng = np.random.default_rng(seed)
    present = rng.random((n, 3)) < 0.4
    directions = rng.normal(size=(3, 16)) * 3.0
    x = (present.astype(np.float32) @ directions + rng.normal(size=(n, 16))).astype(np.float32)
    return space, x, space.encode([[c for c, p in zip((1, 2, 3), row, strict=True) if p] for row in present])


def test_grid_shaped_labels_withhold_the_pre_ticks() -> None:
    """Multi-label pre-ticks (pooled claims) have no bound for the grid's drift: once grid pages labeled
    more than a few percent of the images they are withheld, in the figures the model proposes from
    too; one image at a time they stay."""
    space, x, y = _multilabel_data()
    head = train_head(space, x, y)
    _, rest_conf = proposal_confidence(space, head.predict_proba(x))
    in_turn = np.zeros(len(y), bool)
    in_turn[:200] = True
    single = np.ones(len(y), bool)
    alone = calibrate_labels(space, x, y, _evidence(600, single, in_turn, rest_conf), 0.9, 0.8).calibration
    assert np.isfinite(alone.claim_cutoffs).any()  # one at a time: some class comes pre-ticked
    assert alone.sure(head.predict_proba(x)).any()
    pages = single.copy()
    pages[300:] = False
    grid = calibrate_labels(space, x, y, _evidence(600, pages, in_turn, rest_conf), 0.9, 0.8).calibration
    assert not np.isfinite(grid.claim_cutoffs).any()
    assert not grid.sure(head.predict_proba(x)).any()
    assert grid.metrics["claim_threshold"] is None
    assert grid.metrics["claim_thresholds"] == [None, None, None]
    assert grid.metrics["pre_ticks_withheld"] is True and "pre_ticks_withheld" not in alone.metrics


def test_the_audit_threshold_shows_at_most_the_coverage_asked() -> None:
    """``max_coverage`` reaches both bounds through the one rule: the threshold shows no more of the rest."""
    x, y = _data()
    rest_conf = train_head(SPACE, x, y).predict_proba(x).max(axis=1)
    in_turn = np.zeros(len(y), bool)
    in_turn[:150] = True
    single = np.ones(len(y), bool)
    pages = single.copy()
    pages[300:] = False
    for ev in (_evidence(600, single, in_turn, rest_conf), _evidence(600, pages, in_turn, rest_conf)):
        free = calibrate_labels(SPACE, x, y, ev, 0.9, 0.8, max_coverage=1.0).calibration
        capped = calibrate_labels(SPACE, x, y, ev, 0.9, 0.8, max_coverage=0.5).calibration
        assert free.choice.found and np.mean(rest_conf >= free.threshold) > 0.9  # the cap has work to do
        assert capped.choice.found and np.mean(rest_conf >= capped.threshold) <= 0.5


def test_the_one_at_a_time_threshold_shows_at_most_the_coverage_asked_too() -> None:
    """Before the audit can certify, the one-at-a-time calibration honours the cap as well: its fixed
    sequence ends where more of the rest would be shown; what it keeps passed the uncapped test too."""
    x, y = _data()
    rest_conf = train_head(SPACE, x, y).predict_proba(x).max(axis=1)
    none = np.zeros(len(y), bool)
    single = np.ones(len(y), bool)
    ev = _evidence(600, single, none, rest_conf)
    free = calibrate_labels(SPACE, x, y, ev, 0.9, 0.8, max_coverage=1.0)
    capped = calibrate_labels(SPACE, x, y, ev, 0.9, 0.8, max_coverage=0.5)
    assert free.source == capped.source == "one-at-a-time"
    assert free.calibration.choice.found and np.mean(rest_conf >= free.calibration.threshold) > 0.9
    cal = capped.calibration
    assert cal.choice.found and np.mean(rest_conf >= cal.threshold) <= 0.5
    assert cal.threshold >= free.calibration.threshold and cal.choice.lower_bound >= 0.9
    assert cal.metrics["threshold"] == cal.threshold  # the stored threshold is the capped one
    tiny = calibrate_labels(SPACE, x, y, ev, 0.9, 0.8, max_coverage=0.01).calibration
    assert not tiny.choice.found  # the cap falls above the sequence's first threshold: nothing shown
