"""Exports that fail never leave junk: a full disk (injected ENOSPC, where closing the file fails too) is
raised as ``DiskFull`` with the free space, the ``.part``, the spool folder and the issue list are gone, and
the next export with the same store works. Two exports started in the same second write two files; the
leftovers of a killed export are removed at start; every JSON export is strict JSON (no bare NaN)."""

from __future__ import annotations

import errno
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import Labeled, make_project
from formats_check import FORMATS

from core.config import Paths
from core.disk import DiskFull
from core.domain import TaskType
from core.formats import export
from core.formats.coco import CocoWriter
from core.formats.export import default_export_dir, export_project
from core.formats.leftovers import leftovers, remove_leftovers
from core.formats.records import CategorySet, ExportRecord, RecordProblem
from core.formats.tabular import CsvWriter, JsonlWriter
from core.jobs import JobRunner
from core.permissions import SYSTEM

ENOSPC = OSError(errno.ENOSPC, "No space left on device")


class FullFile:
    """A file on a disk that fills after ``room`` writes: writing fails with ENOSPC, and so does closing
    (its buffered bytes cannot be written), though the file is closed all the same."""

    def __init__(self, fh: Any, room: int) -> None:
        self._fh, self._room = fh, room

    def write(self, text: Any) -> int:
        self._room -= 1
        if self._room < 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        return int(self._fh.write(text))

    def close(self) -> None:
        self._fh.close()
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)


def _fill_disk_after(monkeypatch: pytest.MonkeyPatch, fmt: str, room: int = 3) -> None:
    """Make the format's writer run out of space after ``room`` writes of its main output."""
    spec = export.FORMATS[fmt]

    def factory(path: Path, task: TaskType, cats: CategorySet) -> Any:
        writer = spec.writer(path, task, cats)
        if hasattr(writer, "_out"):  # COCO, CSV, JSON lines: the .part file itself
            writer._out = FullFile(writer._out, room)
            if hasattr(writer, "_csv"):
                import csv

                writer._csv = csv.writer(writer._out, lineterminator="\n")
        else:  # YOLO, VOC: the spooled manifest fills, then the zip cannot be finished either
            fh = writer._spool._files[0][0]
            writer._spool._files[0] = (FullFile(fh, room), writer._spool._files[0][1])
            writer._manifest = writer._spool._files[0][0]
        return writer

    monkeypatch.setitem(export.FORMATS, fmt, export.FormatSpec(spec.name, spec.title, spec.suffix, factory))


