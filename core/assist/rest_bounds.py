"""Lower bounds on the precision of what would be shown on the **rest** (the unlabeled images), from the
audit sample.

The audit's complete prefix is a uniform draw of the project's images; the rest is not, because the
routes that labeled the others chose them: the grid takes the easy look-alikes (at equal confidence
the rest is harder than the audit), uncertainty sampling the hard ones. Two bounds:

* ``reweighted_choice``: the audit images weighted to the rest's confidence strata. It holds where,
  at equal confidence, the rest is no harder than the audit.
* ``pool_choice``: the **whole pool's** wrong proposals bounded with the prefix, the labeled images'
  own (known exactly, from heads that did not see them) taken away. It holds however the others were
  chosen, but needs more audit labels.

``stricter`` combines them: a proposal is shown only where both certify it. ``stratified_*`` are the
per-stratum estimates a stratified audit would use.
"""

from __future__ import annotations

import numpy as np
from scipy.special import betaincinv

from core.assist.thresholds import (
    START_FRACTION,
    ThresholdChoice,
    min_shown_for,
    precision_lower_bound,
    shown_share,
)
from core.settings import DEFAULT_CONFIDENCE_LEVEL


def stratified_precision(correct: np.ndarray, strata: np.ndarray, weights: dict[int, float]) -> float:
    """Precision of a population made of strata with ``weights`` (their sizes or shares), each stratum's
    precision estimated from its own sample (``correct``, ``strata`` per sampled item). A stratum with
    weight but no sample makes the estimate undefined (NaN)."""
    ok = np.asarray(correct, dtype=bool)
    st = np.asarray(strata)
    total = sum(w for w in weights.values() if w > 0)
    if total <= 0:
        return float("nan")
    est = 0.0
    for h, w in weights.items():
        if w <= 0:
            continue
        members = st == h
        if not members.any():
            return float("nan")
        est += w / total * float(ok[members].mean())
    return est


def stratified_lower_bound(
    correct: np.ndarray,
    strata: np.ndarray,
    weights: dict[int, float],
    confidence_level: float = DEFAULT_CONFIDENCE_LEVEL,
) -> float:
    """A one-sided lower bound on the stratified precision: each stratum's Clopper-Pearson bound at
    level ``1 - alpha / H`` (Bonferroni over the ``H`` strata with weight), combined with the weights.
    With probability at least ``confidence_level`` every stratum's true precision is above its bound,
    so the weighted sum is too. A stratum with weight and no sample bounds at 0."""
    ok = np.asarray(correct, dtype=bool)
    st = np.asarray(strata)
    live = {h: w for h, w in weights.items() if w > 0}
    total = sum(live.values())
    if total <= 0:
        return 0.0
    level = 1.0 - (1.0 - confidence_level) / len(live)
    lb = 0.0
    for h, w in live.items():
        members = st == h
        lb += w / total * float(precision_lower_bound(int(ok[members].sum()), int(members.sum()), level))
    return lb


