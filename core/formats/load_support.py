"""Small helpers the label loaders share (see ``core.formats.loaders`` for their contract).

Listing what was dropped (a zip or a folder) without reading it, reading the start of a file to
sniff it, and issues that say where they are.
"""

from __future__ import annotations

import json
import posixpath
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.formats.records import ExportRecord, Issue

SizeLookup = Callable[[str], "tuple[int, int] | None"]

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"})


class LoadError(ValueError):
    """Nothing could be read from the path as this format (one line, for the user)."""


def list_names(path: Path, limit: int = 1_000_000) -> list[str]:
    """Relative ``/`` names of the files in a zip or folder (at most ``limit``); ``[]`` for a plain file."""
    if path.is_dir():
        out = []
        for p in path.rglob("*"):
            if p.is_file():
                out.append(p.relative_to(path).as_posix())
                if len(out) >= limit:
                    break
        return sorted(out)
    if path.suffix.lower() == ".zip" and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            return [n for n in zf.namelist() if not n.endswith("/")][:limit]
    return []


def head(path: Path, n: int = 4096) -> str:
    """The first ``n`` characters of a text file ('' when it is not a readable file)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read(n)
    except (OSError, IsADirectoryError):
        return ""


def first_json_line(path: Path) -> dict[str, Any] | None:
    """The first non-empty line of a file parsed as a JSON object (None when it is not one)."""
    for line in head(path, 1 << 16).splitlines():
        if line.strip():
            try:
                value = json.loads(line)
            except ValueError:
                return None
            return value if isinstance(value, dict) else None
    return None


def is_image_name(name: str) -> bool:
    return posixpath.splitext(name)[1].lower() in IMAGE_SUFFIXES


def strip_root(names: list[str]) -> tuple[str, list[str]]:
    """A zip often holds one top folder (``dataset/labels/...``): its prefix and the names below it."""
    tops = {n.split("/", 1)[0] for n in names}
    if len(tops) == 1 and all("/" in n for n in names):
        prefix = next(iter(tops)) + "/"
        return prefix, [n[len(prefix) :] for n in names]
    return "", names


def issue(where: str, message: str, file_name: str = "", level: str = "error") -> Issue:
    """An issue whose message starts with where it is: ``labels/a.txt line 3: a box needs 4 numbers``."""
    return Issue(f"{where}: {message}", None, file_name, level)


def error_text(exc: BaseException) -> str:
    """The reason of an exception in words (a KeyError names the missing field)."""
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}"
    text = str(exc).strip()
    return text or type(exc).__name__


@dataclass(frozen=True)
class LabelRecord(ExportRecord):
    """An ``ExportRecord`` read by a label loader, with the file inside the drop it came from."""

    origin: str = ""


def annota_record(
    file_name: str, width: int, height: int, payload: dict[str, Any] | None, meta: dict[str, Any]
) -> ExportRecord:
    """A loaded image's record with annota's own fields from the file's per-image ``meta`` (``path``,
    ``item_id``, ``status``, ``author``, ``source``; empty for a foreign file: status from the payload)."""
    return ExportRecord(
        file_name=file_name, width=width, height=height, payload=payload, path=meta.get("path") or "",
        item_id=meta.get("item_id"), status=meta.get("status") or ("labeled" if payload is not None else "new"),
        author=meta.get("author"), source=meta.get("source"),
    )  # fmt: skip


def rectangle(xywh: list[float]) -> list[list[float]]:
    """A box as a 4-point polygon (for loading boxes into a polygon project)."""
    x, y, w, h = xywh
    return [[x, y], [x + w, y], [x + w, y + h], [x, y + h]]
