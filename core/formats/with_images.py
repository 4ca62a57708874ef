"""The images themselves in a multi-file export (YOLO, YOLO segmentation, VOC, imagefolder).

``WithImages`` wraps a writer that writes into a zip or folder (``writer.tree``) and copies each
record's image file into it, under ``<folder>/<file name>`` (``images/`` for YOLO, ``JPEGImages/``
for VOC, beside ``metadata.jsonl`` for imagefolder), the export's file name (renamed when two
images share one). The bytes are copied as stored: a photo with an EXIF orientation keeps it, and
the labels are in the oriented frame, which is how Ultralytics, ``datasets`` and most viewers show
it. An image whose file cannot be read is left out and reported (its labels too, so the export
never holds labels without their image).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from core.formats.records import ExportRecord, FormatWriter, RecordProblem

IMAGE_FOLDERS = {"yolo": "images", "yolo-seg": "images", "voc": "JPEGImages", "imagefolder": ""}


class WithImages:
    def __init__(self, inner: FormatWriter, folder: str) -> None:
        tree = getattr(inner, "tree", None)
        if tree is None:
            raise ValueError("this format writes one file; it cannot hold the images")
        self.inner = inner
        self.tree: Any = tree
        self.folder = folder.strip("/")

    def write(self, record: ExportRecord) -> int:
        src = Path(record.path)
        if not record.path or not src.is_file() or not os.access(src, os.R_OK):
            raise RecordProblem(f"the image file {record.path or record.file_name} cannot be read; left out")
        n = self.inner.write(record)
        self.tree.add_file(f"{self.folder}/{record.file_name}" if self.folder else record.file_name, src)
        return n

    def close(self) -> list[Path]:
        return self.inner.close()

    def abort(self) -> None:
        self.inner.abort()
