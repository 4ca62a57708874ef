"""The Projects page's administration parts: the team (members, their roles, removal), account access
(an admin's), and the danger zone (archive, unarchive, delete). Every action is a core function that
checks ``core.permissions`` itself; these widgets only hide what it would refuse."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from core import auth
from core.domain import Project, Role, User
from core.permissions import Action, ProjectRole
from core.store import admin, projects
from ui import resources, session, widgets
from ui.text import plain

ROLES = list(ProjectRole)
ROLE_HELP = (
    "Owner: everything in the project, its team and deletion. Reviewer: label, review anyone's labels, "
    "export. Labeler: label, correct their own labels."
)


def _me() -> User:
    return session.require_user()


# -- team ------------------------------------------------------------------------------------------


def team_editor(project: Project) -> None:
    """Members with their role (changed in place), a Remove button each, and adding someone."""
    store = resources.store()
    roles = projects.member_roles(store, project.id)
    users = {u.username: u for u in auth.list_users(store)}
    inactive = auth.inactive_usernames(store)
    may_team = session.can(Action.TEAM, project.id)
    st.caption("Administrators see every project; others see the projects they are members of. " + ROLE_HELP)
    if not roles:
        st.caption("No members yet.")
    for name, role in roles.items():
        user = users.get(name)
        shown, pick, remove = st.columns([3, 2, 1], vertical_alignment="center")
        away = " :gray-badge[deactivated]" if name in inactive else ""
        shown.markdown(
            f":material/person: {plain(user.display_name if user else name)} ({plain(name)}){away}"
        )
        if user is None:
            continue
        new = pick.selectbox(
            "Role",
            ROLES,
            index=ROLES.index(role),
            format_func=lambda r: r.display_name,
            key=f"member_role_{project.id}_{user.id}",
            label_visibility="collapsed",
            disabled=not may_team,
        )
        if new != role and may_team:
            widgets.run_action(projects.add_member, store, project.id, user.id, new, by=_me())
            if projects.member_roles(store, project.id).get(name) == new:  # else the error is on the screen
                widgets.toast_next_run(f"{plain(name)} is now {new.display_name.lower()}.")
                st.rerun()
        if may_team and remove.button(
            "Remove", key=f"member_remove_{project.id}_{user.id}", icon=":material/person_remove:"
        ):
            widgets.run_action(admin.remove_member, store, project.id, user.id, by=_me())
            if name not in projects.member_roles(store, project.id):  # else the error is on the screen
                widgets.toast_next_run(f"{plain(name)} left the project; their labels stay.")
                st.rerun()
    if not may_team:
        return
    left, right = st.columns(2)
    with left, st.container(border=True):
        st.markdown("**Add someone who has an account**")
        candidates = [u for u in users if u not in roles]
        who = st.selectbox("User", candidates, index=None, key="member_pick", placeholder="Choose a user…")
        role = st.selectbox(
            "Their role", ROLES, index=ROLES.index(ProjectRole.LABELER), format_func=lambda r: r.display_name,
            key="member_pick_role",
        )  # fmt: skip
        if st.button("Add to project", key="member_add", disabled=who is None) and who is not None:
            added = widgets.run_action(projects.add_member, store, project.id, users[who].id, role, by=_me())
            if added is not None:
                widgets.rerun_with_toast(f"{plain(who)} added.")
            if who in projects.member_roles(store, project.id):
                st.rerun()
    if session.is_admin():
        with right:
            new_account(project)
        account_access(list(users.values()))


def new_account(project: Project) -> None:
    store = resources.store()
    with st.form("new_user", clear_on_submit=True):
        st.markdown("**Create an account**")
        username = st.text_input("User name")
        display = st.text_input("Display name")
        password = st.text_input("First password", type="password", help="At least 6 characters.")
        role = st.radio(
            "Role", [Role.LABELER, Role.ADMIN], format_func=lambda r: r.value.capitalize(), horizontal=True
        )
        if st.form_submit_button("Create and add", type="primary"):
            user = widgets.run_action(auth.create_user, store, username, password, role, display, by=_me())
            if user is not None:
                widgets.run_action(projects.add_member, store, project.id, user.id, by=_me())
                widgets.rerun_with_toast(f"{plain(user.username)} can sign in now.")


def account_access(users: list[User]) -> None:
    """Deactivate an account (it cannot sign in, and every one of its sessions ends at its next step) or
    let it back in (an admin's)."""
    store = resources.store()
    inactive = auth.inactive_usernames(store)
    me = _me()
    with st.container(border=True):
        st.markdown("**Account access**")
        if inactive:
            st.caption("Deactivated: " + ", ".join(plain(u) for u in sorted(inactive)))
        names = {u.username: f"{u.display_name} ({u.username})" for u in users}
        who = st.selectbox(
            "Account",
            list(names),
            format_func=names.get,
            index=None,
            key="access_pick",
            placeholder="Choose…",
        )
        if who is None:
            return
        if who in inactive:
            if st.button("Reactivate", key="access_on", icon=":material/person_check:"):
                widgets.run_action(auth.set_active, store, who, True, by=me)
                if who not in auth.inactive_usernames(store):  # else the error is on the screen
                    widgets.toast_next_run(f"{plain(who)} can sign in again.")
                    st.rerun()
        elif who == me.username:
            st.caption("You cannot deactivate your own account.")
        elif st.button("Deactivate", key="access_off", icon=":material/person_off:", type="primary"):
            widgets.run_action(auth.set_active, store, who, False, by=me)
            if who in auth.inactive_usernames(store):  # else the error is on the screen
                widgets.toast_next_run(f"{plain(who)} is deactivated; their sessions have ended.")
                st.rerun()


# -- danger zone -------------------------------------------------------------------------------------


def danger_zone(project: Project) -> None:
    """Archive or unarchive; delete after the project's name is typed (owners and admins)."""
    may_archive = session.can(Action.ARCHIVE, project.id)
    may_delete = session.can(Action.DELETE, project.id)
    if not (may_archive or may_delete):
        return
    store = resources.store()
    with st.container(border=True):
        st.markdown("**:material/warning: Danger zone**")
        if may_archive:
            if project.archived_at is None:
                st.caption(
                    "An archived project is read-only and hidden from the list; unarchive it at any time."
                )
                if st.button("Archive project", key=f"archive_{project.id}", icon=":material/archive:"):
                    widgets.run_action(admin.archive_project, store, project.id, by=_me())
                    if admin.is_archived(store, project.id):  # else the error is on the screen
                        resources.forget_reads()
                        widgets.toast_next_run("Project archived: read-only now.")
                        st.rerun()
            else:
                st.caption(f"Archived {widgets.ago(project.archived_at)}: read-only.")
                if st.button("Unarchive project", key=f"unarchive_{project.id}", icon=":material/unarchive:"):
                    widgets.run_action(admin.unarchive_project, store, project.id, by=_me())
                    if not admin.is_archived(store, project.id):
                        resources.forget_reads()
                        widgets.toast_next_run("Project unarchived.")
                        st.rerun()
        if may_delete:
            st.caption(
                "Deleting removes the project with its labels, history, jobs, uploads and exports for good. "
                "Images in server folders stay where they are."
            )
            typed = st.text_input(
                f"Type the project's name ({plain(project.name)}) to delete it",
                key=f"delete_name_{project.id}",
            )
            if st.button(
                "Delete project",
                key=f"delete_{project.id}",
                icon=":material/delete_forever:",
                type="primary",
                disabled=typed != project.name,
            ):
                done = widgets.run_action(
                    admin.delete_project, store, project.id, confirm_name=typed, by=_me()
                )
                if done is not None:
                    resources.forget_reads()
                    session.close_project()
                    widgets.toast_next_run(f"Project {plain(done.name)} deleted.")
                    st.session_state["_goto_tab"] = "All projects"
                    st.rerun()


# -- images ------------------------------------------------------------------------------------------


def remove_image(project: Project, item_id: int, then: Callable[[], None]) -> None:
    """ "Remove from project" with a confirmation (owners and admins); ``then`` runs once it is removed."""
    if not session.can(Action.DELETE, project.id):
        return
    with st.popover("Remove from project", icon=":material/delete:", width="stretch"):
        st.caption(
            "The image leaves every view, queue and export. Its labels stay in the history, and no rescan "
            "or upload brings it back."
        )
        if st.button(
            "Remove this image", key=f"remove_item_{item_id}", type="primary", icon=":material/delete:"
        ):
            done = widgets.run_action(admin.remove_images, resources.store(), project.id, [item_id], by=_me())
            if done:
                resources.forget_reads()
                widgets.toast_next_run(f"Image {item_id} removed from the project.")
                then()
                st.rerun()
