"""Calibration: from held-out human labels, the confidence threshold that reaches a target precision.

With few labels there is no separate validation set, so every labeled item gets an out-of-fold
prediction (k-fold cross-validation of the head). A proposal is *correct* when it equals the human
answer (the class, or for multi-label the whole set of classes).

The threshold is chosen **conservatively**: at each candidate threshold the precision of the
proposals at or above it gets a one-sided Clopper-Pearson lower bound at ``confidence_level``, and
thresholds are tested from the most confident down (fixed-sequence testing: the first failure
stops), so the chosen threshold's true precision reaches the target with probability about
``confidence_level``, not only its estimate. Where no threshold passes, there is no threshold
(``inf``) and nothing is proposed. Nothing below the threshold is ever shown.

Multi-label: per class, a threshold on P(class) for "this class is present" claims; and for the
whole proposal (the set of classes with P >= 0.5), a threshold on its confidence, the minimum
over classes of the claim's probability (P or 1 - P).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from core.assist.heads import HeadConfig, LabelSpace, train_head
from core.assist.thresholds import (
    DEFAULT_TARGET,
    NO_CHOICE,
    START_FRACTION,
    ThresholdChoice,
    choose_threshold,
    min_shown_for,
    precision_curve,
)
from core.settings import DEFAULT_CONFIDENCE_LEVEL  # the project setting's default: one home

PAGE_PURITY = 0.25  # grouping pages: the held-out share right among items at or above the page threshold
PAGE_MIN_HELDOUT = 20  # held-out labels needed before the page threshold comes from them
DEFAULT_PAGE_CONFIDENCE = 0.9  # the page threshold before that (heads with few labels are overconfident)
GROUP_SIZE = 25  # held-out folds are made of neighbour groups of about this size


def page_threshold(
    confidence: np.ndarray,
    correct: np.ndarray,
    purity: float = PAGE_PURITY,
    min_heldout: int = PAGE_MIN_HELDOUT,
    default: float = DEFAULT_PAGE_CONFIDENCE,
) -> float:
    """The confidence from which items sharing a predicted class may be grouped on one page.

    Not a proposal threshold: a grouping page carries no class, the labeler gives it one and fixes
    the odd ones out in place (one click on the tile's own class), so a wrong grouping costs a click,
    never a wrong label. A page of 9 costs 2 actions (its class, Submit) plus 1 per odd one, against 9
    one at a time, so it pays while its largest class holds more than 2 of the 9: the threshold is
    the lowest confidence where the held-out share right (a point estimate over at least 5 items) is
    still ``purity`` (a quarter); with fewer than ``min_heldout`` held-out labels, ``default``, never
    lower than it.
    """
    conf = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct, dtype=bool)
    if len(conf) < min_heldout:
        return default
    order = np.argsort(-conf, kind="stable")
    share = np.cumsum(ok[order]) / np.arange(1, len(conf) + 1)
    good = np.flatnonzero((share >= purity) & (np.arange(1, len(conf) + 1) >= 5))
    if len(good) == 0:
        return max(default, float(conf.max()) + 1e-6)
    return float(conf[order][good[-1]])


# ---------------------------------------------------------------- cross-validation


def neighbour_groups(x: np.ndarray, group_size: int = 9, seed: int = 0, iters: int = 10) -> np.ndarray:
    """A group id per item: spherical k-means into clusters of about ``group_size`` items.

    Labels come in clumps of near neighbours (a clustering page is 4-9 look-alikes); holding out
    one item while training on its look-alikes would make held-out precision far too rosy. Folds
    are therefore made of whole groups.
    """
    n = len(x)
    k = max(1, min(n, int(np.ceil(n / max(group_size, 1)))))
    rng = np.random.default_rng(seed)
    u = np.asarray(x, dtype=np.float32)
    centers = u[rng.choice(n, size=k, replace=False)]
    assign = np.zeros(n, dtype=np.int64)
    for _ in range(iters):
        assign = (u @ centers.T).argmax(axis=1)
        for c in range(k):
            members = u[assign == c]
            if len(members):
                m = members.sum(axis=0)
                centers[c] = m / max(float(np.linalg.norm(m)), 1e-12)
    return assign


def folds_for(
    space: LabelSpace, y: np.ndarray, k: int, seed: int = 0, groups: np.ndarray | None = None
) -> np.ndarray:
    """A fold number per item; whole ``groups`` stay in one fold (largest first, to the fold holding
    fewest labels of its classes, then the smallest); without groups, stratified by class for
    multi-class."""
    n = len(y)
    rng = np.random.default_rng(seed)
    fold = np.empty(n, dtype=np.int64)
    if groups is not None:
        sizes = np.zeros(k, dtype=np.int64)
        # per fold, its labels of each class (multi-class; multi-label: the classes present): a group
        # goes to the fold that holds fewest of its classes, so a class's groups spread over the folds
        # and no fold holds out (nearly) all of a class
        onehot = np.asarray(y) >= 0.5 if space.multilabel else np.eye(space.n_classes, dtype=bool)[y]
        held = np.zeros((k, onehot.shape[1]), dtype=np.int64)
        ids, counts = np.unique(groups, return_counts=True)
        for g in ids[np.lexsort((rng.random(len(ids)), -counts))]:
            members = groups == g
            mine = onehot[members].sum(axis=0)
            f = int(np.lexsort((sizes, held @ mine))[0])  # fewest of its classes, then the smallest
            fold[members] = f
            sizes[f] += int(members.sum())
            held[f] += mine
        return fold
    if space.multilabel:
        fold[rng.permutation(n)] = np.arange(n) % k
        return fold
    offset = 0
    for c in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == c))
        fold[members] = (np.arange(len(members)) + offset) % k
        offset += len(members)
    return fold


def out_of_fold_proba(
    space: LabelSpace,
    x: np.ndarray,
    y: np.ndarray,
    folds: int = 5,
    config: HeadConfig | None = None,
    center: np.ndarray | None = None,
    seed: int = 0,
    group_size: int = GROUP_SIZE,
) -> np.ndarray:
    """Each labeled item's probabilities from a head that did not see it (nor its look-alikes,
    see ``neighbour_groups``; ``group_size=1`` for plain k-fold), ``(n, C)``; a row no fold could
    predict stays NaN (``calibrate`` leaves it out).

    The groups are at most ``n / (2 k)`` items, so every fold holds at least two: with larger groups a
    small label set made one or two groups, one fold held out (nearly) everything or a whole class's
    look-alikes, and the held-out figures fell far below what the labels support (an accuracy under
    chance, from rows that were never predicted and counted as class 0)."""
    n = len(x)
    k = max(2, min(folds, n))
    size = min(group_size, n // (2 * k))
    groups = neighbour_groups(x, size, seed) if size > 1 else None
    if groups is not None and len(np.unique(groups)) < k:
        groups = None  # too few distinct groups for k folds: plain stratified folds
    fold = folds_for(space, y, k, seed, groups)
    out = np.full((n, space.n_classes), np.nan, dtype=np.float32)
    for f in range(k):
        test = fold == f
        if not test.any() or test.all():
            continue
        head = train_head(space, x[~test], y[~test], config, center)
        out[test] = head.predict_proba(x[test])
    return out


# ---------------------------------------------------------------- proposals


@dataclass(frozen=True)
class Proposals:
    """What the head proposes for some items. ``classes`` is ``(n,)`` class ids (multi-class) or
    ``(n, C)`` bool presence in ``space`` column order (multi-label)."""

    space: LabelSpace
    classes: np.ndarray
    confidence: np.ndarray  # (n,) of the whole proposal
    shown: np.ndarray  # (n,) bool: passed the calibrated threshold
    sure: np.ndarray | None = (
        None  # multi-label: (n, C) classes pre-ticked where not shown (``Calibration.sure``)
    )

    def class_ids(self, i: int) -> list[int]:
        if self.space.multilabel:
            return self.space.decode(np.flatnonzero(self.classes[i]))
        return [int(self.classes[i])]

    def payload(self, i: int) -> dict[str, Any]:
        """The proposal as an annotation payload (see ``core.domain``)."""
        out: dict[str, Any] = (
            {"class_ids": self.class_ids(i)} if self.space.multilabel else {"class_id": int(self.classes[i])}
        )
        out["score"] = round(float(self.confidence[i]), 4)
        if self.sure is not None and self.sure[i].any():  # a partial proposal: these come pre-ticked
            out["sure_class_ids"] = self.space.decode(np.flatnonzero(self.sure[i]))
        return out


def propose_at(
    space: LabelSpace,
    proba: np.ndarray,
    threshold: float,
    class_thresholds: np.ndarray | None = None,
    claim_threshold: float | np.ndarray | None = None,
) -> Proposals:
    """The one proposal rule, from thresholds (a fresh ``Calibration``'s or a trained model's stored ones):
    ``shown`` at or above ``threshold``; multi-label: every class claimed present must also pass its own
    threshold (when there is one per class), and where a proposal is not shown the classes at or above
    ``claim_threshold`` (one for all classes, or one per class) come pre-ticked (``sure``). ``confidence``
    stays float64."""
    classes, conf = proposal_confidence(space, proba)
    shown = conf >= threshold
    p = np.asarray(proba, dtype=np.float64)
    if space.multilabel and class_thresholds is not None and len(class_thresholds) == space.n_classes:
        shown &= np.all(~classes | (p >= np.asarray(class_thresholds, dtype=np.float64)[None, :]), axis=1)
    sure = None
    if space.multilabel and claim_threshold is not None:
        cut = np.asarray(claim_threshold, dtype=np.float64).reshape(1, -1)
        if cut.shape[1] not in (1, p.shape[1]):  # thresholds of another label space: pre-tick nothing
            cut = np.full((1, 1), np.inf)
        sure = (p >= cut) & ~shown[:, None]
    return Proposals(space, classes, conf, shown, sure)


def proposal_confidence(space: LabelSpace, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(classes, confidence)`` of the natural proposal of each row of ``proba``.

    Multi-label: the least sure of its claims (present or absent); a proposal of **no class at all** has
    confidence 0, so it is never shown and ranks as the most uncertain. Its absent claims pass no
    per-class gate (those gate "present" claims), and such rows are where the head found nothing it knows:
    on the flowers (one class in every photo) every shown empty set was wrong, while the whole-set
    threshold, calibrated on audit rows that rarely are empty, let them through."""
    p = np.asarray(proba, dtype=np.float64)
    if space.multilabel:
        present = p >= 0.5
        claim = np.where(present, p, 1.0 - p)
        conf = claim.min(axis=1) if p.shape[1] else np.zeros(len(p))
        return present, np.where(present.any(axis=1), conf, 0.0)
    cols = p.argmax(axis=1)
    return np.array(space.class_ids, dtype=np.int64)[cols], p.max(axis=1)


