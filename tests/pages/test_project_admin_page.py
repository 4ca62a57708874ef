"""Projects page administration: tabs by role, the team's roles and removal, archive, delete by name."""

from __future__ import annotations

from core import auth
from core.domain import NotFound, Role
from core.permissions import SYSTEM, ProjectRole
from core.store import admin as admin_ops
from core.store import projects
from tests.pages.helpers import make_project, page, texts

PAGE = "pages/projects.py"


def _tabs(at) -> list[str]:  # type: ignore[no-untyped-def]
    return [t.label for t in at.tabs]


def test_tabs_follow_the_role(runtime, admin, labeler):
    p = make_project(runtime, name="Birds")
    owner = auth.create_user(runtime.store, "olga", "secret-123", Role.LABELER, "Olga", by=SYSTEM)
    projects.add_member(runtime.store, p.id, labeler.id, ProjectRole.LABELER, by=SYSTEM)
    projects.add_member(runtime.store, p.id, owner.id, ProjectRole.OWNER, by=SYSTEM)
    at = page(PAGE, labeler, p.id).run()
    assert not at.exception and not at.error
    assert _tabs(at) == ["All projects"]
    at = page(PAGE, owner, p.id).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert _tabs(at)[:3] == ["All projects", "Settings", "Details"]  # the owner manages; no New project
    assert "Danger zone" in _tabs(at) and "Create an account" not in texts(at)  # accounts are an admin's
    at = page(PAGE, admin, p.id).run()
    assert _tabs(at)[:3] == ["All projects", "New project", "Settings"]
    assert "Create an account" in texts(at)


def test_an_owner_changes_a_role_and_removes_a_member(runtime, admin, labeler):
    p = make_project(runtime, name="Birds")
    admin_ops.remove_member(runtime.store, p.id, admin.id, by=SYSTEM)  # its creator: olga is the only owner
    owner = auth.create_user(runtime.store, "olga", "secret-123", Role.LABELER, "Olga", by=SYSTEM)
    projects.add_member(runtime.store, p.id, owner.id, ProjectRole.OWNER, by=SYSTEM)
    projects.add_member(runtime.store, p.id, labeler.id, ProjectRole.LABELER, by=SYSTEM)
    at = page(PAGE, owner, p.id).run()
    assert "Lena (lena)" in texts(at)
    at.selectbox(key=f"member_role_{p.id}_{labeler.id}").select(ProjectRole.REVIEWER).run()
    assert not at.error, [e.value for e in at.error]
    assert projects.member_roles(runtime.store, p.id)["lena"] == ProjectRole.REVIEWER
    # the last owner cannot demote themself: refused in words, nothing changed
    at.selectbox(key=f"member_role_{p.id}_{owner.id}").select(ProjectRole.LABELER).run()
    assert any("at least one owner" in e.value for e in at.error), (
        [e.value for e in at.error],
        texts(at)[-600:],
    )
    assert projects.member_roles(runtime.store, p.id)["olga"] == ProjectRole.OWNER
    at = page(PAGE, owner, p.id).run()
    at.button(key=f"member_remove_{p.id}_{labeler.id}").click().run()
    assert not at.error, [e.value for e in at.error]
    assert projects.member_roles(runtime.store, p.id) == {"olga": ProjectRole.OWNER}


def test_a_reviewer_sees_the_team_but_cannot_change_it(runtime, labeler):
    p = make_project(runtime, name="Birds")
    projects.add_member(runtime.store, p.id, labeler.id, ProjectRole.REVIEWER, by=SYSTEM)
    at = page(PAGE, labeler, p.id).run()
    assert _tabs(at) == ["All projects"]  # a reviewer manages nothing here


def test_archive_hides_then_show_archived_and_unarchive(runtime, admin):
    p = make_project(runtime, name="Birds")
    at = page(PAGE, admin, p.id).run()
    at.button(key=f"archive_{p.id}").click().run()
    assert not at.error, [e.value for e in at.error]
    assert projects.get_project(runtime.store, p.id).archived_at is not None
    at = page(PAGE, admin).run()
    assert "Birds" not in texts(at)
    at.toggle(key="projects_show_archived").set_value(True).run()
    assert "Birds" in texts(at) and "Archived" in texts(at)
    at = page(PAGE, admin, p.id).run()
    assert "read-only" in texts(at)
    at.button(key=f"unarchive_{p.id}").click().run()
    assert projects.get_project(runtime.store, p.id).archived_at is None


