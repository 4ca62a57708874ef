"""Streamlit caches around core: the runtime (store, job runner, watcher) and cheap reads."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.config import default_paths
from core.domain import LabelClass
from core.runtime import Runtime, open_runtime
from core.store import projects, stats


@st.cache_resource(show_spinner="Opening the annota store…")
def runtime() -> Runtime:
    return open_runtime(default_paths())


def store():  # type: ignore[no-untyped-def]
    return runtime().store


def runner():  # type: ignore[no-untyped-def]
    return runtime().runner


def paths():  # type: ignore[no-untyped-def]
    return runtime().paths


def first_sign_in_note() -> Path:
    """The file the first start writes the admin's password to (see core.runtime)."""
    return paths().root / "FIRST-SIGN-IN.txt"


# -- cheap reads, cached briefly; ``forget_reads`` after a write --------------------------------------
# The data directory is part of each key so two stores (tests) never share entries.


@st.cache_data(ttl=5, show_spinner=False)
def _project_stats(root: str, project_id: int) -> stats.ProjectStats:
    return stats.project_stats(store(), project_id)


@st.cache_data(ttl=5, show_spinner=False)
def _all_progress(root: str) -> dict[int, tuple[int, int, int]]:
    return stats.all_project_progress(store())


@st.cache_data(ttl=60, show_spinner=False)
def _classes(root: str, project_id: int) -> list[LabelClass]:
    return projects.list_classes(store(), project_id)


def project_stats(project_id: int) -> stats.ProjectStats:
    return _project_stats(str(paths().root), project_id)


def all_progress() -> dict[int, tuple[int, int, int]]:
    return _all_progress(str(paths().root))


def classes(project_id: int) -> list[LabelClass]:
    return _classes(str(paths().root), project_id)


def forget_reads() -> None:
    """Drop the cached reads (call after a write the screen should show at once)."""
    for fn in (_project_stats, _all_progress, _classes):
        fn.clear()  # type: ignore[attr-defined]
