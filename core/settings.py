"""A project's settings: every key of ``projects.settings``, its default and its cleaning, in one place.

``projects.settings`` is a JSON object the owner edits (pages, CLI, import); a value typed by hand or
written by an older version may be missing, of the wrong type or out of range. ``ProjectSettings.parse``
reads it once and never raises: a missing or malformed value falls back to its default (the table in
``tests/core/test_settings.py``). Readers use the typed fields (``project.prefs`` on a ``Project``), never
``settings.get(...)``.

Keys (stored name -> field):

* ``lease_minutes`` -> ``lease_minutes`` (10): how long an item handed out stays reserved.
* ``assist_enabled`` -> ``enabled_setting`` (unset: on for classification, off for boxes/polygons).
* ``assist_queue_order`` -> ``rank_order`` (``learn`` | ``confirm``; anything else: ``learn``) and
  ``assist_in_order`` -> ``in_order``; ``queue_order`` is ``in_order`` when that flag is on.
* ``assist_price_per_hour`` -> ``price_per_hour`` (``ANNOTA_PRICE_PER_HOUR`` or 0.10; negative: 0).
* ``assist_confidence_level`` -> ``confidence_level`` (0.8): of the precision's lower bound.
* ``assist_<StagePolicy field>`` -> ``policy`` (``train_every``, ``min_labels_to_train``,
  ``min_classes_to_train``, ``featurised_share_for_clustering``, ``auto_accept``, ``auto_accept_target``).
* ``assist_detect_iou`` (0.7), ``assist_detect_target`` (0.6), ``assist_detect_epochs`` (detector's
  default; at least 1), ``assist_detect_input_size`` (detector's default; a multiple of 32, at least 128),
  ``assist_detect_limit`` (300 for boxes, 40 for polygons).
* ``consensus_share`` (0; 0..1): the share of items labeled blind by ``consensus_k`` (2; 2..5) labelers;
  ``agreement_threshold`` (0.8; 0..1): a consensus item whose agreement reaches it gets the merged answer
  as its label, else it goes to review; ``gold_share`` (0.05; 0..1): the share of each labeler's queue
  that is gold images (``core.quality``).
* ``assist_audit_share`` -> ``audit_share`` (0.4; 0..1): the share of the labels in the queue that go to
  the audit sample calibration trusts (``core.assist.audit``); grid pages give it at most
  ``GRID_AUDIT_SHARE`` (0.25) of their tiles (``grid_audit_share``: a random tile on a page of
  look-alikes costs a click); 0 turns it off (calibration then uses one-at-a-time labels only).
* ``assist_max_coverage`` -> ``max_coverage`` (0.6; above 0, at most 1): the most of the unlabeled images
  a calibration (on the audit, or one image at a time before it) may show proposals on (``label_calibration.calibrate_labels``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any

from core.assist.stages import StagePolicy
from core.domain import TaskType

LEASE_MINUTES = 10.0
DEFAULT_CONFIDENCE_LEVEL = 0.8
DEFAULT_AUDIT_SHARE = 0.4
GRID_AUDIT_SHARE = 0.25  # the most of a grid page's tiles the audit takes
DEFAULT_MAX_COVERAGE = 0.6
DEFAULT_DETECT_IOU, DEFAULT_DETECT_TARGET = 0.7, 0.6
RANK_ORDERS = ("learn", "confirm")
DEFAULT_CONSENSUS_K, DEFAULT_AGREEMENT_THRESHOLD, DEFAULT_GOLD_SHARE = 2, 0.8, 0.05
CONSENSUS_K_RANGE = (2, 5)
TRUE_WORDS = ("1", "true", "yes", "on")


def flag(raw: object) -> bool:
    """A stored on/off value: ``True`` or one of ``TRUE_WORDS`` (any case) is on, anything else off."""
    return raw is True or str(raw).lower() in TRUE_WORDS


def default_price_per_hour() -> float:
    """``ANNOTA_PRICE_PER_HOUR`` (not negative), or 0.10 when unset or not a number."""
    try:
        return max(0.0, float(os.environ.get("ANNOTA_PRICE_PER_HOUR", "0.10")))
    except ValueError:
        return 0.10


def _number(raw: object, kind: type, default: Any) -> Any:
    try:
        return kind(raw)
    except (TypeError, ValueError, OverflowError):
        return default


def _share(raw: object, default: float) -> float:
    """A share in 0..1 (a number outside is clipped; not a number: ``default``)."""
    value = _number(raw, float, default)
    return default if value != value else min(1.0, max(0.0, value))  # NaN: the default


def _policy(raw: dict[str, Any]) -> StagePolicy:
    base = StagePolicy()
    values: dict[str, object] = {}
    for name in base.__dataclass_fields__:
        key = f"assist_{name}"
        if key in raw:
            default = getattr(base, name)
            if isinstance(default, bool):
                values[name] = flag(raw[key])
            else:
                values[name] = _number(raw[key], type(default), default)
    return replace(base, **values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ProjectSettings:
    """The cleaned settings of one project (see the module's notes for each key)."""

    lease_minutes: float = LEASE_MINUTES
    enabled_setting: bool | None = None  # None: the task type's default (``enabled``)
    rank_order: str = "learn"  # learn | confirm: how proposals rank the queue
    in_order: bool = False  # the items' own order instead
    price_per_hour: float = field(default_factory=default_price_per_hour)
    confidence_level: float = DEFAULT_CONFIDENCE_LEVEL
    policy: StagePolicy = field(default_factory=StagePolicy)
    min_classes_set: bool = False  # ``assist_min_classes_to_train`` was given
    detect_iou: float = DEFAULT_DETECT_IOU
    detect_target: float = DEFAULT_DETECT_TARGET
    detect_epochs: int | None = None  # None: the detector's default
    detect_input_size: int | None = None
    detect_limit: int | None = None  # None: by task type (``detect_limit_for``)
    consensus_share: float = 0.0
    consensus_k: int = DEFAULT_CONSENSUS_K
    agreement_threshold: float = DEFAULT_AGREEMENT_THRESHOLD
    gold_share: float = DEFAULT_GOLD_SHARE
    audit_share: float = DEFAULT_AUDIT_SHARE
    max_coverage: float = DEFAULT_MAX_COVERAGE

    @classmethod
    def parse(cls, raw: dict[str, Any] | None) -> ProjectSettings:
        """Clean a stored ``projects.settings`` object; never raises (bad values take their default)."""
        raw = dict(raw or {})
        base = cls()
        order = str(raw.get("assist_queue_order", "learn"))
        try:
            price = max(0.0, float(raw.get("assist_price_per_hour", base.price_per_hour)))
        except (TypeError, ValueError, OverflowError):
            price = base.price_per_hour
        epochs = _number(raw.get("assist_detect_epochs"), int, None)
        size = _number(raw.get("assist_detect_input_size"), int, None)
        limit = _number(raw.get("assist_detect_limit"), int, None)
        return cls(
            lease_minutes=_number(raw.get("lease_minutes", LEASE_MINUTES), float, LEASE_MINUTES),
            enabled_setting=flag(raw["assist_enabled"]) if "assist_enabled" in raw else None,
            rank_order=order if order in RANK_ORDERS else "learn",
            in_order=flag(raw.get("assist_in_order", False)),
            price_per_hour=price,
            confidence_level=_number(
                raw.get("assist_confidence_level", DEFAULT_CONFIDENCE_LEVEL), float, DEFAULT_CONFIDENCE_LEVEL
            ),
            policy=_policy(raw),
            min_classes_set="assist_min_classes_to_train" in raw,
            detect_iou=_number(raw.get("assist_detect_iou", DEFAULT_DETECT_IOU), float, DEFAULT_DETECT_IOU),
            detect_target=_number(
                raw.get("assist_detect_target", DEFAULT_DETECT_TARGET), float, DEFAULT_DETECT_TARGET
            ),
            detect_epochs=None if epochs is None else max(1, epochs),
            detect_input_size=None if size is None else max(128, size // 32 * 32),
            detect_limit=limit,
            consensus_share=_share(raw.get("consensus_share"), 0.0),
            consensus_k=min(
                CONSENSUS_K_RANGE[1],
                max(CONSENSUS_K_RANGE[0], _number(raw.get("consensus_k"), int, DEFAULT_CONSENSUS_K)),
            ),
            agreement_threshold=_share(raw.get("agreement_threshold"), DEFAULT_AGREEMENT_THRESHOLD),
            gold_share=_share(raw.get("gold_share"), DEFAULT_GOLD_SHARE),
            audit_share=_share(raw.get("assist_audit_share"), DEFAULT_AUDIT_SHARE),
            max_coverage=_coverage(raw.get("assist_max_coverage")),
        )

    @property
    def grid_audit_share(self) -> float:
        """The share of grid tiles the audit takes: the audit share, at most ``GRID_AUDIT_SHARE``."""
        return min(self.audit_share, GRID_AUDIT_SHARE)

    @property
    def queue_order(self) -> str:
        """``learn`` | ``confirm`` | ``in_order``, as the settings form shows it."""
        return "in_order" if self.in_order else self.rank_order

    def enabled(self, task: TaskType | str) -> bool:
        """Assistance on: as set, else on for classification and off (opt-in) for boxes and polygons."""
        return TaskType(task).is_classification if self.enabled_setting is None else self.enabled_setting

    def stage_policy(self, task: TaskType | str) -> StagePolicy:
        """A detector learns from boxes of a single class (the background is its other class), so boxes
        and polygons need labels of one class unless the settings say more."""
        if not TaskType(task).is_classification and not self.min_classes_set:
            return replace(self.policy, min_classes_to_train=1)
        return self.policy

    def detect_limit_for(self, task: TaskType | str) -> int:
        """Images proposed per detector inference: as set, else 300 for boxes and 40 for polygons."""
        if self.detect_limit is not None:
            return self.detect_limit
        return 300 if TaskType(task) is TaskType.BOXES else 40


def _coverage(raw: object) -> float:
    """A share of the unlabeled images above 0 and at most 1, else the default."""
    value = _number(raw, float, DEFAULT_MAX_COVERAGE) if raw is not None else DEFAULT_MAX_COVERAGE
    return value if 0.0 < value <= 1.0 else DEFAULT_MAX_COVERAGE
