"""Assist status and scheduler rules for box and polygon projects (no model runs: counts on a real store)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from core import jobs
from core.assist import status
from core.assist.job_support import insert_embeddings
from core.assist.scheduler import AssistScheduler
from core.assist.stages import project_stage
from core.domain import Project, ValidationError
from core.permissions import SYSTEM
from core.store.db import Store
from core.store.items import NewItem, add_items
from core.store.labels import save_label, utcnow
from core.store.projects import create_project, get_project, list_classes


def _detect_kinds() -> status.JobKinds:
    kinds = status.job_kinds("boxes")
    if kinds is None:
        pytest.skip(status.availability("boxes").reason)
    return kinds


def _featurised_project(store: Store, tmp_path: Path, task: str, n: int = 12, **settings: object) -> Project:
    project = create_project(
        store,
        f"p-{task}",
        task,
        ["raccoon", "other"],
        settings={"assist_enabled": True, **settings},
        by=SYSTEM,
    )
    add_items(
        store, project.id, [NewItem(str(tmp_path / f"{i}.jpg"), 40, 40, f"{task}{i}") for i in range(n)]
    )
    ids = [
        int(r[0]) for r in store.query("SELECT id FROM items WHERE project_id = ? ORDER BY id", [project.id])
    ]
    insert_embeddings(store, [(i, project.id, "m", b"\x00" * 8, utcnow()) for i in ids])
    return project


def _label_one_class(store: Store, project: Project, n: int) -> None:
    """``n`` images labeled with objects of the first class only (raccoon: one class in the photos)."""
    cid = list_classes(store, project.id)[0].id
    ids = [
        int(r[0]) for r in store.query("SELECT id FROM items WHERE project_id = ? ORDER BY id", [project.id])
    ]
    for item_id in ids[:n]:
        if project.task_type == "boxes":
            payload: dict = {"boxes": [{"class_id": cid, "xywh": [2, 3, 20, 25]}]}
        else:
            payload = {"polygons": [{"class_id": cid, "points": [[2, 3], [30, 4], [20, 30]]}]}
        save_label(store, item_id, payload, author="ann", base_version=0, by=SYSTEM)


@pytest.mark.parametrize("task", ["boxes", "polygons"])
def test_single_class_detection_project_trains_by_itself(store: Store, tmp_path: Path, task: str) -> None:
    kinds = _detect_kinds()
    project = _featurised_project(store, tmp_path, task)
    _label_one_class(store, project, 10)
    counts = status.assist_counts(store, project)
    assert (counts.n_labeled, counts.n_classes_labeled) == (10, 1)
    assert status.stage_policy(project).min_classes_to_train == 1
    assert status.overview(store, project.id).stage.should_train

    decisions = AssistScheduler(store, None).tick(force=True)
    assert [(d.kind, d.reason) for d in decisions] == [(kinds.train, "first training: 10 labels")]


def test_detection_needs_an_object_and_the_settings_may_ask_for_more_classes(
    store: Store, tmp_path: Path
) -> None:
    _detect_kinds()
    project = _featurised_project(store, tmp_path, "boxes", assist_min_classes_to_train=2)
    _label_one_class(store, project, 10)
    assert status.stage_policy(project).min_classes_to_train == 2
    assert AssistScheduler(store, None).tick(force=True) == []
    empty = create_project(store, "empty", "boxes", ["a", "b"], settings={"assist_enabled": True}, by=SYSTEM)
    add_items(store, empty.id, [NewItem(str(tmp_path / f"e{i}.jpg"), 40, 40, f"e{i}") for i in range(10)])
    for (item_id,) in store.query("SELECT id FROM items WHERE project_id = ?", [empty.id]):
        save_label(
            store, int(item_id), {"boxes": []}, author="ann", base_version=0, by=SYSTEM
        )  # nothing in view
    assert not status.overview(store, empty.id).stage.should_train  # no object: nothing to learn


def test_classification_still_needs_two_classes(store: Store, tmp_path: Path) -> None:
    project = create_project(store, "c", "multiclass", ["a", "b"], by=SYSTEM)
    add_items(store, project.id, [NewItem(str(tmp_path / f"c{i}.jpg"), 40, 40, f"c{i}") for i in range(12)])
    ids = [
        int(r[0]) for r in store.query("SELECT id FROM items WHERE project_id = ? ORDER BY id", [project.id])
    ]
    insert_embeddings(store, [(i, project.id, "m", b"\x00" * 8, utcnow()) for i in ids])
    cid = list_classes(store, project.id)[0].id
    for item_id in ids[:10]:
        save_label(store, item_id, {"class_id": cid}, author="ann", base_version=0, by=SYSTEM)
    assert status.stage_policy(project).min_classes_to_train == 2
    ov = status.overview(store, project.id)
    assert ov.counts.n_classes_labeled == 1 and not ov.stage.should_train
    assert AssistScheduler(store, None).tick(force=True) == []


def test_a_running_detector_training_counts_as_training(store: Store, tmp_path: Path) -> None:
    kinds = _detect_kinds()
    project = _featurised_project(store, tmp_path, "boxes")
    _label_one_class(store, project, 10)
    job = jobs.submit(store, kinds.train, {}, project_id=project.id)
    store.execute("UPDATE jobs SET state = 'running', started_at = ? WHERE id = ?", [utcnow(), job.id])
    counts = status.assist_counts(store, project)
    assert counts.training_running
    stage = status.overview(store, project.id).stage
    assert not stage.should_train and stage.next_training_text == "training now"
    assert AssistScheduler(store, None).tick(force=True) == []  # no second training queued


@pytest.mark.parametrize(("level", "minimum"), [(0.8, 32), (0.95, 59)])
def test_the_audit_minimum_told_follows_the_projects_confidence_level(
    store: Store, tmp_path: Path, level: float, minimum: int
) -> None:
    """Before any training recorded its own figure, the reason names the audit labels (all right) that
    could first certify the target at this project's level, not a fixed number."""
    project = create_project(
        store, f"lv{level}", "multiclass", ["a", "b"], settings={"assist_confidence_level": level}, by=SYSTEM
    )
    counts = status.assist_counts(store, project)
    assert counts.audit_minimum == minimum
    trained = replace(counts, n_items=10, n_featurised=10, n_labeled=40, n_classes_labeled=2,
                      labels_at_last_training=40)  # fmt: skip
    reason = project_stage(trained, status.stage_policy(project)).reason
    assert f"has {minimum} of them labeled" in reason