def test_delete_asks_for_the_name(runtime, admin):
    p = make_project(runtime, name="Birds")
    keep = make_project(runtime, name="Fish")
    at = page(PAGE, admin, p.id).run()
    assert at.button(key=f"delete_{p.id}").disabled
    at.text_input(key=f"delete_name_{p.id}").input("birds").run()
    assert at.button(key=f"delete_{p.id}").disabled  # the name exactly
    at.text_input(key=f"delete_name_{p.id}").input("Birds").run()
    at.button(key=f"delete_{p.id}").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    try:
        projects.get_project(runtime.store, p.id)
        raise AssertionError("the project is still there")
    except NotFound:
        pass
    assert [x.id for x in projects.list_projects(runtime.store)] == [keep.id]
    assert "project_id" not in at.session_state


def test_a_refusal_is_said_in_words(runtime, labeler):
    """A labeler who reaches a core action anyway (a stale page) gets the rule's reason, not a file error."""
    from ui.widgets import explain

    p = make_project(runtime, name="Birds")
    projects.add_member(runtime.store, p.id, labeler.id, ProjectRole.LABELER, by=SYSTEM)
    try:
        admin_ops.archive_project(runtime.store, p.id, by=labeler)
    except PermissionError as exc:
        assert explain(exc) == "lena may not archive this project."
    else:
        raise AssertionError("a labeler archived a project")


def test_remove_an_image_from_the_review_page(runtime, admin, labeler, tmp_path):
    from core.store import items
    from core.store.items import NewItem, add_items
    from core.store.labels import history, save_label
    from tests.pages.helpers import write_pngs

    p = make_project(runtime, "multiclass", name="Birds")
    files = write_pngs(tmp_path / "imgs", 3)
    add_items(runtime.store, p.id, [NewItem(str(f), 64, 48, f"sha{i}") for i, f in enumerate(files)])
    cat = projects.list_classes(runtime.store, p.id)[0]
    save_label(runtime.store, 2, {"class_id": cat.id}, by=SYSTEM, author="kim", base_version=0)
    projects.add_member(runtime.store, p.id, labeler.id, ProjectRole.REVIEWER, by=SYSTEM)
    at = page("pages/review.py", labeler, p.id).run()  # a reviewer may not remove images: no button
    at.button(key="open_2").click().run()
    assert not [b for b in at.button if b.key == "remove_item_2"]
    at = page("pages/review.py", admin, p.id).run()
    at.button(key="open_2").click().run()
    at.button(key="remove_item_2").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert items.count_items(runtime.store, p.id) == 2
    assert [a.author for a in history(runtime.store, 2)] == ["kim"]  # the label stays as history
    assert [r.item_id for r in admin_ops.removed_images(runtime.store, p.id)] == [2]
    assert len(at.image) == 2  # back on the grid, without it


def test_pages_follow_the_role_not_the_account(runtime, labeler):
    """Export for reviewers and owners, Data for owners; an archived project says it is read-only."""
    p = make_project(runtime, "multiclass", name="Birds")
    projects.add_member(runtime.store, p.id, labeler.id, ProjectRole.LABELER, by=SYSTEM)
    at = page("pages/export.py", labeler, p.id).run()
    assert "Only a reviewer, an owner or an administrator" in texts(at)
    at = page("pages/data.py", labeler, p.id).run()
    assert "can add images" in texts(at)
    projects.add_member(runtime.store, p.id, labeler.id, ProjectRole.REVIEWER, by=SYSTEM)
    at = page("pages/export.py", labeler, p.id).run()
    assert not at.exception and "Only a reviewer" not in texts(at)
    assert "can add images" in texts(page("pages/data.py", labeler, p.id).run())
    projects.add_member(runtime.store, p.id, labeler.id, ProjectRole.OWNER, by=SYSTEM)
    at = page("pages/data.py", labeler, p.id).run()
    assert not at.exception and "can add images" not in texts(at)
    admin_ops.archive_project(runtime.store, p.id, by=SYSTEM)
    at = page("pages/data.py", labeler, p.id).run()
    assert "archived: read-only" in texts(at) and "can add images" in texts(at)


def test_a_link_to_someone_elses_project_opens_nothing(runtime, labeler):
    p = make_project(runtime, "multiclass", name="Secret")
    at = page("pages/review.py", labeler, p.id).run()  # the project id as a bookmark would give it
    assert not at.exception
    assert "Secret" not in texts(at) and "There is no project for you yet" in texts(at)
    assert "project_id" not in at.session_state
