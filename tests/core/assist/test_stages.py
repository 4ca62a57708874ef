"""The stage, its reason and 'next training in k labels', as a table."""

from __future__ import annotations

from dataclasses import replace

import pytest

from core.assist.stages import AssistCounts, Stage, StagePolicy, next_training_in, project_stage
from core.settings import ProjectSettings

BASE = AssistCounts(enabled=True, n_items=1000, n_featurised=1000, n_labeled=0, n_classes_labeled=0)


def _with(**kw: object) -> AssistCounts:
    return AssistCounts(**{**BASE.__dict__, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("counts", "stage", "in_reason"),
    [
        (_with(enabled=False), Stage.MANUAL, "off"),
        (_with(n_featurised=400), Stage.MANUAL, "400 of 1,000"),
        (_with(n_items=0, n_featurised=0), Stage.MANUAL, "featurised"),
        (_with(n_labeled=3, n_classes_labeled=1), Stage.CLUSTERING, "at least 2 classes"),
        (_with(n_labeled=6, n_classes_labeled=3), Stage.CLUSTERING, "first model"),
        (
            _with(
                n_labeled=20,
                n_classes_labeled=3,
                labels_at_last_training=20,
                precision_lower_bound=0.81,
                min_labels_for_target=32,
            ),
            Stage.CLUSTERING,
            "needs at least 32",
        ),
        (
            _with(
                n_labeled=60,
                n_classes_labeled=5,
                labels_at_last_training=60,
                threshold_found=True,
                precision_lower_bound=0.953,
                n_proposals_shown=512,
            ),
            Stage.PRELABELING,
            "512 proposals",
        ),
    ],
)
def test_stage_and_reason(counts: AssistCounts, stage: Stage, in_reason: str) -> None:
    status = project_stage(counts)
    assert status.stage is stage
    assert in_reason in status.reason
    assert status.counts["unlabeled"] == counts.n_items - counts.n_labeled


@pytest.mark.parametrize(
    ("labeled", "last", "every", "expected"),
    [
        (0, None, 10, 10),  # first training at min_labels_to_train
        (7, None, 10, 3),
        (12, None, 10, 0),
        (25, 20, 10, 5),
        (31, 20, 10, 0),
        (25, 20, 50, 45),
    ],
)
def test_next_training_in(labeled: int, last: int | None, every: int, expected: int) -> None:
    counts = _with(n_labeled=labeled, n_classes_labeled=2, labels_at_last_training=last)
    assert next_training_in(counts, StagePolicy(train_every=every)) == expected


def test_should_train_and_texts() -> None:
    due = project_stage(_with(n_labeled=30, n_classes_labeled=2, labels_at_last_training=20))
    assert due.should_train and due.next_training_text == "training is due"
    running = project_stage(
        _with(n_labeled=30, n_classes_labeled=2, labels_at_last_training=20, training_running=True)
    )
    assert not running.should_train and running.next_training_text == "training now"
    one_class = project_stage(_with(n_labeled=30, n_classes_labeled=1))
    assert not one_class.should_train
    later = project_stage(_with(n_labeled=21, n_classes_labeled=2, labels_at_last_training=20))
    assert later.next_training_text == "next training in 9 labels"


def test_policy_from_settings_ignores_junk() -> None:
    p = ProjectSettings.parse(
        {"assist_train_every": "25", "assist_auto_accept": "false", "assist_min_labels_to_train": "x"}
    ).policy
    assert (
        p.train_every == 25
        and p.auto_accept is False
        and p.min_labels_to_train == StagePolicy().min_labels_to_train
    )
    assert ProjectSettings.parse({"assist_auto_accept": True}).policy.auto_accept is True


def test_the_clustering_reason_names_the_help_the_last_head_gives() -> None:
    trained = {"n_labeled": 30, "n_classes_labeled": 3, "labels_at_last_training": 30}
    plain = project_stage(_with(**trained), StagePolicy()).reason
    assert "pages of similar images" in plain and "pre-ticked" not in plain
    grouped = project_stage(_with(**trained, grouping_pages=True), StagePolicy()).reason
    assert "pages the model groups by the class it guesses" in grouped
    ticked = project_stage(_with(**trained, pre_ticks=True), StagePolicy()).reason
    assert "pages of similar images" in ticked and "sure of come pre-ticked" in ticked
    withheld = project_stage(_with(**trained, pre_ticks_withheld=True), StagePolicy()).reason
    assert "No classes come pre-ticked: grid pages gave many of the labels" in withheld


def test_a_grid_heavy_project_is_told_how_many_one_at_a_time_labels_it_has() -> None:
    """Page labels never calibrate: the reason counts the one-at-a-time labels and says what helps."""
    grid_heavy = _with(
        n_labeled=400,
        n_classes_labeled=5,
        labels_at_last_training=400,
        precision_lower_bound=0.6,
        min_labels_for_target=32,
        calibration_labels=12,
        grouping_pages=True,
    )
    reason = project_stage(grid_heavy, StagePolicy()).reason
    assert "it needs at least 32 of them; the last model had 12" in reason
    assert "One image mode" in reason
    enough = project_stage(replace(grid_heavy, calibration_labels=40), StagePolicy()).reason
    assert "needs at least" not in enough and "One image mode" not in enough


def test_a_project_calibrated_on_the_audit_is_told_so() -> None:
    """Once the audit calibrates, the reason speaks of the random sample, not of one-at-a-time labels."""
    audited = _with(
        n_labeled=200,
        n_classes_labeled=5,
        labels_at_last_training=200,
        precision_lower_bound=0.93,
        min_labels_for_target=32,
        calibration_labels=48,
        calibration_source="audit",
        audit_labels=48,
    )
    reason = project_stage(audited, StagePolicy()).reason
    assert "the audit shows" in reason and "48 audit labels" in reason and "now 93.0%" in reason
    assert "One image mode" not in reason and "one image at a time" not in reason
    before = project_stage(replace(audited, calibration_source="one-at-a-time"), StagePolicy()).reason
    assert "one image at a time" in before and "drawn at random" in before
