"""The frame of a writer whose export is one text file (COCO, CVAT, Label Studio, JSON lines, CSV).

The file is written as ``<path>.part`` beside the target (``records.part_path``) and moved to ``path``
when the writer closes, so a cancelled or failed export never leaves a file under the final name;
``abort`` closes it and deletes the ``.part`` (``records.discard``). A subclass writes its opening
text after ``__init__``, its records with ``write``, and sets ``TAIL``, the text ``close`` writes last.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, ClassVar

from core.domain import TaskType
from core.formats.records import CategorySet, discard, part_path


class SingleFileWriter:
    TAIL: ClassVar[str] = ""  # written by ``close`` before the file is moved into place
    NEWLINE: ClassVar[str | None] = None  # ``open``'s newline (CSV writes its own line ends: "")

    def __init__(self, path: Path | str, task_type: TaskType | str, categories: CategorySet) -> None:
        self.path = Path(path)
        self.task = TaskType(task_type)
        self.categories = categories
        self._part = part_path(self.path)
        self._out: IO[str] = open(self._part, "w", encoding="utf-8", newline=self.NEWLINE)  # noqa: SIM115 (closed in close/abort)

    def close(self) -> list[Path]:
        self._out.write(self.TAIL)
        self._out.close()
        self._part.replace(self.path)
        return [self.path]

    def abort(self) -> None:
        discard(self._part, self._out)
