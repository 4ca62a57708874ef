"""Issue 9 in Chromium against a real ``streamlit run app.py``: the class rows of a new project keep every
class typed (the first right after choosing the task type, keys typed at once into an empty row, rows kept
by More rows, Create clicked at once after the last key), with distinct colours; and project B's Data page
shows nothing of project A's (upload report, folder path typed).

Screenshots: artifacts/screens/issue9-*.png.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from core.config import shared_datasets
from core.permissions import SYSTEM
from tests.e2e.helpers import go, main, no_error_shown, open_project, settle, shot, sign_in, wait_idle

pytestmark = pytest.mark.e2e

NAME_HINT = "e.g. Street signs 2025"


def test_class_table_keeps_every_class_typed(app_server, page):  # type: ignore[no-untyped-def]
    """Each class is typed at once after the click into its empty row, the first right after choosing the
    task type; More rows is clicked straight after the sixth class's last key, and Create straight after
    the seventh's (no wait for anything in between): every class comes back, as typed."""
    sign_in(page, url=app_server.url)
    m = main(page)
    m.get_by_role("heading", name="New project").wait_for()
    m.get_by_placeholder(NAME_HINT).fill("Birds")
    m.get_by_role("combobox", name="Task type", exact=True).click()
    page.get_by_role("option", name="Image classification (several classes)", exact=True).click()
    names = ["owl", "hawk", "wren", "heron", "egret", "crane", "swift"]
    for row, name in enumerate(names):
        if row == 6:  # six rows are drawn: More rows, clicked at once after the sixth class's last key
            m.get_by_role("button", name="More rows").click()
        if row == 3:
            shot(page, "issue9-class-rows")
        box = m.get_by_role("textbox", name=f"Class {row + 1}", exact=True)
        box.click()
        page.keyboard.type(name)  # at once, no delay between the keys
        if row == 1:  # a colour and a hotkey of one's own, typed the same way
            m.get_by_role("textbox", name="Colour of class 2", exact=True).click()
            page.keyboard.type("#123456")
            m.get_by_role("textbox", name="Hotkey of class 2", exact=True).click()
            page.keyboard.type("h")
    m.get_by_role("button", name="Create project").click()  # at once after the last key
    page.get_by_text("Project created.").first.wait_for(timeout=60_000)
    settle(page)
    no_error_shown(page)
    shot(page, "issue9-created")
    # the form is empty for the next project
    m.get_by_role("tab", name="New project").click()
    expect(m.get_by_role("textbox", name="Class 1", exact=True)).to_have_value("", timeout=60_000)
    app_server.stop()
    from core.store import Store, projects

    store = Store(app_server.data / "annota.duckdb")
    try:
        (p,) = projects.list_projects(store)
        classes = projects.list_classes(store, p.id)
        assert (p.name, p.task_type.value) == ("Birds", "multilabel")
        assert [c.name for c in classes] == names
        assert (classes[1].color, classes[1].hotkey) == ("#123456", "h")
        assert len({c.color for c in classes}) == len(names)
    finally:
        store.close()


def test_project_b_data_page_shows_nothing_of_project_a(serve, page, tmp_path):  # type: ignore[no-untyped-def]
    from core.domain import TaskType
    from core.store import Store, projects

    daisy = shared_datasets() / "flowers" / "daisy"
    if not daisy.is_dir():
        print(f"\nSKIP REASON: shared datasets not found at {daisy}")
        pytest.skip(f"shared datasets not found at {daisy}")
    upload = sorted(daisy.glob("*.jpg"))[0]
    data = tmp_path / "data"
    data.mkdir()
    store = Store(data / "annota.duckdb")  # seeded before the server starts
    for name in ("Project A", "Project B"):
        projects.create_project(store, name, TaskType.MULTICLASS, ["daisy", "rose"], by=SYSTEM)
    store.close()
    server = serve(data)
    sign_in(page, url=server.url)
    open_project(page, "Project A")
    go(page, "Data")
    m = main(page)
    uploader = m.get_by_test_id("stFileUploader").filter(has_text="Images from your computer")
    uploader.locator("input[type=file]").set_input_files(str(upload))
    m.get_by_role("button", name="Import 1 file(s)").click()
    m.get_by_text("All 1 image(s) added.").wait_for(timeout=60_000)
    folder = m.get_by_role("textbox", name="Folder on the server", exact=True)
    folder.fill(str(tmp_path / "only-for-a"))
    folder.press("Tab")
    wait_idle(page)
    shot(page, "issue9-data-a")
    open_project(page, "Project B")  # the sidebar, staying on the Data page
    m.get_by_text("No images yet").first.wait_for()
    wait_idle(page)
    shot(page, "issue9-data-b")
    assert m.get_by_text("image(s) added").count() == 0
    expect(m.get_by_role("textbox", name="Folder on the server", exact=True)).to_have_value("")
    assert "only-for-a" not in m.inner_text()
    no_error_shown(page)
    open_project(page, "Project A")  # A's report is A's: still there
    m.get_by_text("All 1 image(s) added.").wait_for()


