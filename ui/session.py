"""Who is signed in and which project is open, kept in ``st.session_state``.

The signed-in user is bound to a secret the browser holds, never to Streamlit's session id alone (that id
travels in the websocket's subprotocol and shows in server logs). ``sign_in`` starts a store session
(``core.sessions``) and hands its token to the browser as a cookie (``ui.browser_cookie``); ``gate``, run by
app.py before every page, accepts the user of ``st.session_state`` only over the very connection that
signed in, or over a connection whose handshake carried a live token for that user; anything else signs
that Streamlit session out. The same check signs a reload or a new tab in from the cookie, and ends a
session that was signed out, expired, or revoked by a password change or a deactivation.

Pages run on their own (AppTest page tests) trust ``st.session_state["user"]``: in the server every page
runs under app.py's ``gate``. AppTest has one connection and no cookies, so app.py's tests sign in through
the form, as a person does.
"""

from __future__ import annotations

import os
import time
import weakref
from typing import Any

import streamlit as st
from streamlit.errors import StreamlitAPIException

from core import permissions, sessions
from core.config import PROJECT_ROOT
from core.domain import NotFound, Project, Role, User
from core.permissions import Action
from core.store import projects
from ui import browser_cookie
from ui.resources import store

USER_KEY = "user"
PROJECT_KEY = "project_id"
AUTH_KEY = "_auth"  # {"hash", "token", "conn" (a weak reference), "seen"}: the binding of USER_KEY
ENDED_KEY = "_sign_in_ended"  # why the last sign-in ended (for the sign-in page), kept across sign_out
TOUCH_EVERY_S = 60.0  # how often a live session's last_seen_at is written


def current_user() -> User | None:
    return st.session_state.get(USER_KEY)


def _connection() -> Any:
    """This run's browser connection (the websocket client object), None when there is none."""
    from streamlit.runtime import Runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None or not Runtime.exists():
        return None
    return Runtime.instance().get_client(ctx.session_id)


def _forbid_resume() -> None:
    """Streamlit lets a connection that names a session's id take that session over (its reconnect path).
    A signed-in session refuses that: a connection naming its id gets a new, empty session, which only the
    browser's cookie signs in. (A browser that reconnects after a network drop starts a new session too,
    signed in again by its cookie; the page and project come back from the URL.)"""
    from streamlit.runtime import Runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is not None and Runtime.exists():
        Runtime.instance().mark_session_nonresumable(ctx.session_id)


def _bind(user: User, token: str, *, cookie_needed: bool) -> None:
    _forbid_resume()
    conn = _connection()
    try:
        ref: Any = weakref.ref(conn) if conn is not None else None
    except TypeError:  # an object without weak references (not a websocket client)
        ref = None
    st.session_state[USER_KEY] = user
    st.session_state[AUTH_KEY] = {
        "hash": sessions.hash_token(token),
        "token": token,
        "conn": ref,
        "seen": time.monotonic(),
    }
    if cookie_needed:
        browser_cookie.want_set(token, _expires_of(token))
    else:
        browser_cookie.want_nothing()


def _expires_of(token: str) -> float:
    found = sessions.get_session(store(), sessions.hash_token(token))
    return found.expires_at.timestamp() if found else 0.0


def sign_in(user: User) -> None:
    """Sign ``user`` in on this connection: a new store session whose token the browser keeps as a cookie."""
    new = sessions.start_session(store(), user.id)
    sessions.forget_old_sessions(store())  # rows of sessions that ended a month ago
    st.session_state.pop(ENDED_KEY, None)
    _bind(user, new.token, cookie_needed=True)


def _clear_state() -> None:
    for key in list(st.session_state.keys()):
        del st.session_state[key]


def sign_out() -> None:
    """End this sign-in everywhere it is used (every tab of this browser), and forget this session's state."""
    bound = st.session_state.get(AUTH_KEY) or {}
    if bound.get("hash"):
        sessions.revoke(store(), bound["hash"])
    _clear_state()
    if bound.get("token"):
        browser_cookie.want_cleared(bound["token"])


def _drop(reason: str | None) -> None:
    """Sign this Streamlit session out without touching the store session (it may be someone's live one)."""
    _clear_state()
    if reason:
        st.session_state[ENDED_KEY] = reason


def gate() -> User | None:
    """Check the signed-in user of this run (see the module's docstring); returns who is signed in now."""
    cookie = browser_cookie.sent_token()
    user = current_user()
    bound = st.session_state.get(AUTH_KEY)
    if user is not None:
        token: str | None = None
        conn = _connection()
        if bound and conn is not None and bound.get("conn") is not None and bound["conn"]() is conn:
            token = bound["token"]  # the connection that signed in (or was checked) before
        elif bound and cookie and sessions.hash_token(cookie) == bound["hash"]:
            token = cookie  # a new connection (reconnect) that proves it holds the token
        if token is None:
            _drop(None)  # a session id without the browser's secret: nothing
            user = None
        else:
            live = sessions.user_for_hash(store(), sessions.hash_token(token))
            if live is None or live.id != user.id:
                _drop("Your sign-in has ended (signed out, expired, or the password or account changed).")
                user = None
            else:
                seen = bound["seen"] if bound else 0.0
                _bind(live, token, cookie_needed=cookie != token)
                if time.monotonic() - seen < TOUCH_EVERY_S:
                    st.session_state[AUTH_KEY]["seen"] = seen
                else:
                    sessions.touch(store(), sessions.hash_token(token))
                return live
    if cookie:
        live = sessions.user_for_token(store(), cookie)
        if live is not None:
            st.session_state.pop(ENDED_KEY, None)
            _bind(live, cookie, cookie_needed=False)
            sessions.touch(store(), sessions.hash_token(cookie))
            return live
        browser_cookie.want_cleared(cookie)  # a dead token: the browser may forget it
    return None


