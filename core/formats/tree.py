"""Where multi-file formats (YOLO, VOC) write and read: a zip file or a folder.

Writing is to ``<name>.part`` first and renamed on ``close``, so a cancelled or failed export never
leaves a file that looks finished. A zip keeps one small directory entry per file in memory until it
is closed (the zip format puts the directory at the end): about 460 bytes a file (230 MB for 500k).
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path
from typing import Protocol

from core.disk import remove_quietly
from core.formats.records import discard, part_path


class WriteTree(Protocol):
    def write_text(self, rel: str, text: str) -> None: ...

    def add_file(self, rel: str, local: Path) -> None: ...

    def close(self) -> Path: ...

    def abort(self) -> None: ...


class ZipTree:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._part = part_path(self.path)
        self._zip = zipfile.ZipFile(self._part, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1)

    def write_text(self, rel: str, text: str) -> None:
        self._zip.writestr(rel, text)

    def add_file(self, rel: str, local: Path) -> None:
        self._zip.write(local, rel)

    def close(self) -> Path:
        self._zip.close()
        self._part.replace(self.path)
        return self.path

    def abort(self) -> None:
        discard(self._part, self._zip)


class DirTree:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._part = part_path(self.path)
        if self._part.exists():
            shutil.rmtree(self._part)
        self._part.mkdir(parents=True)

    def write_text(self, rel: str, text: str) -> None:
        target = self._part / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")

    def add_file(self, rel: str, local: Path) -> None:
        target = self._part / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local, target)

    def close(self) -> Path:
        if self.path.exists():
            shutil.rmtree(self.path)
        self._part.replace(self.path)
        return self.path

    def abort(self) -> None:
        remove_quietly(self._part)


def open_write_tree(path: Path | str) -> WriteTree:
    """A zip when the name ends in ``.zip``, else a folder."""
    p = Path(path)
    return ZipTree(p) if p.suffix.lower() == ".zip" else DirTree(p)


MAX_TEXT_BYTES = 512 * 1024 * 1024  # the most one file of an export is read as text
BOMB_RATIO = 100  # a zip member this many times larger than its compressed bytes ...
BOMB_MIN_BYTES = 8 * 1024 * 1024  # ... and over this size is refused (exports compress about 5x)


class TooLarge(ValueError):
    """A file in a zip or folder that is not read: too large, or a decompression bomb."""


class ReadTree:
    """Read files of a zip or a folder by their relative (``/``-separated) names.

    A file is read only after its size is checked (``check_size``): a small zip can hold a member that
    inflates to hundreds of megabytes (a 306 KB zip held 316 MB of one repeated byte, and reading it as
    text cost 600 MB); such a member is refused with ``TooLarge`` before a byte of it is inflated.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._zip: zipfile.ZipFile | None = None
        if self.path.is_file():
            self._zip = zipfile.ZipFile(self.path)
            self._names = [n for n in self._zip.namelist() if not n.endswith("/")]
        else:
            self._names = sorted(
                p.relative_to(self.path).as_posix() for p in self.path.rglob("*") if p.is_file()
            )
        self._set = set(self._names)

    def names(self, prefix: str = "") -> list[str]:
        return [n for n in self._names if n.startswith(prefix)]

    def exists(self, rel: str) -> bool:
        return rel in self._set

    def check_size(self, rel: str, limit: int = MAX_TEXT_BYTES) -> int:
        """The size of ``rel`` in bytes; ``TooLarge`` over ``limit`` or for a zip bomb."""
        if self._zip is not None:
            info = self._zip.getinfo(rel)
            size, packed = info.file_size, max(info.compress_size, 1)
            if size > BOMB_MIN_BYTES and size > BOMB_RATIO * packed:
                raise TooLarge(
                    f"{rel} would inflate from {packed:,} to {size:,} bytes (a decompression bomb); not read"
                )
        else:
            size = (self.path / rel).stat().st_size
        if size > limit:
            raise TooLarge(f"{rel} is {size:,} bytes, over the {limit:,} bytes read from one file; not read")
        return size

    def read_text(self, rel: str, limit: int = MAX_TEXT_BYTES) -> str:
        self.check_size(rel, limit)
        if self._zip is not None:
            with self._zip.open(rel) as fh:  # at most ``limit`` bytes, whatever the header said
                data = fh.read(limit + 1)
            if len(data) > limit:
                raise TooLarge(f"{rel} is over the {limit:,} bytes read from one file; not read")
            return data.decode("utf-8")
        return (self.path / rel).read_text(encoding="utf-8")

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def __enter__(self) -> ReadTree:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
