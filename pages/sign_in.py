"""Sign in: user name and password; on a first start, where the admin's password is."""

from __future__ import annotations

import streamlit as st

from core import auth
from ui import resources, session, widgets


def _client() -> str | None:
    """The browser's network address (None for this machine), for the per-client back-off."""
    try:
        address = st.context.ip_address
    except Exception:  # no client context (a run without a browser)
        return None
    return address if isinstance(address, str) else None


def main() -> None:
    _, middle, _ = st.columns([1, 2, 1])
    with middle:
        st.title(":material/label: annota")
        st.caption("Image labeling with machine-learning assistance.")
        ended = session.end_reason()
        if ended:
            st.warning(ended, icon=":material/logout:")
        note = resources.first_sign_in_note()
        if note.exists():
            st.info(
                f"**First start.** Sign in as **admin**; the password is in `{note}` on the server "
                "(and was printed where annota was started). Change it after signing in: "
                "**Change password** in the sidebar.",
                icon=":material/key:",
            )
        with st.form("sign_in"):
            username = st.text_input("User name", autocomplete="username")
            password = st.text_input("Password", type="password", autocomplete="current-password")
            submitted = st.form_submit_button("Sign in", type="primary", icon=":material/login:")
        if submitted:
            if not username or not password:
                st.warning("Enter your user name and password.")
                return
            try:
                user = auth.sign_in(resources.store(), username, password, client=_client())
            except auth.TooManyTries as exc:
                st.error(str(exc), icon=":material/timer:")
                return
            if user is None:
                st.error("That user name and password do not match an account.", icon=":material/lock:")
                return
            session.sign_in(user)
            st.rerun()
        st.caption("No account? Ask an administrator to add you to a project.")


with widgets.error_boundary("the sign-in page"):
    main()
