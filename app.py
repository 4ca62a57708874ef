"""annota: the entry point. Page config, sign-in, the sidebar and the navigation over pages/."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.auth import must_change_password, set_password
from core.domain import Role, User
from ui import browser_cookie, quiet_logs, resources, session, widgets
from ui.text import plain

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
        current = st.session_state.get(session.PROJECT_KEY)
        if current is not None and current not in {p.id for p in mine}:
            # an archived project opened from the list (to read it or unarchive it) stays open
            mine += [p for p in session.visible_projects(user, include_archived=True) if p.id == current]
        if mine:
            names = {p.id: p.name + (" (archived)" if p.archived_at else "") for p in mine}
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
        st.markdown(
            f":material/person: **{plain(user.display_name)}**  \n:gray[{plain(user.username)} · {role}]"
        )
        with st.popover("Change password", icon=":material/key:", width="stretch"):
            _change_password(user)
        _sign_out_button()


def _sign_out_button() -> None:
    if st.button("Sign out", icon=":material/logout:", width="stretch"):
        session.sign_out()
        st.rerun()


def _change_password(user: User) -> None:
    with st.form("change_password", clear_on_submit=True, border=False):
        new = st.text_input("New password", type="password", autocomplete="new-password")
        again = st.text_input("Again", type="password", autocomplete="new-password")
        if st.form_submit_button("Change password"):
            if new != again:
                st.error("The two passwords differ.")
            else:
                try:
                    set_password(resources.store(), user.username, new)
                except Exception as exc:
                    st.error(widgets.explain(exc))
                else:
                    # every session of the user ended; this one carries on with a new token
                    session.renew_after_password_change(user)
                    if user.username == "admin":  # the first password in the note is gone now
                        resources.first_sign_in_note().unlink(missing_ok=True)
                    widgets.toast_next_run("Password changed. Your other sign-ins have ended.")
                    st.rerun()


def first_password_page() -> None:
    """The first sign-in with a password annota made up: choose one before anything else."""
    user = session.current_user()
    assert user is not None
    _, middle, _ = st.columns([1, 2, 1])
    with middle:
        st.title(":material/key: Choose your password")
        st.info(
            "You signed in with the first password annota made up, which is written in a file on the "
            "server. Choose your own now; the file is deleted once you have.",
            icon=":material/lock:",
        )
        _change_password(user)
    with st.sidebar:
        _sign_out_button()


def signed_out_pages() -> list[st.Page]:
    """The sign-in page under every page's address, so a bookmark or a reload of ``/skipped`` signed out
    shows the sign-in form (not "Page not found") and, once signed in, that page."""
    paths = [path for entries in PAGES.values() for path, *_ in entries if (ROOT / path).exists()]
    return [
        st.Page(
            "pages/sign_in.py",
            title="Sign in",
            icon=":material/login:",
            url_path=Path(path).stem,
            default=path == "pages/projects.py",
        )
        for path in paths
    ]


def main() -> None:
    quiet_logs.install()
    try:
        resources.runtime()
    except Exception as exc:  # the store could not open: nothing else can work
        st.error(f"**annota could not start.** {widgets.explain(exc)}", icon=":material/error:")
        st.stop()
    user = session.gate()
    if user is None:
        nav = st.navigation(signed_out_pages(), position="hidden")
    elif must_change_password(resources.store(), user.username):
        nav = st.navigation(
            [st.Page(first_password_page, title="Choose your password", url_path="password")],
            position="hidden",
        )
    else:
        nav = st.navigation(navigation_pages(user.role is Role.ADMIN))
        problem = session.follow_url(user, nav.url_path)
        if problem:
            st.toast(problem, icon=":material/warning:")
        sidebar()
    with st.sidebar:
        browser_cookie.render()
    widgets.show_pending_toast()  # one a page queued before its rerun (``widgets.rerun_with_toast``)
    nav.run()


main()
