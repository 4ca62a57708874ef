"""Pure helpers of the grid mode and of the proposal marking (no Streamlit run needed)."""

from __future__ import annotations

import pytest

from core.domain import LabelClass, TaskType
from ui.labeling import grid
from ui.labeling.components import proposed


def cls(hotkey: str | None, cid: int = 1) -> LabelClass:
    return LabelClass(id=cid, project_id=1, name=f"c{cid}", color="#ff0000", hotkey=hotkey, ord=cid)


@pytest.mark.parametrize(
    ("hotkey", "shortcut"),
    [("1", "Shift+1"), ("0", "Shift+0"), ("q", "Q"), ("c", None), (None, None), ("", None)],
)
def test_grid_class_keys_leave_the_digits_to_the_tiles(hotkey, shortcut):
    assert grid.grid_class_shortcut(cls(hotkey)) == shortcut


BOX = {"class_id": 1, "xywh": [2.0, 3.0, 20.0, 10.0]}


@pytest.mark.parametrize(
    ("work", "proposal", "scores"),
    [
        ({"boxes": [BOX]}, {"boxes": [{**BOX, "score": 0.9}]}, [0.9]),
        ({"boxes": [{**BOX, "class_id": 2}]}, {"boxes": [{**BOX, "score": 0.9}]}, [None]),  # class changed
        ({"boxes": [{**BOX, "xywh": [3.0, 3.0, 20.0, 10.0]}]}, {"boxes": [{**BOX, "score": 0.9}]}, [None]),
        ({"boxes": [BOX, {**BOX, "xywh": [0, 0, 5, 5]}]}, {"boxes": [{**BOX, "score": 0.5}]}, [0.5, None]),
        ({"boxes": [BOX]}, None, [None]),
    ],
)
def test_proposed_scores_follow_unchanged_objects(work, proposal, scores):
    assert proposed.proposed_scores(TaskType.BOXES, work, proposal) == scores


def test_proposed_boxes_are_dashed_on_the_canvas():
    drawing = {"objects": [{"type": "LabeledRect"}, {"type": "LabeledRect"}]}
    work = {"boxes": [BOX, {**BOX, "xywh": [0.0, 0.0, 5.0, 5.0]}]}
    proposed.mark_proposed_boxes(drawing, work, {"boxes": [{**BOX, "score": 0.7}]})
    assert drawing["objects"][0]["strokeDashArray"] == [7, 4]
    assert "strokeDashArray" not in drawing["objects"][1]
