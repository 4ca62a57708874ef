"""Streamlit caches around core: the runtime (store, job runner, watcher) and cheap reads."""

from __future__ import annotations

import streamlit as st

from core.config import default_paths
from core.runtime import Runtime, open_runtime


@st.cache_resource(show_spinner="Opening the annota store…")
def runtime() -> Runtime:
    return open_runtime(default_paths())


def store():  # type: ignore[no-untyped-def]
    return runtime().store


def runner():  # type: ignore[no-untyped-def]
    return runtime().runner


def paths():  # type: ignore[no-untyped-def]
    return runtime().paths
