import re

import pytest

from core.domain import (
    TaskType,
    ValidationError,
    payload_class_ids,
    validate_hotkey,
    validate_payload,
    validate_project,
)
from core.permissions import SYSTEM

CLASSES = {1, 2, 3}


@pytest.mark.parametrize(
    "task, payload, expected",
    [
        ("multiclass", {"class_id": 2}, {"class_id": 2}),
        ("multilabel", {"class_ids": [3, 1, 3]}, {"class_ids": [1, 3]}),
        ("multilabel", {"class_ids": []}, {"class_ids": []}),
        (
            "boxes",
            {"boxes": [{"class_id": 1, "xywh": [1, 2, 3, 4]}]},
            {"boxes": [{"class_id": 1, "xywh": [1, 2, 3, 4]}]},
        ),
        ("boxes", {"boxes": []}, {"boxes": []}),
        (
            "boxes",
            {"boxes": [{"class_id": 1, "xywh": [-0.2, 0, 100.3, 50], "score": 0.87654}]},
            {"boxes": [{"class_id": 1, "xywh": [0, 0, 100, 50], "score": 0.8765}]},
        ),
        (
            "polygons",
            {"polygons": [{"class_id": 3, "points": [[0, 0], [10, 0], [10, 10]]}]},
            {"polygons": [{"class_id": 3, "points": [[0, 0], [10, 0], [10, 10]]}]},
        ),
    ],
)
def test_valid_payloads(task, payload, expected):
    assert validate_payload(task, payload, 100, 50, CLASSES) == expected


@pytest.mark.parametrize(
    "task, payload, message",
    [
        ("multiclass", {}, "no class"),
        ("multiclass", {"class_id": 9}, "not a class of this project"),
        ("multiclass", {"class_id": True}, "no class"),
        ("multilabel", {"class_ids": 2}, "list of classes"),
        ("multilabel", {"class_ids": [1, 7]}, "not a class"),
        ("boxes", {"boxes": [{"class_id": 1, "xywh": [1, 2, 0, 4]}]}, "no size"),
        ("boxes", {"boxes": [{"class_id": 1, "xywh": [90, 2, 20, 4]}]}, "outside the image"),
        ("boxes", {"boxes": [{"xywh": [1, 2, 3, 4]}]}, "no class"),
        ("boxes", {"boxes": [{"class_id": 1, "xywh": [1, 2, 3]}]}, "x, y, width and height"),
        ("polygons", {"polygons": [{"class_id": 1, "points": [[0, 0], [1, 1]]}]}, "at least 3 points"),
        ("polygons", {"polygons": [{"class_id": 1, "points": [[0, 0], [1, 1], [2, 2]]}]}, "no area"),
        (
            "polygons",
            {"polygons": [{"class_id": 1, "points": [[0, 0], [200, 0], [0, 10]]}]},
            "outside the image",
        ),
        ("polygons", {"polygons": [{"class_id": 1, "points": [[0, 0], [5], [0, 10]]}]}, "not [x, y]"),
        ("polygons", "nope", "must be an object"),
    ],
)
def test_invalid_payloads(task, payload, message):
    with pytest.raises(ValidationError, match=re.escape(message)):
        validate_payload(task, payload, 100, 50, CLASSES)


@pytest.mark.parametrize(
    "name, classes, message",
    [
        ("", ["a", "b"], "needs a name"),
        ("P", ["a"], "at least two"),
        ("P", ["a", "A"], "unique"),
        ("P", ["a", " "], "at least two"),
    ],
)
def test_validate_project(name, classes, message):
    with pytest.raises(ValidationError, match=message):
        validate_project(name, classes)


@pytest.mark.parametrize("key, ok", [("1", "1"), ("Q", "q"), ("", None), (None, None)])
def test_hotkeys(key, ok):
    assert validate_hotkey(key) == ok