def reweighted_choice(
    confidence: np.ndarray,
    correct: np.ndarray,
    rest_confidence: np.ndarray,
    target: float = 0.95,
    confidence_level: float = DEFAULT_CONFIDENCE_LEVEL,
    start_fraction: float = START_FRACTION,
    n_bins: int = 4,
    max_coverage: float = 1.0,
) -> ThresholdChoice:
    """The lowest threshold whose precision on the **rest** (the unlabeled items, their confidences
    ``rest_confidence``) has a lower bound at ``target``, from the audit's ``confidence``/``correct``.

    The audit is a uniform sample of all items, but the rest is not: the grid takes the confident items
    first (the rest is harder than the audit says), uncertainty sampling the unsure ones. So at each
    candidate threshold ``t`` the audit items at or above it are weighted to the rest's confidence
    distribution there (``n_bins`` strata of equal rest counts; an importance weight per stratum), and
    the bound is Clopper-Pearson on the weighted share right with Kish's effective sample size. A
    stratum of the rest with no audit item cannot be estimated.

    The sequence of thresholds is fixed from the confidences alone, before any answer is looked at: a
    threshold is in it only where the rest's strata all hold audit items and a perfect record on the
    weighted sample (Kish's effective size) could reach ``target``. The weights thin the sample, so the
    first such threshold can lie well below the first ``min_shown_for`` audit items; stopping at a
    threshold no answer could pass would end the test before it had evidence. Thresholds are then tested
    from the most confident down and the first failure stops (fixed-sequence testing, as
    ``calibration.choose_threshold``: valid because the sequence does not depend on the answers).
    ``max_coverage``: the sequence ends where more than that share of the rest would be shown (also fixed
    from the confidences alone)."""
    conf = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct, dtype=bool)
    rest = np.sort(np.asarray(rest_confidence, dtype=np.float64))
    n = len(conf)
    none = ThresholdChoice(float("inf"), n, 0, 0, 0.0)
    if n == 0 or len(rest) == 0:
        return none
    order = np.argsort(-conf, kind="stable")
    c_sorted, ok_sorted = conf[order], ok[order]
    last_of_tie = np.r_[c_sorted[1:] < c_sorted[:-1], True]
    cuts = np.flatnonzero(last_of_tie)
    start = max(min_shown_for(target, confidence_level), int(np.ceil(start_fraction * n)))
    best = none
    for i in cuts[cuts + 1 >= start]:
        t = float(c_sorted[i])
        if past_cap(rest, t, max_coverage):
            break
        w = _rest_weights(c_sorted[: i + 1], rest[rest >= t], n_bins)
        if w is None:
            continue  # no item of the rest shown, or a stratum of it without audit items: not in the sequence
        n_eff = float(w.sum() ** 2 / (w**2).sum())
        if precision_lower_bound(np.array(n_eff), np.array(n_eff), confidence_level) < target:
            continue  # even all right could not pass here: not in the sequence
        p_w = float((w * ok_sorted[: i + 1]).sum() / w.sum())
        lb = float(precision_lower_bound(np.array(p_w * n_eff), np.array(n_eff), confidence_level))
        if lb < target:
            break
        best = ThresholdChoice(t, n, int(i + 1), int(ok_sorted[: i + 1].sum()), lb)
    return best


def past_cap(rest_confidence: np.ndarray, threshold: float, max_coverage: float) -> bool:
    """Whether ``threshold`` would show more than ``max_coverage`` of the rest (its confidences): where both
    bounds' fixed sequences end. It reads confidences only, never an answer, so the tests stay valid."""
    return bool(shown_share(rest_confidence, np.array([threshold]))[0] > max_coverage)


def _rest_weights(audit_conf: np.ndarray, above: np.ndarray, n_bins: int) -> np.ndarray | None:
    """Importance weights of the audit items ``audit_conf`` (at or above a threshold) to the rest's items
    ``above`` it: ``n_bins`` strata of equal rest counts, each stratum's share of the rest spread over its
    audit items. None where the rest shows nothing or a stratum of it has no audit item."""
    if len(above) == 0:
        return None
    edges = np.quantile(above, np.linspace(0, 1, n_bins + 1)[1:-1]) if len(above) > n_bins else np.array([])
    a_bins = np.searchsorted(edges, audit_conf, side="right")
    r_bins = np.searchsorted(edges, above, side="right")
    r_share = np.bincount(r_bins, minlength=len(edges) + 1) / len(above)
    a_count = np.bincount(a_bins, minlength=len(edges) + 1)
    if np.any((r_share > 0) & (a_count == 0)):
        return None
    return np.where(a_count > 0, r_share / np.maximum(a_count, 1), 0.0)[a_bins]


POOL_CUTS = 20  # the pool bound's candidate thresholds: the rest's confidence at 5 %, 10 %, ... shown


