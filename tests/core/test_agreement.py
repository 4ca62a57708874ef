"""Agreement measures against hand-computed cases, and Krippendorff's alpha against Krippendorff's own
worked examples ("Computing Krippendorff's Alpha-Reliability", 2011)."""

from __future__ import annotations

import pytest

from core.domain import TaskType
from core.quality import agreement as ag

B, P = TaskType.BOXES, TaskType.POLYGONS


def box(x, y, w, h, c=1):
    return {"class_id": c, "xywh": [x, y, w, h]}


def square(x, y, s, c=1):
    return {"class_id": c, "points": [[x, y], [x + s, y], [x + s, y + s], [x, y + s]]}


def test_exact_match() -> None:
    assert ag.pair_agreement(TaskType.MULTICLASS, {"class_id": 3}, {"class_id": 3}) == 1.0
    assert ag.pair_agreement(TaskType.MULTICLASS, {"class_id": 3}, {"class_id": 4}) == 0.0
    assert ag.pair_agreement(TaskType.MULTICLASS, {}, {}) == 0.0  # no answer agrees with nothing


def test_jaccard_of_class_sets() -> None:
    ml = TaskType.MULTILABEL
    assert ag.pair_agreement(ml, {"class_ids": [1, 2, 3]}, {"class_ids": [2, 3, 4]}) == pytest.approx(2 / 4)
    assert ag.pair_agreement(ml, {"class_ids": [1]}, {"class_ids": [2]}) == 0.0
    assert ag.pair_agreement(ml, {"class_ids": []}, {"class_ids": []}) == 1.0


def test_box_f1_counts_matches_at_iou_half() -> None:
    # (0,0,10,10) vs (5,0,10,10): IoU 50 / 150 = 1/3 -> no match; vs (2,0,10,10): 80 / 120 = 2/3 -> match
    assert ag.shape_iou(B, box(0, 0, 10, 10), box(5, 0, 10, 10)) == pytest.approx(1 / 3)
    a = {"boxes": [box(0, 0, 10, 10), box(50, 50, 10, 10)]}
    b = {"boxes": [box(2, 0, 10, 10), box(55, 50, 10, 10), box(80, 80, 5, 5)]}
    m = ag.shape_match(B, a, b)
    assert m.matched == 1 and m.f1 == pytest.approx(2 * 1 / (2 + 3))
    assert m.mean_iou == pytest.approx(2 / 3)
    assert ag.pair_agreement(B, {"boxes": []}, {"boxes": []}) == 1.0
    assert ag.pair_agreement(B, {"boxes": [box(0, 0, 5, 5)]}, {"boxes": []}) == 0.0


def test_classes_must_agree_for_a_match() -> None:
    assert (
        ag.pair_agreement(B, {"boxes": [box(0, 0, 10, 10, c=1)]}, {"boxes": [box(0, 0, 10, 10, c=2)]}) == 0.0
    )


def test_hungarian_beats_greedy() -> None:
    # greedy on the best IoU pairs A0 with B0 (0.9) and leaves A1 unmatched (A1-B1 IoU 0.2);
    # one to one, A0-B1 (0.6) and A1-B0 (0.6) both match: 2 matches.
    a = [box(0, 0, 10, 10), box(2, 0, 10, 10)]
    b = [box(1, 0, 10, 10), box(-3.33, 0, 10, 10)]
    t = ag.iou_table(B, a, b)
    assert t[0, 0] > t[0, 1] >= 0.5 and t[1, 0] >= 0.5 and t[1, 1] < 0.5
    assert len(ag.match_shapes(B, a, b)) == 2


def test_polygon_iou_of_squares_within_a_percent() -> None:
    assert ag.polygon_iou(square(0, 0, 10)["points"], square(0, 0, 10)["points"]) == pytest.approx(1.0)
    assert ag.polygon_iou(square(0, 0, 10)["points"], square(5, 0, 10)["points"]) == pytest.approx(
        1 / 3, abs=0.01
    )
    tri = [[0, 0], [10, 0], [0, 10]]  # half the square: IoU 0.5
    assert ag.polygon_iou(tri, square(0, 0, 10)["points"]) == pytest.approx(0.5, abs=0.01)
    m = ag.shape_match(
        P, {"polygons": [square(0, 0, 10), square(40, 40, 10)]}, {"polygons": [square(1, 0, 10)]}
    )
    assert m.matched == 1 and m.f1 == pytest.approx(2 / 3) and m.mean_iou == pytest.approx(90 / 110, abs=0.01)


def test_item_agreement_is_the_mean_over_pairs() -> None:
    answers = [{"class_id": 1}, {"class_id": 1}, {"class_id": 2}]  # pairs: 1, 0, 0
    assert ag.item_agreement(TaskType.MULTICLASS, answers) == pytest.approx(1 / 3)
    assert ag.item_agreement(TaskType.MULTICLASS, answers[:1]) is None


# Krippendorff 2011, section A: binary data, two observers, ten units: alpha = 0.095
KA_A = [[0, 1], [1, 1], [0, 1], [0, 0], [0, 0], [0, 1], [0, 0], [0, 0], [1, 0], [0, 0]]
# Krippendorff 2011, section C: nominal data, four observers, twelve units, missing values: alpha = 0.743
_OBS = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]
KA_C = [list(u) for u in zip(*_OBS, strict=True)]


def test_krippendorff_alpha_textbook_examples() -> None:
    assert ag.krippendorff_alpha_nominal(KA_A) == pytest.approx(0.095, abs=0.0005)
    assert ag.krippendorff_alpha_nominal(KA_C) == pytest.approx(0.743, abs=0.0005)


def test_krippendorff_alpha_edges() -> None:
    assert ag.krippendorff_alpha_nominal([[1, 1], [2, 2]]) == 1.0
    assert ag.krippendorff_alpha_nominal([[1, 1], [1, 1]]) is None  # no variation: undefined
    assert ag.krippendorff_alpha_nominal([[1], [2, None]]) is None  # nothing pairable


def test_project_alpha_multiclass_and_multilabel_per_class() -> None:
    items = [[{"class_id": a}, {"class_id": b}] for a, b in KA_A]
    assert ag.project_alpha(TaskType.MULTICLASS, items) == pytest.approx(0.095, abs=0.0005)
    # class 7 follows KA_A, class 8 is always ticked by both (no variation: left out of the mean)
    ml = [[{"class_ids": [7] * a + [8]}, {"class_ids": [7] * b + [8]}] for a, b in KA_A]
    assert ag.project_alpha(TaskType.MULTILABEL, ml) == pytest.approx(0.095, abs=0.0005)
    # class 9 in perfect agreement: the mean of 0.095 and 1
    ml9 = [
        [{"class_ids": [7] * a + [9] * (i % 2)}, {"class_ids": [7] * b + [9] * (i % 2)}]
        for i, (a, b) in enumerate(KA_A)
    ]
    assert ag.project_alpha(TaskType.MULTILABEL, ml9) == pytest.approx((0.0952 + 1) / 2, abs=0.0005)


def test_mean_matched_iou() -> None:
    items = [
        [{"boxes": [box(0, 0, 10, 10)]}, {"boxes": [box(2, 0, 10, 10)]}],  # 2/3
        [
            {"boxes": [box(0, 0, 10, 10)]},
            {"boxes": [box(0, 0, 10, 10)]},
            {"boxes": []},
        ],  # 1 (the empty: no pair)
    ]
    assert ag.mean_matched_iou(B, items) == pytest.approx((2 / 3 + 1) / 2)
    assert ag.mean_matched_iou(B, [[{"boxes": []}, {"boxes": []}]]) is None
