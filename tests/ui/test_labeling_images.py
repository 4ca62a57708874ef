"""The stale-save chooser's pictures (``ui.labeling.images.overlay_png``): each version drawn on the image."""

from __future__ import annotations

import io
from dataclasses import replace
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


def test_a_pages_tiles_are_made_side_by_side_and_a_broken_one_says_why(item, tmp_path):
    others = []
    for k in range(4):
        p = tmp_path / f"t{k}.png"
        Image.new("RGB", (200 + k, 100), "#204080").save(p)
        others.append(replace(item, id=100 + k, path=str(p), sha1=f"t{k}"))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    tiles = [*others[:2], replace(item, id=200, path=str(broken), sha1="b"), *others[2:]]
    got = images.screen_jpegs(tiles, None, 120)
    assert isinstance(got[2], images.ImageUnavailable) and "cannot be read" in str(got[2])
    for it, data in zip(tiles, got, strict=True):
        if it.id != 200:
            assert data == images.screen_jpeg(it, None, 120)  # the same bytes, now cached
            assert max(png(data).size) == 120
