"""Pure helpers of the labeling screen: canvas objects <-> payloads, toggles, sources, Back, words."""

from __future__ import annotations

import pytest

from core.domain import LabelClass, Source, TaskType
from ui.labeling import payloads, shortcuts

CLASSES = [
    LabelClass(11, 1, "cat", "#ff0000", "1", 0),
    LabelClass(12, 1, "dog", "#00ff00", "2", 1),
    LabelClass(13, 1, "rat", "#0000ff", "r", 2),  # Streamlit reserves R: no shortcut
]


@pytest.mark.parametrize(
    ("canvas_box", "scale", "expected"),
    [
        # canvas at half size: canvas pixels double in the image
        ({"label": "dog", "left": 10, "top": 10, "width": 30, "height": 30}, 0.5, [12, [20, 20, 60, 60]]),
        # same size
        ({"label": "cat", "left": 0, "top": 0, "width": 5, "height": 5}, 1.0, [11, [0, 0, 5, 5]]),
        # canvas at twice the size
        ({"label": "cat", "left": 10, "top": 10, "width": 10, "height": 20}, 2.0, [11, [5, 5, 5, 10]]),
        # reaching outside the image: clipped to 100 x 80
        ({"label": "cat", "left": -10, "top": 70, "width": 30, "height": 30}, 1.0, [11, [0, 70, 20, 10]]),
        # unknown label: the default class
        ({"label": "", "left": 1, "top": 2, "width": 3, "height": 4}, 1.0, [12, [1, 2, 3, 4]]),
        # fractional positions rounded to 0.01 px
        ({"label": "cat", "left": 1 / 3, "top": 0, "width": 10, "height": 10}, 1.0, [11, [0.33, 0, 10, 10]]),
        # an accidental click (less than a pixel): no box
        ({"label": "cat", "left": 5, "top": 5, "width": 0.4, "height": 8}, 1.0, None),
        # fully outside: no box
        ({"label": "cat", "left": 200, "top": 5, "width": 10, "height": 8}, 1.0, None),
    ],
)
def test_canvas_boxes_to_payload(canvas_box, scale, expected):
    out = payloads.canvas_boxes_to_payload([canvas_box], scale, CLASSES, 12, (100, 80))
    if expected is None:
        assert out == {"boxes": []}
    else:
        cid, xywh = expected
        assert out == {"boxes": [{"class_id": cid, "xywh": [float(v) for v in xywh]}]}


@pytest.mark.parametrize("scale", [0.25, 0.5, 1.0, 1.7, 3.0])
def test_payload_to_canvas_and_back_round_trips(scale):
    payload = {
        "boxes": [
            {"class_id": 11, "xywh": [10.0, 20.0, 30.0, 40.0]},
            {"class_id": 13, "xywh": [0.5, 0.25, 99.5, 79.75]},
        ]
    }
    drawing = payloads.payload_to_canvas_drawing(payload, scale, CLASSES)
    assert [o["label"] for o in drawing["objects"]] == ["cat", "rat"]
    assert [o["stroke"] for o in drawing["objects"]] == ["#ff0000", "#0000ff"]
    canvas_boxes = [
        {k: o[k] for k in ("label", "left", "top", "width", "height")} for o in drawing["objects"]
    ]
    back = payloads.canvas_boxes_to_payload(canvas_boxes, scale, CLASSES, 12, (100, 80))
    assert payloads.canonical(TaskType.BOXES, back) == payloads.canonical(TaskType.BOXES, payload)


@pytest.mark.parametrize(
    ("before", "cid", "after"),
    [([], 3, [3]), ([3], 3, []), ([1, 4], 2, [1, 2, 4]), ([4, 1], 4, [1])],
)
def test_toggle_class(before, cid, after):
    assert payloads.toggle_class(before, cid) == after


@pytest.mark.parametrize(
    ("task", "payload", "proposal", "source"),
    [
        (TaskType.MULTICLASS, {"class_id": 1}, {"class_id": 1}, Source.PRELABEL),
        (TaskType.MULTICLASS, {"class_id": 2}, {"class_id": 1}, Source.HUMAN),
        (TaskType.MULTICLASS, {"class_id": 2}, None, Source.HUMAN),
        (TaskType.MULTILABEL, {"class_ids": [2, 1]}, {"class_ids": [1, 2]}, Source.PRELABEL),
        (TaskType.MULTILABEL, {"class_ids": [1]}, {"class_ids": [1, 2]}, Source.HUMAN),
        (
            TaskType.BOXES,
            {"boxes": [{"class_id": 1, "xywh": [1, 2, 3, 4]}]},
            {"boxes": [{"class_id": 1, "xywh": [1.001, 2, 3, 4], "score": 0.9}]},
            Source.PRELABEL,
        ),
        (
            TaskType.BOXES,
            {"boxes": [{"class_id": 1, "xywh": [1, 2, 3, 5]}]},
            {"boxes": [{"class_id": 1, "xywh": [1, 2, 3, 4], "score": 0.9}]},
            Source.HUMAN,
        ),
        (
            TaskType.POLYGONS,
            {"polygons": [{"class_id": 1, "points": [[0, 0], [5, 0], [0, 5]]}]},
            {"polygons": [{"class_id": 2, "points": [[0, 0], [5, 0], [0, 5]]}]},
            Source.HUMAN,
        ),
    ],
)
def test_source_for(task, payload, proposal, source):
    assert payloads.source_for(task, payload, proposal) is source


