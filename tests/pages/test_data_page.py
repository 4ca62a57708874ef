"""Data: empty state, add a folder (job imports it), rescan, watch toggle, uploads with per-file results."""

from __future__ import annotations

from core import images
from core.jobs import list_jobs
from core.store.items import count_items
from tests.pages.helpers import page, png_bytes, texts, write_pngs

PAGE = "pages/data.py"


def _wait_jobs(runtime, project_id):
    for job in list_jobs(runtime.store, project_id):
        done = runtime.runner.wait(job.id, timeout=60)
        assert done.state == "done", done.error


def test_empty_state(runtime, admin, project):
    at = page(PAGE, admin, project.id).run()
    assert not at.exception and not at.error
    assert "No images yet" in texts(at)
    assert "show their progress here" in texts(at)


def test_no_project_open_offers_a_choice(runtime, admin, project):
    at = page(PAGE, admin).run()
    assert at.selectbox[0].label == "Open a project"
    at.selectbox[0].select(project.id).run()
    assert at.session_state["project_id"] == project.id


def test_labeler_cannot_add(runtime, labeler, project):
    from core.permissions import SYSTEM
    from core.store import projects

    projects.add_member(runtime.store, project.id, labeler.id, by=SYSTEM)  # a member, a labeler
    at = page(PAGE, labeler, project.id).run()
    assert "Only an administrator or the project's owner can add images." in texts(at)


def test_add_folder_imports_as_a_job(runtime, admin, project, tmp_path):
    folder = tmp_path / "photos"
    write_pngs(folder, 5)
    (folder / "notes.txt").write_text("not an image")
    at = page(PAGE, admin, project.id).run()
    at.text_input[0].input(str(folder))
    next(b for b in at.button if b.label == "Add folder and import").click().run()
    assert not at.error, [e.value for e in at.error]
    _wait_jobs(runtime, project.id)
    assert count_items(runtime.store, project.id) == 5
    at.run()
    body = texts(at)
    assert "5 added" in body and "Images in the project" in [m.label for m in at.metric]
    (src,) = images.list_sources(runtime.store, project.id)
    assert src.watch and src.path == str(folder.resolve())
    # rescan picks up a new file; the watch toggle is kept on the source
    write_pngs(folder / "more", 1, size=(33, 33))
    at.button(key=f"rescan_{src.id}").click().run()
    _wait_jobs(runtime, project.id)
    assert count_items(runtime.store, project.id) == 6
    at.toggle(key=f"watch_{src.id}").set_value(False).run()
    assert images.get_source(runtime.store, src.id).watch is False


def test_missing_folder_is_refused_in_words(runtime, admin, project, tmp_path):
    at = page(PAGE, admin, project.id).run()
    at.text_input[0].input(str(tmp_path / "nowhere"))
    next(b for b in at.button if b.label == "Add folder and import").click().run()
    assert "does not exist on the server" in texts(at)
    assert list_jobs(runtime.store, project.id) == []


def test_upload_reports_each_file(runtime, admin, project):
    at = page(PAGE, admin, project.id).run()
    good = png_bytes((40, 30), (1, 2, 3))
    at.file_uploader[0].set_value(
        [
            ("a.png", good, "image/png"),
            ("b.png", png_bytes((41, 30), (9, 9, 9)), "image/png"),
            ("copy-of-a.png", good, "image/png"),
            ("broken.jpg", b"\xff\xd8 not really a jpeg", "image/jpeg"),
            ("readme.txt", b"hello", "text/plain"),
        ]
    ).run()
    at.button(key=f"import_up_{project.id}").click().run()
    assert not at.exception
    assert count_items(runtime.store, project.id) == 2
    body = texts(at)
    assert "2 image(s) added." in body
    assert "2 file(s) could not be imported" in body
    assert "1 file(s) were already in the project" in body
    refused = at.dataframe[0].value
    assert set(refused["file"]) == {"broken.jpg", "readme.txt"}
    assert all(len(why) > 5 for why in refused["why"])


def test_project_b_shows_nothing_of_project_a(runtime, admin, project, tmp_path):
    """Every bit of the Data page's state belongs to the project it shows: A's upload report, the folder
    path typed for A and A's uploader stay with A when B is opened, and come back with A."""
    from tests.pages.helpers import make_project

    other = make_project(runtime, "multiclass", "Other")
    at = page(PAGE, admin, project.id).run()
    at.file_uploader[0].set_value([("a.png", png_bytes((40, 30), (1, 2, 3)), "image/png")]).run()
    at.button(key=f"import_up_{project.id}").click().run()
    assert "All 1 image(s) added." in texts(at)
    at.text_input(key=f"folder_path_{project.id}").input(str(tmp_path / "for-a-only"))
    at.run()
    at.session_state["project_id"] = other.id  # B opened from the sidebar
    at.run()
    assert not at.exception and not at.error
    body = texts(at)
    assert "image(s) added" not in body and "No images yet" in body
    paths = [t.value for t in at.text_input if t.label == "Folder on the server"]
    assert paths == [""]
    assert "for-a-only" not in body
    at.session_state["project_id"] = project.id  # back to A: its report is still there
    at.run()
    assert "All 1 image(s) added." in texts(at)