def open_buttons(m):  # type: ignore[no-untyped-def]
    """The grid cards' Open buttons (a selectbox's own toggle is also called "Open")."""
    return m.get_by_test_id("stBaseButton-secondary").filter(has_text=re.compile(r"Open$"))


def test_review_keeps_filters_over_a_correction_and_steps_through_them(serve, page, tmp_path):  # type: ignore[no-untyped-def]
    """Filter Review by class, open an image, Next, correct it on the label page, come back by "Back to
    review": the filter is still set, the image is there, Next goes on from its place, the grid is filtered."""
    from core.domain import TaskType
    from core.store import Store, items, labels, projects
    from tests.e2e.helpers import new_items

    flowers = shared_datasets() / "flowers"
    if not flowers.is_dir():
        print(f"\nSKIP REASON: shared datasets not found at {flowers}")
        pytest.skip(f"shared datasets not found at {flowers}")
    files = sorted((flowers / "daisy").glob("*.jpg"))[:3] + sorted((flowers / "rose").glob("*.jpg"))[:3]
    data = tmp_path / "data"
    data.mkdir()
    store = Store(data / "annota.duckdb")
    p = projects.create_project(store, "Garden", TaskType.MULTICLASS, ["daisy", "rose"], by=SYSTEM)
    items.add_items(store, p.id, new_items(files))
    cls = {c.name: c.id for c in projects.list_classes(store, p.id)}
    ids = [int(r[0]) for r in store.query("SELECT id FROM items WHERE project_id = ? ORDER BY id", [p.id])]
    for iid, f in zip(ids, files, strict=True):
        labels.save_label(
            store, iid, {"class_id": cls[f.parent.name]}, author="admin", base_version=0, by=SYSTEM
        )
    daisies = [i.id for i in items.list_items(store, p.id, items.ItemFilter(class_id=cls["daisy"]))]
    store.close()
    server = serve(data)
    sign_in(page, url=server.url)
    open_project(page, "Garden")
    go(page, "Review")
    m = main(page)
    m.get_by_role("combobox", name="Class", exact=True).click()
    page.get_by_role("option", name="daisy", exact=True).click()
    settle(page)
    expect(open_buttons(m)).to_have_count(3, timeout=30_000)
    open_buttons(m).first.click()
    m.get_by_text(f"Image {daisies[0]} · ").wait_for()
    m.get_by_text("Image 1 of 3").wait_for()
    m.get_by_role("button", name="Next").click()
    m.get_by_text(f"Image {daisies[1]} · ").wait_for()
    m.get_by_text("Image 2 of 3").wait_for()
    wait_idle(page)
    shot(page, "issue9-review-detail")
    m.get_by_role("button", name="Correct on the label page").click()
    m.get_by_text("one class per image").wait_for()
    wait_idle(page)
    m.get_by_role("button", name="rose").click()
    m.get_by_text(f"Saved image {daisies[1]}.").first.wait_for()
    m.get_by_role("link", name="Back to review (filters kept)").click()
    m.get_by_text(f"Image {daisies[1]} · ").wait_for()
    m.get_by_text("no longer matches the filters").wait_for()
    expect(m.get_by_role("combobox", name="Class", exact=True)).to_have_value("daisy", timeout=30_000)
    wait_idle(page)
    shot(page, "issue9-review-back")
    m.get_by_role("button", name="Next").click()
    m.get_by_text(f"Image {daisies[2]} · ").wait_for()  # on from its place, not from the top
    m.get_by_role("button", name="Back to the grid").click()
    expect(open_buttons(m)).to_have_count(2, timeout=30_000)  # still filtered: two daisies left
    no_error_shown(page)