def test_the_audit_share_and_the_level_are_checked_and_saved(store: Store) -> None:
    project = create_project(store, "aud", "multiclass", ["a", "b"], by=SYSTEM)
    now = status.read_settings(project)
    assert (now.audit_share, now.confidence_level, now.max_coverage) == (0.4, 0.8, 0.6)
    for bad in (replace(now, audit_share=0.9), replace(now, audit_share=-0.1), replace(now, confidence_level=1.0),
                replace(now, confidence_level=0.3), replace(now, max_coverage=0.0),
                replace(now, max_coverage=1.2)):  # fmt: skip
        with pytest.raises(ValidationError):
            status.save_settings(store, project.id, bad, by=SYSTEM)
    assert status.read_settings(get_project(store, project.id)) == now  # a refused save stores nothing
    saved = status.save_settings(
        store, project.id, replace(now, audit_share=0.3, confidence_level=0.9, max_coverage=0.8), by=SYSTEM
    )
    assert (saved.prefs.audit_share, saved.prefs.confidence_level, saved.prefs.max_coverage) == (
        0.3,
        0.9,
        0.8,
    )
    assert saved.prefs.grid_audit_share == 0.25  # grid pages: at most a quarter of their tiles
    assert status.assist_counts(store, saved).audit_minimum == 45  # all right, at 0.9, to certify 95 %


def _finished_training(store: Store, project_id: int, metrics: str, n_labels: int | None = None) -> None:
    """A finished training with these metrics (JSON), as the train job records it."""
    store.execute(
        "INSERT INTO model_runs (project_id, kind, model, state, n_labels, metrics) VALUES (?, 'train',"
        " 'linear-head/x', 'done', ?, ?)",
        [project_id, n_labels, metrics],
    )


def test_the_reason_says_why_no_classes_come_pre_ticked(store: Store, tmp_path: Path) -> None:
    """A training that withheld the pre-ticks (grid pages shaped the labels) records it, and the Assist
    page's reason says it in words."""
    project = _featurised_project(store, tmp_path, "multilabel")
    metrics = '{"head_path": "/h.npz", "n_labels": 12, "claim_threshold": null, "pre_ticks_withheld": true}'
    _finished_training(store, project.id, metrics)
    counts = status.assist_counts(store, project)
    assert counts.pre_ticks_withheld and not counts.pre_ticks
    trained = replace(counts, n_labeled=40, n_classes_labeled=2, labels_at_last_training=40)
    assert "No classes come pre-ticked" in project_stage(trained, status.stage_policy(project)).reason


def test_proposals_withdrawn_by_the_audit_are_explained(store: Store, tmp_path: Path) -> None:
    """A training that showed proposals, then one whose audit certified nothing because an image the model
    was sure of was labeled otherwise: the reason says the proposals are withdrawn and why, not 'lower
    bound 0.0 %'."""
    project = _featurised_project(store, tmp_path, "multiclass")
    shown = '{"head_path": "/h.npz", "threshold": 0.91, "precision_lower_bound": 0.955}'
    held = (
        '{"head_path": "/h.npz", "threshold": null, "precision_lower_bound": 0.0, "calibration_source": "audit",'
        ' "audit_labels": 108, "audit_most_sure": [32, 31]}'
    )
    for n, metrics in ((100, shown), (110, held)):
        _finished_training(store, project.id, metrics, n)
    counts = status.assist_counts(store, project)
    assert counts.shown_before and counts.audit_most_sure == (32, 31) and not counts.threshold_found
    reason = project_stage(
        replace(counts, n_labeled=110, n_classes_labeled=3), status.stage_policy(project)
    ).reason
    assert "Proposals from the model before are withdrawn" in reason
    assert "Of the 32 audit images the model is most sure of, 1 was labeled otherwise" in reason
    assert "0.0%" not in reason and "lower bound;" not in reason and "(108 audit labels so far)" in reason
    _finished_training(store, project.id, held, 120)  # a second training in a row that certifies nothing
    assert status.assist_counts(store, project).shown_before  # still the proposals shown before, withdrawn


def test_a_first_audit_that_certifies_nothing_is_not_called_a_withdrawal(
    store: Store, tmp_path: Path
) -> None:
    project = _featurised_project(store, tmp_path, "multiclass")
    metrics = '{"head_path": "/h.npz", "threshold": null, "calibration_source": "audit", "audit_most_sure": [32, 32]}'
    _finished_training(store, project.id, metrics, 80)
    counts = status.assist_counts(store, project)
    assert not counts.shown_before and counts.audit_most_sure == (32, 32)
    reason = project_stage(
        replace(counts, n_labeled=80, n_classes_labeled=3), status.stage_policy(project)
    ).reason
    assert "Pre-labels start when" in reason and "labeled otherwise" not in reason
