"""The fault suite's import scenarios, small: a real process killed with SIGKILL mid-import; the restart's
job runner resumes the job, or (the job given up) the folder watcher finishes the import."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import faults


@pytest.mark.parametrize("name", ["import_restart", "import_watcher"])
def test_a_killed_import_is_finished(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setattr(faults, "IMAGES", 600)
    out = faults.SCENARIOS[name](tmp_path)
    print(name, out)
    assert out["found_after_kill"] >= out["acknowledged"] > 0
    assert out["found_after_kill"] < 600  # the kill did land mid-import
    assert out["duplicate_paths"] == 0
    assert out["ok"], out
