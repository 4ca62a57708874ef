"""Grid mode of the labeling screen through AppTest: a page of similar images, deselect or give a tile
its own class, submit."""

from __future__ import annotations

import json

import numpy as np

from core.assist import cluster_pages, page_submit
from core.assist.embeddings import to_blob
from core.domain import ItemStatus, Source, TaskType
from core.permissions import SYSTEM
from core.store import items, labels, queue
from core.store.labels import utcnow
from tests.pages.test_label_page import act, app, setup_project, texts

MODEL = "test-backbone"


def featurise(store, project_id: int, ids: list[int], clusters: int = 2) -> None:
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(clusters, 1280))
    rows = [
        (iid, project_id, MODEL, to_blob(centres[k % clusters] + 0.05 * rng.normal(size=1280)), utcnow())
        for k, iid in enumerate(ids)
    ]
    store.write(
        lambda cur: cur.executemany(
            "INSERT INTO embeddings (item_id, project_id, model, vec, created_at) VALUES (?, ?, ?, ?, ?)",
            rows,
        )
    )


def grid_app(runtime, tmp_path, task=TaskType.MULTICLASS, n=12):
    project, classes, ids = setup_project(runtime, tmp_path, task, n=n)
    featurise(runtime.store, project.id, ids)
    at = app(project.id).run()
    assert not at.exception, at.exception
    return project, classes, ids, at


def tiles(at) -> list[int]:
    return [
        int(b.key.rsplit("_", 1)[1]) for b in at.button if b.key and b.key.startswith("label_grid_toggle_")
    ]


def test_no_grid_without_embeddings(runtime, tmp_path):
    project, _, _ = setup_project(runtime, tmp_path, n=12)
    at = app(project.id).run()
    assert not [s for s in at.segmented_control if s.key == "label_mode"]


def test_grid_page_deselect_and_submit_saves_the_selected_only(runtime, tmp_path):
    project, classes, ids, at = grid_app(runtime, tmp_path)
    at.segmented_control(key="label_mode").set_value("Grid").run()
    at.segmented_control(key="label_grid_size").set_value(4).run()
    assert not at.exception, at.exception
    shown = tiles(at)
    assert len(shown) == 4
    assert set(queue.leased_items(runtime.store, project.id)) >= set(shown)
    act(at, "label_grid_submit").click().run()  # no class yet: nothing saved, said in words
    assert "Choose the page's class first." in texts(at)
    assert all(labels.current_annotation(runtime.store, i) is None for i in shown)
    assert tiles(at) == shown
    odd = shown[1]
    act(at, f"label_grid_toggle_{odd}").click().run()
    assert "2 · left out" in act(at, f"label_grid_toggle_{odd}").label
    assert "1 left out" in texts(at)
    act(at, f"label_grid_cls_{classes[1].id}").click().run()
    assert act(at, "label_grid_submit").label == "Submit 3 images"
    act(at, "label_grid_submit").click().run()
    assert not at.exception, at.exception
    for iid in shown:
        ann = labels.current_annotation(runtime.store, iid)
        if iid == odd:
            assert ann is None and items.get_item(runtime.store, iid).status is ItemStatus.NEW
        else:
            assert ann.payload == {"class_id": classes[1].id} and ann.source is Source.HUMAN
            assert ann.author == "ann"
    assert "3 images labeled **dog**; 1 went back to the queue." in texts(at)
    nxt = tiles(at)
    assert len(nxt) == 4 and not set(nxt) & set(shown) - {odd}


def own_picker(at, item_id):
    return next(
        w for w in at.pills if w.key and w.key.startswith("label_grid_own_") and w.key.endswith(f"_{item_id}")
    )


