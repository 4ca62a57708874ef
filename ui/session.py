"""Who is signed in and which project is open, kept in ``st.session_state``."""

from __future__ import annotations

import os

import streamlit as st
from streamlit.errors import StreamlitAPIException

from core.config import PROJECT_ROOT
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
        all_projects = visible_projects()
        if not all_projects:
            st.info("There is no project for you yet. An administrator creates one on the **Projects** page.")
            st.stop()
        names = {p.id: p.name for p in all_projects}
        choice = st.selectbox(
            "Open a project", list(names), format_func=names.get, index=None, placeholder="Choose…"
        )
        if choice is None:
            st.stop()
        open_project(int(choice))
        st.rerun()
    return project  # type: ignore[return-value]


# -- hand-over to the label page -------------------------------------------------------------------

LABEL_ITEM_KEY = "label_item_id"  # the item the label page should open first (it pops the key)
LABEL_PAGE = "pages/label.py"


def visible_projects(user: User | None = None) -> list[Project]:
    """Projects this user may open: every project for an admin, the projects they are a member of otherwise."""
    user = user or current_user()
    every = projects.list_projects(store())
    if user is None or user.role is Role.ADMIN:
        return every
    return [p for p in every if user.username in projects.list_members(store(), p.id)]


def label_page_exists() -> bool:
    return os.path.exists(PROJECT_ROOT / LABEL_PAGE)


def open_item_for_labeling(item_id: int) -> None:
    """Ask the label page to open ``item_id`` and go there."""
    st.session_state[LABEL_ITEM_KEY] = int(item_id)
    if not label_page_exists():
        st.info(f"Item {item_id} is ready to label, but the label page is not installed.")
        return
    try:
        st.switch_page(LABEL_PAGE)
    except StreamlitAPIException:  # the page is not in this run's navigation (a page run on its own in tests)
        st.info(f"Item {item_id} is ready: open **Label** to work on it.")
