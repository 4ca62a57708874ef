"""The project's assistance stage (manual -> clustering -> pre-labeling), with the reason and counts.

Pure logic over counts the store provides; the page shows ``StageStatus.reason`` and
``StageStatus.next_training_text`` as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Stage(StrEnum):
    MANUAL = "manual"
    CLUSTERING = "clustering"
    PRELABELING = "prelabeling"


@dataclass(frozen=True)
class StagePolicy:
    """When each stage starts; per project with these defaults (read from ``projects.settings`` by
    ``core.settings.ProjectSettings``: ``project.prefs.stage_policy(task)``)."""

    train_every: int = 10  # auto-train every N new labels
    min_labels_to_train: int = 10
    min_classes_to_train: int = 2
    featurised_share_for_clustering: float = 0.9
    auto_accept: bool = False  # a proposal never becomes a label without a person unless on
    auto_accept_target: float = 0.99  # stricter than the project's target


@dataclass(frozen=True)
class AssistCounts:
    """What the store knows about a project's assistance."""

    enabled: bool
    n_items: int
    n_featurised: int
    n_labeled: int  # items with a human (or accepted) label
    n_classes_labeled: int  # classes used by at least one label
    labels_at_last_training: int | None = None  # None: never trained
    training_running: bool = False
    threshold_found: bool = False  # the last calibration reached the target
    target_precision: float = 0.95
    precision_lower_bound: float | None = None  # of the last calibration, at its best threshold
    min_labels_for_target: int | None = None
    calibration_labels: int | None = None  # one-at-a-time labels the last calibration held out
    n_proposals_shown: int = 0
    grouping_pages: bool = False  # the last head groups grid pages by its guess (multi-class, decision 0003)
    pre_ticks: bool = False  # the last head's sure classes come pre-ticked (multi-label, decision 0004)
    pre_ticks_withheld: bool = False  # none: grid pages shaped the labels (decision 0004, 2nd amendment)
    calibration_source: str | None = None  # "audit" | "one-at-a-time" | "none": what the last one rested on
    audit_labels: int | None = None  # audit images labeled in their turn, at the last training
    audit_minimum: int | None = None  # audit labels, all right, that could first certify the target
    audit_most_sure: tuple[int, int] | None = None  # (n, right) of the audit answers the model is surest of
    shown_before: bool = False  # a training before the last one showed proposals (now withdrawn if none)


@dataclass(frozen=True)
class StageStatus:
    stage: Stage
    reason: str
    next_training_in: int | None  # labels until the next automatic training; None: not applicable
    should_train: bool
    counts: dict[str, int] = field(default_factory=dict)
    training_running: bool = False

    @property
    def next_training_text(self) -> str:
        if self.next_training_in is None:
            return ""
        if self.next_training_in == 0:
            if self.training_running:
                return "training now"
            return "training is due" if self.should_train else "training waits for labels of a second class"
        unit = "label" if self.next_training_in == 1 else "labels"
        return f"next training in {self.next_training_in} {unit}"


def next_training_in(c: AssistCounts, policy: StagePolicy) -> int:
    """Labels until the next automatic training (0 when it is due)."""
    first = max(policy.min_labels_to_train, 1)
    if c.labels_at_last_training is None:
        return max(0, first - c.n_labeled)
    due_at = max(c.labels_at_last_training + max(policy.train_every, 1), first)
    return max(0, due_at - c.n_labeled)


