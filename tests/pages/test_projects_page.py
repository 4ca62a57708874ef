"""Projects: empty state, list with progress, create, settings (pause, classes, team)."""

from __future__ import annotations

import streamlit as st

from core import auth
from core.domain import ProjectState
from core.permissions import SYSTEM, ProjectRole
from core.store import projects
from core.store.items import NewItem, add_items
from core.store.labels import save_label
from tests.pages.helpers import make_project, page, texts

PAGE = "pages/projects.py"


def row_keys(n: int, gen: int = 0) -> tuple[str, str, str]:
    """The keys of the new-project form's class row ``n`` (name, colour, hotkey)."""
    return f"new_cls_name_{n}_{gen}", f"new_cls_color_{n}_{gen}", f"new_cls_key_{n}_{gen}"


def type_rows(at, rows: dict[int, tuple[str, ...]]) -> None:  # type: ignore[no-untyped-def]
    """Type class rows into the new-project form: {row: (name, colour, hotkey)}, missing ones left empty."""
    for n, values in rows.items():
        for key, value in zip(row_keys(n), values, strict=False):
            at.text_input(key=key).input(value)


def test_empty_state_for_admin_and_labeler(runtime, admin, labeler):
    at = page(PAGE, admin).run()
    assert not at.exception and not at.error
    assert "No projects yet" in texts(at)
    at = page(PAGE, labeler).run()
    assert "No projects for you yet" in texts(at)
    assert [t.label for t in at.tabs] == ["All projects"]  # no New project, no Settings tab for a labeler
    assert "Only an administrator can create projects." not in texts(at)


def test_signed_out_is_asked_to_sign_in(runtime):
    at = page(PAGE).run()
    assert "Please sign in first." in texts(at)


def test_list_shows_progress_and_open_sets_project(runtime, admin):
    p = make_project(runtime, "multiclass", "Flowers")
    add_items(runtime.store, p.id, [NewItem(f"/x/{i}.jpg", 10, 10, f"h{i}") for i in range(4)])
    cat = projects.list_classes(runtime.store, p.id)[0]
    save_label(runtime.store, 1, {"class_id": cat.id}, author="admin", base_version=0, by=SYSTEM)
    at = page(PAGE, admin).run()
    assert not at.exception and not at.error
    assert "Flowers" in texts(at)
    bars = [b for b in at.get("progress")]
    assert bars and "1 of 4 labeled (25%)" in bars[0].proto.text
    next(b for b in at.button if b.label == "Open").click().run()
    assert at.session_state["project_id"] == p.id


def test_create_project_via_form(runtime, admin):
    at = page(PAGE, admin).run()
    at.text_input(key="new_name_0").input("Street signs")
    at.selectbox(key="new_task_0").select_index(2)  # boxes
    type_rows(at, {0: ("stop",), 1: ("yield", "#123456", "y"), 3: ("speed",)})
    at.text_area(key="new_instructions_0").input("Draw a box around each sign.")
    at.button(key="create_project").click().run()  # a form: every value goes with the submit
    assert not at.exception and not at.error, [e.value for e in at.error]
    (p,) = projects.list_projects(runtime.store)
    assert (p.name, p.task_type.value, p.instructions) == (
        "Street signs",
        "boxes",
        "Draw a box around each sign.",
    )
    classes = projects.list_classes(runtime.store, p.id)
    assert [c.name for c in classes] == ["stop", "yield", "speed"]
    assert (classes[1].color, classes[1].hotkey) == ("#123456", "y")
    assert at.session_state["project_id"] == p.id
    assert at.text_input(key="new_name_1").value == ""  # a fresh, empty form for the next project
    assert at.session_state["projects_tab"] == "All projects"
    assert [t.value for t in at.toast] == ["Project created. It has 3 label classes."]


def test_created_toast_is_carried_over_the_rerun(runtime, admin, monkeypatch):
    """The toast is kept in the session for the run after the page's rerun (one shown just before
    ``st.rerun()`` was often never drawn)."""
    from ui import widgets

    pending: list[object] = []
    monkeypatch.setattr(widgets, "show_pending_toast", lambda: pending.append(dict(st.session_state)))
    at = page(PAGE, admin).run()
    at.text_input(key="new_name_0").input("Signs")
    type_rows(at, {0: ("stop",), 1: ("yield",)})
    at.button(key="create_project").click().run()
    assert not at.exception and not at.error
    assert (
        pending[-1].get(widgets.TOAST_KEY) == "Project created. It has 2 label classes."
    )  # what the run after the rerun shows


