"""Closing and aborting the multi-file writers (YOLO, VOC) through ``core.formats.spool``: a finished export
has every spooled file under its name; an aborted or failed one leaves no file, no ``.part`` and no
temporary folder behind."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from conftest import sample_payload
from formats_check import CATS

from core.domain import TaskType
from core.formats.records import ExportRecord
from core.formats.spool import SPOOL_MARK, Spool
from core.formats.tree import DirTree, ZipTree, open_write_tree
from core.formats.voc import VocWriter
from core.formats.yolo import YoloWriter

WRITERS = {"yolo": YoloWriter, "voc": VocWriter}
SPOOLED = {  # what each writer spools for a classification project, in the order it adds them
    "yolo": ["manifest.csv", "lists/cat.txt", "lists/dog.txt", "lists/traffic_light.txt"],
    "voc": ["manifest.csv", "ImageSets/Main/trainval.txt", "ImageSets/Main/cat_trainval.txt",
            "ImageSets/Main/dog_trainval.txt", "ImageSets/Main/traffic_light_trainval.txt"],
}  # fmt: skip


def _records(task: TaskType) -> list[ExportRecord]:
    return [
        ExportRecord(
            f"img_{k}.jpg", 640, 480, sample_payload(task, k, CATS.ids), f"/data/img_{k}.jpg", 100 + k
        )
        for k in range(4)
    ]


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def temp_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Python's temporary folder for this test only, to see that the spool removes its own."""
    d = tmp_path / "tmp"
    d.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(d))
    return d


@pytest.mark.parametrize("name", ["out.zip", "out"])
@pytest.mark.parametrize("fmt", list(WRITERS))
def test_close_adds_the_spooled_files_in_order(tmp_path: Path, temp_dirs: Path, fmt: str, name: str) -> None:
    target = tmp_path / "exports" / name
    writer = WRITERS[fmt](target, TaskType.MULTILABEL, CATS)
    for rec in _records(TaskType.MULTILABEL):
        writer.write(rec)
    assert writer.close() == [target]
    assert _leftovers(target.parent) == [name] and _leftovers(temp_dirs) == []
    if name.endswith(".zip"):
        with zipfile.ZipFile(target) as zf:
            names = zf.namelist()
            manifest = zf.read("manifest.csv").decode()
        assert [n for n in names if n in SPOOLED[fmt]] == SPOOLED[fmt]  # in the order opened
    else:
        names = [p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()]
        manifest = (target / "manifest.csv").read_text()
    assert set(SPOOLED[fmt]) <= set(names)
    assert len(manifest.splitlines()) == 1 + 4  # the header and a row per image


@pytest.mark.parametrize("name", ["out.zip", "out"])
@pytest.mark.parametrize("fmt", list(WRITERS))
def test_abort_leaves_nothing(tmp_path: Path, temp_dirs: Path, fmt: str, name: str) -> None:
    writer = WRITERS[fmt](tmp_path / name, TaskType.BOXES, CATS)
    for rec in _records(TaskType.BOXES):
        writer.write(rec)
    during = _leftovers(tmp_path)  # written to the .part until the end, spooled beside it
    assert during[1:] == [f"{name}.part", "tmp"] and during[0].startswith(f".{name}{SPOOL_MARK}")
    writer.abort()
    assert _leftovers(tmp_path) == ["tmp"] and _leftovers(temp_dirs) == []


@pytest.mark.parametrize("name", ["out.zip", "out"])
@pytest.mark.parametrize("fmt", list(WRITERS))
def test_a_failing_close_aborts(
    tmp_path: Path, temp_dirs: Path, monkeypatch: pytest.MonkeyPatch, fmt: str, name: str
) -> None:
    writer = WRITERS[fmt](tmp_path / name, TaskType.MULTICLASS, CATS)
    for rec in _records(TaskType.MULTICLASS):
        writer.write(rec)

    def disk_full(*_a: object) -> None:
        raise OSError("No space left on device")

    monkeypatch.setattr(type(writer.tree), "add_file", disk_full)
    with pytest.raises(OSError, match="No space left"):
        writer.close()
    assert _leftovers(tmp_path) == ["tmp"] and _leftovers(temp_dirs) == []


def test_spool_replaces_an_older_export_only_when_finished(tmp_path: Path, temp_dirs: Path) -> None:
    target = tmp_path / "out"
    old = DirTree(target)
    old.write_text("old.txt", "old")
    old.close()
    spool = Spool(open_write_tree(target), "annota-test-")
    spool.open("a.txt").write("a\n")
    spool.abort()
    assert [p.name for p in target.iterdir()] == ["old.txt"]  # an aborted export keeps the last one
    spool = Spool(open_write_tree(target), "annota-test-")
    spool.open("sub/b.txt", newline="").write("b\r\n")
    assert spool.finish({"first.txt": "1"}) == [target]
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()) == [
        "first.txt",
        "sub/b.txt",
    ]
    assert (target / "sub" / "b.txt").read_bytes() == b"b\r\n"  # newline="" keeps what was written
    assert _leftovers(tmp_path) == ["out", "tmp"] and _leftovers(temp_dirs) == []


def test_zip_spool_abort_after_a_failed_finish_is_harmless(tmp_path: Path, temp_dirs: Path) -> None:
    spool = Spool(ZipTree(tmp_path / "x.zip"), "annota-test-")
    spool.open("a.txt").write("a")
    with pytest.raises(TypeError):
        spool.finish({"b.txt": None})  # type: ignore[dict-item]  # a text that cannot be written
    spool.abort()  # the writer's caller may abort once more
    assert _leftovers(tmp_path) == ["tmp"] and _leftovers(temp_dirs) == []