@pytest.mark.parametrize("key", ["s", "enter", "12", "!"])
def test_bad_hotkeys(key):
    with pytest.raises(ValidationError):
        validate_hotkey(key)


def test_payload_class_ids():
    assert payload_class_ids(
        TaskType.BOXES, {"boxes": [{"class_id": 1}, {"class_id": 1}, {"class_id": 2}]}
    ) == [1, 1, 2]
    assert payload_class_ids("multiclass", {"class_id": 4}) == [4]
    assert payload_class_ids("multilabel", None) == []


NAN, INF = float("nan"), float("inf")
_BOX = {"class_id": 1, "xywh": [10, 10, 20, 20]}
_POLY = {"class_id": 1, "points": [[1, 1], [50, 1], [50, 50]]}


def _with(obj: dict, key: str, index: tuple, value: object) -> dict:
    """A copy of ``obj`` with ``obj[key][index...]`` set to ``value``."""
    import copy

    out = copy.deepcopy(obj)
    target = out[key]
    for i in index[:-1]:
        target = target[i]
    target[index[-1]] = value
    return out


@pytest.mark.parametrize(
    "task, payload, message",
    [
        # classification: a NaN or infinite class is no class
        (TaskType.MULTICLASS, {"class_id": NAN}, "has no class"),
        (TaskType.MULTICLASS, {"class_id": INF}, "has no class"),
        (TaskType.MULTILABEL, {"class_ids": [1, NAN]}, "has no class"),
        (TaskType.MULTILABEL, {"class_ids": [-INF]}, "has no class"),
        # boxes: every coordinate, NaN and both infinities (a NaN box was stored with no width)
        *[(TaskType.BOXES, {"boxes": [_with(_BOX, "xywh", (k,), v)]}, "not a finite number")
          for k in range(4) for v in (NAN, INF, -INF)],
        (TaskType.BOXES, {"boxes": [_with(_BOX, "xywh", (2,), "nan")]}, "not a finite number"),
        (TaskType.BOXES, {"boxes": [_with(_BOX, "xywh", (0,), "abc")]}, "not a number"),
        (TaskType.BOXES, {"boxes": [_with(_BOX, "xywh", (0,), None)]}, "not a number"),
        (TaskType.BOXES, {"boxes": [{**_BOX, "score": NAN}]}, "score has a coordinate that is not a finite"),
        # polygons: x and y of a point (a NaN point was saved and exported as bare NaN)
        *[(TaskType.POLYGONS, {"polygons": [_with(_POLY, "points", (1, j), v)]}, "not a finite number")
          for j in range(2) for v in (NAN, INF, -INF)],
        (TaskType.POLYGONS, {"polygons": [_with(_POLY, "points", (0, 0), "inf")]}, "not a finite number"),
        (TaskType.POLYGONS, {"polygons": [{**_POLY, "score": INF}]}, "not a finite"),
    ],
)  # fmt: skip
def test_nan_and_infinity_are_refused(task, payload, message):
    with pytest.raises(ValidationError, match=message):
        validate_payload(task, payload, 100, 100, [1, 2])


def test_nan_is_refused_when_a_label_is_saved(store):
    from core.store.items import NewItem, add_items
    from core.store.labels import save_label
    from core.store.projects import create_project

    project = create_project(store, "P", TaskType.POLYGONS, ["a", "b"], by=SYSTEM)
    add_items(store, project.id, [NewItem(path="/x/a.jpg", width=100, height=100, sha1="h")])
    item_id = store.scalar("SELECT id FROM items")
    cid = store.scalar("SELECT min(id) FROM label_classes")
    bad = {"polygons": [{"class_id": cid, "points": [[1, 1], [NAN, 5], [9, 9]]}]}
    with pytest.raises(ValidationError, match="not a finite number"):
        save_label(store, item_id, bad, author="ann", base_version=0, by=SYSTEM)
    assert store.scalar("SELECT count(*) FROM annotations") == 0