@pytest.mark.parametrize(
    ("task", "annotation", "proposal", "expected"),
    [
        (TaskType.MULTICLASS, None, None, {}),
        (TaskType.MULTICLASS, {"class_id": 2}, {"class_id": 1}, {"class_id": 2}),
        (TaskType.MULTICLASS, None, {"class_id": 1}, {"class_id": 1}),
        (TaskType.MULTILABEL, None, None, {"class_ids": []}),
        (
            TaskType.BOXES,
            None,
            {"boxes": [{"class_id": 1, "xywh": [1, 2, 3, 4], "score": 0.8}]},
            {"boxes": [{"class_id": 1, "xywh": [1, 2, 3, 4]}]},
        ),
        (TaskType.POLYGONS, None, None, {"polygons": []}),
    ],
)
def test_initial_payload(task, annotation, proposal, expected):
    assert payloads.initial_payload(task, annotation, proposal) == expected


@pytest.mark.parametrize(
    ("recent", "current", "target"),
    [([], None, None), ([5, 4, 3], None, 5), ([5, 4, 3], 9, 5), ([5, 4, 3], 5, 4), ([5, 4, 3], 3, None)],
)
def test_back_target(recent, current, target):
    assert payloads.back_target(recent, current) == target


def test_object_edits_do_not_touch_the_input():
    work = {
        "polygons": [{"class_id": 11, "points": [[0, 0], [1, 0], [0, 1]]}, {"class_id": 12, "points": []}]
    }
    changed = payloads.set_object_class(TaskType.POLYGONS, work, 1, 13)
    assert [p["class_id"] for p in changed["polygons"]] == [11, 13]
    assert work["polygons"][1]["class_id"] == 12
    assert payloads.delete_object(TaskType.POLYGONS, work, 0) == {"polygons": [work["polygons"][1]]}
    assert payloads.delete_object(TaskType.POLYGONS, work, 7) == work


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, []),
        (
            [{"class_id": 12, "points": [[0, 0], [10.126, 0], [0, 10]]}],
            [{"class_id": 12, "points": [[0, 0], [10.13, 0], [0, 10]]}],
        ),
        (
            [{"class_id": 99, "points": [[0, 0], [1, 0], [0, 1]]}],
            [{"class_id": 11, "points": [[0, 0], [1, 0], [0, 1]]}],
        ),
        ([{"class_id": 12, "points": [[0, 0], [1, 0]]}], []),  # an open two-point line: dropped
        (["junk"], []),
    ],
)
def test_clean_polygons(raw, expected):
    assert payloads.clean_polygons(raw, {11, 12, 13}, 11) == {"polygons": expected}


@pytest.mark.parametrize(
    ("task", "payload", "words"),
    [
        (TaskType.MULTICLASS, {"class_id": 12}, "dog"),
        (TaskType.MULTICLASS, {}, "no class"),
        (TaskType.MULTILABEL, {"class_ids": [11, 13]}, "cat, rat"),
        (TaskType.MULTILABEL, {"class_ids": []}, "none of the classes"),
        (TaskType.BOXES, {"boxes": []}, "no boxes"),
        (TaskType.BOXES, {"boxes": [{"class_id": 11, "xywh": [0, 0, 1, 1]}] * 2}, "2 boxes: 2 × cat"),
        (TaskType.POLYGONS, {"polygons": [{"class_id": 12, "points": []}]}, "1 polygon: 1 × dog"),
    ],
)
def test_describe(task, payload, words):
    assert payloads.describe(task, payload, CLASSES) == words


@pytest.mark.parametrize(("cls", "key"), [(CLASSES[0], "1"), (CLASSES[2], None)])
def test_class_shortcut_skips_streamlit_reserved_keys(cls, key):
    assert shortcuts.class_shortcut(cls) == key


def test_legend_lists_every_action():
    rows = dict(shortcuts.legend(TaskType.MULTILABEL, CLASSES, has_proposal=True))
    for key in ("1", "2", "Enter", "A", "S", "B", "N", "Z", "K"):
        assert key in rows
