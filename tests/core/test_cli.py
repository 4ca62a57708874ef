"""The command line through a subprocess (``python -m core.cli``), on a store in a temporary ANNOTA_DATA_DIR."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, datasets_or_skip


def cli(data: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ANNOTA_DATA_DIR": str(data), "ANNOTA_ASSIST_SCHEDULER": "0"}
    return subprocess.run([sys.executable, "-m", "core.cli", *args], cwd=ROOT, env=env, input=stdin,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def ok(data: Path, *args: str, stdin: str | None = None) -> str:
    done = cli(data, *args, stdin=stdin)
    assert done.returncode == 0, done.stderr
    return done.stdout


def refused(data: Path, *args: str, code: int = 1) -> str:
    done = cli(data, *args)
    assert done.returncode == code, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


def test_help_documents_every_command(tmp_path: Path) -> None:
    top = ok(tmp_path, "--help")
    for command in (
        "create-project",
        "import-images",
        "import-labels",
        "export",
        "stats",
        "users",
        "projects",
    ):
        assert command in top
        assert "usage:" in ok(tmp_path, command, "--help")
    assert "--as-proposals" in ok(tmp_path, "import-labels", "--help")
    assert cli(tmp_path, "no-such-command").returncode == 2


def test_raccoons_from_folder_to_export_and_stats(tmp_path: Path) -> None:
    raccoon = datasets_or_skip() / "raccoon"
    data = tmp_path / "data"
    assert "created project 'Raccoons'" in ok(data, "create-project", "Raccoons", "--type", "boxes", "--classes", "raccoon,other",
                                              "--instructions", "Box every raccoon")  # fmt: skip
    assert "exists already" in refused(
        data, "create-project", "raccoons", "--type", "boxes", "--classes", "a,b"
    )
    assert "at least two" in refused(data, "create-project", "One", "--type", "boxes", "--classes", "a")
    out = ok(data, "import-images", "Raccoons", str(raccoon / "images"))
    assert "147 added, 3 duplicates" in out
    assert "no project named 'Nope'" in refused(data, "import-images", "Nope", str(raccoon / "images"))
    assert "does not exist" in refused(data, "import-images", "Raccoons", str(tmp_path / "missing"))

    out = ok(data, "import-labels", "Raccoons", str(raccoon / "annotations"))
    assert "format: voc" in out and "147 labels saved" in out
    assert "raccoon-116.jpg: no image of the project" in out  # the duplicate's label file has no image

    stats = json.loads(ok(data, "stats", "Raccoons", "--json"))
    assert stats["items"] == 147 and stats["labeled"] == 147 and stats["skipped"] == 0
    assert stats["per_class"] == {"raccoon": 163, "other": 0} and stats["per_labeler"] == {"cli-import": 147}
    assert "147 labeled" in ok(data, "stats", "Raccoons")

    target = tmp_path / "out" / "raccoons.json"
    out = ok(data, "export", "Raccoons", "--format", "coco", "--out", str(target))
    assert "exported 147 images, 163 annotations" in out
    coco = json.loads(target.read_text())
    assert len(coco["images"]) == 147 and len(coco["annotations"]) == 163
    assert "exists already" in refused(data, "export", "Raccoons", "--format", "coco", "--out", str(target))
    assert "Raccoons\tboxes\tactive\t147/147 labeled" in ok(data, "projects", "list")


def test_import_labels_refusals_are_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ok(data, "create-project", "Cats", "--type", "multiclass", "--classes", "cat,dog")
    folder = tmp_path / "imgs"
    folder.mkdir()
    from PIL import Image

    for k in range(3):
        Image.new("RGB", (32 + k, 24), (k * 40, 0, 0)).save(folder / f"img{k}.png")
    ok(data, "import-images", "Cats", str(folder))
    labels = tmp_path / "labels.csv"
    labels.write_text("image,label\nimg0.png,cat\nimg1.png,bird\nimg2.png,dog\n")
    assert "bird" in refused(data, "import-labels", "Cats", str(labels))  # a class the project lacks
    out = ok(data, "import-labels", "Cats", str(labels), "--dry-run")
    assert "classes not in the project: bird" in out and "dry run: nothing was written" in out
    out = ok(data, "import-labels", "Cats", str(labels), "--create-classes")
    assert "3 labels saved" in out and "classes created: bird" in out
    out = ok(data, "import-labels", "Cats", str(labels), "--as-proposals")
    assert "3 imported proposals" in out
    stats = json.loads(ok(data, "stats", "Cats", "--json"))
    assert stats["labeled"] == 3 and stats["per_labeler"] == {"cli-import": 3}  # proposals are not labels
    assert "no such file" in refused(data, "import-labels", "Cats", str(tmp_path / "missing.json"))
    (tmp_path / "x.txt").write_text("hello")
    assert "not a label format" in refused(data, "import-labels", "Cats", str(tmp_path / "x.txt"))
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": [}')
    assert "malformed JSON at line 1" in refused(data, "import-labels", "Cats", str(bad), "--format", "coco")


def test_users_add_list_deactivate(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert "added user bob (labeler)" in ok(data, "users", "add", "bob", "--password", "secret12")
    assert "added user eve (admin)" in ok(data, "users", "add", "eve", "--role", "admin", stdin="secret34\n")
    assert "is taken" in refused(data, "users", "add", "bob", "--password", "secret12")
    assert "at least 6" in refused(data, "users", "add", "tim", "--password", "123")
    listed = ok(data, "users", "list")
    assert "bob\tlabeler\tactive" in listed and "eve\tadmin\tactive" in listed
    ok(data, "users", "deactivate", "bob")
    assert "bob\tlabeler\tinactive" in ok(data, "users", "list")
    assert "nobody" in refused(data, "users", "deactivate", "nobody")


def test_a_store_held_by_another_process_is_refused_clearly(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ok(data, "projects", "list")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True);"
         " time.sleep(120)", str(data / "annota.duckdb")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        line = refused(data, "projects", "list", code=3)
        assert "in use by another process" in line and "stop the app" in line
    finally:
        holder.kill()
        holder.wait(timeout=30)
    deadline = time.monotonic() + 60
    while cli(data, "projects", "list").returncode != 0:  # the lock goes with the process
        assert time.monotonic() < deadline
        time.sleep(0.5)


def test_progress_stays_quiet_when_piped(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ok(data, "create-project", "P", "--type", "boxes", "--classes", "a,b")
    done = cli(data, "export", "P", "--format", "jsonl", "--out", str(tmp_path / "p.jsonl"))
    assert done.returncode == 0 and done.stderr == "" and "\r" not in done.stdout


@pytest.mark.parametrize("fmt", ["yolo", "voc", "csv"])
def test_export_formats_through_the_job(tmp_path: Path, fmt: str) -> None:
    data = tmp_path / "data"
    ok(data, "create-project", "P", "--type", "boxes", "--classes", "a,b")
    out = ok(data, "export", "P", "--format", fmt, "--out", str(tmp_path / f"p.{fmt}"))
    assert f"as {fmt}" in out and (tmp_path / f"p.{fmt}").exists()


def test_with_images_for_a_one_file_format_is_refused_in_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ok(data, "create-project", "P", "--type", "boxes", "--classes", "a,b")
    line = refused(
        data, "export", "P", "--format", "coco", "--out", str(tmp_path / "p.json"), "--with-images"
    )
    assert line == "error: the export failed: A COCO JSON export is one file; it cannot include the images."
