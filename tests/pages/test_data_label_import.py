"""Data page, Import labels: a server path or an uploaded file, the preview (matched, no image, refused,
classes), a class mapped or created, then the import as new versions or as proposals."""

from __future__ import annotations

import json

from core.assist.predictions import shown_prediction
from core.images.sources import import_folder
from core.permissions import SYSTEM
from core.store.labels import current_annotation
from core.store.projects import list_classes
from tests.pages.helpers import page, texts, write_pngs

PAGE = "pages/data.py"


def _images(runtime, project, tmp_path):  # type: ignore[no-untyped-def]
    folder = tmp_path / "photos"
    write_pngs(folder, 3)  # img_000.png .. img_002.png, 64 x 48
    import_folder(runtime.store, project.id, folder, watch=False, by=SYSTEM)
    rows = runtime.store.query("SELECT id, path FROM items WHERE project_id = ? ORDER BY path", [project.id])
    return [r[0] for r in rows]


def _coco(tmp_path, scores=False):  # type: ignore[no-untyped-def]
    images = [{"id": k + 1, "file_name": f"img_{k:03d}.png", "width": 64, "height": 48} for k in range(3)]
    images.append({"id": 9, "file_name": "elsewhere.png", "width": 64, "height": 48})
    anns = [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 3, 20, 10]},
        {"id": 2, "image_id": 2, "category_id": 2, "bbox": [5, 5, 10, 10]},
        {"id": 3, "image_id": 2, "category_id": 1, "bbox": [50, 5, 30, 10]},  # reaches outside 64 px
        {"id": 4, "image_id": 3, "category_id": 1, "bbox": [1, 1, 5, 5]},
    ]
    if scores:
        for a in anns:
            a["score"] = 0.8
    path = tmp_path / "instances_val.json"
    path.write_text(json.dumps({"images": images, "annotations": anns,
                                "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "bird"}]}))  # fmt: skip
    return path


def _preview(at, path):  # type: ignore[no-untyped-def]
    at.radio(key=f"label_import_source_{at.session_state['project_id']}").set_value(
        "A file or folder on the server"
    ).run()
    at.text_input(key=f"label_import_path_{at.session_state['project_id']}").input(str(path)).run()
    at.button(key=f"label_import_preview_btn_{at.session_state['project_id']}").click().run()
    assert not at.exception, at.exception
    return at


def test_preview_then_import_creates_a_class_and_saves_import_versions(runtime, admin, project, tmp_path):
    items = _images(runtime, project, tmp_path)
    at = _preview(page(PAGE, admin, project.id).run(), _coco(tmp_path))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Images matched"] == "3" and metrics["Labels with no image"] == "1"
    assert metrics["Refused"] == "1" and metrics["Unreadable records"] == "0"
    body = texts(at)
    assert "nothing is saved yet" in body and "bird · 1 use" in body
    assert "Project classes the file does not name: dog" in body
    cat_select = at.selectbox(key=f"label_import_class_{project.id}_1")
    bird_select = at.selectbox(key=f"label_import_class_{project.id}_2")
    assert cat_select.value == "cat" and bird_select.value == "Create it as a new class"
    at.button(key=f"label_import_apply_{project.id}").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    body = texts(at).replace("\\", "")
    assert "3 labels saved" in body and "classes created: bird" in body and "1 refused" in body
    classes = {c.name: c.id for c in list_classes(runtime.store, project.id)}
    ann = current_annotation(runtime.store, items[1])
    assert ann is not None and ann.source.value == "import"
    assert ann.payload == {"boxes": [{"class_id": classes["bird"], "xywh": [5.0, 5.0, 10.0, 10.0]}]}


def test_a_class_mapped_onto_another_and_imported_as_proposals(runtime, admin, project, tmp_path):
    items = _images(runtime, project, tmp_path)
    at = _preview(page(PAGE, admin, project.id).run(), _coco(tmp_path, scores=True))
    at.selectbox(key=f"label_import_class_{project.id}_2").set_value("dog").run()
    at.toggle(key=f"label_import_proposals_{project.id}").set_value(True).run()
    at.button(key=f"label_import_apply_{project.id}").click().run()
    assert not at.exception and not at.error
    assert "3 imported proposals" in texts(at)
    assert current_annotation(runtime.store, items[1]) is None
    pred = shown_prediction(runtime.store, items[1])
    dog = next(c.id for c in list_classes(runtime.store, project.id) if c.name == "dog")
    assert pred is not None and pred.payload["boxes"] == [
        {"class_id": dog, "xywh": [5.0, 5.0, 10.0, 10.0], "score": 0.8}
    ]


def test_an_uploaded_csv_and_an_unreadable_file_in_words(runtime, admin, tmp_path):
    from tests.pages.helpers import make_project

    project = make_project(runtime, task="multiclass", name="Pets multi")
    _images(runtime, project, tmp_path)
    at = page(PAGE, admin, project.id).run()
    uploader = next(u for u in at.get("file_uploader") if "Label file" in u.label)
    uploader.set_value(
        [("labels.csv", b"image,label\nimg_000.png,cat\nimg_001.png,dog\nimg_9.png,cat\n", "text/csv")]
    ).run()
    at.button(key=f"label_import_preview_btn_{project.id}").click().run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Images matched"] == "2" and metrics["Labels with no image"] == "1"
    at.button(key=f"label_import_apply_{project.id}").click().run()
    assert "2 labels saved" in texts(at)
    bad = tmp_path / "broken.json"
    bad.write_text('{"images": [')
    at = _preview(page(PAGE, admin, project.id).run(), bad)
    assert any("malformed JSON at line 1" in e.value for e in at.error)
