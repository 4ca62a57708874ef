"""Issue 9 in Chromium against a real ``streamlit run app.py``: the class table of a new project keeps every
class typed (the first edit right after choosing the task type, keys typed at once on an empty row, rows
kept by More rows, the last cell still open when Create is clicked), with distinct colours; and project B's Data page shows
nothing of project A's (upload report, folder path typed).

Screenshots: artifacts/screens/issue9-*.png.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from core.config import shared_datasets
from tests.e2e.helpers import go, main, no_error_shown, open_project, settle, shot, sign_in, wait_idle

pytestmark = pytest.mark.e2e

NAME_HINT = "e.g. Street signs 2025"
ROW_H, HEADER_H = 35, 35  # glide grid: a header, then rows of 35 px


def _edit_cell(page, grid, row: int) -> None:  # type: ignore[no-untyped-def]
    """Open the editor of the first column's cell in ``row`` (double-click; tried again if it did not open)."""
    editor = page.locator("#portal textarea").first
    for _ in range(4):
        box = grid.bounding_box()
        assert box is not None
        page.mouse.dblclick(box["x"] + 100, box["y"] + HEADER_H + ROW_H * row + 17)
        try:
            editor.wait_for(timeout=4_000)
            return
        except Exception:
            page.keyboard.press("Escape")
    editor.wait_for(timeout=1)  # fails with Playwright's words


def test_class_table_keeps_every_class_typed(app_server, page):  # type: ignore[no-untyped-def]
    sign_in(page, url=app_server.url)
    m = main(page)
    m.get_by_role("heading", name="New project").wait_for()
    m.get_by_placeholder(NAME_HINT).fill("Birds")
    # the first edit right after choosing the task type (it was lost in about half the tries)
    m.get_by_role("combobox", name="Task type", exact=True).click()
    page.get_by_role("option", name="Image classification (several classes)", exact=True).click()
    grid = m.get_by_test_id("stDataFrame").first
    grid.scroll_into_view_if_needed()
    names = ["owl", "hawk", "wren", "heron", "egret", "crane", "swift"]
    for row, name in enumerate(names):
        if row == 6:  # the table's six rows are full: More rows keeps them and adds blank ones
            m.get_by_role("button", name="More rows").click()
            settle(page)
            grid = m.get_by_test_id("stDataFrame").first
        if row < 2:
            _edit_cell(page, grid, row)
            page.locator("#portal textarea").first.fill(name)
            page.keyboard.press("Enter")
            continue
        # a click on an empty row, then typing at once (in the dynamic table's empty last row this made a
        # blank "None" row and lost the keys); the last one is still being edited when Create is clicked
        box = grid.bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + 100, box["y"] + HEADER_H + ROW_H * row + 17)
        page.keyboard.type(name, delay=30)
        if row not in (5, len(names) - 1):  # More rows and Create are clicked with the cell still open
            page.keyboard.press("Enter")
    shot(page, "issue9-class-table")
    # the last cell is still being edited: Create must keep it too
    m.get_by_role("button", name="Create project").click()
    page.get_by_text("Project created.").first.wait_for(timeout=60_000)
    settle(page)
    no_error_shown(page)
    shot(page, "issue9-created")
    app_server.stop()
    from core.store import Store, projects

    store = Store(app_server.data / "annota.duckdb")
    try:
        (p,) = projects.list_projects(store)
        classes = projects.list_classes(store, p.id)
        assert (p.name, p.task_type.value) == ("Birds", "multilabel")
        assert [c.name for c in classes] == names
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
        projects.create_project(store, name, TaskType.MULTICLASS, ["daisy", "rose"])
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