def test_an_odd_one_gets_its_own_class_in_place(runtime, tmp_path):
    """One click on a tile's chips gives it its own class; leaving it out takes that back."""
    project, classes, ids, at = grid_app(runtime, tmp_path)
    at.segmented_control(key="label_mode").set_value("Grid").run()
    at.segmented_control(key="label_grid_size").set_value(4).run()
    shown = tiles(at)
    assert len([w for w in at.pills if w.key.startswith("label_grid_own_")]) == 4
    odd, dropped = shown[0], shown[3]
    own_picker(at, odd).set_value(classes[0].id).run()
    assert not at.exception, at.exception
    assert act(at, f"label_grid_toggle_{odd}").label == f"1 · {classes[0].name}"
    own_picker(at, dropped).set_value(classes[0].id).run()
    act(at, f"label_grid_toggle_{dropped}").click().run()  # left out: its own class is dropped
    assert act(at, f"label_grid_toggle_{dropped}").label == "4 · left out"
    assert own_picker(at, dropped).value is None
    act(at, f"label_grid_cls_{classes[1].id}").click().run()
    assert act(at, "label_grid_submit").label == "Submit 3 images"
    act(at, "label_grid_submit").click().run()
    assert not at.exception, at.exception
    got = {i: labels.current_annotation(runtime.store, i) for i in shown}
    assert got[odd].payload == {"class_id": classes[0].id} and got[odd].author == "ann"
    assert all(got[i].payload == {"class_id": classes[1].id} for i in shown[1:3])
    assert got[dropped] is None
    assert (
        f"2 images labeled **{classes[1].name}**; 1 given its own class; 1 went back to the queue."
        in texts(at)
    )


def test_many_classes_give_a_drop_down_instead_of_chips(runtime, tmp_path, monkeypatch):
    from core.assist import cluster_pages

    monkeypatch.setattr(cluster_pages, "ONE_CLICK_CLASSES", 1)
    project, classes, ids, at = grid_app(runtime, tmp_path)
    at.segmented_control(key="label_mode").set_value("Grid").run()
    at.segmented_control(key="label_grid_size").set_value(4).run()
    odd = tiles(at)[2]
    boxes = [w for w in at.selectbox if w.key and w.key.startswith("label_grid_own_")]
    assert len(boxes) == 4 and not [w for w in at.pills if w.key and w.key.startswith("label_grid_own_")]
    next(b for b in boxes if b.key.endswith(f"_{odd}")).set_value(classes[1].id).run()
    assert act(at, f"label_grid_toggle_{odd}").label == f"3 · {classes[1].name}"


def test_multilabel_tiles_show_and_change_their_whole_set(runtime, tmp_path):
    """Multi-label chips show the page's class ticked; ticking more, or none, is the tile's own set."""
    project, classes, ids, at = grid_app(runtime, tmp_path, TaskType.MULTILABEL)
    at.segmented_control(key="label_mode").set_value("Grid").run()
    at.segmented_control(key="label_grid_size").set_value(4).run()
    shown = tiles(at)
    more, none, plain, out = shown
    cat, dog, bird = classes
    assert all(own_picker(at, i).value == [] for i in shown)  # no page class yet: nothing ticked
    act(at, f"label_grid_cls_{bird.id}").click().run()
    assert all(own_picker(at, i).value == [bird.id] for i in shown)  # what Submit would save
    own_picker(at, more).set_value([bird.id, cat.id]).run()
    own_picker(at, none).set_value([]).run()
    act(at, f"label_grid_toggle_{out}").click().run()
    assert not at.exception, at.exception
    assert act(at, f"label_grid_toggle_{more}").label == "1 · cat, bird"
    assert act(at, f"label_grid_toggle_{none}").label == "2 · no class"
    assert act(at, f"label_grid_toggle_{plain}").label == "3 · bird"
    assert own_picker(at, out).value == []
    act(at, "label_grid_submit").click().run()
    assert not at.exception, at.exception
    got = {i: labels.current_annotation(runtime.store, i) for i in shown}
    assert got[more].payload == {"class_ids": sorted([cat.id, bird.id])}
    assert got[none].payload == {"class_ids": []}
    assert got[plain].payload == {"class_ids": [bird.id]}
    assert got[out] is None
    assert "1 image added **bird**; 2 given their own classes; 1 went back to the queue." in texts(at)


