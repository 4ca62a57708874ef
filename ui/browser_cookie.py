"""The sign-in cookie: read from the websocket handshake (``st.context.cookies``), written by the browser.

A server can only set a cookie through the browser here, so ``render`` draws a tiny script
(``st.html(..., unsafe_allow_javascript=True)``, in the sidebar) that sets or clears it: ``SameSite=Strict``,
``Path=/``, ``Secure`` over https, lasting until the session's end. Scripts cannot be kept from reading it
(no ``HttpOnly`` from JavaScript); the store keeps only its hash. The script's text holds nothing but the
token and the expiry, both made by annota, never user text.
"""

from __future__ import annotations

import json

import streamlit as st

COOKIE_NAME = "annota_session"
JOB_KEY = "_cookie_job"  # ("set", token, expires_ms) or ("clear", token)


def sent_token() -> str | None:
    """The token the browser sent when this connection opened (None: none)."""
    try:
        value = st.context.cookies.get(COOKIE_NAME)
    except Exception:  # no client context (a run without a browser)
        return None
    return value if isinstance(value, str) and value else None  # (AppTest's stand-in client has no cookies)


def want_set(token: str, expires_at_s: float) -> None:
    st.session_state[JOB_KEY] = ("set", token, int(expires_at_s * 1000))


def want_cleared(token: str) -> None:
    """Clear the cookie, but only while it still holds ``token`` (another tab may have set a newer one)."""
    st.session_state[JOB_KEY] = ("clear", token)


def want_nothing() -> None:
    st.session_state.pop(JOB_KEY, None)


def script(job: tuple) -> str:
    """The page script for a job (the values are JSON literals, so nothing in them runs)."""
    name = json.dumps(COOKIE_NAME)
    secure = "(location.protocol === 'https:' ? '; Secure' : '')"
    if job[0] == "set":
        token, expires_ms = json.dumps(job[1]), int(job[2])
        body = (
            f"const age = Math.max(0, Math.floor(({expires_ms} - Date.now()) / 1000));"
            f"document.cookie = {name} + '=' + {token} + '; Path=/; Max-Age=' + age + '; SameSite=Strict' + {secure};"
        )
    else:
        token = json.dumps(job[1])
        body = (
            f"const now = document.cookie.split('; ').find(c => c.startsWith({name} + '='));"
            f"if (now && now.slice({len(COOKIE_NAME) + 1}) === {token}) "
            f"document.cookie = {name} + '=; Path=/; Max-Age=0; SameSite=Strict' + {secure};"
        )
    return f"<script>(() => {{ {body} }})();</script>"


def render() -> None:
    """Draw the pending cookie job's script (call once per run, from app.py)."""
    job = st.session_state.get(JOB_KEY)
    if job:
        st.html(script(job), unsafe_allow_javascript=True, width="content")