def test_create_with_one_class_is_refused_in_words(runtime, admin):
    at = page(PAGE, admin).run()
    at.text_input(key="new_name_0").input("Lonely")
    type_rows(at, {0: ("only",)})
    at.button(key="create_project").click().run()
    assert "at least two label classes" in texts(at)
    assert projects.list_projects(runtime.store) == []


def test_pause_and_resume(runtime, admin, project):
    at = page(PAGE, admin, project.id).run()
    at.button(key="pause").click().run()
    assert projects.get_project(runtime.store, project.id).state is ProjectState.PAUSED
    assert "Paused" in texts(at)
    at.button(key="resume").click().run()
    assert projects.get_project(runtime.store, project.id).state is ProjectState.ACTIVE


def test_rename_recolour_and_add_class(runtime, admin, project):
    cat, dog = projects.list_classes(runtime.store, project.id)
    at = page(PAGE, admin, project.id).run()
    at.text_input(key=f"cls_name_{cat.id}").input("kitten")
    at.color_picker(key=f"cls_color_{dog.id}").pick("#0000ff")
    next(b for b in at.button if b.label == "Save classes").click().run()
    assert not at.error, [e.value for e in at.error]
    cat2, dog2 = projects.list_classes(runtime.store, project.id)
    assert (cat2.name, dog2.color) == ("kitten", "#0000ff")
    at.text_input(key=f"add_cls_name_{project.id}_0").input("bird")
    at.button(key=f"add_cls_{project.id}").click().run()
    assert [c.name for c in projects.list_classes(runtime.store, project.id)] == ["kitten", "dog", "bird"]
    assert at.text_input(key=f"add_cls_name_{project.id}_1").value == ""  # empty for the next class


# -- the class table of a new project (issue 9) -------------------------------------------------------


def _fill_new_project(at, name: str, rows: dict, task: int = 0):  # type: ignore[no-untyped-def]
    """Type a name, choose a task type and type class rows, as one form submission."""
    at.text_input(key="new_name_0").input(name)
    at.selectbox(key="new_task_0").select_index(task)
    type_rows(at, rows)
    return at.button(key="create_project").click().run()


def test_rows_typed_right_after_the_task_type_are_all_kept(runtime, admin):
    """The task type and the class rows go in one submission (an st.form: choosing the task type reruns
    nothing that could drop an edit); blank rows are ignored, the rest all become classes."""
    at = _fill_new_project(
        page(PAGE, admin).run(), "Birds", {0: ("owl",), 2: ("hawk",), 5: (" wren ", "", "")}, task=1
    )
    assert not at.exception and not at.error, [e.value for e in at.error]
    (p,) = projects.list_projects(runtime.store)
    assert p.task_type.value == "multilabel"
    classes = projects.list_classes(runtime.store, p.id)
    assert [c.name for c in classes] == ["owl", "hawk", "wren"]  # rows 2, 4 and 5 left blank: ignored
    assert len({c.color for c in classes}) == 3  # automatic colours are distinct
    assert len({c.hotkey for c in classes}) == 3
    assert at.text_input(key=row_keys(0, gen=1)[0]).value == ""  # the next project's form is empty


def test_a_row_without_a_name_refuses_create_in_words_and_keeps_the_rows(runtime, admin):
    at = _fill_new_project(page(PAGE, admin).run(), "Birds", {0: ("owl",), 1: ("hawk",), 2: ("", "", "w")})
    assert "Row 3 has a colour or hotkey but no class name" in texts(at)
    assert projects.list_projects(runtime.store) == []
    # nothing typed is lost: the form still holds the rows and the name
    assert at.text_input(key="new_name_0").value == "Birds"
    assert [at.text_input(key=k).value for k in row_keys(2)] == ["", "", "w"]
    assert at.text_input(key=row_keys(1)[0]).value == "hawk"


def test_a_colour_that_is_no_colour_refuses_create_naming_the_row(runtime, admin):
    at = _fill_new_project(page(PAGE, admin).run(), "Birds", {0: ("owl", "red"), 1: ("hawk",)})
    assert "Row 1 (owl): the colour 'red' is not a #rrggbb colour" in texts(at)
    assert projects.list_projects(runtime.store) == []
    assert at.text_input(key=row_keys(0)[1]).value == "red"