def _junk(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_a_full_disk_leaves_nothing_and_the_next_export_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    lab = make_project(tmp_path, TaskType.BOXES, n=12, n_unlabeled=0)
    out = default_export_dir(lab.store, lab.project_id)
    with monkeypatch.context() as m:
        _fill_disk_after(m, fmt)
        with pytest.raises(DiskFull) as info:
            export_project(lab.store, lab.project_id, fmt, by=SYSTEM)
    assert "The disk is full (" in str(info.value) and " MB free)" in str(info.value)
    assert info.value.free_mb is not None and info.value.free_mb > 0
    assert _junk(out) == []  # no .part, no spool folder, no issue list
    done = export_project(lab.store, lab.project_id, fmt, by=SYSTEM)  # the same store, space back
    assert done.path.is_file() and done.images == 12
    assert _junk(out) == [done.path.name]
    lab.store.close()


@pytest.mark.parametrize("writer_cls", [CocoWriter, JsonlWriter, CsvWriter])
def test_abort_removes_the_part_when_closing_fails(tmp_path: Path, writer_cls: Any) -> None:
    cats = CategorySet.of([(1, "cat"), (2, "dog")])
    writer = writer_cls(tmp_path / "x.out", TaskType.MULTICLASS, cats)
    writer._out = FullFile(writer._out, 0)
    writer.abort()  # before the fix the close raised and the delete never ran
    assert _junk(tmp_path) == []


def test_the_export_job_says_the_disk_is_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lab = make_project(tmp_path, TaskType.POLYGONS, n=8, n_unlabeled=0)
    _fill_disk_after(monkeypatch, "coco")
    runner = JobRunner(lab.store, workers=1, poll_s=0.05).start()
    try:
        job = runner.wait(
            runner.submit("export", {"format": "coco"}, project_id=lab.project_id).id, timeout=120
        )
    finally:
        runner.stop()
    assert job.state == "failed"
    assert (job.error or "").startswith(
        "The disk is full ("
    ) and "The export could not be saved" in job.message
    assert _junk(default_export_dir(lab.store, lab.project_id)) == []
    lab.store.close()


class _SameSecond(datetime):
    @classmethod
    def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
        return datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_two_exports_in_the_same_second_write_two_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab = make_project(tmp_path, TaskType.BOXES, n=40, n_unlabeled=0)
    monkeypatch.setattr(export, "datetime", _SameSecond)  # both names get the same time stamp
    runner = JobRunner(lab.store, workers=2, poll_s=0.05).start()
    try:
        ids = [runner.submit("export", {"format": f}, project_id=lab.project_id).id for f in ("coco", "coco")]
        jobs = [runner.wait(i, timeout=120) for i in ids]
    finally:
        runner.stop()
    assert [j.state for j in jobs] == ["done", "done"], [j.error for j in jobs]
    paths = [Path(j.result["path"]) for j in jobs]
    assert paths[0] != paths[1] and all(p.is_file() for p in paths)
    assert [f"-job{j.id}.json" in p.name for j, p in zip(jobs, paths, strict=True)] == [True, True]
    for p in paths:
        assert len(json.loads(p.read_text())["images"]) == 40
    lab.store.close()


def _killed_export(folder: Path, job_id: int) -> list[Path]:
    """What a kill -9 during an export leaves: its .part, its spool folder, its first issues."""
    folder.mkdir(parents=True, exist_ok=True)
    name = f"demo-yolo-20260101-000000-job{job_id}.zip"
    spool = folder / f".{name}.spool-abc123"
    spool.mkdir()
    (spool / "0.txt").write_text("manifest")
    (folder / f"{name}.part").write_bytes(b"PK partial")
    (folder / f"{name}.issues.jsonl").write_text("{}\n")
    return [folder / f"{name}.part", spool, folder / f"{name}.issues.jsonl"]


def test_leftovers_of_killed_exports_are_removed_at_start(tmp_path: Path) -> None:
    from core.runtime import open_runtime

    paths = Paths(tmp_path / "data").ensure()
    junk = _killed_export(paths.exports / "1", 7) + _killed_export(paths.exports / "2", 8)
    finished = paths.exports / "1" / "demo-coco-20260101-000000-job3.json"
    finished.write_text("{}")
    (paths.exports / "1" / f"{finished.name}.issues.jsonl").write_text("{}\n")
    rt = open_runtime(paths, workers=1, watch=False, assist=False)
    try:
        assert [p for p in junk if p.exists()] == []
        assert _junk(paths.exports / "1") == [finished.name, f"{finished.name}.issues.jsonl"]
    finally:
        rt.stop()


def test_a_running_jobs_files_are_kept(tmp_path: Path) -> None:
    junk = _killed_export(tmp_path, 7)
    mine = _killed_export(tmp_path, 9)
    assert sorted(leftovers(tmp_path, keep_job_ids={9})) == sorted(junk)
    assert sorted(remove_leftovers(tmp_path, {9}, one_folder=True)) == sorted(junk)
    assert all(p.exists() for p in mine)
    # an export written outside a job (no id in its name) is kept by the jobs' own sweep
    (tmp_path / "x-coco-1.json.part").write_text("")
    assert remove_leftovers(tmp_path, {9}, one_folder=True, only_jobs=True) == []


def _strict(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise ValueError(f"not strict JSON: {name}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("fmt", ["coco", "jsonl", "csv"])
def test_a_nan_label_in_the_store_is_an_error_and_the_export_stays_strict_json(
    tmp_path: Path, fmt: str
) -> None:
    lab: Labeled = make_project(tmp_path, TaskType.POLYGONS, n=4, n_unlabeled=0)
    bad_item = lab.item_ids[1]
    # a payload written before validation refused NaN (or by hand): NaN in a point
    lab.store.execute(
        "UPDATE annotations SET payload = ? WHERE id = (SELECT annotation_id FROM items WHERE id = ?)",
        [
            f'{{"polygons":[{{"class_id":{lab.class_ids[0]},"points":[[1,1],[NaN,5],[9,9],[1,9]]}}]}}',
            bad_item,
        ],
    )
    result = export_project(lab.store, lab.project_id, fmt, by=SYSTEM)
    assert result.errors == 1 and result.issues[0].item_id == bad_item
    text = result.path.read_text()
    assert "NaN" not in text
    if fmt == "coco":
        assert len(_strict(text)["images"]) == 3
    elif fmt == "jsonl":
        assert len([_strict(line) for line in text.splitlines()]) == 3
    else:
        import csv
        import io

        rows = list(csv.DictReader(io.StringIO(text)))
        assert len(rows) == 3 and all(_strict(r["label"]) for r in rows)
    lab.store.close()


@pytest.mark.parametrize("writer_cls", [CocoWriter, JsonlWriter, CsvWriter])
def test_writers_refuse_nan_for_one_record_and_stay_valid(tmp_path: Path, writer_cls: Any) -> None:
    cats = CategorySet.of([(1, "cat"), (2, "dog")])
    path = tmp_path / ("x.json" if writer_cls is CocoWriter else "x.txt")
    writer = writer_cls(path, TaskType.BOXES, cats)
    writer.write(ExportRecord("a.jpg", 10, 10, {"boxes": [{"class_id": 1, "xywh": [1, 1, 2, 2]}]}, item_id=1))
    for bad in (float("nan"), float("inf")):
        with pytest.raises(RecordProblem, match="not a finite number"):
            writer.write(
                ExportRecord("b.jpg", 10, 10, {"boxes": [{"class_id": 2, "xywh": [1, bad, 2, 2]}]}, item_id=2)
            )
    writer.write(ExportRecord("c.jpg", 10, 10, {"boxes": [{"class_id": 2, "xywh": [3, 3, 2, 2]}]}, item_id=3))
    writer.close()
    text = path.read_text()
    if writer_cls is CocoWriter:
        data = _strict(text)
        assert [i["file_name"] for i in data["images"]] == ["a.jpg", "c.jpg"] and len(
            data["annotations"]
        ) == 2
        assert [a["id"] for a in data["annotations"]] == [1, 2]
    else:
        assert "b.jpg" not in text and "NaN" not in text and "Infinity" not in text


def test_a_killed_folder_exports_part_folder_is_removed(tmp_path: Path) -> None:
    part = tmp_path / "demo-yolo-20260101-000000-job4.part"  # a folder export (DirTree) writes a folder
    (part / "labels").mkdir(parents=True)
    (part / "labels" / "a.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    assert remove_leftovers(tmp_path, one_folder=True) == [part]
    assert _junk(tmp_path) == []
