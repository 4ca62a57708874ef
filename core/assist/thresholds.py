"""Thresholds with a guarantee: one-sided Clopper-Pearson bounds on a precision, and the fixed-sequence
test that picks the lowest confidence threshold whose bound reaches a target (``choose_threshold``).
``calibration`` applies them to held-out labels; ``audit`` and ``rest_bounds`` to the audit sample."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import betaincinv

from core.settings import DEFAULT_CONFIDENCE_LEVEL

DEFAULT_TARGET = 0.95
START_FRACTION = 0.1


def precision_lower_bound(
    correct: np.ndarray | int, shown: np.ndarray | int, confidence_level: float
) -> np.ndarray:
    """One-sided Clopper-Pearson lower bound on a proportion ``correct / shown``."""
    k = np.asarray(correct, dtype=np.float64)
    n = np.asarray(shown, dtype=np.float64)
    alpha = 1.0 - confidence_level
    with np.errstate(invalid="ignore", divide="ignore"):
        lb = betaincinv(np.maximum(k, 1e-12), n - k + 1.0, alpha)
    return np.where((k <= 0) | (n <= 0), 0.0, lb)


def min_shown_for(target: float, confidence_level: float) -> int:
    """Fewest held-out proposals, all correct, whose lower bound reaches ``target``."""
    n = int(np.ceil(np.log(1.0 - confidence_level) / np.log(target)))
    while precision_lower_bound(n, n, confidence_level) < target:
        n += 1
    return n


@dataclass(frozen=True)
class ThresholdChoice:
    """The chosen threshold on held-out predictions and what it gives there."""

    threshold: float  # inf: nothing may be proposed
    n_heldout: int
    n_shown: int
    n_correct: int
    lower_bound: float  # of the precision at the threshold

    @property
    def precision(self) -> float:
        return self.n_correct / self.n_shown if self.n_shown else float("nan")

    @property
    def coverage(self) -> float:
        return self.n_shown / self.n_heldout if self.n_heldout else 0.0

    @property
    def found(self) -> bool:
        return bool(np.isfinite(self.threshold))


def shown_share(rest_confidence: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """The share of the rest (its confidences) each threshold would show (ties with it shown)."""
    rest = np.sort(np.asarray(rest_confidence, dtype=np.float64))
    t = np.asarray(thresholds, dtype=np.float64)
    if len(rest) == 0:
        return np.zeros(t.shape)
    return (len(rest) - np.searchsorted(rest, t, side="left")) / len(rest)


def choose_threshold(
    confidence: np.ndarray,
    correct: np.ndarray,
    target: float = DEFAULT_TARGET,
    confidence_level: float = DEFAULT_CONFIDENCE_LEVEL,
    start_fraction: float = START_FRACTION,
    rest_confidence: np.ndarray | None = None,
    max_coverage: float = 1.0,
) -> ThresholdChoice:
    """The lowest threshold whose precision lower bound reaches ``target`` (fixed-sequence test).

    The sequence starts at the cut holding ``max(min_shown_for(...), start_fraction * n)``
    proposals (a choice made from counts only, so the test stays valid): starting lower would let
    a single early error among the most confident few stop the whole sequence. With
    ``rest_confidence`` (the unlabeled items'), the sequence ends where more than ``max_coverage`` of
    them would be shown (confidences only, so the test stays valid too).
    """
    conf = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct, dtype=bool)
    n = len(conf)
    none = ThresholdChoice(float("inf"), n, 0, 0, 0.0)
    if n == 0:
        return none
    order = np.argsort(-conf, kind="stable")
    c_sorted, ok_sorted = conf[order], ok[order]
    cum_ok = np.cumsum(ok_sorted)
    # a cut after position i is valid only where the next confidence is lower (ties stay together)
    last_of_tie = np.r_[c_sorted[1:] < c_sorted[:-1], True]
    cuts = np.flatnonzero(last_of_tie)
    shown = cuts + 1
    start = max(min_shown_for(target, confidence_level), int(np.ceil(start_fraction * n)))
    cuts = cuts[shown >= start]  # depends on counts only
    if rest_confidence is not None and len(rest_confidence) and max_coverage < 1.0:
        past = shown_share(rest_confidence, c_sorted[cuts]) > max_coverage  # False, then True
        cuts = cuts[: int(np.argmax(past))] if past.any() else cuts
    if len(cuts) == 0:
        return none
    lbs = precision_lower_bound(cum_ok[cuts], cuts + 1, confidence_level)
    failed = np.flatnonzero(lbs < target)
    passed = len(cuts) if len(failed) == 0 else int(failed[0])  # the first failure stops the sequence
    if passed == 0:
        return none
    i = int(cuts[passed - 1])
    return ThresholdChoice(float(c_sorted[i]), n, i + 1, int(cum_ok[i]), float(lbs[passed - 1]))


def precision_curve(
    confidence: np.ndarray,
    correct: np.ndarray,
    confidence_level: float = DEFAULT_CONFIDENCE_LEVEL,
    points: int = 20,
) -> list[dict[str, float]]:
    """Precision (estimate and lower bound) and coverage against threshold, for the dashboard."""
    conf = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct, dtype=bool)
    if len(conf) == 0:
        return []
    finite = conf[np.isfinite(conf)]  # a skipped audit item stands at +inf: wrong at every threshold
    if len(finite) == 0:
        return []
    out = []
    for t in np.unique(np.quantile(finite, np.linspace(0.0, 0.95, points))):
        sel = conf >= t
        k, m = int(ok[sel].sum()), int(sel.sum())
        if m == 0:
            continue
        lb = float(precision_lower_bound(k, m, confidence_level))
        out.append({"threshold": float(t), "precision": k / m, "lower_bound": lb, "coverage": m / len(conf)})
    return out


NO_CHOICE = ThresholdChoice(float("inf"), 0, 0, 0, 0.0)  # nothing certified: nothing may be proposed