def pool_choice(
    confidence: np.ndarray,
    correct: np.ndarray,
    in_prefix: np.ndarray,
    n_skipped: int,
    n_pool: int,
    rest_confidence: np.ndarray,
    n_rest: int | None = None,
    target: float = 0.95,
    confidence_level: float = DEFAULT_CONFIDENCE_LEVEL,
    max_coverage: float = 1.0,
) -> ThresholdChoice:
    """The lowest threshold whose precision on the **rest** has a lower bound at ``target``, bounding the
    wrong proposals of the whole pool with the audit and taking away those already known.

    ``confidence``/``correct``: every labeled item's out-of-fold proposal (a head that did not see it);
    ``in_prefix``: which of them are in the audit's complete prefix, a uniform sample of the ``n_pool``
    items (``n_skipped`` more prefix items were skipped: wrong at every threshold). At a threshold ``t``,
    with ``S`` the items at or above it:

    * the wrong proposals in the whole pool, ``W(pool & S)``, are at most ``n_pool`` times the
      Clopper-Pearson upper bound of the prefix's share of wrong proposals in ``S`` (at
      ``confidence_level``: the prefix is a uniform draw of the pool, whatever order anything was
      labeled in);
    * the labeled items' wrong proposals in ``S`` are known exactly; so the rest's are at most the
      difference, and the rest's precision in ``S`` is at least ``1 - that / (rest shown)``.

    Unlike weighting the audit to the rest (``reweighted_choice``) this holds however the labeled items
    were chosen: the grid taking the easy look-alikes, uncertainty sampling the hard ones. Where the
    labeled items alone show more wrong proposals than the bound allows the pool, the evidence conflicts
    and the threshold fails. ``rest_confidence`` may be a uniform sample of the rest (``n_rest`` its
    size). Thresholds: the rest's confidence at ``POOL_CUTS`` shares shown, from the most confident down,
    those a perfect prefix could not pass left out (a choice made before the prefix's answers are looked
    at), the first failure stops; none past ``max_coverage`` of the rest shown."""
    conf = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct, dtype=bool)
    pre = np.asarray(in_prefix, dtype=bool)
    rest = np.sort(np.asarray(rest_confidence, dtype=np.float64))[::-1]
    m = int(pre.sum()) + int(n_skipped)
    none = ThresholdChoice(float("inf"), m, 0, 0, 0.0)
    if m == 0 or len(rest) == 0 or n_pool <= 0:
        return none
    scale = (n_rest or len(rest)) / len(rest)
    cuts = sorted({int(np.ceil(f * len(rest))) - 1 for f in np.arange(1, POOL_CUTS + 1) / POOL_CUTS})
    alpha = 1.0 - confidence_level
    best = none
    for c in cuts:
        t = float(rest[c])
        if past_cap(rest, t, max_coverage):
            break
        shown = int(np.sum(rest >= t)) * scale  # ties stay together
        in_s = conf >= t
        known_other = float(np.sum(in_s & ~ok & ~pre))  # wrong, labeled, outside the prefix
        k = int(np.sum(in_s & ~ok & pre)) + int(n_skipped)  # the prefix's wrong ones (skipped count)
        if 1.0 - (n_pool * _upper(0, m, alpha) - known_other) / shown < target:
            continue  # even a perfect prefix could not pass here: not in the sequence
        bound = n_pool * _upper(k, m, alpha)
        known = known_other + k - int(n_skipped)  # every labeled wrong one in S
        lb = 1.0 - (bound - known) / shown
        if bound < known or lb < target:
            break
        n_in = int(np.sum(in_s & pre))
        best = ThresholdChoice(t, m, n_in, int(np.sum(in_s & pre & ok)), float(min(lb, 1.0)))
    return best


def _upper(k: int, m: int, alpha: float) -> float:
    """One-sided Clopper-Pearson upper bound on a share with ``k`` of ``m`` (level ``1 - alpha``)."""
    return 1.0 if k >= m else float(betaincinv(k + 1.0, float(m - k), 1.0 - alpha))


def stricter(a: ThresholdChoice, b: ThresholdChoice) -> ThresholdChoice:
    """The higher of two thresholds (none if either found none), with the lower of the two bounds: what
    is shown is what both certified."""
    if not (a.found and b.found):
        return a if not a.found else b
    high = a if a.threshold >= b.threshold else b
    return ThresholdChoice(
        high.threshold, high.n_heldout, high.n_shown, high.n_correct, min(a.lower_bound, b.lower_bound)
    )
