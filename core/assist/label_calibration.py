"""Which labels a training calibrates on, and how: the one rule the training job and the benchmarks call.

* **The audit**, once its in-turn prefix can certify anything (``audit.enough_audit``): the audit rows'
  cross-fitted probabilities weighted to the rest (``rest_bounds.reweighted_choice``), and the pool bound
  (``rest_bounds.pool_choice``); a proposal is shown only where both certify it. The weighting cannot
  see what the grid does (at equal confidence it leaves the harder images); the pool bound holds
  whatever route labeled the others, but needs more audit labels. Asking both costs coverage one image
  at a time, where the weighted bound alone showed sets 0.1-0.4 points under the target on the flowers
  (``python -m benchmarks.assist_audit --product``).
* Before that, **one-at-a-time labels** (grid-page labels left out: the grid takes the easy look-alikes,
  a biased sample), cross-validated, once there are ``MIN_CALIBRATION_LABELS``.
* Else **none**: no threshold, nothing proposed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.assist import audit
from core.assist.calibration import Calibration, calibrate_from_heldout, out_of_fold_proba, uncalibrated
from core.assist.heads import HeadConfig, LabelSpace

MIN_CALIBRATION_LABELS = 10  # one-at-a-time labels needed before a threshold is looked for


@dataclass(frozen=True)
class LabelEvidence:
    """Per labeled row (the rows of ``x``/``y``), what calibration may rest on, and the rest."""

    single: np.ndarray  # labeled one image at a time (not from a grid page)
    in_turn: np.ndarray  # an audit item of the complete prefix labeled in its turn (``audit.drawn_in_turn``)
    in_prefix: np.ndarray  # an audit item of the complete prefix, labeled by any route
    n_skipped: int  # prefix items people skipped (counted wrong)
    n_pool: int  # the project's items: the population the audit is drawn from
    rest_confidence: np.ndarray  # the current head's proposal confidence on the rest (may be a sample)
    n_rest: int | None = None  # the rest's size where ``rest_confidence`` is a sample


@dataclass(frozen=True)
class LabelCalibration:
    calibration: Calibration
    source: str  # "audit" | "one-at-a-time" | "none"
    rows: np.ndarray  # the labeled rows the figures rest on ("none": the too few one-at-a-time rows)
    proba: np.ndarray  # their held-out probabilities, ``(len(rows), C)`` (``(0, C)`` for "none")


def calibrate_labels(
    space: LabelSpace,
    x: np.ndarray,
    y: np.ndarray,
    evidence: LabelEvidence,
    target: float,
    confidence_level: float,
    center: np.ndarray | None = None,
    config: HeadConfig | None = None,
) -> LabelCalibration:
    """The calibration of a training on the labeled rows ``x``/``y`` (encoded answers)."""
    ev = evidence
    if audit.enough_audit(int(np.sum(ev.in_turn)) + ev.n_skipped, target, confidence_level):
        pool = audit.PoolEvidence(ev.in_prefix, ev.n_pool, ev.n_rest)
        ac = audit.calibrate_on_audit(
            space, x, y, ev.in_turn, target, confidence_level, config=config, center=center,
            n_skipped=ev.n_skipped, rest_confidence=ev.rest_confidence, pool=pool,
        )  # fmt: skip
        return LabelCalibration(ac.calibration, "audit", ac.rows, ac.proba)
    rows = np.flatnonzero(np.asarray(ev.single, dtype=bool))
    if len(rows) >= MIN_CALIBRATION_LABELS:
        proba = out_of_fold_proba(space, x[rows], np.asarray(y)[rows], config=config, center=center)
        held = ~np.isnan(proba).any(axis=1)  # predicted by a head that did not see them
        cal = calibrate_from_heldout(space, proba[held], np.asarray(y)[rows][held], target, confidence_level)
        return LabelCalibration(cal, "one-at-a-time", rows[held], proba[held])
    none = np.zeros((0, space.n_classes), dtype=np.float32)
    return LabelCalibration(uncalibrated(space, target, confidence_level), "none", rows, none)
