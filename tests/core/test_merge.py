"""Merge rules for consensus answers, with hand-computed cases."""

from __future__ import annotations

import pytest

from core.domain import TaskType
from core.quality import merge

B, P = TaskType.BOXES, TaskType.POLYGONS


def box(x, y, w, h, c=1):
    return {"class_id": c, "xywh": [x, y, w, h]}


def test_multiclass_majority_and_ties() -> None:
    mc = TaskType.MULTICLASS
    assert merge.merge(mc, [{"class_id": 2}, {"class_id": 2}, {"class_id": 5}]) == {"class_id": 2}
    assert merge.merge(mc, [{"class_id": 2}, {"class_id": 5}]) is None  # a tie: review
    assert merge.merge(mc, [{"class_id": 1}, {"class_id": 1}, {"class_id": 2}, {"class_id": 2}]) is None
    assert (
        merge.merge(mc, [{"class_id": 1}, {"class_id": 1}, {"class_id": 2}, {"class_id": 3}]) is None
    )  # 2 of 4
    assert merge.merge(mc, [{"class_id": 4}, {"class_id": 4}]) == {"class_id": 4}


def test_multilabel_per_class_majority() -> None:
    ml = TaskType.MULTILABEL
    answers = [{"class_ids": [1, 2]}, {"class_ids": [1, 3]}, {"class_ids": [1, 2, 4]}]
    assert merge.merge(ml, answers) == {"class_ids": [1, 2]}
    assert merge.merge(ml, [{"class_ids": [1, 2]}, {"class_ids": [1]}]) is None  # class 2: one of two
    assert merge.merge(ml, [{"class_ids": []}, {"class_ids": []}]) == {"class_ids": []}


def test_boxes_majority_clusters_averaged() -> None:
    answers = [
        {"boxes": [box(0, 0, 10, 10), box(100, 100, 20, 20)]},
        {"boxes": [box(2, 0, 10, 10), box(200, 0, 5, 5)]},  # the second box: only this answer
        {"boxes": [box(1, 1, 10, 10), box(101, 101, 20, 20)]},
    ]
    out = merge.merge(B, answers)
    assert out is not None
    got = sorted(out["boxes"], key=lambda b: b["xywh"][0])
    # first cluster: x1 (0+2+1)/3 = 1, y1 (0+0+1)/3 = 1/3, x2 (10+12+11)/3 = 11, y2 (10+10+11)/3 = 31/3
    assert got[0]["xywh"] == pytest.approx([1.0, 0.33, 10.0, 10.0], abs=0.01)
    # second cluster: answers 1 and 3 (2 of 3): x1 100.5, y1 100.5, x2 120.5, y2 120.5
    assert got[1]["xywh"] == pytest.approx([100.5, 100.5, 20.0, 20.0])
    assert len(got) == 2 and all(b["class_id"] == 1 for b in got)


def test_boxes_of_another_class_do_not_cluster() -> None:
    answers = [{"boxes": [box(0, 0, 10, 10, c=1)]}, {"boxes": [box(0, 0, 10, 10, c=2)]}]
    assert merge.merge(B, answers) == {"boxes": []}
    assert len(merge.shape_clusters(B, answers)) == 2


def test_polygons_take_the_medoid() -> None:
    a = {"class_id": 3, "points": [[0, 0], [10, 0], [10, 10], [0, 10]]}
    b = {"class_id": 3, "points": [[1, 0], [11, 0], [11, 10], [1, 10]]}  # between a and c
    c = {"class_id": 3, "points": [[2, 0], [12, 0], [12, 10], [2, 10]]}
    out = merge.merge(P, [{"polygons": [a]}, {"polygons": [c]}, {"polygons": [b]}])
    assert out == {"polygons": [{"class_id": 3, "points": b["points"]}]}
