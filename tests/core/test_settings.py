"""``ProjectSettings.parse``: each key's default and cleaning, in one table; a stored project reads it once."""

from __future__ import annotations

import pytest

from core.assist.stages import StagePolicy
from core.domain import TaskType
from core.permissions import SYSTEM
from core.settings import ProjectSettings, default_price_per_hour
from core.store import projects


def test_defaults_of_an_empty_object() -> None:
    s = ProjectSettings.parse({})
    assert s == ProjectSettings.parse(None) == ProjectSettings()
    assert s.lease_minutes == 10.0
    assert s.enabled_setting is None and s.queue_order == "learn" and s.rank_order == "learn"
    assert s.confidence_level == 0.8 and s.policy == StagePolicy()
    assert (s.detect_iou, s.detect_target) == (0.7, 0.6)
    assert s.detect_epochs is None and s.detect_input_size is None and s.detect_limit is None


# (stored key, stored value, field read back, value expected)
TABLE = [
    ("lease_minutes", "15", "lease_minutes", 15.0),
    ("lease_minutes", "soon", "lease_minutes", 10.0),  # the labeling screens raised on this
    ("assist_enabled", "yes", "enabled_setting", True),
    ("assist_enabled", "nope", "enabled_setting", False),
    ("assist_queue_order", "confirm", "rank_order", "confirm"),
    ("assist_queue_order", "in_order", "rank_order", "learn"),  # the infer job raised on this
    ("assist_queue_order", "fastest", "queue_order", "learn"),
    ("assist_in_order", "true", "queue_order", "in_order"),
    ("assist_price_per_hour", "0.5", "price_per_hour", 0.5),
    ("assist_price_per_hour", -3, "price_per_hour", 0.0),
    ("assist_price_per_hour", "free", "price_per_hour", default_price_per_hour()),
    ("assist_confidence_level", "0.9", "confidence_level", 0.9),
    ("assist_confidence_level", "high", "confidence_level", 0.8),  # the train job raised on this
    ("assist_detect_iou", "0.5", "detect_iou", 0.5),
    ("assist_detect_iou", None, "detect_iou", 0.7),  # the detector train job raised on this
    ("assist_detect_target", "x", "detect_target", 0.6),
    ("assist_detect_epochs", 0, "detect_epochs", 1),
    ("assist_detect_epochs", "many", "detect_epochs", None),
    ("assist_detect_input_size", 300, "detect_input_size", 288),
    ("assist_detect_input_size", 50, "detect_input_size", 128),
    ("assist_detect_limit", "12", "detect_limit", 12),
    ("assist_detect_limit", "all", "detect_limit", None),  # the detector infer job raised on this
    ("assist_audit_share", "0.3", "audit_share", 0.3),
    ("assist_audit_share", 2, "audit_share", 1.0),
    ("assist_audit_share", "x", "audit_share", 0.4),
    ("assist_audit_share", 0.5, "grid_audit_share", 0.25),  # a grid page's tiles: at most a quarter
    ("assist_audit_share", 0.1, "grid_audit_share", 0.1),
    ("assist_max_coverage", "0.8", "max_coverage", 0.8),
    ("assist_max_coverage", 1, "max_coverage", 1.0),
    ("assist_max_coverage", 0, "max_coverage", 0.6),  # nothing would ever be proposed
    ("assist_max_coverage", 1.5, "max_coverage", 0.6),
    ("assist_max_coverage", "most", "max_coverage", 0.6),
    ("assist_max_coverage", float("nan"), "max_coverage", 0.6),
]


@pytest.mark.parametrize(("key", "raw", "name", "expected"), TABLE)
def test_each_key_is_cleaned(key: str, raw: object, name: str, expected: object) -> None:
    assert getattr(ProjectSettings.parse({key: raw}), name) == expected


def test_stage_policy_keys_take_their_type_or_their_default() -> None:
    p = ProjectSettings.parse(
        {"assist_train_every": "25", "assist_auto_accept": "on", "assist_min_labels_to_train": "x"}
    ).policy
    assert p.train_every == 25 and p.auto_accept is True
    assert p.min_labels_to_train == StagePolicy().min_labels_to_train


def test_task_type_defaults() -> None:
    s = ProjectSettings.parse({})
    assert s.enabled(TaskType.MULTICLASS) and not s.enabled(TaskType.BOXES)
    assert s.stage_policy(TaskType.BOXES).min_classes_to_train == 1
    assert s.stage_policy(TaskType.MULTILABEL).min_classes_to_train == 2
    assert s.detect_limit_for(TaskType.BOXES) == 300 and s.detect_limit_for(TaskType.POLYGONS) == 40
    given = ProjectSettings.parse(
        {"assist_min_classes_to_train": 3, "assist_enabled": True, "assist_detect_limit": 5}
    )
    assert given.stage_policy(TaskType.BOXES).min_classes_to_train == 3
    assert given.enabled(TaskType.POLYGONS) and given.detect_limit_for(TaskType.BOXES) == 5


def test_the_price_default_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANNOTA_PRICE_PER_HOUR", "2.5")
    assert ProjectSettings.parse({}).price_per_hour == 2.5
    monkeypatch.setenv("ANNOTA_PRICE_PER_HOUR", "lots")
    assert ProjectSettings.parse({}).price_per_hour == 0.10


def test_a_stored_project_reads_its_settings_typed(store) -> None:  # type: ignore[no-untyped-def]
    p = projects.create_project(
        store, "P", TaskType.BOXES, ["a", "b"], settings={"lease_minutes": "bad"}, by=SYSTEM
    )
    p = projects.update_project(store, p.id, settings={"assist_detect_limit": "7"}, by=SYSTEM)
    assert p.settings == {"lease_minutes": "bad", "assist_detect_limit": "7"}  # stored as given
    assert p.prefs.lease_minutes == 10.0 and p.prefs.detect_limit_for(p.task_type) == 7