def test_more_rows_keeps_every_row_typed(runtime, admin):
    at = page(PAGE, admin).run()
    assert [k for k in (row_keys(5)[0], row_keys(6)[0]) if k in {t.key for t in at.text_input}] == [
        row_keys(5)[0]
    ]  # six rows at first
    at.text_input(key="new_name_0").input("Birds")
    type_rows(at, {n: (f"bird{n}",) for n in range(6)})
    at.button(key="more_class_rows").click().run()
    assert not at.exception and not at.error
    assert projects.list_projects(runtime.store) == []  # More rows creates nothing
    assert [at.text_input(key=row_keys(n)[0]).value for n in range(12)] == [f"bird{n}" for n in range(6)] + [
        ""
    ] * 6
    assert at.text_input(key="new_name_0").value == "Birds"
    type_rows(at, {6: ("bird6",)})
    at.button(key="create_project").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    (p,) = projects.list_projects(runtime.store)
    assert [c.name for c in projects.list_classes(runtime.store, p.id)] == [f"bird{n}" for n in range(7)]


def test_repeated_class_names_refuse_create_in_words(runtime, admin):
    at = _fill_new_project(page(PAGE, admin).run(), "Birds", {0: ("owl",), 1: ("Owl",)})
    assert "repeated: owl" in texts(at)
    assert projects.list_projects(runtime.store) == []


def test_add_a_class_name_does_not_follow_to_another_project(runtime, admin):
    a = make_project(runtime, "multiclass", "A")
    b = make_project(runtime, "multiclass", "B")
    at = page(PAGE, admin, a.id).run()
    at.text_input(key=f"add_cls_name_{a.id}_0").input("half-typed")
    at.run()
    at.session_state["project_id"] = b.id  # B opened from the sidebar
    at.run()
    assert not at.exception
    shown = [t for t in at.text_input if t.key and t.key.startswith("add_cls_name_")]
    assert [t.key for t in shown] == [f"add_cls_name_{b.id}_0"]
    assert shown[0].value == ""


def test_add_a_class_default_colour_is_one_no_class_has(runtime, admin, project):
    used = {c.color for c in projects.list_classes(runtime.store, project.id)}
    at = page(PAGE, admin, project.id).run()
    assert at.color_picker(key=f"add_cls_color_{project.id}_0").value not in used
    at.text_input(key=f"add_cls_name_{project.id}_0").input("bird")
    at.button(key=f"add_cls_{project.id}").click().run()
    colors = [c.color for c in projects.list_classes(runtime.store, project.id)]
    assert len(set(colors)) == 3


def test_delete_used_class_needs_reassignment(runtime, admin):
    p = make_project(runtime, "multiclass")
    projects.add_class(runtime.store, p.id, "bird", by=SYSTEM)
    cat, dog, bird = projects.list_classes(runtime.store, p.id)
    add_items(runtime.store, p.id, [NewItem("/x/a.jpg", 10, 10, "ha")])
    save_label(runtime.store, 1, {"class_id": bird.id}, author="admin", base_version=0, by=SYSTEM)
    at = page(PAGE, admin, p.id).run()
    at.selectbox(key="del_cls").select(bird.id).run()
    assert "1 image(s) use **bird**" in texts(at)
    at.selectbox(key="del_target").select(dog.id).run()
    at.button(key="del_cls_go").click().run()
    assert not at.error, [e.value for e in at.error]
    assert [c.name for c in projects.list_classes(runtime.store, p.id)] == ["cat", "dog"]
    assert projects.class_usage(runtime.store, dog.id) == 1


def test_team_create_labeler_and_add_member(runtime, admin, project):
    at = page(PAGE, admin, project.id).run()
    form = at.get("form")
    assert form
    inputs = {t.label: t for t in at.text_input}
    inputs["User name"].input("bob")
    inputs["First password"].input("bob-secret")
    next(b for b in at.button if b.label == "Create and add").click().run()
    assert not at.error, [e.value for e in at.error]
    assert auth.authenticate(runtime.store, "bob", "bob-secret") is not None
    assert projects.member_roles(runtime.store, project.id)["bob"] == ProjectRole.LABELER


def test_labeler_sees_only_member_projects(runtime, labeler):
    mine = make_project(runtime, name="Mine")
    make_project(runtime, name="Other")
    projects.add_member(runtime.store, mine.id, labeler.id, by=SYSTEM)
    at = page(PAGE, labeler).run()
    body = texts(at)
    assert "Mine" in body and "Other" not in body