def test_back_opens_the_last_page_as_saved_and_saves_only_the_change(runtime, tmp_path):
    project, classes, ids, at = grid_app(runtime, tmp_path)
    at.segmented_control(key="label_mode").set_value("Grid").run()
    at.segmented_control(key="label_grid_size").set_value(4).run()
    assert not [
        b for b in at.button if b.key and b.key.split("__")[0] == "label_grid_back"
    ]  # nothing submitted yet
    first = tiles(at)
    act(at, f"label_grid_cls_{classes[0].id}").click().run()
    act(at, "label_grid_submit").click().run()
    assert set(tiles(at)).isdisjoint(first)
    act(at, "label_grid_back").click().run()
    assert not at.exception, at.exception
    assert tiles(at) == first and "Your last page, as you saved it." in texts(at)
    assert act(at, "label_grid_submit").label == "Save changes"
    assert not [b for b in at.button if b.key and b.key.startswith("label_grid_cls_")]
    assert all(own_picker(at, i).value == classes[0].id for i in first)  # as saved
    fixed = first[1]
    own_picker(at, fixed).set_value(classes[2].id).run()
    assert act(at, f"label_grid_toggle_{fixed}").label == f"2 · {classes[2].name}"
    act(at, "label_grid_submit").click().run()
    assert not at.exception, at.exception
    assert "Your last page: 1 changed, 3 as before." in texts(at)
    got = {i: labels.current_annotation(runtime.store, i) for i in first}
    assert got[fixed].payload == {"class_id": classes[2].id} and got[fixed].version == 2
    assert all(
        got[i].version == 1 and got[i].payload == {"class_id": classes[0].id} for i in first if i != fixed
    )
    assert set(tiles(at)).isdisjoint(first)  # on to a fresh page


def test_two_labelers_see_different_tiles(runtime, tmp_path):
    project, _, _, a = grid_app(runtime, tmp_path)
    a.segmented_control(key="label_mode").set_value("Grid").run()
    a.segmented_control(key="label_grid_size").set_value(4).run()
    b = app(project.id, "bob").run()
    b.segmented_control(key="label_mode").set_value("Grid").run()
    b.segmented_control(key="label_grid_size").set_value(4).run()
    assert len(tiles(a)) == 4 and len(tiles(b)) == 4
    assert not set(tiles(a)) & set(tiles(b))


def test_multilabel_grid_adds_one_class(runtime, tmp_path):
    project, classes, ids, at = grid_app(runtime, tmp_path, TaskType.MULTILABEL)
    at.segmented_control(key="label_mode").set_value("Grid").run()
    at.segmented_control(key="label_grid_size").set_value(6).run()
    shown = tiles(at)
    assert len(shown) == 6 and "(ticked on each tile)" in texts(at)
    act(at, f"label_grid_cls_{classes[2].id}").click().run()
    act(at, "label_grid_submit").click().run()
    assert not at.exception, at.exception
    for iid in shown:
        assert labels.current_annotation(runtime.store, iid).payload == {"class_ids": [classes[2].id]}


def test_a_page_grouped_by_the_model_shows_no_class_and_says_why(runtime, tmp_path):
    project, classes, ids, at = grid_app(runtime, tmp_path)
    s = runtime.store
    s.execute(
        "INSERT INTO model_runs (project_id, kind, state, metrics) VALUES (?, 'train', 'done', ?)",
        [project.id, '{"head_path": "/nowhere/head.npz", "page_threshold": 0.8}'],
    )
    rows = [(iid, project.id, f'{{"class_id": {classes[0].id}}}', 0.9, False) for iid in ids[:6]]
    s.write(
        lambda cur: cur.executemany(
            "INSERT INTO predictions (item_id, project_id, payload, confidence, shown, class_ids)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(*r, [json.loads(r[2])["class_id"]]) for r in rows],  # class_ids as the inference writes them
        )
    )
    at.segmented_control(key="label_mode").set_value("Grid").run()
    at.segmented_control(key="label_grid_size").set_value(4).run()
    assert not at.exception, at.exception
    assert set(tiles(at)) <= set(ids[:6])
    body = texts(at)
    assert "same predicted class" in body and "not yet sure enough to propose a class" in body
    assert "The model proposes" not in body  # below the proposal threshold: no class is suggested
    assert all(b.proto.type != "primary" for b in at.button if b.key and b.key.startswith("label_grid_cls_"))


