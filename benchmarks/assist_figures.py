"""Figures of a simulated labeling run: what each training left shown, against the truth."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from core.domain import TaskType
from core.store.db import loads

if TYPE_CHECKING:
    from benchmarks.assist_product import Lab, Labeler


SURE_MIN_CLAIMS = 10  # a class's pre-ticks count in the worst-class figure from this many


def curve_point(lab: Lab, run_id: int, labeler: Labeler) -> dict[str, float]:
    """What the training ``run_id`` left shown on the still unlabeled items, against the truth."""
    rows = lab.store.query(
        "SELECT p.item_id, p.class_ids, p.shown, p.confidence, p.payload FROM predictions p"
        " JOIN items i ON i.id = p.item_id WHERE p.project_id = ? AND i.status = 'new'",
        [lab.project_id],
    )
    n_new = int(
        lab.store.scalar(
            "SELECT count(*) FROM items WHERE project_id = ? AND status = 'new'", [lab.project_id]
        )
        or 0
    )
    metrics = loads(lab.store.scalar("SELECT metrics FROM model_runs WHERE id = ?", [run_id])) or {}
    ok = np.array([tuple(sorted(int(c) for c in (r[1] or []))) == lab.truth[int(r[0])] for r in rows], bool)
    shown = np.array([bool(r[2]) for r in rows], bool)
    conf = np.array([float(r[3]) for r in rows])
    top = np.argsort(-conf, kind="stable")[: max(1, len(rows) // 2)]
    point: dict[str, float] = {
        "human_labels": labeler.labels,
        "one_at_a_time_labels": labeler.one_at_a_time,
        "actions": labeler.actions,
        "threshold": float(metrics.get("threshold") or float("nan")),
        "page_threshold": float(metrics.get("page_threshold") or float("nan")),
        "calibration_labels": float(metrics.get("calibration_labels") or 0),
        "true_precision": float(ok[shown].mean()) if shown.any() else float("nan"),
        "shown": int(shown.sum()),
        "coverage": float(shown.sum() / n_new) if n_new else 0.0,
        "oracle_precision_top_half": float(ok[top].mean()) if len(rows) else float("nan"),
    }
    if lab.task is TaskType.MULTILABEL:
        sure = [(int(r[0]), loads(r[4]) or {}) for r, s in zip(rows, shown, strict=True) if not s]
        claims = [(i, set(p.get("sure_class_ids", []))) for i, p in sure if p.get("sure_class_ids")]
        right = sum(len(c & set(lab.truth[i])) for i, c in claims)
        total = sum(len(c) for _, c in claims)
        point["sure_claims_precision"] = right / total if total else float("nan")
        point["sure_coverage"] = len(claims) / n_new if n_new else 0.0
        # the pooled claims checked class by class: each class's pre-ticks right / made
        by_class: dict[int, list[int]] = {}
        for i, c in claims:
            for cid in c:
                got = by_class.setdefault(int(cid), [0, 0])
                got[0] += int(cid in lab.truth[i])
                got[1] += 1
        point["sure_claims_by_class"] = {str(k): v for k, v in sorted(by_class.items())}  # type: ignore[assignment]
        counted = [r / t for r, t in by_class.values() if t >= SURE_MIN_CLAIMS]
        point["sure_claims_worst_class"] = min(counted) if counted else float("nan")
    return point


def at_labels(curve: list[dict[str, float]], limit: int) -> dict[str, float]:
    """The last curve point at or under ``limit`` human labels."""
    best: dict[str, float] = {"human_labels": 0, "true_precision": float("nan"), "coverage": 0.0}
    for point in curve:
        if point["human_labels"] <= limit:
            best = point
    return best


def first_reaching(curve: list[dict[str, float]], precision: float, coverage: float) -> float:
    for p in curve:
        if p["coverage"] >= coverage and p["true_precision"] >= precision:
            return p["human_labels"]
    return float("nan")


def first_shown(curve: list[dict[str, float]]) -> dict[str, float] | None:
    return next((p for p in curve if p["shown"] > 0), None)
