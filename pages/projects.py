"""Projects: the list with progress, a new project, and the open project's settings."""

from __future__ import annotations

import streamlit as st

from core.domain import LabelClass, Project, ProjectState, TaskType, free_colors
from core.permissions import Action
from core.store import projects
from core.store.projects import ClassSpec
from ui import class_rows, project_admin, quality_settings, resources, session, widgets
from ui.text import plain

TAB_KEY = "projects_tab"
TABS = ["All projects", "New project", "Settings"]


# -- list ----------------------------------------------------------------------------------------


def project_list(user_projects: list[Project]) -> None:
    if not user_projects:
        if session.is_admin():
            widgets.empty_state(
                "No projects yet",
                "Create the first one in **New project**: a name, a task type and at least two label classes.",
                ":material/create_new_folder:",
            )
        else:
            widgets.empty_state(
                "No projects for you yet", "An administrator adds you to a project; it appears here then."
            )
        return
    progress = resources.all_progress()
    open_id = st.session_state.get(session.PROJECT_KEY)
    for project in user_projects:
        total, labeled, skipped = progress.get(project.id, (0, 0, 0))
        with st.container(border=True):
            info, bar, action = st.columns([3, 3, 1], vertical_alignment="center")
            with info:
                paused = (
                    " :orange-badge[:material/pause: Paused]" if project.state is ProjectState.PAUSED else ""
                )
                here = " :blue-badge[Open]" if project.id == open_id else ""
                archived = " :gray-badge[:material/archive: Archived]" if project.archived_at else ""
                st.markdown(f"**{plain(project.name)}**{paused}{archived}{here}")
                st.caption(
                    widgets.task_title(project.task_type)
                    + (f" · {plain(project.description)}" if project.description else "")
                )
            with bar:
                if total:
                    st.progress(
                        labeled / total,
                        text=f"{labeled:,} of {total:,} labeled ({labeled / total:.0%}) · {skipped:,} skipped",
                    )
                else:
                    st.caption(":material/image: No images yet. Add some on the **Data** page.")
            with action:
                if project.id != open_id and st.button("Open", key=f"open_{project.id}", width="stretch"):
                    session.open_project(project.id)
                    st.rerun()


# -- new project ----------------------------------------------------------------------------------


FORM_GEN = "new_project_form_gen"
NEW_FORM = "new_project_form"


def _k(name: str) -> str:
    """The key of a new-project widget in the form's current generation."""
    return f"{name}_{st.session_state.get(FORM_GEN, 0)}"


def new_project_form(user: str) -> None:
    """The new-project form. It is an ``st.form``: typing a class or choosing the task type reruns
    nothing, so no edit is lost to a rerun in flight, and Create sends every row typed (``ui.class_rows``)."""
    if not session.is_admin():
        st.info("Only an administrator can create projects.")
        return
    st.subheader("New project")
    with st.form(_k(NEW_FORM), border=False, enter_to_submit=False):
        name = st.text_input("Name", key=_k("new_name"), placeholder="e.g. Street signs 2025")
        description = st.text_area("Description", key=_k("new_description"), height=68)
        task = st.selectbox(
            "Task type",
            list(TaskType),
            format_func=widgets.task_title,
            key=_k("new_task"),
            help="What labelers do with each image. It cannot change later.",
        )
        st.markdown("**Label classes**")
        st.caption(
            "One row per class, at least two; **More rows** adds rows. Leave colour and hotkey empty to get "
            "a free one; a hotkey is one letter or digit (s, b, a, n, k, z are taken by labeling actions)."
        )
        rows = class_rows.class_inputs(_k)
        more = st.form_submit_button(
            "More rows", icon=":material/playlist_add:", key="more_class_rows", type="tertiary"
        )
        instructions = st.text_area(
            "Instructions for labelers (markdown)",
            key=_k("new_instructions"),
            placeholder="What counts as a …?",
        )
        url = st.text_input("Or a link to the instructions", key=_k("new_url"), placeholder="https://…")
        precision = st.slider(
            "Target precision for pre-labels",
            min_value=0.80,
            max_value=0.99,
            value=0.95,
            step=0.01,
            key=_k("new_precision"),
            format="percent",
            help="The model proposes labels only where its measured precision reaches this.",
        )
        create = st.form_submit_button(
            "Create project", type="primary", icon=":material/add:", key="create_project"
        )
    if more:
        class_rows.add_rows(_k)
        st.rerun()
    if create:
        _create(user, name, task, rows, description, instructions, url, float(precision))


