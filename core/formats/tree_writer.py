"""The frame of a writer whose export is a zip or a folder (YOLO, YOLO segmentation, VOC, masks,
imagefolder).

The writer fills ``tree`` (``core.formats.tree``: a zip or folder written as ``.part`` and moved into
place when it closes) and a ``Spool`` of the files that grow while the records stream (manifest,
class lists). ``close`` writes ``last_texts`` (the small files known at the end: the class list,
``annota.json``), then the spooled files, and closes the tree; ``abort`` drops it all. ``WithImages``
finds the tree as ``writer.tree`` to copy the images into it.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from core.domain import TaskType
from core.formats.records import CategorySet, meta_json
from core.formats.spool import Spool
from core.formats.tree import open_write_tree


class TreeWriter:
    FORMAT: ClassVar[str]  # the format's name in annota.json

    def __init__(self, path: Path | str, task_type: TaskType | str, categories: CategorySet) -> None:
        self.task = TaskType(task_type)
        self.categories = categories
        self.tree = open_write_tree(path)
        self._spool = Spool(self.tree, f"annota-{self.FORMAT}-")

    def last_texts(self) -> dict[str, str]:
        """The files written when the records are done (name -> text, in this order); here
        ``annota.json``, which a format puts after its own."""
        return {"annota.json": meta_json(self.FORMAT, self.task, self.categories)}

    def close(self) -> list[Path]:
        return self._spool.finish(self.last_texts())

    def abort(self) -> None:
        self._spool.abort()