def project_stage(c: AssistCounts, policy: StagePolicy | None = None) -> StageStatus:
    """Where the project stands, why, and whether a training should start now."""
    p = policy or StagePolicy()
    counts = {
        "items": c.n_items,
        "featurised": c.n_featurised,
        "labeled": c.n_labeled,
        "unlabeled": max(0, c.n_items - c.n_labeled),
        "proposals_shown": c.n_proposals_shown,
    }
    if not c.enabled:
        return StageStatus(Stage.MANUAL, "ML assistance is off for this project.", None, False, counts)
    k = next_training_in(c, p)
    trainable = c.n_classes_labeled >= p.min_classes_to_train
    should_train = k == 0 and trainable and not c.training_running
    need = max(1, round(p.featurised_share_for_clustering * c.n_items))
    if c.n_items == 0 or c.n_featurised < need:
        reason = (
            f"Clustering starts when {p.featurised_share_for_clustering:.0%} of the images are featurised "
            f"({c.n_featurised:,} of {c.n_items:,} done)."
        )
        return StageStatus(Stage.MANUAL, reason, k, should_train, counts, c.training_running)
    if c.threshold_found:
        reason = (
            f"Pre-labeling: proposals reach {c.target_precision:.0%} precision on held-out labels "
            f"(lower bound {(c.precision_lower_bound or 0):.1%}); {c.n_proposals_shown:,} proposals shown."
        )
        return StageStatus(Stage.PRELABELING, reason, k, should_train, counts, c.training_running)
    pages = (
        "pages the model groups by the class it guesses (you give the class)"
        if c.grouping_pages
        else "pages of similar images"
    )
    ticks = " Meanwhile the classes the model is sure of come pre-ticked." if c.pre_ticks else ""
    if c.pre_ticks_withheld:
        ticks = (
            " No classes come pre-ticked: grid pages gave many of the labels, and they pick the easy "
            "look-alikes, so the fair sample cannot vouch for the images left."
        )
    again = (
        "Proposals from the model before are withdrawn; they come back when"
        if c.shown_before
        else "Pre-labels start when"
    )
    reason = f"Clustering: {pages}. {again} {_prelabel_condition(c, p)}{ticks}"
    return StageStatus(Stage.CLUSTERING, reason, k, should_train, counts, c.training_running)


def _prelabel_condition(c: AssistCounts, p: StagePolicy) -> str:
    target = f"{c.target_precision:.0%}"
    if c.n_classes_labeled < p.min_classes_to_train:
        return f"at least {p.min_classes_to_train} classes have labels (now {c.n_classes_labeled})."
    if c.labels_at_last_training is None:
        return (
            f"the first model, trained at {max(p.min_labels_to_train, 1)} labels, shows {target} precision."
        )
    need = c.min_labels_for_target
    bound = "" if c.precision_lower_bound is None else f" now {c.precision_lower_bound:.1%}"
    if c.calibration_source == "audit":
        so_far = f"{c.audit_labels or 0:,} audit labels so far"
        # nothing could be certified: no bound to give
        shown = f"(lower bound{bound}; {so_far})" if c.precision_lower_bound else f"({so_far})"
        text = (
            f"the audit shows, with confidence, that proposals on the images still unlabeled are right "
            f"{target} of the time {shown}."
        )
        if c.audit_most_sure is not None and c.audit_most_sure[1] < c.audit_most_sure[0]:
            n, right = c.audit_most_sure
            wrong = n - right
            text += (
                f" Of the {n} audit images the model is most sure of, {wrong} "
                f"{'was' if wrong == 1 else 'were'} labeled otherwise, so the audit cannot vouch for {target} "
                "yet: more audit labels, or a model that learns from them, are needed."
            )
        return text + (
            " A share of the labels goes to images drawn at random, in the queue and as the last tiles of grid "
            "pages: the model is tested on that fair sample, not on the images it chose."
        )
    singles = c.n_labeled if c.calibration_labels is None else c.calibration_labels
    more = ""
    if need and singles < need:
        more = f" (it needs at least {need} of them"
        more += ")" if c.calibration_labels is None else f"; the last model had {singles})"
    text = (
        f"held-out precision on labels given one image at a time (not grid pages) reaches {target} with "
        f"confidence (lower bound{bound}){more}, or the audit (images drawn at random for a share of the "
        f"labels) has {need or c.audit_minimum or 'enough'} of them labeled and shows it."
    )
    if more and need and c.calibration_labels is not None and c.n_labeled - singles >= need:
        text += " Labeling some images in One image mode lets the model test itself sooner."
    return text