def end_reason() -> str | None:
    return st.session_state.get(ENDED_KEY)


def renew_after_password_change(user: User) -> None:
    """A password change ended every session of the user; this connection carries on with a new one."""
    sign_in(user)


def _leave_pages_folder_mode() -> None:
    """A server's very first run that asks for a page's address (a reload or a bookmark of ``/skipped``)
    runs that page's file directly, without app.py: Streamlit's old multipage mode, on while nothing has
    called ``st.navigation`` yet, because a ``pages/`` folder exists. Turn it off and run again, so app.py
    (its sign-in check and navigation) runs first, as on every later run."""
    from streamlit.runtime.scriptrunner import script_runner

    if script_runner.PagesManager.uses_pages_directory:
        script_runner.PagesManager.uses_pages_directory = False
        st.rerun()


def require_user() -> User:
    """The signed-in user; stops the page with a message when nobody is."""
    _leave_pages_folder_mode()
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
        project = projects.get_project(store(), pid)
    except NotFound:
        st.session_state.pop(PROJECT_KEY, None)
        return None
    user = current_user()
    if user is not None and not permissions.can(store(), user, Action.VIEW, project.id):
        st.session_state.pop(PROJECT_KEY, None)  # a link to someone else's project opens nothing
        return None
    return project


def open_project(project_id: int) -> None:
    st.session_state[PROJECT_KEY] = project_id
    st.query_params["project"] = str(project_id)  # a reload or a bookmark opens it again


def close_project() -> None:
    """No project open (after the open one was deleted)."""
    st.session_state.pop(PROJECT_KEY, None)
    st.query_params.pop("project", None)


def can(action: Action, project_id: int) -> bool:
    """Whether the signed-in user may do ``action`` in the project (``core.permissions.can``): pages
    hide what the core would refuse."""
    user = current_user()
    return user is not None and permissions.can(store(), user, action, project_id)


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
    if project.archived_at is not None:
        st.info(
            "This project is archived: read-only until an owner unarchives it (Projects, Settings).",
            icon=":material/archive:",
        )
    return project


# -- hand-over to the label page -------------------------------------------------------------------

LABEL_ITEM_KEY = "label_item_id"  # the item the label page should open first (it pops the key)
LABEL_PAGE = "pages/label.py"


def visible_projects(user: User | None = None, *, include_archived: bool = False) -> list[Project]:
    """Projects this user may open: every project for an admin, the projects they are a member of otherwise
    (archived ones only with ``include_archived``)."""
    user = user or current_user()
    every = projects.list_projects(store(), include_archived=include_archived)
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


# -- the URL: ?project=ID (and ?item=ID for the label page) -----------------------------------------------

URL_ITEM_DONE_KEY = "_url_item_done"
URL_PROJECT_DONE_KEY = "_url_project_done"


def show_item_in_url(item_id: int | None) -> None:
    """The label screen's item in the URL (``?item=``), so a reload or a bookmark reopens it."""
    if item_id is None:
        if "item" in st.query_params:
            del st.query_params["item"]
    elif st.query_params.get("item") != str(item_id):
        st.query_params["item"] = str(item_id)


def follow_url(user: User, page_url_path: str) -> str | None:
    """Open the project the URL names (``?project=3``) when this user may, hand the label page the URL's
    ``?item=``, then write the open project back into the URL so a reload or a bookmark brings it back.
    Returns a message in words when the URL asked for something this user cannot open."""
    problem = None
    wanted = st.query_params.get("project")
    if st.session_state.get(URL_PROJECT_DONE_KEY):
        # only the session's first run (a reload, a bookmark, a new tab) follows the URL's project; later runs
        # may carry an address the browser had not yet updated (a rerun sent just after the sidebar opened
        # another project), which must not send the user back to the project they just left
        wanted = None
    st.session_state[URL_PROJECT_DONE_KEY] = True
    if wanted is not None:
        allowed = {p.id for p in visible_projects(user)}
        try:
            pid = int(wanted)
        except ValueError:
            pid = None
        if pid is not None and pid in allowed:
            if st.session_state.get(PROJECT_KEY) != pid:
                open_project(pid)
        else:
            problem = "The project in the address does not exist or is not open to you."
            del st.query_params["project"]
    if page_url_path == "label" and not st.session_state.get(URL_ITEM_DONE_KEY):
        # the first label screen of this session (a reload, a bookmark) opens the URL's item; later the
        # screen itself says which item it shows (it must not be sent back to an older one)
        st.session_state[URL_ITEM_DONE_KEY] = True
        item = st.query_params.get("item")
        if item is not None and item.isdigit():
            st.session_state[LABEL_ITEM_KEY] = int(item)
    current = st.session_state.get(PROJECT_KEY)
    if current is not None and st.query_params.get("project") != str(current):
        st.query_params["project"] = str(current)
    return problem
