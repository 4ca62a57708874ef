"""The files a multi-file writer (YOLO, VOC) fills while the records stream (manifest.csv, class lists,
trainval.txt): spooled in a temporary folder, then put into the writer's ``WriteTree`` when it closes.

``finish`` writes the last small texts and the spooled files into the tree and closes it (its ``.part``
renamed to the final name); on any failure, and on ``abort``, the tree is aborted (its ``.part``
deleted). The temporary folder goes either way. It lies beside the export, named
``.<export name>.spool-<random>`` (``SPOOL_MARK``), so the leftovers of a killed export are found and
removed at the next start (``core.formats.leftovers``), on the disk the export fills.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path
from typing import IO

from core.disk import remove_quietly
from core.formats.tree import WriteTree

SPOOL_MARK = ".spool-"


class Spool:
    def __init__(self, tree: WriteTree, prefix: str) -> None:
        self.tree = tree
        target = getattr(tree, "path", None)
        if isinstance(target, Path):
            self._tmp = tempfile.TemporaryDirectory(prefix=f".{target.name}{SPOOL_MARK}", dir=target.parent)
        else:
            self._tmp = tempfile.TemporaryDirectory(prefix=prefix)
        self._files: list[tuple[IO[str], str]] = []

    def open(self, rel: str, newline: str | None = None) -> IO[str]:
        """A text file to fill now, put into the tree as ``rel`` by ``finish`` (in the order opened)."""
        local = Path(self._tmp.name) / f"{len(self._files)}.txt"
        fh = open(local, "w", encoding="utf-8", newline=newline)  # noqa: SIM115 (closed in finish/abort)
        self._files.append((fh, rel))
        return fh

    def finish(self, texts: Mapping[str, str]) -> list[Path]:
        """Write ``texts`` (name -> content), then the spooled files, into the tree and close it."""
        try:
            for rel, text in texts.items():
                self.tree.write_text(rel, text)
            for fh, rel in self._files:
                fh.close()
                self.tree.add_file(rel, Path(fh.name))
            return [self.tree.close()]
        except BaseException:
            self.abort()
            raise
        finally:
            with suppress(Exception):
                self._tmp.cleanup()

    def abort(self) -> None:
        """Close the spooled files and drop them with the tree's ``.part``. Never stops half-way: on a full
        disk closing a file fails, and the ``.part`` and the folder must go all the same."""
        for fh, _ in self._files:
            with suppress(Exception):
                fh.close()
        try:
            self.tree.abort()
        finally:
            with suppress(Exception):
                self._tmp.cleanup()
            remove_quietly(self._tmp.name)