def test_a_press_meant_for_a_page_that_left_the_screen_acts_on_nothing(runtime, tmp_path):
    """Enter pressed twice: the second press lands while the next page is drawn, on the buttons of the page
    just submitted. It must not submit the next page, which the labeler has not seen."""
    project, classes, ids, at = grid_app(runtime, tmp_path)
    at.segmented_control(key="label_mode").set_value("Grid").run()
    at.segmented_control(key="label_grid_size").set_value(4).run()
    act(at, f"label_grid_cls_{classes[1].id}").click().run()
    first = tiles(at)
    stale_submit = act(at, "label_grid_submit")
    page = cluster_pages.current_page(runtime.store, project.id, "ann")
    page_submit.submit_page(
        runtime.store, page, first, classes[1].id, TaskType.MULTICLASS, by=SYSTEM
    )  # press 1
    nxt = cluster_pages.next_page(runtime.store, project.id, "ann", TaskType.MULTICLASS, 4)  # its rerun
    assert nxt is not None and not set(nxt.item_ids) & set(first)
    stale_submit.click().run()  # press 2, on the page gone
    assert not at.exception, at.exception
    assert all(labels.current_annotation(runtime.store, i) is None for i in nxt.item_ids)
    assert cluster_pages.current_page(runtime.store, project.id, "ann").item_ids == nxt.item_ids
    assert sorted(tiles(at)) == sorted(nxt.item_ids)


def test_switching_back_to_one_image_shows_the_queue_not_an_image_labeled_on_the_grid(runtime, tmp_path):
    project, classes, ids, at = grid_app(runtime, tmp_path)
    pinned = at.session_state["label_item_id"]  # One image mode pinned the queue's first
    at.segmented_control(key="label_mode").set_value("Grid").run()
    at.segmented_control(key="label_grid_size").set_value(4).run()
    act(at, f"label_grid_cls_{classes[0].id}").click().run()
    page = tiles(at)
    act(at, "label_grid_submit").click().run()
    labeled = set(page) | {i for i in ids if labels.current_annotation(runtime.store, i) is not None}
    at.segmented_control(key="label_mode").set_value("One image").run()
    assert not at.exception, at.exception
    now = at.session_state["label_item_id"]
    assert now not in labeled, (pinned, now, labeled)
    assert items.get_item(runtime.store, now).status is ItemStatus.NEW


def test_a_grid_page_keeps_its_state_under_one_session_key_until_submitted(runtime, tmp_path):
    from ui.labeling.grid_tiles import PAGES_KEY, PageState

    project, classes, ids, at = grid_app(runtime, tmp_path)
    at.segmented_control(key="label_mode").set_value("Grid").run()
    at.segmented_control(key="label_grid_size").set_value(4).run()
    shown = tiles(at)
    act(at, f"label_grid_toggle_{shown[0]}").click().run()
    act(at, f"label_grid_cls_{classes[0].id}").click().run()
    for old in ("label_grid_off", "label_grid_own", "label_grid_class", "label_grid_t0"):
        assert old not in at.session_state  # the four keys the page state had before
    pk = ",".join(str(i) for i in shown)  # the page on screen (the 9-image page drawn first has its own)
    state = at.session_state[PAGES_KEY][pk]
    assert isinstance(state, PageState) and state.off == {shown[0]} and state.class_id == classes[0].id
    assert state.opened_at is not None and state.own == {}
    act(at, "label_grid_submit").click().run()
    assert not at.exception, at.exception
    assert pk not in at.session_state[PAGES_KEY]  # the submitted page is forgotten
