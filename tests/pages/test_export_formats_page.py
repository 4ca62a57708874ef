"""Export page: the formats offered are those that carry the project's task; "Include the images"
for the formats whose zip can hold them, and the zip then holds the image files."""

from __future__ import annotations

import zipfile
from pathlib import Path

from core.formats.export import FORMATS
from core.jobs import list_jobs
from core.permissions import SYSTEM
from core.store import projects
from core.store.items import NewItem, add_items
from core.store.labels import save_label
from tests.pages.helpers import make_project, page, write_pngs

PAGE = "pages/export.py"


def _with_images(runtime, project, tmp_path):  # type: ignore[no-untyped-def]
    files = write_pngs(tmp_path / "imgs", 2, size=(64, 48))
    add_items(runtime.store, project.id, [NewItem(str(f), 64, 48, f"sha{i}") for i, f in enumerate(files)])
    cat, _ = projects.list_classes(runtime.store, project.id)
    for item_id in (1, 2):
        payload = {"polygons": [{"class_id": cat.id, "points": [[1, 2], [30, 2], [20, 40]]}]}
        save_label(runtime.store, item_id, payload, author="admin", base_version=0, by=SYSTEM)
    return files


def test_formats_follow_the_task(runtime, admin, tmp_path):  # type: ignore[no-untyped-def]
    for task, shown, hidden in [
        (
            "multiclass",
            {"coco", "labelstudio", "cvat", "imagefolder", "yolo", "voc"},
            {"masks", "yolo-seg", "coco-rle"},
        ),
        ("polygons", {"masks", "yolo-seg", "coco-rle", "labelstudio", "cvat", "imagefolder"}, set()),
        ("boxes", {"masks", "yolo-seg", "labelstudio", "cvat"}, {"coco-rle"}),
    ]:
        project = make_project(runtime, task, f"P {task}")
        files = write_pngs(tmp_path / task, 1)
        add_items(runtime.store, project.id, [NewItem(str(files[0]), 64, 48, f"s{task}")])
        at = page(PAGE, admin, project.id).run()
        assert not at.exception and not at.error
        options = set(at.segmented_control(key=f"export_format_{project.id}").options)  # the titles shown
        titles = {name: spec.title for name, spec in FORMATS.items()}
        assert {titles[n] for n in shown} <= options and not {titles[n] for n in hidden} & options, (
            task,
            options,
        )


def test_include_images_only_for_zip_formats(runtime, admin, tmp_path):  # type: ignore[no-untyped-def]
    project = make_project(runtime, "polygons", "Shapes")
    _with_images(runtime, project, tmp_path)
    at = page(PAGE, admin, project.id).run()
    images = f"export_images_{project.id}"
    assert images not in {c.key for c in at.checkbox}  # COCO is one file
    at.segmented_control(key=f"export_format_{project.id}").set_value("cvat").run()
    assert images not in {c.key for c in at.checkbox}
    at.segmented_control(key=f"export_format_{project.id}").set_value("yolo-seg").run()
    assert at.checkbox(key=images).label == "Include the images in the zip"


def test_export_with_images_from_the_page(runtime, admin, tmp_path):  # type: ignore[no-untyped-def]
    project = make_project(runtime, "polygons", "Shapes")
    files = _with_images(runtime, project, tmp_path)
    at = page(PAGE, admin, project.id).run()
    at.segmented_control(key=f"export_format_{project.id}").set_value("imagefolder").run()
    at.checkbox(key=f"export_images_{project.id}").check().run()
    at.button(key="export_go").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    (job,) = list_jobs(runtime.store, project.id, kind="export")
    assert job.params == {"format": "imagefolder", "include": "labeled", "with_images": True}
    job = runtime.runner.wait(job.id, timeout=120)
    assert job.state == "done", job.error
    with zipfile.ZipFile(job.result["path"]) as zf:
        assert {"metadata.jsonl", *(f.name for f in files)} <= set(zf.namelist())
        assert all(zf.read(f.name) == Path(f).read_bytes() for f in files)
