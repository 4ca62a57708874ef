"""The label loaders' registry: every format annota exports is detected and loaded back."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.domain import TaskType
from core.formats.export import export_project
from core.formats.loaders import LOADERS, LoadError, detect, get_loader, load_labels
from core.permissions import SYSTEM
from tests.core.formats.conftest import make_project


@pytest.mark.parametrize("fmt", ["coco", "yolo", "voc"])
def test_an_export_is_detected_as_its_format_and_loads(tmp_path: Path, fmt: str) -> None:
    lab = make_project(tmp_path, TaskType.BOXES)
    out = export_project(
        lab.store,
        lab.project_id,
        fmt,
        out_path=tmp_path / f"out{'.json' if fmt == 'coco' else '.zip'}",
        by=SYSTEM,
    )
    assert detect(out.path)[0] == fmt
    name, ds = load_labels(out.path)
    assert name == fmt
    assert ds.task_type is TaskType.BOXES
    assert len([r for r in ds.records if r.payload is not None]) == len(lab.payloads)
    lab.store.close()


def test_unknown_format_and_missing_path_are_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="Unknown label format 'nope'"):
        get_loader("nope")
    with pytest.raises(LoadError, match="no such file"):
        load_labels(tmp_path / "missing.json")
    junk = tmp_path / "notes.txt"
    junk.write_text("hello")
    with pytest.raises(LoadError, match="not a label format"):
        load_labels(junk)
    assert {"coco", "yolo", "voc"} <= set(LOADERS)
