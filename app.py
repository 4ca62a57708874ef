"""annota: the entry point. Page config, sign-in, the sidebar and the navigation over pages/."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.auth import set_password
from core.domain import Role
from ui import resources, session, widgets

ROOT = Path(__file__).resolve().parent

st.set_page_config(page_title="annota", page_icon=":material/label:", layout="wide")

PAGES = {
    "Project": [
        ("pages/projects.py", "Projects", ":material/folder_open:", False),
        ("pages/data.py", "Data", ":material/add_photo_alternate:", True),
        (session.LABEL_PAGE, "Label", ":material/edit:", False),
        ("pages/skipped.py", "Skipped", ":material/redo:", False),
        ("pages/review.py", "Review", ":material/grid_view:", False),
        ("pages/assist.py", "Assist", ":material/auto_awesome:", False),
    ],
    "Insight": [
        ("pages/dashboard.py", "Dashboard", ":material/monitoring:", False),
        ("pages/export.py", "Export", ":material/download:", True),
    ],
}


def navigation_pages(is_admin: bool) -> dict[str, list[st.Page]]:
    """The pages a signed-in user sees (admin-only pages left out for labelers, missing files skipped)."""
    sections: dict[str, list[st.Page]] = {}
    for section, entries in PAGES.items():
        pages = []
        for path, title, icon, admin_only in entries:
            if admin_only and not is_admin:
                continue
            if not (ROOT / path).exists():  # a screen not installed (yet): leave it out
                continue
            pages.append(st.Page(path, title=title, icon=icon, default=path == "pages/projects.py"))
        sections[section] = pages
    return sections


def _switch_project() -> None:
    chosen = st.session_state.get("_project_switch")
    if chosen is not None:
        session.open_project(int(chosen))


def sidebar() -> None:
    user = session.current_user()
    assert user is not None
    with st.sidebar:
        mine = session.visible_projects(user)
        if mine:
            names = {p.id: p.name for p in mine}
            current = st.session_state.get(session.PROJECT_KEY)
            if current not in names:
                current = None
                st.session_state.pop(session.PROJECT_KEY, None)
            st.session_state["_project_switch"] = current
            st.selectbox(
                "Open project",
                list(names),
                format_func=names.get,
                key="_project_switch",
                placeholder="Choose a project…",
                on_change=_switch_project,
            )
        else:
            st.caption("No project yet.")
        st.divider()
        role = "Administrator" if user.role is Role.ADMIN else "Labeler"
        st.markdown(f":material/person: **{user.display_name}**  \n:gray[{user.username} · {role}]")
        with st.popover("Change password", icon=":material/key:", width="stretch"):
            _change_password(user.username)
        if st.button("Sign out", icon=":material/logout:", width="stretch"):
            session.sign_out()
            st.rerun()


def _change_password(username: str) -> None:
    with st.form("change_password", clear_on_submit=True, border=False):
        new = st.text_input("New password", type="password")
        again = st.text_input("Again", type="password")
        if st.form_submit_button("Change password"):
            if new != again:
                st.error("The two passwords differ.")
            else:
                try:
                    set_password(resources.store(), username, new)
                except Exception as exc:
                    st.error(widgets.explain(exc))
                else:
                    if username == "admin":  # the first password in the note is gone now
                        resources.first_sign_in_note().unlink(missing_ok=True)
                    st.success("Password changed.")


def main() -> None:
    try:
        resources.runtime()
    except Exception as exc:  # the store could not open: nothing else can work
        st.error(f"**annota could not start.** {widgets.explain(exc)}", icon=":material/error:")
        st.stop()
    user = session.current_user()
    if user is None:
        nav = st.navigation([st.Page("pages/sign_in.py", title="Sign in", icon=":material/login:")])
    else:
        nav = st.navigation(navigation_pages(user.role is Role.ADMIN))
        sidebar()
    nav.run()


main()
