"""``load_yolo`` reads every ``names`` form of a data.yaml, and a decompression bomb in a small zip is
refused before it is inflated (a 306 KB zip once cost 600 MB to load)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from core.formats.tree import ReadTree, TooLarge
from core.formats.yolo import load_yolo, parse_data_yaml

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    "yaml",
    [
        "names: [cat, dog]",
        "names: ['cat', \"dog\"]  # a comment",
        "names: {0: cat, 1: dog}",
        "names: {1: dog, 0: 'cat'}",
        "names:\n  0: cat\n  1: dog",
        "names:\n  - cat\n  - dog",
        "names:\n- cat\n- dog",
        'path: .\nnames:\n  0: cat # first\n  1: "dog"\nnc: 2',
    ],
)
def test_every_names_form(tmp_path: Path, yaml: str) -> None:
    assert parse_data_yaml(yaml)[1] == ["cat", "dog"]
    with zipfile.ZipFile(tmp_path / "y.zip", "w") as zf:
        zf.writestr("data.yaml", f"task: detect\n{yaml}\n")
        zf.writestr("labels/a.txt", "1 0.5 0.5 0.2 0.2\n")
    ds = load_yolo(tmp_path / "y.zip", sizes={"a": (100, 50)})
    assert ds.categories.names == ["cat", "dog"] and not ds.issues
    assert ds.records[0].payload == {"boxes": [{"class_id": 2, "xywh": [40.0, 20.0, 20.0, 10.0]}]}


def test_quoted_names_keep_commas_and_hashes() -> None:
    assert parse_data_yaml("names: ['a, b', \"c # d\", e]")[1] == ["a, b", "c # d", "e"]


def _bomb(path: Path, mb: int = 316) -> Path:
    """A zip of about 320 KB whose one label file inflates to ``mb`` MB of one repeated byte."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("data.yaml", "task: detect\nnames: [a, b]\n")
        with zf.open("labels/img.txt", "w", force_zip64=True) as fh:
            chunk = b"0" * (1 << 20)
            for _ in range(mb):
                fh.write(chunk)
    return path


def test_a_decompression_bomb_is_refused_without_inflating_it(tmp_path: Path) -> None:
    bomb = _bomb(tmp_path / "bomb.zip")
    assert bomb.stat().st_size < 400_000
    with ReadTree(bomb) as tree, pytest.raises(TooLarge, match="decompression bomb"):
        tree.read_text("labels/img.txt")
    ds = load_yolo(bomb, sizes={"img": (100, 100)})
    assert ds.records == [] and "decompression bomb" in ds.issues[0].message
    # peak memory of a fresh process loading it (ru_maxrss only grows, so it is measured apart)
    code = textwrap.dedent(
        f"""
        import resource, sys
        sys.path.insert(0, {str(ROOT)!r})
        from core.formats.yolo import load_yolo
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        load_yolo({str(bomb)!r}, sizes={{"img": (100, 100)}})
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
        """
    )
    grown_kb = int(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    )
    print(f"peak RSS grew by {grown_kb / 1024:.1f} MB loading a {bomb.stat().st_size / 1e3:.0f} KB bomb")
    assert grown_kb < 64 * 1024  # before the fix: 632 MB (the member as bytes, then as text)


def test_a_large_but_honest_file_is_read(tmp_path: Path) -> None:
    lines = "".join(f"0 0.{k % 9 + 1} 0.5 0.01 0.01\n" for k in range(200_000))  # about 5 MB, compresses ~10x
    with zipfile.ZipFile(tmp_path / "y.zip", "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("data.yaml", "names: [a]\n")
        zf.writestr("labels/a.txt", lines)
    ds = load_yolo(tmp_path / "y.zip", sizes={"a": (1000, 1000)})
    assert not ds.issues and len(ds.records[0].payload["boxes"]) == 200_000
