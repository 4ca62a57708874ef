"""The label screen names an imported proposal so (with its file), and accepting it saves a label."""

from __future__ import annotations

from pathlib import Path

from core.domain import Source, TaskType
from core.formats.label_import import ImportOptions, apply_import, preview_import
from core.permissions import SYSTEM
from core.store import labels
from tests.pages.test_label_page import act, app, runtime, setup_project, texts  # noqa: F401 (fixture)


def test_an_imported_proposal_is_shown_as_such_and_accepted(runtime, tmp_path: Path) -> None:  # noqa: F811
    project, classes, ids = setup_project(runtime, tmp_path)
    paths = [
        r[0]
        for r in runtime.store.query("SELECT path FROM items WHERE project_id = ? ORDER BY id", [project.id])
    ]
    csv = tmp_path / "outside-model.csv"
    csv.write_text("image,label\n" + "".join(f"{Path(p).name},dog\n" for p in paths))
    pv = preview_import(runtime.store, project.id, csv)
    assert len(pv.matched) == 3 and pv.project_task is TaskType.MULTICLASS
    apply_import(
        runtime.store, project.id, pv, author="admin", options=ImportOptions(as_proposals=True), by=SYSTEM
    )
    at = app(project.id).run()
    assert not at.exception, at.exception
    body = texts(at)
    assert "Imported proposal:" in body and "Model proposes" not in body
    assert "from outside-model.csv" in body.replace("\\", "")
    act(at, "label_accept").click().run()
    ann = labels.current_annotation(runtime.store, ids[0])
    assert ann is not None and ann.source is Source.PRELABEL and ann.payload == {"class_id": classes[1].id}