def _create(
    user: str,
    name: str,
    task: TaskType,
    rows: list[class_rows.ClassRow],
    description: str,
    instructions: str,
    url: str,
    precision: float,
) -> None:
    """Create the project from the form, or say why not (the form keeps every row typed)."""
    specs, problems = class_rows.class_specs(rows)
    if problems:
        st.error("**The project was not created.** " + " ".join(problems), icon=":material/error:")
        return
    project = widgets.run_action(
        projects.create_project,
        resources.store(),
        name,
        task,
        specs,
        description=description,
        instructions=instructions,
        instructions_url=url,
        by=session.require_user(),
        target_precision=precision,
    )
    if project is None:
        return
    widgets.toast_next_run(
        f"Project created. It has {len(specs)} label classes."
    )  # shown after the rerun below
    resources.forget_reads()
    session.open_project(project.id)
    # a new generation of keys gives an empty form (popping keys does not reset browser widgets)
    st.session_state[FORM_GEN] = st.session_state.get(FORM_GEN, 0) + 1
    st.session_state["_goto_tab"] = "All projects"
    st.rerun()


# -- settings of the open project ---------------------------------------------------------------------


def may_see_settings(project: Project | None) -> bool:
    """The Settings tab is for those who may change something there (owners and admins)."""
    return project is not None and any(
        session.can(a, project.id) for a in (Action.MANAGE, Action.TEAM, Action.ARCHIVE, Action.DELETE)
    )


def settings(project: Project, user: str) -> None:
    st.subheader(f"Settings · {plain(project.name)}")
    if project.archived_at is not None:
        st.info(
            "This project is archived: it is read-only until it is unarchived.", icon=":material/archive:"
        )
        project_admin.danger_zone(project)
        return
    if not session.can(Action.MANAGE, project.id):
        team_tab, danger = st.tabs(["Team", "Danger zone"])
        with team_tab:
            project_admin.team_editor(project)
        with danger:
            project_admin.danger_zone(project)
        return
    state_col, _ = st.columns([2, 3])
    with state_col:
        if project.state is ProjectState.ACTIVE:
            st.caption(":green-badge[Active] labelers get images from the queue.")
            if st.button("Pause project", icon=":material/pause:", key="pause"):
                _set_state(project, ProjectState.PAUSED)
        else:
            st.caption(":orange-badge[Paused] labelers get no new images until you resume.")
            if st.button("Resume project", icon=":material/play_arrow:", key="resume", type="primary"):
                _set_state(project, ProjectState.ACTIVE)
    details, classes_tab, team, danger = st.tabs(["Details", "Label classes", "Team", "Danger zone"])
    with details:
        details_form(project)
        quality_settings.form(project)  # consensus and gold (ui.quality_settings)
    with classes_tab:
        classes_editor(project, user)
    with team:
        project_admin.team_editor(project)
    with danger:
        project_admin.danger_zone(project)


def _set_state(project: Project, state: ProjectState) -> None:
    if (
        widgets.run_action(
            projects.set_state, resources.store(), project.id, state, by=session.require_user()
        )
        is not None
    ):
        resources.forget_reads()
        st.rerun()


def details_form(project: Project) -> None:
    with st.form(f"details_{project.id}"):
        name = st.text_input("Name", value=project.name)
        description = st.text_area("Description", value=project.description, height=68)
        instructions = st.text_area("Instructions (markdown)", value=project.instructions)
        url = st.text_input("Instructions link", value=project.instructions_url, placeholder="https://…")
        precision = st.slider(
            "Target precision", 0.80, 0.99, float(project.target_precision), 0.01, format="percent"
        )
        if st.form_submit_button("Save details", type="primary"):
            done = widgets.run_action(
                projects.update_project,
                resources.store(),
                project.id,
                name=name,
                description=description,
                instructions=instructions,
                instructions_url=url,
                target_precision=float(precision),
                by=session.require_user(),
            )
            if done is not None:
                resources.forget_reads()
                widgets.rerun_with_toast("Details saved.")


