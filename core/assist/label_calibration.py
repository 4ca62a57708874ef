"""Which labels a training calibrates on, and how: the one rule the training job and the benchmarks call.

* **The audit**, once its in-turn prefix can certify anything (``audit.enough_audit``): the audit rows'
  cross-fitted probabilities weighted to the rest (``rest_bounds.reweighted_choice``). Where grid pages
  labeled more than ``POOL_BOUND_PAGE_SHARE`` of the labels (besides the audit's own tiles), the pool
  bound (``rest_bounds.pool_choice``) must certify too (``rest_bounds.stricter``): the grid takes the
  easy look-alikes, so at equal confidence the rest is harder than the audit, which the weighting cannot
  see. One image at a time the queue takes the hard images (the rest only gets easier, the weighted
  bound is conservative there), and the pool bound, whose error grows as the rest shrinks, would take
  most proposals away after the first trainings (through the product on the flowers: 70 proposals met
  in a whole run instead of about 400). The rule depends on where the labels came from, never on the
  answers.
* Before that, **one-at-a-time labels** (grid-page labels left out: the grid takes the easy look-alikes,
  a biased sample), cross-validated, once there are ``MIN_CALIBRATION_LABELS``.
* Else **none**: no threshold, nothing proposed.

Multi-label pre-ticks (claims pooled over classes, ``Calibration.sure``) are withheld where grid pages
shaped the labels as above: no bound on the claims covers the grid's drift (only the whole proposal has
the pool bound), and through the product on the flowers 38 of 55 (training, class) pairs of pre-ticks on
the grid's rest were under the target (decision 0004).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from core.assist import audit
from core.assist.calibration import (
    Calibration,
    calibrate_from_heldout,
    out_of_fold_proba,
    uncalibrated,
    with_choice,
    without_claims,
)
from core.assist.heads import HeadConfig, LabelSpace
from core.assist.thresholds import choose_threshold
from core.settings import DEFAULT_MAX_COVERAGE

MIN_CALIBRATION_LABELS = 10  # one-at-a-time labels needed before a threshold is looked for
POOL_BOUND_PAGE_SHARE = (
    0.05  # grid-page labels (audit tiles aside) above this share of all: ask the pool bound
)


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
    max_coverage: float = DEFAULT_MAX_COVERAGE,
) -> LabelCalibration:
    """The calibration of a training on the labeled rows ``x``/``y`` (encoded answers); ``max_coverage``:
    the most of the rest a threshold may show, on the audit or one image at a time (the project's
    ``assist_max_coverage``; 1: no cap)."""
    ev = evidence
    from_pages = ~np.asarray(ev.single, dtype=bool) & ~np.asarray(ev.in_turn, dtype=bool)
    grid_shaped = len(from_pages) > 0 and bool(from_pages.mean() > POOL_BOUND_PAGE_SHARE)
    lc = _calibrate(space, x, y, ev, grid_shaped, target, confidence_level, center, config, max_coverage)
    if grid_shaped and space.multilabel:
        y_rows = np.asarray(y)[lc.rows] if len(lc.proba) else space.encode([])
        return replace(lc, calibration=without_claims(lc.calibration, lc.proba, y_rows))
    return lc


def _calibrate(
    space: LabelSpace,
    x: np.ndarray,
    y: np.ndarray,
    ev: LabelEvidence,
    grid_shaped: bool,
    target: float,
    confidence_level: float,
    center: np.ndarray | None,
    config: HeadConfig | None,
    max_coverage: float,
) -> LabelCalibration:
    if audit.enough_audit(int(np.sum(ev.in_turn)) + ev.n_skipped, target, confidence_level):
        pool = audit.PoolEvidence(ev.in_prefix, ev.n_pool, ev.n_rest) if grid_shaped else None
        ac = audit.calibrate_on_audit(
            space, x, y, ev.in_turn, target, confidence_level, config=config, center=center,
            n_skipped=ev.n_skipped, rest_confidence=ev.rest_confidence, pool=pool, max_coverage=max_coverage,
        )  # fmt: skip
        return LabelCalibration(ac.calibration, "audit", ac.rows, ac.proba)
    rows = np.flatnonzero(np.asarray(ev.single, dtype=bool))
    if len(rows) >= MIN_CALIBRATION_LABELS:
        proba = out_of_fold_proba(space, x[rows], np.asarray(y)[rows], config=config, center=center)
        held = ~np.isnan(proba).any(axis=1)  # predicted by a head that did not see them
        y_held = np.asarray(y)[rows][held]
        cal = calibrate_from_heldout(space, proba[held], y_held, target, confidence_level)
        if max_coverage < 1.0 and cal.choice.found and len(ev.rest_confidence):
            capped = choose_threshold(
                cal.heldout_confidence, cal.heldout_correct, target, confidence_level,
                rest_confidence=ev.rest_confidence, max_coverage=max_coverage,
            )  # fmt: skip
            cal = with_choice(cal, capped, proba[held], y_held)
        return LabelCalibration(cal, "one-at-a-time", rows[held], proba[held])
    none = np.zeros((0, space.n_classes), dtype=np.float32)
    return LabelCalibration(uncalibrated(space, target, confidence_level), "none", rows, none)
