"""AppTest fixtures: a fresh data directory and store per test, pages run with a signed-in user."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st

from core import auth
from core.domain import Role, User
from core.permissions import SYSTEM
from core.runtime import Runtime
from tests.pages.helpers import ADMIN_PASSWORD, make_project


@pytest.fixture(autouse=True)
def _navigation_without_pages_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """AppTest resets ``PagesManager.uses_pages_directory`` before every run, so from the second run on an app
    that has a ``pages/`` folder is run the old (v1) way, skipping app.py's ``st.navigation``. A real server
    sets the flag once; make the script runner see what a server sees."""
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.runtime.scriptrunner import script_runner

    class _V2PagesManager(PagesManager):
        uses_pages_directory = False

    monkeypatch.setattr(script_runner, "PagesManager", _V2PagesManager)


@pytest.fixture
def runtime(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    """The runtime the pages will use (``ui.resources.runtime``), on a fresh data directory
    (``data_dir`` from tests/conftest.py sets ``ANNOTA_DATA_DIR``); stopped and forgotten afterwards."""
    monkeypatch.setenv("ANNOTA_ADMIN_PASSWORD", ADMIN_PASSWORD)
    st.cache_resource.clear()
    st.cache_data.clear()
    from ui import resources

    rt = resources.runtime()
    assert rt.paths.root == data_dir
    yield rt
    rt.stop()
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture
def admin(runtime: Runtime) -> User:
    return auth.get_user(runtime.store, "admin")


@pytest.fixture
def labeler(runtime: Runtime) -> User:
    return auth.create_user(runtime.store, "lena", "secret-123", Role.LABELER, "Lena", by=SYSTEM)


@pytest.fixture
def project(runtime: Runtime):  # type: ignore[no-untyped-def]
    return make_project(runtime)
