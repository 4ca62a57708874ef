"""A label saved on a full disk: the labeling screen says "Not saved: The disk is full (N MB free)" and
keeps the image on screen (it used to say the database was busy, or raise out of the callback)."""

from __future__ import annotations

from core.disk import DiskFull
from core.store import labels
from tests.pages.test_label_page import act, app, runtime, setup_project, shown_item, texts  # noqa: F401


def test_a_save_on_a_full_disk_says_so_and_keeps_the_image(runtime, tmp_path, monkeypatch):  # noqa: F811
    project, classes, ids = setup_project(runtime, tmp_path)
    at = app(project.id).run()
    assert shown_item(at) == ids[0]

    def full(*_a, **_k):
        raise DiskFull(4.0, "the change")

    monkeypatch.setattr(labels, "save_label", full)
    act(at, f"label_cls_{classes[1].id}").click().run()
    assert not at.exception, at.exception
    shown = texts(at).replace("\\", "")
    assert "Not saved: The disk is full (4 MB free). The change could not be saved." in shown
    assert shown_item(at) == ids[0] and labels.current_annotation(runtime.store, ids[0]) is None
    monkeypatch.undo()  # space freed: the same click saves
    act(at, f"label_cls_{classes[1].id}").click().run()
    assert labels.current_annotation(runtime.store, ids[0]).payload == {"class_id": classes[1].id}


def test_a_grid_page_submitted_on_a_full_disk_says_so_and_stays(runtime, tmp_path, monkeypatch):  # noqa: F811
    from core.assist import page_submit
    from tests.pages.test_label_grid import grid_app, tiles

    _, classes, _, at = grid_app(runtime, tmp_path)
    at.segmented_control(key="label_mode").set_value("Grid").run()
    at.segmented_control(key="label_grid_size").set_value(4).run()
    shown = tiles(at)
    act(at, f"label_grid_cls_{classes[1].id}").click().run()

    def full(*_a, **_k):
        raise DiskFull(1.0, "the change")

    monkeypatch.setattr(page_submit, "submit_page", full)
    act(at, "label_grid_submit").click().run()
    assert not at.exception, at.exception
    assert "Not saved: The disk is full (1 MB free)." in texts(at).replace("\\", "")
    assert tiles(at) == shown and all(labels.current_annotation(runtime.store, i) is None for i in shown)
