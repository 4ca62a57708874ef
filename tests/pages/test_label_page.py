"""The labeling screen through Streamlit's AppTest, on a real store in a temporary data directory."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from PIL import Image

from core import auth
from core.domain import ItemStatus, NotFound, ProjectState, Role, Source, TaskType, User
from core.permissions import SYSTEM, ProjectRole
from core.store import items, labels, projects, queue
from core.store.items import NewItem

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "label.py")
COLORS = ["#d04040", "#40a040", "#4040d0", "#d0d040", "#40d0d0"]


def act(at, base: str):  # type: ignore[no-untyped-def]
    """The action button drawn for what is on screen: its key is ``base``, or ``base__i<item>`` /
    ``base__p<page>`` (``ui.labeling.actions.keyed``, ``grid.page_tag``)."""
    found = [b for b in at.button if b.key and b.key.split("__")[0] == base]
    assert len(found) == 1, (base, [b.key for b in at.button])
    return found[0]


@pytest.fixture
def runtime(data_dir):
    import streamlit as st

    from ui import resources

    st.cache_resource.clear()
    rt = resources.runtime()
    yield rt
    rt.stop()
    st.cache_resource.clear()


def make_images(folder: Path, n: int, size=(64, 48)) -> list[NewItem]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        p = folder / f"img{i}.png"
        Image.new("RGB", size, COLORS[i % len(COLORS)]).save(p)
        out.append(NewItem(str(p), size[0], size[1], hashlib.sha1(p.read_bytes() + bytes([i])).hexdigest()))
    return out


def setup_project(runtime, tmp_path, task=TaskType.MULTICLASS, n=3, classes=("cat", "dog", "bird"), **kw):
    store = runtime.store
    project = projects.create_project(
        store, f"P-{task.value}", task, list(classes), instructions="Label **the animal**.", **kw, by=SYSTEM
    )
    items.add_items(store, project.id, make_images(tmp_path / f"imgs-{task.value}", n))
    ids = [r[0] for r in store.query("SELECT id FROM items WHERE project_id = ? ORDER BY id", [project.id])]
    return project, projects.list_classes(store, project.id), ids


def labeler_in(project_id: int, username: str, role: ProjectRole = ProjectRole.LABELER) -> User:
    """An account that is a member of the project (core refuses a label from anyone else)."""
    from ui import resources

    store = resources.runtime().store  # the test's runtime (cached: the one the page uses)
    try:
        user = auth.get_user(store, username)
    except NotFound:
        user = auth.create_user(store, username, "secret-123", Role.LABELER, username.title(), by=SYSTEM)
    projects.add_member(store, project_id, user.id, role, by=SYSTEM)
    return user


def app(project_id: int, username: str = "ann", role: ProjectRole = ProjectRole.LABELER):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(PAGE, default_timeout=30)
    at.session_state["user"] = labeler_in(project_id, username, role)
    at.session_state["project_id"] = project_id
    return at


def texts(at) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [e.value for e in at.error] + [w.value for w in at.warning] + [s.value for s in at.success]
    parts += [i.value for i in at.info]
    return "\n".join(str(p) for p in parts)


def shown_item(at) -> int | None:
    return at.session_state["label_item_id"] if "label_item_id" in at.session_state else None  # noqa: SIM401


def test_multiclass_click_saves_as_human_and_shows_the_next_item(runtime, tmp_path):
    project, classes, ids = setup_project(runtime, tmp_path)
    at = app(project.id).run()
    assert not at.exception, at.exception
    assert "Label **the animal**." in texts(at)  # the instructions are on screen
    first = shown_item(at)
    assert first == ids[0]
    act(at, f"label_cls_{classes[1].id}").click().run()
    assert not at.exception
    ann = labels.current_annotation(runtime.store, first)
    assert ann is not None and ann.payload == {"class_id": classes[1].id}
    assert ann.source is Source.HUMAN and ann.author == "ann"
    assert shown_item(at) == ids[1]
    assert f"Image **{ids[1]}**" in texts(at)
    assert "Saved image" in texts(at)


def test_multilabel_sure_classes_come_pre_ticked_and_the_labeler_completes_them(runtime, tmp_path):
    project, classes, ids = setup_project(runtime, tmp_path, TaskType.MULTILABEL)
    payload = f'{{"class_ids": [{classes[0].id}], "score": 0.6, "sure_class_ids": [{classes[0].id}]}}'
    runtime.store.execute(
        "INSERT INTO predictions (item_id, project_id, payload, confidence, shown) VALUES (?, ?, ?, 0.6, false)",
        [ids[0], project.id, payload],
    )
    at = app(project.id).run()
    assert not at.exception, at.exception
    assert shown_item(at) == ids[0]
    assert "Pre-ticked by the model: **cat**" in texts(at)
    assert act(at, f"label_tog_{classes[0].id}").proto.type == "primary"  # ticked
    assert act(at, f"label_tog_{classes[2].id}").proto.type == "secondary"
    assert not [
        b for b in at.button if b.key and b.key.split("__")[0] == "label_accept"
    ]  # not a whole proposal: nothing to accept
    act(at, f"label_tog_{classes[2].id}").click().run()  # the labeler adds what the model left out
    act(at, "label_submit").click().run()
    ann = labels.current_annotation(runtime.store, ids[0])
    assert ann.payload == {"class_ids": sorted([classes[0].id, classes[2].id])}
    assert ann.source is Source.HUMAN  # a person decided the set
    assert "Pre-ticked" not in texts(at)  # the next image has no prediction


def test_multilabel_toggles_then_submit(runtime, tmp_path):
    project, classes, ids = setup_project(runtime, tmp_path, TaskType.MULTILABEL)
    at = app(project.id).run()
    act(at, f"label_tog_{classes[0].id}").click().run()
    act(at, f"label_tog_{classes[2].id}").click().run()
    act(at, f"label_tog_{classes[0].id}").click().run()  # off again
    assert labels.current_annotation(runtime.store, ids[0]) is None  # nothing saved before Submit
    act(at, "label_submit").click().run()
    assert not at.exception
    ann = labels.current_annotation(runtime.store, ids[0])
    assert ann.payload == {"class_ids": [classes[2].id]}
    assert shown_item(at) == ids[1]


def test_skip_with_a_reason(runtime, tmp_path):
    project, _, ids = setup_project(runtime, tmp_path)
    at = app(project.id).run()
    at.text_input(key="label_reason").input("too dark")
    act(at, "label_skip").click().run()
    assert not at.exception
    assert items.get_item(runtime.store, ids[0]).status is ItemStatus.SKIPPED
    rec = labels.skipped_items(runtime.store, project.id)
    assert [(r.item_id, r.reason, r.author) for r in rec] == [(ids[0], "too dark", "ann")]
    assert shown_item(at) == ids[1]


def test_skip_reason_box_keeps_one_key_and_empties_for_the_next_item(runtime, tmp_path):
    """The reason box has one widget key for every item (a key per item let a reason typed right after
    an item change go to the previous item's widget, and the skip went out without it)."""
    project, _, ids = setup_project(runtime, tmp_path)
    at = app(project.id).run()
    reasons = [t for t in at.text_input if t.label.startswith("Skip reason")]
    assert [t.key for t in reasons] == ["label_reason"]
    at.text_input(key="label_reason").input("blurry")
    act(at, "label_next").click().run()  # another item comes: the box is empty for it
    assert shown_item(at) == ids[1]
    assert at.text_input(key="label_reason").value == ""
    at.text_input(key="label_reason").input("dark")
    act(at, "label_skip").click().run()
    rec = labels.skipped_items(runtime.store, project.id)
    assert [(r.item_id, r.reason) for r in rec] == [(ids[1], "dark")]
    assert at.text_input(key="label_reason").value == ""


def test_back_opens_the_previous_item_with_its_label(runtime, tmp_path):
    project, classes, ids = setup_project(runtime, tmp_path)
    at = app(project.id).run()
    act(at, f"label_cls_{classes[0].id}").click().run()
    act(at, f"label_cls_{classes[1].id}").click().run()
    assert shown_item(at) == ids[2]
    act(at, "label_back").click().run()
    assert shown_item(at) == ids[1]
    act(at, "label_back").click().run()
    assert shown_item(at) == ids[0]
    assert act(at, f"label_cls_{classes[0].id}").proto.type == "primary"  # its saved class is marked
    act(at, f"label_cls_{classes[2].id}").click().run()  # relabel: a new version
    assert labels.current_annotation(runtime.store, ids[0]).version == 2
    assert shown_item(at) == ids[2]  # and on to the queue


def test_handover_from_another_page_opens_that_item(runtime, tmp_path):
    project, _, ids = setup_project(runtime, tmp_path)
    at = app(project.id)
    at.session_state["label_item_id"] = ids[2]
    at.run()
    assert f"Image **{ids[2]}**" in texts(at)


def test_empty_queue_shows_all_done(runtime, tmp_path):
    project, _, _ = setup_project(runtime, tmp_path, n=0)
    at = app(project.id).run()
    assert not at.exception
    assert "All done" in texts(at)


def test_paused_project_hands_out_nothing(runtime, tmp_path):
    project, _, ids = setup_project(runtime, tmp_path)
    projects.set_state(runtime.store, project.id, ProjectState.PAUSED, by=SYSTEM)
    at = app(project.id).run()
    assert "paused" in texts(at)
    assert queue.leased_items(runtime.store, project.id) == {}
    assert not [b for b in at.button if b.key and b.key.startswith("label_cls_")]


def test_stale_save_shows_both_versions_and_overwrites_on_the_current_one(runtime, tmp_path):
    project, classes, ids = setup_project(runtime, tmp_path)
    at = app(project.id, role=ProjectRole.REVIEWER).run()  # overwriting bob's label is a reviewer's
    labels.save_label(
        runtime.store, ids[0], {"class_id": classes[2].id}, author="bob", base_version=0, by=SYSTEM
    )
    act(at, f"label_cls_{classes[0].id}").click().run()
    page = texts(at)
    assert "Someone saved image" in page and "bob saved version 1" in page
    assert "Theirs · version 1 by bob" in page and "bird" in page  # theirs
    assert "Mine · not saved" in page and "cat" in page  # mine
    assert len(at.get("image")) == 2  # the image with each version drawn on it, not only class names
    act(at, "label_stale_overwrite").click().run()
    ann = labels.current_annotation(runtime.store, ids[0])
    assert (ann.version, ann.author, ann.payload) == (2, "ann", {"class_id": classes[0].id})
    assert [a.author for a in labels.history(runtime.store, ids[0])] == ["ann", "bob"]


def test_stale_save_keep_theirs_drops_mine(runtime, tmp_path):
    project, classes, ids = setup_project(runtime, tmp_path)
    at = app(project.id).run()
    labels.save_label(
        runtime.store, ids[0], {"class_id": classes[2].id}, author="bob", base_version=0, by=SYSTEM
    )
    act(at, f"label_cls_{classes[0].id}").click().run()
    act(at, "label_stale_keep").click().run()
    ann = labels.current_annotation(runtime.store, ids[0])
    assert (ann.version, ann.author) == (1, "bob")
    assert shown_item(at) == ids[1]


def _set_work(at, item_id: int, version: int, payload: dict) -> None:
    work = dict(at.session_state["label_work"])
    work[f"{item_id}:{version}"] = payload
    at.session_state["label_work"] = work


def test_boxes_submit_saves_the_working_boxes(runtime, tmp_path):
    project, classes, ids = setup_project(runtime, tmp_path, TaskType.BOXES)
    at = app(project.id).run()
    assert not at.exception, at.exception
    boxes = [{"class_id": classes[1].id, "xywh": [2.0, 3.0, 20.0, 10.0]}]
    _set_work(at, ids[0], 0, {"boxes": boxes})
    at.run()
    assert "Boxes: 1" in texts(at)
    act(at, "label_submit").click().run()
    assert not at.exception
    assert labels.current_annotation(runtime.store, ids[0]).payload == {"boxes": boxes}
    assert shown_item(at) == ids[1]


def test_box_list_changes_class_and_deletes(runtime, tmp_path):
    project, classes, ids = setup_project(runtime, tmp_path, TaskType.BOXES)
    at = app(project.id).run()
    boxes = [
        {"class_id": classes[0].id, "xywh": [1.0, 1.0, 10.0, 10.0]},
        {"class_id": classes[0].id, "xywh": [20.0, 5.0, 8.0, 8.0]},
    ]
    _set_work(at, ids[0], 0, {"boxes": boxes})
    at.run()
    sel = [s for s in at.selectbox if s.key and s.key.startswith("label_objcls_")]
    assert len(sel) == 2
    sel[1].select("bird").run()
    dels = [b for b in at.button if b.key and b.key.startswith("label_objdel_")]
    dels[0].click().run()
    act(at, "label_submit").click().run()
    saved = labels.current_annotation(runtime.store, ids[0]).payload
    assert saved == {"boxes": [{"class_id": classes[2].id, "xywh": [20.0, 5.0, 8.0, 8.0]}]}


def test_polygons_submit_saves_the_working_polygons(runtime, tmp_path):
    project, classes, ids = setup_project(runtime, tmp_path, TaskType.POLYGONS)
    at = app(project.id).run()
    assert not at.exception, at.exception
    polys = [{"class_id": classes[0].id, "points": [[1.0, 1.0], [30.0, 2.0], [15.0, 40.0]]}]
    _set_work(at, ids[0], 0, {"polygons": polys})
    at.run()
    assert "Polygons: 1" in texts(at)
    act(at, "label_submit").click().run()
    assert labels.current_annotation(runtime.store, ids[0]).payload == {"polygons": polys}


def test_invalid_work_is_refused_in_words(runtime, tmp_path):
    project, classes, ids = setup_project(runtime, tmp_path, TaskType.POLYGONS)
    at = app(project.id).run()
    _set_work(at, ids[0], 0, {"polygons": [{"class_id": classes[0].id, "points": [[1, 1], [2, 2], [3, 3]]}]})
    act(at, "label_submit").click().run()
    assert "Not saved: Polygon 1 has no area." in texts(at)
    assert labels.current_annotation(runtime.store, ids[0]) is None
    assert shown_item(at) == ids[0]


def test_unsaved_work_survives_reruns_and_next(runtime, tmp_path):
    project, classes, ids = setup_project(runtime, tmp_path, TaskType.MULTILABEL)
    at = app(project.id).run()
    act(at, f"label_tog_{classes[1].id}").click().run()
    act(at, "label_next").click().run()
    assert shown_item(at) == ids[1]
    at.session_state["label_item_id"] = ids[0]
    at.run()
    assert act(at, f"label_tog_{classes[1].id}").proto.type == "primary"


def test_missing_image_is_explained_with_a_skip(runtime, tmp_path):
    project = projects.create_project(runtime.store, "Broken", TaskType.MULTICLASS, ["a", "b"], by=SYSTEM)
    items.add_items(runtime.store, project.id, [NewItem(str(tmp_path / "gone.jpg"), 10, 10, "x" * 40)])
    at = app(project.id).run()
    assert "cannot be shown" in texts(at) and "missing" in texts(at)
    act(at, "label_skip").click().run()
    assert "All done" in texts(at)
    assert [r.reason for r in labels.skipped_items(runtime.store, project.id)] == ["image cannot be read"]


def test_a_shown_proposal_is_accepted_with_one_key(runtime, tmp_path):
    project, classes, ids = setup_project(runtime, tmp_path)
    runtime.store.execute(
        "INSERT INTO predictions (item_id, project_id, payload, confidence, shown) VALUES (?, ?, ?, ?, true)",
        [ids[0], project.id, json.dumps({"class_id": classes[1].id}), 0.97],
    )
    at = app(project.id).run()
    assert "Model proposes:" in texts(at) and "dog" in texts(at)
    act(at, "label_accept").click().run()
    ann = labels.current_annotation(runtime.store, ids[0])
    assert ann.source is Source.PRELABEL and ann.payload == {"class_id": classes[1].id}
    act(at, f"label_cls_{classes[0].id}").click().run()  # no proposal on the next: human
    assert labels.current_annotation(runtime.store, ids[1]).source is Source.HUMAN


def test_each_label_records_whether_it_kept_the_shown_proposal(runtime, tmp_path):
    from core.assist.predictions import proposal_stats

    project, classes, ids = setup_project(runtime, tmp_path)
    for item_id in ids[:2]:
        runtime.store.execute(
            "INSERT INTO predictions (item_id, project_id, payload, confidence, shown) VALUES (?, ?, ?, ?, true)",
            [item_id, project.id, json.dumps({"class_id": classes[1].id}), 0.97],
        )
    at = app(project.id).run()
    act(at, "label_accept").click().run()  # kept
    act(at, f"label_cls_{classes[2].id}").click().run()  # the proposal said dog: corrected
    act(at, f"label_cls_{classes[0].id}").click().run()  # no proposal shown
    kept = dict(
        runtime.store.query(
            "SELECT a.item_id, a.proposal_kept FROM annotations a WHERE a.project_id = ?", [project.id]
        )
    )
    assert kept == {ids[0]: True, ids[1]: False, ids[2]: None}
    stats = proposal_stats(runtime.store, project.id)
    assert (stats.accepted, stats.corrected) == (1, 1) and stats.live_precision == 0.5


def test_two_labelers_get_different_items(runtime, tmp_path):
    project, _, _ = setup_project(runtime, tmp_path)
    a = app(project.id, "ann").run()
    b = app(project.id, "bob").run()
    assert shown_item(a) != shown_item(b)


@pytest.mark.parametrize("task", [TaskType.BOXES, TaskType.POLYGONS])
def test_300_objects_stay_usable(runtime, tmp_path, task):
    import time

    project, classes, ids = setup_project(runtime, tmp_path, task)
    at = app(project.id).run()
    if task is TaskType.BOXES:
        objs = [
            {"class_id": classes[i % 3].id, "xywh": [float(i % 60), float(i % 40), 4.0, 4.0]}
            for i in range(300)
        ]
        key = "boxes"
    else:
        objs = [
            {
                "class_id": classes[i % 3].id,
                "points": [[i % 60, i % 40], [i % 60 + 3, i % 40], [i % 60, i % 40 + 3]],
            }
            for i in range(300)
        ]
        key = "polygons"
    _set_work(at, ids[0], 0, {key: objs})
    t0 = time.perf_counter()
    at.run()
    took = time.perf_counter() - t0
    print(f"\n{task.value}: a rerun with 300 objects took {took * 1000:.0f} ms (AppTest, whole page)")
    assert not at.exception
    assert f"{key.title()}: 300" in texts(at)
    # one table editor instead of 300 rows of widgets
    assert not [s for s in at.selectbox if s.key and s.key.startswith("label_objcls_")]
    act(at, "label_submit").click().run()
    saved = labels.current_annotation(runtime.store, ids[0]).payload[key]
    assert len(saved) == 300


def test_boxes_canvas_restarts_from_the_work_after_a_class_switch(runtime, tmp_path):
    """A box drawn, then another draw class: the canvas's starting drawing holds the box (a drawing
    cached from before the box came back when the canvas started over, and the next box replaced it)."""
    from ui.labeling.draw import CANVAS_INIT_KEY

    project, classes, ids = setup_project(runtime, tmp_path, TaskType.BOXES)
    at = app(project.id).run()
    _set_work(at, ids[0], 0, {"boxes": [{"class_id": classes[0].id, "xywh": [2.0, 3.0, 20.0, 10.0]}]})
    at.run()  # the box is in the work (as after a canvas edit); the canvas keeps its drawing
    act(at, f"label_draw_{classes[1].id}").click().run()
    assert not at.exception
    init = at.session_state[CANVAS_INIT_KEY]
    assert len(init) == 1
    (drawing,) = init.values()
    assert len(drawing["objects"]) == 1


def test_flash_stays_on_its_project_until_replaced_and_is_dropped_on_another(runtime, tmp_path, monkeypatch):
    """No timer takes the flash away on some later rerun (a labeler's first box on the next image moved the
    canvas up under the mouse when it went); a newer flash replaces it, another project's screen drops it."""
    import time

    project, classes, ids = setup_project(runtime, tmp_path, TaskType.BOXES)
    other, _, _ = setup_project(runtime, tmp_path, TaskType.MULTICLASS)
    at = app(project.id).run()
    _set_work(at, ids[0], 0, {"boxes": [{"class_id": classes[0].id, "xywh": [2.0, 3.0, 20.0, 10.0]}]})
    at.run()
    act(at, "label_submit").click().run()
    saved = f"Saved image {ids[0]}."
    assert saved in texts(at)
    at.run()  # the next image's canvas reports its first state: another run at once
    assert saved in texts(at)
    later = time.time() + 3600.0  # an hour on: the labeler is still drawing on the next image
    monkeypatch.setattr(time, "time", lambda: later)
    for _ in range(3):
        at.run()
        assert saved in texts(at)
    act(at, "label_submit").click().run()  # the next image, saved with no box: a newer message replaces it
    newer = f"Saved image {ids[1]}."
    assert newer in texts(at) and saved not in texts(at)
    at.session_state["project_id"] = other.id  # the labeler opens another project
    labeler_in(other.id, "ann")
    at.run()
    assert "Saved image" not in texts(at)
    at.session_state["project_id"] = project.id  # and comes back: the message went with the switch
    at.run()
    assert "Saved image" not in texts(at)


def test_object_list_height_fits_its_rows():
    from ui.labeling.draw import LIST_MAX_PX, list_height

    assert list_height(1) == "content"  # a few rows: the list grows with them, none hidden
    assert list_height(6) == "content"
    assert list_height(12) == LIST_MAX_PX  # many: a fixed height that scrolls


def test_all_done_after_the_last_multilabel_image_shows_only_the_card(runtime, tmp_path):
    project, classes, ids = setup_project(runtime, tmp_path, TaskType.MULTILABEL, n=1)
    at = app(project.id).run()
    _set_work(at, ids[0], 0, {"class_ids": [classes[0].id]})
    at.run()
    act(at, "label_submit").click().run()
    assert not at.exception
    assert "All done" in texts(at)
    keys = {b.key for b in at.button}
    assert not {"label_submit", "label_skip", "label_next"} & keys  # none of the image's controls


def test_a_press_meant_for_an_image_that_left_the_screen_labels_nothing(runtime, tmp_path):
    """The race of a key pressed while the next image loads: the button still on screen was drawn for
    the image saved already; its press must not label the image pinned meanwhile (never shown)."""
    project, classes, ids = setup_project(runtime, tmp_path)
    at = app(project.id).run()
    assert shown_item(at) == ids[0]
    stale = act(at, f"label_cls_{classes[1].id}")
    assert stale.key.endswith(f"__i{ids[0]}")  # the button is the shown image's own widget
    at.session_state["label_item_id"] = ids[1]  # the next image pinned by a run not yet on screen
    stale.click().run()
    assert not at.exception, at.exception
    assert labels.current_annotation(runtime.store, ids[0]) is None
    assert labels.current_annotation(runtime.store, ids[1]) is None  # never shown: not labeled
    assert shown_item(at) == ids[1]
    assert act(at, f"label_cls_{classes[1].id}").key.endswith(f"__i{ids[1]}")
    act(at, f"label_cls_{classes[1].id}").click().run()  # a press on the image shown acts
    assert labels.current_annotation(runtime.store, ids[1]).payload == {"class_id": classes[1].id}


@pytest.mark.parametrize("action", ["label_skip", "label_next", "label_submit"])
def test_skip_next_and_submit_of_an_image_gone_do_nothing(runtime, tmp_path, action):
    project, classes, ids = setup_project(runtime, tmp_path, TaskType.MULTILABEL)
    at = app(project.id).run()
    act(at, f"label_tog_{classes[0].id}").click().run()
    stale = act(at, action)
    at.session_state["label_item_id"] = ids[1]
    stale.click().run()
    assert not at.exception, at.exception
    assert labels.current_annotation(runtime.store, ids[1]) is None
    assert labels.skipped_items(runtime.store, project.id) == []
    assert shown_item(at) == ids[1]


def _canvas_reports(at, item_id: int, objects: list[dict]) -> None:
    """The box canvas (version 0, rev 0, zoom 1, the first width assumed) sends its drawing as the browser
    would."""
    from ui.labeling.draw import FIRST_W

    at.session_state[f"label_canvas_{item_id}_0_0_1.0_{FIRST_W}"] = {
        "drawing": {"raw": {"version": "6", "objects": objects}, "data": None},
        "backgroundFit": None,
    }


def test_a_box_deleted_on_the_canvas_is_gone_from_the_list_and_not_saved(runtime, tmp_path):
    """Draw a box, delete it with the canvas's own delete: the canvas reports no objects, as an empty
    starting drawing did; the list must say 0 and Submit must save no box."""
    project, classes, ids = setup_project(runtime, tmp_path, TaskType.BOXES)
    at = app(project.id).run()
    box = {"type": "LabeledRect", "label": classes[0].name, "left": 50, "top": 50, "width": 200, "height": 150,
           "originX": "left", "originY": "top", "scaleX": 1, "scaleY": 1}  # fmt: skip
    _canvas_reports(at, ids[0], [box])
    at.run()
    assert "**Boxes: 1**" in texts(at)
    _canvas_reports(at, ids[0], [])  # deleted on the canvas
    at.run()
    assert not at.exception, at.exception
    assert "**Boxes: 0**" in texts(at)
    act(at, "label_submit").click().run()
    assert labels.current_annotation(runtime.store, ids[0]).payload == {"boxes": []}


def progress_text(at) -> str:
    (bar,) = at.get("progress")
    return bar.proto.text


def test_progress_says_labeled_of_total_left_for_me_and_skipped(runtime, tmp_path):
    project, classes, ids = setup_project(runtime, tmp_path, n=5)
    at = app(project.id).run()
    assert progress_text(at) == "**0 / 5** labeled (0%) · **5** left for you · **0** skipped"
    act(at, f"label_cls_{classes[0].id}").click().run()
    act(at, "label_skip").click().run()
    assert progress_text(at) == "**1 / 5** labeled (20%) · **3** left for you · **1** skipped"
    other = queue.next_item_id(runtime.store, project.id, "bob")  # another labeler holds one
    assert other is not None
    at.run()
    assert progress_text(at) == "**1 / 5** labeled (20%) · **2** left for you · **1** skipped"


def test_accept_pressed_for_an_image_gone_accepts_nothing(runtime, tmp_path):
    """A (accept the proposal) pressed while the next image loads: the next image's proposal, never seen,
    is not accepted, and the image it was meant for is not saved twice."""
    project, classes, ids = setup_project(runtime, tmp_path)
    for iid in ids[:2]:
        runtime.store.execute(
            "INSERT INTO predictions (item_id, project_id, payload, confidence, shown) VALUES (?, ?, ?, ?, true)",
            [iid, project.id, json.dumps({"class_id": classes[1].id}), 0.97],
        )
    at = app(project.id).run()
    stale = act(at, "label_accept")
    assert stale.key.endswith(f"__i{ids[0]}")
    at.session_state["label_item_id"] = ids[1]
    stale.click().run()
    assert not at.exception, at.exception
    assert labels.current_annotation(runtime.store, ids[0]) is None
    assert labels.current_annotation(runtime.store, ids[1]) is None
    assert "Key ignored" in texts(at)
