"""The stale-save chooser's pictures (``ui.labeling.images.overlay_png``): each version drawn on the image."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from core.domain import Item, ItemStatus, LabelClass, TaskType
from ui.labeling import images

CLASSES = [LabelClass(id=1, project_id=1, name="cat", color="#ff0000", hotkey="1", ord=0), LabelClass(id=2, project_id=1, name="dog", color="#0000ff", hotkey="2", ord=1)]  # fmt: skip


@pytest.fixture
def item(tmp_path: Path) -> Item:
    p = tmp_path / "grey.png"
    Image.new("RGB", (320, 200), "#808080").save(p)
    now = datetime.now(UTC)
    return Item(7, 1, str(p), 320, 200, "x", ItemStatus.NEW, 0, now, now)


def png(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


def colours(im: Image.Image) -> set[tuple[int, int, int]]:
    return {c for _, c in im.getcolors(im.width * im.height)}


@pytest.mark.parametrize(
    ("task", "mine", "theirs", "colour"),
    [
        (TaskType.MULTICLASS, {"class_id": 1}, {"class_id": 2}, (255, 0, 0)),
        (TaskType.MULTILABEL, {"class_ids": [1, 2]}, {"class_ids": [2]}, (255, 0, 0)),
        (TaskType.BOXES, {"boxes": [{"class_id": 1, "xywh": [10, 10, 100, 80]}]}, {"boxes": []}, (255, 0, 0)),
    ],
)
def test_each_version_is_drawn_on_the_image(item, task, mine, theirs, colour):
    a, b = (
        png(images.overlay_png(item, task, mine, CLASSES)),
        png(images.overlay_png(item, task, theirs, CLASSES)),
    )
    assert a.size == b.size == (320, 200)
    assert a.tobytes() != b.tobytes()  # two versions, two pictures
    assert colour in colours(a)  # the first class's colour is on mine
    assert (128, 128, 128) in colours(a)  # the photo itself is still there


def test_no_class_is_said_on_the_image(item):
    blank = png(images.overlay_png(item, TaskType.MULTILABEL, {"class_ids": []}, CLASSES))
    assert (136, 136, 136) in colours(blank)  # the grey frame of "none of the classes"
