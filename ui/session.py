"""Who is signed in and which project is open, kept in ``st.session_state``."""

from __future__ import annotations

import streamlit as st

from core.domain import NotFound, Project, Role, User
from core.store import projects
from ui.resources import store

USER_KEY = "user"
PROJECT_KEY = "project_id"


def current_user() -> User | None:
    return st.session_state.get(USER_KEY)


def sign_in(user: User) -> None:
    st.session_state[USER_KEY] = user


def sign_out() -> None:
    for key in list(st.session_state.keys()):
        del st.session_state[key]


def require_user() -> User:
    """The signed-in user; stops the page with a message when nobody is."""
    user = current_user()
    if user is None:
        st.warning("Please sign in first.")
        st.stop()
    return user  # type: ignore[return-value]


def is_admin() -> bool:
    user = current_user()
    return user is not None and user.role is Role.ADMIN


def current_project() -> Project | None:
    pid = st.session_state.get(PROJECT_KEY)
    if pid is None:
        return None
    try:
        return projects.get_project(store(), pid)
    except NotFound:
        st.session_state.pop(PROJECT_KEY, None)
        return None


def open_project(project_id: int) -> None:
    st.session_state[PROJECT_KEY] = project_id


def require_project() -> Project:
    """The open project; stops the page with a way to pick one when none is open."""
    project = current_project()
    if project is None:
        all_projects = projects.list_projects(store())
        if not all_projects:
            st.info("There is no project yet. Create one on the **Projects** page.")
            st.stop()
        names = {p.id: p.name for p in all_projects}
        choice = st.selectbox("Open a project", list(names), format_func=names.get, index=None, placeholder="Choose…")
        if choice is None:
            st.stop()
        open_project(int(choice))
        st.rerun()
    return project  # type: ignore[return-value]
