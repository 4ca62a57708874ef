"""Which of a project's images a loaded label belongs to: by relative path, then by file name.

An image's relative path is its path below the folder it was imported from (``sources.path``), else
its file name. A label's name (``train/cat1.jpg``, or ``images/train/cat1`` without extension for
YOLO) is tried whole, then without its leading folders one at a time (``cat1.jpg``), against the
relative paths; then by file name, then by stem. Case is ignored. A name that fits several images
equally is ambiguous and not matched (said so).
"""

from __future__ import annotations

import os
import posixpath
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import PurePath

from core.store.db import Store


@dataclass(frozen=True)
class ProjectImage:
    item_id: int
    rel: str  # relative path (``/``-separated), as matched
    width: int
    height: int
    version: int  # the current label version (0: none)


@dataclass
class ImageIndex:
    images: dict[int, ProjectImage] = field(default_factory=dict)
    by_rel: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    by_rel_stem: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    by_name: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    by_stem: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))

    def add(self, image: ProjectImage) -> None:
        self.images[image.item_id] = image
        rel = image.rel.lower()
        name = posixpath.basename(rel)
        self.by_rel[rel].append(image.item_id)
        self.by_rel_stem[posixpath.splitext(rel)[0]].append(image.item_id)
        self.by_name[name].append(image.item_id)
        self.by_stem[posixpath.splitext(name)[0]].append(image.item_id)

    def match(self, file_name: str) -> tuple[int | None, str]:
        """(item id, '') or (None, why not)."""
        key = file_name.replace("\\", "/").strip("/").lower()
        if not key:
            return None, "the label names no image"
        has_ext = posixpath.splitext(key)[1] != "" and _looks_like_ext(posixpath.splitext(key)[1])
        rels = self.by_rel if has_ext else self.by_rel_stem
        parts = key.split("/")
        for k in range(len(parts)):
            found = rels.get("/".join(parts[k:]))
            if found:
                if len(found) == 1:
                    return found[0], ""
                return None, f"{file_name} fits {len(found)} images ({self._names(found)})"
        found = (self.by_name if has_ext else self.by_stem).get(parts[-1])
        if not found and has_ext:
            found = self.by_stem.get(posixpath.splitext(parts[-1])[0])
        if found:
            if len(found) == 1:
                return found[0], ""
            return None, f"{file_name} fits {len(found)} images by file name ({self._names(found)})"
        return None, f"no image of the project is named {file_name}"

    def _names(self, ids: list[int]) -> str:
        shown = ", ".join(self.images[i].rel for i in ids[:3])
        return shown + (", ..." if len(ids) > 3 else "")


def _looks_like_ext(ext: str) -> bool:
    return 2 <= len(ext) <= 6 and ext[1:].isalnum() and not ext[1:].isdigit()


def relative_path(path: str, root: str | None) -> str:
    """``path`` below ``root`` (``/``-separated), or its file name when it is not below it."""
    if root:
        try:
            rel = os.path.relpath(path, root)
        except ValueError:
            rel = ""
        if rel and not rel.startswith(".."):
            return PurePath(rel).as_posix()
    return PurePath(path).name


def project_images(store: Store, project_id: int) -> ImageIndex:
    """Every image of the project with its relative path, size and label version."""
    rows = store.query(
        "SELECT i.id, i.path, s.path, i.width, i.height, i.version FROM items i"
        " LEFT JOIN sources s ON s.id = i.source_id WHERE i.project_id = ? ORDER BY i.id",
        [project_id],
    )
    index = ImageIndex()
    for item_id, path, root, w, h, version in rows:
        index.add(ProjectImage(int(item_id), relative_path(path, root), int(w), int(h), int(version)))
    return index