def classes_editor(project: Project, user: str) -> None:
    store = resources.store()
    classes = projects.list_classes(store, project.id)
    counts = resources.project_stats(project.id).images_by_class
    st.caption("Rename, recolour or re-key classes at any time; labels keep pointing at the same class.")
    with st.form(f"classes_{project.id}"):
        edits = {}
        for n, c in enumerate(classes):
            col_color, col_name, col_key, col_used = st.columns([1, 4, 1, 2], vertical_alignment="bottom")
            shown = "visible" if n == 0 else "collapsed"  # column headings on the first row only
            color = col_color.color_picker("Colour", c.color, key=f"cls_color_{c.id}", label_visibility=shown)
            name = col_name.text_input("Name", c.name, key=f"cls_name_{c.id}", label_visibility=shown)
            key = col_key.text_input(
                "Key", c.hotkey or "", max_chars=1, key=f"cls_key_{c.id}", label_visibility=shown
            )
            col_used.caption(f"{counts.get(c.id, 0):,} image(s)")
            edits[c.id] = (c, name, color, key)
        if st.form_submit_button("Save classes", type="primary"):
            changed = 0
            for c, name, color, key in edits.values():
                if (name, color.lower(), key or None) != (c.name, c.color, c.hotkey):
                    ok = widgets.run_action(
                        projects.update_class,
                        store,
                        c.id,
                        name=name,
                        color=color,
                        hotkey=key,
                        by=session.require_user(),
                    )
                    changed += ok is not None
            if changed:
                resources.forget_reads()
                st.toast(f"{changed} class(es) saved.", icon=":material/check_circle:")
    add_col, delete_col = st.columns(2)
    with add_col, st.container(border=True):
        add_class_form(project, classes)
    with delete_col, st.container(border=True):
        st.markdown("**Delete a class**")
        names = {c.id: c.name for c in classes}
        victim = st.selectbox(
            "Class",
            list(names),
            format_func=names.get,
            index=None,
            key="del_cls",
            placeholder="Choose a class…",
        )
        target = None
        if victim is not None:
            used = projects.class_usage(store, victim)
            if used:
                others = [cid for cid in names if cid != victim]
                st.caption(
                    f"{used:,} image(s) use **{plain(names[victim])}**; their labels move to another class."
                )
                target = st.selectbox("Move its labels to", others, format_func=names.get, key="del_target")
            else:
                st.caption("No image uses it.")
        if st.button("Delete class", icon=":material/delete:", key="del_cls_go", disabled=victim is None):
            moved = widgets.run_action(
                projects.delete_class, store, victim, reassign_to=target, by=session.require_user()
            )
            if moved is not None:
                resources.forget_reads()
                st.session_state.pop("del_cls", None)
                widgets.rerun_with_toast(f"Class deleted ({moved} label(s) moved).")


ADD_GEN = "add_cls_gen"


def add_class_keys(project_id: int) -> tuple[str, str, str]:
    """The keys of the "Add a class" inputs: per project, and new after each class added (so a name typed
    for one project never shows in another's settings, and the box is empty after an add)."""
    gen = st.session_state.get(ADD_GEN, {}).get(project_id, 0)
    return tuple(f"add_cls_{what}_{project_id}_{gen}" for what in ("name", "color", "key"))  # type: ignore[return-value]


def add_class_form(project: Project, classes: list[LabelClass]) -> None:
    st.markdown("**Add a class**")
    name_key, color_key, hotkey_key = add_class_keys(project.id)
    new_name = st.text_input("Name", key=name_key)
    c1, c2 = st.columns(2)
    (free,) = free_colors([c.color for c in classes], 1)
    new_color = c1.color_picker("Colour", free, key=color_key)
    new_key = c2.text_input("Hotkey", key=hotkey_key, max_chars=1, placeholder="auto")
    if st.button("Add class", icon=":material/add:", key=f"add_cls_{project.id}"):
        spec = ClassSpec(new_name, new_color, new_key or None)
        added = widgets.run_action(
            projects.add_class, resources.store(), project.id, spec, by=session.require_user()
        )
        if added is not None:
            resources.forget_reads()
            gens = st.session_state.setdefault(ADD_GEN, {})
            gens[project.id] = gens.get(project.id, 0) + 1
            widgets.toast_next_run("Class added.")
            st.rerun()


# -- page -------------------------------------------------------------------------------------------


def main() -> None:
    user = session.require_user()
    st.title("Projects")
    st.caption("Pick the project to work on, or set one up.")
    widgets.show_pending_toast()
    if "_goto_tab" in st.session_state:
        st.session_state[TAB_KEY] = st.session_state.pop("_goto_tab")
    archived = st.toggle("Show archived projects", key="projects_show_archived")
    mine = session.visible_projects(user, include_archived=archived)
    project = session.current_project()
    # a tab appears only for those who may use it: New project for admins, Settings for owners and admins
    shown = [t for t in TABS if t == TABS[0] or (t == TABS[1] and session.is_admin()) or (
        t == TABS[2] and (session.is_admin() or may_see_settings(project)))]  # fmt: skip
    default = "New project" if not mine and session.is_admin() else "All projects"
    if st.session_state.get(TAB_KEY) not in shown:
        st.session_state.pop(TAB_KEY, None)
    # on_change="rerun" makes the tabs keep their state, so "_goto_tab" can select one
    tabs = dict(zip(shown, st.tabs(shown, key=TAB_KEY, default=default, on_change="rerun"), strict=True))
    with tabs[TABS[0]]:
        project_list(mine)
    if TABS[1] in tabs:
        with tabs[TABS[1]]:
            new_project_form(user.username)
    if TABS[2] in tabs:
        with tabs[TABS[2]]:
            if project is None:
                widgets.empty_state("No project open", "Open a project in the list to see its settings.")
            else:
                settings(project, user.username)


with widgets.error_boundary("the projects page"):
    main()