def proposal_correct(space: LabelSpace, classes: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Whether each proposal equals the human answer (encoded targets)."""
    if space.multilabel:
        return np.all(classes == (np.asarray(y) >= 0.5), axis=1)
    return np.asarray(classes) == np.array(space.class_ids, dtype=np.int64)[np.asarray(y)]


@dataclass(frozen=True)
class Calibration:
    """Thresholds from held-out labels, and the evidence behind them."""

    space: LabelSpace
    target: float
    confidence_level: float
    choice: ThresholdChoice  # on the whole proposal's confidence
    class_choices: tuple[ThresholdChoice, ...]  # multi-label: per class "present" claims
    heldout_confidence: np.ndarray
    heldout_correct: np.ndarray
    metrics: dict[str, Any] = field(default_factory=dict)
    # multi-label: one threshold for "class present" claims pooled over every class (see ``sure``)
    claim_choice: ThresholdChoice = NO_CHOICE
    # multi-label: the pooled threshold checked class by class (``checked_claim_thresholds``)
    claim_thresholds: tuple[float, ...] = ()

    @property
    def threshold(self) -> float:
        return self.choice.threshold

    @property
    def page_threshold(self) -> float:
        """Confidence from which same-class grouping pages are made (see ``page_threshold``)."""
        return page_threshold(self.heldout_confidence, self.heldout_correct)

    @property
    def class_thresholds(self) -> np.ndarray:
        return np.array([c.threshold for c in self.class_choices], dtype=np.float64)

    @property
    def claim_threshold(self) -> float:
        return self.claim_choice.threshold

    def sure(self, proba: np.ndarray) -> np.ndarray:
        """Multi-label: ``(n, C)`` the classes the model may pre-tick as present.

        A partial proposal: where the whole set of classes is not sure enough to propose, the
        classes whose probability passes the pooled claim threshold are still right at the target
        precision (as claims, pooled over classes); the labeler completes the rest. Multi-class:
        all false.
        """
        p = np.atleast_2d(np.asarray(proba, dtype=np.float64))
        if not self.space.multilabel:
            return np.zeros(p.shape, dtype=bool)
        return p >= self.claim_cutoffs

    @property
    def claim_cutoffs(self) -> np.ndarray:
        """Multi-label: per class, the probability from which it is pre-ticked (inf: never)."""
        if len(self.claim_thresholds) == self.space.n_classes:
            return np.array(self.claim_thresholds, dtype=np.float64)
        return np.full(self.space.n_classes, self.claim_threshold, dtype=np.float64)

    def threshold_at(self, target: float) -> float:
        """The threshold for another (e.g. a stricter auto-accept) target, same rule."""
        return choose_threshold(
            self.heldout_confidence, self.heldout_correct, target, self.confidence_level
        ).threshold

    def propose(self, proba: np.ndarray) -> Proposals:
        """Proposals for rows of probabilities; ``shown`` only at or above the thresholds."""
        props = propose_at(self.space, proba, self.threshold, self.class_thresholds)
        return replace(props, confidence=props.confidence.astype(np.float32))


def calibrate(
    space: LabelSpace,
    x: np.ndarray,
    y: np.ndarray,
    target: float = DEFAULT_TARGET,
    confidence_level: float = DEFAULT_CONFIDENCE_LEVEL,
    folds: int = 5,
    config: HeadConfig | None = None,
    center: np.ndarray | None = None,
    group_size: int = GROUP_SIZE,
) -> Calibration:
    """Cross-validate the head on the labeled items (folds of neighbour groups) and choose the thresholds."""
    proba = out_of_fold_proba(space, x, y, folds, config, center, group_size=group_size)
    held = ~np.isnan(proba).any(axis=1)  # rows a head that did not see them predicted
    return calibrate_from_heldout(space, proba[held], np.asarray(y)[held], target, confidence_level)


def uncalibrated(
    space: LabelSpace, target: float = DEFAULT_TARGET, confidence_level: float = DEFAULT_CONFIDENCE_LEVEL
) -> Calibration:
    """No held-out evidence yet (too few one-at-a-time labels): no threshold, nothing proposed."""
    return calibrate_from_heldout(
        space, np.zeros((0, space.n_classes), np.float32), space.encode([]), target, confidence_level
    )


def calibrate_from_heldout(
    space: LabelSpace,
    proba: np.ndarray,
    y: np.ndarray,
    target: float = DEFAULT_TARGET,
    confidence_level: float = DEFAULT_CONFIDENCE_LEVEL,
) -> Calibration:
    """Thresholds and metrics from held-out probabilities ``(n, C)`` and encoded answers ``y``."""
    if len(proba) != len(y):
        raise ValueError(f"{len(proba)} held-out predictions for {len(y)} answers")
    classes, conf = proposal_confidence(space, proba)
    correct = proposal_correct(space, classes, y)
    choice = choose_threshold(conf, correct, target, confidence_level)
    class_choices: tuple[ThresholdChoice, ...] = ()
    if space.multilabel:
        truth = np.asarray(y) >= 0.5
        class_choices = tuple(
            choose_threshold(proba[:, j], truth[:, j], target, confidence_level)
            for j in range(space.n_classes)
        )
    claim = Calibration.claim_choice
    if space.multilabel and len(proba):
        # claims pooled over classes; the sequence starts at about START_FRACTION of the positives
        rate = float(truth.mean())
        claim = choose_threshold(
            np.asarray(proba).ravel(), truth.ravel(), target, confidence_level, START_FRACTION * rate
        )
    checked: tuple[float, ...] = ()
    if space.multilabel and len(proba):
        checked = tuple(checked_claim_thresholds(proba, truth, claim, class_choices, target))
    cal = Calibration(
        space, target, confidence_level, choice, class_choices, conf, correct, {}, claim, checked
    )
    metrics = _metrics(cal, proba, y)
    return replace(cal, metrics=metrics)


def with_choice(
    cal: Calibration,
    choice: ThresholdChoice,
    proba: np.ndarray,
    y: np.ndarray,
    heldout_confidence: np.ndarray | None = None,
    heldout_correct: np.ndarray | None = None,
) -> Calibration:
    """``cal`` with another whole-proposal threshold (e.g. the audit's, weighted to the rest), its metrics
    recomputed: a trained model's proposals follow its stored metrics (``threshold``), so they must say
    the threshold that was chosen, never the one it replaced."""
    out = replace(
        cal,
        choice=choice,
        heldout_confidence=cal.heldout_confidence if heldout_confidence is None else heldout_confidence,
        heldout_correct=cal.heldout_correct if heldout_correct is None else heldout_correct,
    )
    return replace(out, metrics=_metrics(out, proba, y))


def without_claims(cal: Calibration, proba: np.ndarray, y: np.ndarray) -> Calibration:
    """``cal`` with no multi-label pre-ticks (every claim cutoff inf), its metrics recomputed on the
    held-out ``proba``/``y`` it rests on: for labels whose rest no bound on the claims covers (grid pages
    took the easy look-alikes, ``label_calibration``). Multi-class: ``cal`` unchanged."""
    if not cal.space.multilabel:
        return cal
    out = replace(cal, claim_choice=NO_CHOICE, claim_thresholds=(float("inf"),) * cal.space.n_classes)
    return replace(out, metrics={**_metrics(out, proba, y), "pre_ticks_withheld": True})


def checked_claim_thresholds(
    proba: np.ndarray,
    truth: np.ndarray,
    pooled: ThresholdChoice,
    class_choices: tuple[ThresholdChoice, ...],
    target: float,
) -> np.ndarray:
    """Multi-label pre-ticks, the pooled claim threshold checked class by class.

    Pooling lets classes share evidence, but a class whose own claims are worse can hide among good
    ones. For each class, the held-out claims at or above the pooled threshold are looked at: where
    fewer of them are right than the target (as observed, not a bound: a class's claims are few), the
    class keeps only its own threshold (its "present" claims alone, ``class_choices``; inf where they
    certify nothing). A class with no held-out claim there keeps the pooled threshold."""
    p = np.asarray(proba, dtype=np.float64)
    t = np.asarray(truth, dtype=bool)
    out = np.full(p.shape[1], pooled.threshold, dtype=np.float64)
    if not pooled.found:
        return out
    claimed = p >= pooled.threshold
    n = claimed.sum(axis=0)
    k = (claimed & t).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        worse = (n > 0) & (k / np.maximum(n, 1) < target)
    for j in np.flatnonzero(worse):
        out[j] = max(pooled.threshold, class_choices[j].threshold)
    return out


def _metrics(cal: Calibration, proba: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Held-out figures for the run record: per-class precision/recall at the threshold, coverage."""
    space = cal.space
    props = cal.propose(proba)
    per_class: dict[str, dict[str, float | int | None]] = {}
    for j, cid in enumerate(space.class_ids):
        if space.multilabel:
            truth = np.asarray(y)[:, j] >= 0.5
            claimed = props.shown & props.classes[:, j]
        else:
            truth = np.asarray(y) == j
            claimed = props.shown & (props.classes == cid)
        tp = int((claimed & truth).sum())
        per_class[str(cid)] = {
            "n_true": int(truth.sum()),
            "n_proposed": int(claimed.sum()),
            "precision": tp / int(claimed.sum()) if claimed.any() else None,
            "recall": tp / int(truth.sum()) if truth.any() else None,
        }
        if space.multilabel:
            per_class[str(cid)]["threshold"] = _finite(cal.class_choices[j].threshold)
    ok = cal.heldout_correct
    return {
        "n_labels": len(ok),
        "heldout_labels": len(ok),  # the labels the held-out figures are measured on
        "heldout_accuracy": float(ok.mean()) if len(ok) else None,
        "target_precision": cal.target,
        "confidence_level": cal.confidence_level,
        "threshold": _finite(cal.threshold),
        "heldout_precision": _finite(cal.choice.precision),
        "precision_lower_bound": cal.choice.lower_bound,
        "heldout_coverage": float(props.shown.mean()) if len(ok) else 0.0,
        "min_labels_for_target": min_shown_for(cal.target, cal.confidence_level),
        "page_threshold": cal.page_threshold,
        "claim_threshold": _finite(cal.claim_threshold) if space.multilabel else None,
        "claim_lower_bound": cal.claim_choice.lower_bound if space.multilabel else None,
        "claim_thresholds": [_finite(t) for t in cal.claim_cutoffs] if space.multilabel else None,
        "per_class": per_class,
        "curve": precision_curve(cal.heldout_confidence, ok, cal.confidence_level),
    }


def _finite(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None
