"""Chromium: an owner archives a project (read-only, hidden from the list until "Show archived projects"),
unarchives it, then deletes another project from the Danger zone: Delete stays disabled until the exact name
is typed, the project leaves the list and the sidebar, and its rows and files leave the store; the other
project is untouched.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from core import auth
from core.domain import Role, TaskType
from core.images import import_folder
from core.permissions import SYSTEM
from core.store import Store, labels, projects
from tests.e2e.helpers import (
    ADMIN_PASSWORD,
    go,
    main,
    no_error_shown,
    open_project,
    settle,
    shot,
    sidebar,
    sign_in,
    wait_idle,
)

pytestmark = pytest.mark.e2e


def seed(data: Path) -> dict[str, int]:
    """Two multi-class projects with two photos each, one label in each."""
    store = Store(data / "annota.duckdb")
    auth.create_user(store, "admin", ADMIN_PASSWORD, Role.ADMIN, "Administrator", by=SYSTEM)
    made = {}
    for k, name in enumerate(("Keep me", "Doomed")):
        p = projects.create_project(store, name, TaskType.MULTICLASS, ["cat", "dog"], by=SYSTEM)
        folder = data.parent / f"photos{k}"
        folder.mkdir()
        for i in range(2):
            Image.new("RGB", (80, 60), (90 * k, 40 * i, 200)).save(folder / f"p{i}.png")
        import_folder(store, p.id, folder, watch=False, by=SYSTEM)
        first = store.query("SELECT id FROM items WHERE project_id = ? ORDER BY id", [p.id])[0][0]
        cat = projects.list_classes(store, p.id)[0].id
        labels.save_label(store, first, {"class_id": cat}, base_version=0, by=SYSTEM)
        made[name] = p.id
    store.close()
    return made


def danger_tab(page) -> None:  # type: ignore[no-untyped-def]
    m = main(page)
    m.get_by_role("tab", name="Settings").click()
    wait_idle(page)
    tab = m.get_by_role("tab", name="Danger zone")
    if tab.count():  # an archived project's settings are its danger zone alone, without tabs
        tab.click()
    m.get_by_text("Danger zone").first.wait_for()
    wait_idle(page)


def listed(page, name: str) -> bool:  # type: ignore[no-untyped-def]
    box = sidebar(page).get_by_role("combobox", name="Open project")
    box.click()
    there = page.get_by_role("option", name=name, exact=True).count() > 0
    page.keyboard.press("Escape")
    settle(page)
    return there


def test_archive_unarchive_then_delete_by_its_exact_name(serve, page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    data.mkdir()
    ids = seed(data)
    server = serve(data)
    sign_in(page, url=server.url)
    m = main(page)

    # archive "Keep me": read-only, hidden from the list until archived projects are shown; then unarchive
    open_project(page, "Keep me")
    go(page, "Projects")
    danger_tab(page)
    m.get_by_role("button", name="Archive project").click()
    page.get_by_text("Project archived: read-only now.").first.wait_for()
    wait_idle(page)
    no_error_shown(page)
    m.get_by_role("tab", name="All projects").click()
    wait_idle(page)
    card = m.get_by_text("Keep me", exact=True)  # its card's name in the list (hidden tabs hold more text)
    assert not any(card.nth(i).is_visible() for i in range(card.count()))  # hidden by default
    page.get_by_text("Show archived projects").click()
    card.locator("visible=true").first.wait_for()
    wait_idle(page)
    shot(page, "danger-archived")
    # it stays open (the sidebar names it archived), so its settings are there to unarchive it
    assert sidebar(page).get_by_role("combobox", name="Open project").input_value() == "Keep me (archived)"
    danger_tab(page)
    m.get_by_text("read-only").first.wait_for()
    m.get_by_role("button", name="Unarchive project").click()
    page.get_by_text("Project unarchived.").first.wait_for()
    wait_idle(page)

    # delete "Doomed": disabled until its exact name is typed
    open_project(page, "Doomed")
    go(page, "Projects")
    danger_tab(page)
    delete = m.get_by_role("button", name="Delete project")
    field = m.get_by_label("Type the project's name (Doomed) to delete it")
    field.fill("doomed")
    field.press("Enter")
    settle(page)
    assert delete.is_disabled()  # not the exact name
    field.fill("Doomed")
    field.press("Enter")
    settle(page)
    assert delete.is_enabled()
    shot(page, "danger-delete-typed")
    delete.click()
    page.get_by_text("Project Doomed deleted.").first.wait_for()
    wait_idle(page)
    no_error_shown(page)
    assert not listed(page, "Doomed") and listed(page, "Keep me")
    shot(page, "danger-deleted")
    server.stop()

    store = Store(data / "annota.duckdb", read_only=True)
    try:
        for table in ("items", "annotations", "label_classes"):
            left = store.scalar(f"SELECT count(*) FROM {table} WHERE project_id = ?", [ids["Doomed"]])
            assert left == 0, (table, left)
        assert store.scalar("SELECT count(*) FROM projects WHERE id = ?", [ids["Doomed"]]) == 0
        kept = projects.get_project(store, ids["Keep me"])
        assert kept.archived_at is None  # unarchived
        assert store.scalar("SELECT count(*) FROM items WHERE project_id = ?", [ids["Keep me"]]) == 2
        assert store.scalar("SELECT count(*) FROM annotations WHERE project_id = ?", [ids["Keep me"]]) == 1
    finally:
        store.close()
