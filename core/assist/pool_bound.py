"""The pool bound: the rest's precision from the audit, whatever route labeled the other items.

The audit's complete prefix is a uniform draw of the project's items. Weighting it to the rest's
confidences (``audit.reweighted_choice``) assumes that, at equal confidence, the rest is like the
audit; the grid breaks that (it takes the easy look-alikes, so the rest is harder than the audit at
every confidence). This bound does not assume it: it bounds the wrong proposals of the **whole pool**
with the prefix, takes away the labeled items' wrong proposals (known exactly, from heads that did not
see them), and divides what is left by the rest that would be shown. ``stricter`` combines it with the
weighted bound: a proposal is shown only where both agree.
"""

from __future__ import annotations

import numpy as np
from scipy.special import betaincinv

from core.assist.calibration import ThresholdChoice
from core.settings import DEFAULT_CONFIDENCE_LEVEL

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
    at), the first failure stops."""
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
