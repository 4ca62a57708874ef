"""The server settings `streamlit run app.py` reads (.streamlit/config.toml): the ones annota depends on."""

from __future__ import annotations

import tomllib
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml"


def test_no_full_garbage_collection_after_each_run_and_no_file_watcher() -> None:
    conf = tomllib.loads(CONFIG.read_text(encoding="utf-8"))
    # a full collection after every run held the GIL 170-270 ms per click (python -m benchmarks ui)
    assert conf["runner"]["postScriptGC"] is False
    assert conf["server"]["fileWatcherType"] == "none"  # data/ would flood inotify
