"""A second server on a data directory another process holds is told who holds it (not "try again")."""

from __future__ import annotations

import subprocess
import sys

import streamlit as st

from tests.pages.helpers import page


def test_the_start_page_names_the_process_that_holds_the_data_directory(data_dir, monkeypatch):
    data_dir.mkdir(parents=True)
    db = data_dir / "annota.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(db)!r}); print('ok', flush=True); time.sleep(600)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    st.cache_resource.clear()
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ok"
        at = page("app.py").run()
        assert not at.exception
        (error,) = [e.value for e in at.error]
        assert error.startswith("**annota could not start.**")
        assert f"Another annota process (PID {holder.pid}) holds the data directory {data_dir}" in error
        assert "could not answer" not in error
    finally:
        holder.kill()
        holder.wait(60)
        st.cache_resource.clear()
