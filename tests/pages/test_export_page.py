"""Export: empty state, not installed, run an export as a job, download it; earlier exports listed."""

from __future__ import annotations

import json
from pathlib import Path

import core.jobs
from core.jobs import list_jobs
from core.permissions import SYSTEM
from core.store import projects
from core.store.items import NewItem, add_items
from core.store.labels import save_label
from tests.pages.helpers import page, texts, write_pngs
from ui import widgets

PAGE = "pages/export.py"


def test_nothing_to_export(runtime, admin, project):
    at = page(PAGE, admin, project.id).run()
    assert not at.exception and not at.error
    assert "Nothing to export" in texts(at)


def test_not_installed_is_said(runtime, admin, project, monkeypatch):
    monkeypatch.delitem(core.jobs._HANDLERS, "export", raising=False)
    at = page(PAGE, admin, project.id).run()
    assert "Export is not installed" in texts(at)


def test_export_runs_as_job_and_offers_download(runtime, admin, project, tmp_path):
    files = write_pngs(tmp_path / "imgs", 3, size=(64, 48))
    add_items(runtime.store, project.id, [NewItem(str(f), 64, 48, f"sha{i}") for i, f in enumerate(files)])
    cat, _ = projects.list_classes(runtime.store, project.id)
    save_label(
        runtime.store,
        1,
        {"boxes": [{"class_id": cat.id, "xywh": [1, 2, 30, 20]}]},
        author="admin",
        base_version=0,
        by=SYSTEM,
    )
    at = page(PAGE, admin, project.id).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "No export yet" in texts(at)
    at.button(key="export_go").click().run()
    (job,) = list_jobs(runtime.store, project.id, kind="export")
    assert job.params == {"format": "coco", "include": "labeled"}
    # the toast waits for the run after the page's rerun (the shell shows it): drawn before, it was lost
    assert at.session_state[widgets.TOAST_KEY] == "Export started."
    job = runtime.runner.wait(job.id, timeout=60)
    assert job.state == "done", job.error
    path = job.result["path"]
    coco = json.loads(Path(path).read_text())
    assert len(coco["images"]) == 1 and coco["annotations"][0]["bbox"] == [1, 2, 30, 20]
    at.run()
    assert not at.error
    (button,) = at.download_button
    assert button.key == f"dl_{job.id}"
    assert "1 images · 1 labels" in texts(at)


def test_choose_yolo_and_all_images(runtime, admin, project, tmp_path):
    files = write_pngs(tmp_path / "imgs", 2)
    add_items(runtime.store, project.id, [NewItem(str(f), 64, 48, f"sha{i}") for i, f in enumerate(files)])
    at = page(PAGE, admin, project.id).run()
    assert at.button(key="export_go").disabled  # nothing labeled yet
    at.segmented_control(key=f"export_format_{project.id}").set_value("yolo")
    at.radio(key=f"export_include_{project.id}").set_value("all").run()
    at.button(key="export_go").click().run()
    (job,) = list_jobs(runtime.store, project.id, kind="export")
    assert job.params == {"format": "yolo", "include": "all"}
    assert runtime.runner.wait(job.id, timeout=60).result["path"].endswith(".zip")


def test_the_export_choice_is_the_shown_projects(runtime, admin, project, tmp_path):
    """YOLO and All images chosen for one project are not what another project's Export page shows."""
    from tests.pages.helpers import make_project

    other = make_project(runtime, "boxes", "Other")
    files = write_pngs(tmp_path / "imgs", 2)
    for pid in (project.id, other.id):
        add_items(runtime.store, pid, [NewItem(str(f), 64, 48, f"s{pid}{i}") for i, f in enumerate(files)])
    at = page(PAGE, admin, project.id).run()
    at.segmented_control(key=f"export_format_{project.id}").set_value("yolo")
    at.radio(key=f"export_include_{project.id}").set_value("all").run()
    at.session_state["project_id"] = other.id
    at.run()
    assert not at.exception and not at.error
    assert at.segmented_control(key=f"export_format_{other.id}").value == "coco"
    assert at.radio(key=f"export_include_{other.id}").value == "labeled"
