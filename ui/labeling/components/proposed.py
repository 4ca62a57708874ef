"""Marking the model's proposed objects in the drawing widgets (pure; no Streamlit).

An object counts as proposed while it is exactly as the model proposed it (class and geometry, as
``payloads.canonical`` compares them); any edit makes it the labeler's own.
"""

from __future__ import annotations

from typing import Any

from core.domain import TaskType
from ui.labeling import payloads

DASH = [7, 4]


def proposed_scores(
    task: TaskType, work: dict[str, Any], proposal: dict[str, Any] | None
) -> list[float | None]:
    """Per object of the working payload: the model's score while it is unchanged from the proposal."""
    key = payloads.objects_key(task)
    scores = {}
    for obj in (proposal or {}).get(key, []):
        scores[payloads.canonical(task, {key: [obj]})] = float(obj.get("score", 0.0) or 0.0)
    return [scores.get(payloads.canonical(task, {key: [o]})) for o in work.get(key, [])]


def mark_proposed_boxes(
    drawing: dict[str, Any], work: dict[str, Any], proposal: dict[str, Any] | None
) -> None:
    """Dash the canvas outline of every box still as the model proposed it (``drawing`` in place)."""
    for obj, score in zip(
        drawing.get("objects", []), proposed_scores(TaskType.BOXES, work, proposal), strict=False
    ):
        if score is not None:
            obj["strokeDashArray"] = list(DASH)
