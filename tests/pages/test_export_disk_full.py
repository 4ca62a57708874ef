"""The export page on a full disk: the refusal, a waiting job and a failed job all say "the disk is full
(N MB free)" in words (the issue: an export submitted on a full disk stayed "queued" with no error)."""

from __future__ import annotations

from pathlib import Path

from core import jobs
from core.disk import DiskFull
from core.permissions import SYSTEM
from core.store import projects
from core.store.items import NewItem, add_items
from core.store.labels import save_label
from tests.pages.helpers import page, texts, write_pngs

PAGE = "pages/export.py"


def _labeled(runtime, project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    files = write_pngs(tmp_path / "imgs", 2, size=(64, 48))
    add_items(runtime.store, project.id, [NewItem(str(f), 64, 48, f"sha{i}") for i, f in enumerate(files)])
    cat, _ = projects.list_classes(runtime.store, project.id)
    box = {"boxes": [{"class_id": cat.id, "xywh": [1, 2, 30, 20]}]}
    save_label(runtime.store, 1, box, author="admin", base_version=0, by=SYSTEM)


def test_an_export_refused_on_a_full_disk_says_so(runtime, admin, project, tmp_path, monkeypatch):
    _labeled(runtime, project, tmp_path)

    def full(*_a, **_k):  # the job row cannot be written
        raise DiskFull(2.4, "the change")

    monkeypatch.setattr(runtime.runner, "submit", full)
    at = page(PAGE, admin, project.id).run()
    at.button(key="export_go").click().run()
    assert not at.exception
    assert any(e.value.startswith("The disk is full (2 MB free)") for e in at.error), texts(at)
    assert "busy" not in texts(at)


def test_a_waiting_export_says_why(runtime, admin, project, tmp_path):
    _labeled(runtime, project, tmp_path)
    runtime.runner.stop()  # nothing claims the job: it waits as on a full disk
    jobs.submit(runtime.store, "export", {"format": "coco"}, project_id=project.id, created_by="admin")
    runtime.runner.blocked = DiskFull(0.3, "a job's state")
    at = page(PAGE, admin, project.id).run()
    assert not at.exception
    assert "Jobs are waiting: The disk is full (0 MB free)" in texts(at).replace("\\", "")
    runtime.runner.blocked = None  # space back: the note goes
    at.run()
    assert "The disk is full" not in texts(at)


def test_a_failed_export_says_the_disk_is_full(runtime, admin, project, tmp_path):
    _labeled(runtime, project, tmp_path)
    runtime.runner.stop()
    job = jobs.submit(runtime.store, "export", {"format": "coco"}, project_id=project.id, created_by="admin")
    words = str(DiskFull(12.0, "the export"))
    runtime.store.execute(
        "UPDATE jobs SET state = 'failed', error = ?, message = ?, finished_at = now() WHERE id = ?",
        [words + "\nTraceback ...", words[:200], job.id],
    )
    at = page(PAGE, admin, project.id).run()
    assert not at.exception
    shown = texts(at).replace("\\", "")  # the error is shown as plain text (markdown escaped)
    assert "It failed: The disk is full (12 MB free). The export could not be saved." in shown
