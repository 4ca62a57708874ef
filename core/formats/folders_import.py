"""Class-per-subfolder ("imagefolder") as a label source: ``<class>/<image>`` in a folder or a zip.

Each top folder is a class and each image under it has that class (``daisy/123.jpg``). One file
name under several class folders is a multi-label image (then the task is multi-label, the record
named by the file name alone); otherwise the task is multi-class. Images at the top, outside any
class folder, are listed as issues. A leading ``train/``, ``val/`` or ``test/`` split folder is not
a class: the classes are the folders below it.
"""

from __future__ import annotations

import posixpath
from collections import defaultdict
from pathlib import Path

from core.domain import TaskType
from core.formats.label_mapping import with_categories
from core.formats.load_support import LabelRecord, LoadError, SizeLookup, is_image_name, issue, list_names
from core.formats.records import CategorySet, Dataset

SPLITS = {"train", "val", "valid", "validation", "test"}


def _class_of(name: str) -> tuple[str | None, str]:
    """(class folder, path below the split) of a file name, or (None, name) for a file at the top."""
    parts = name.split("/")
    if len(parts) > 2 and parts[0].lower() in SPLITS:
        parts = parts[1:]
    return (parts[0], "/".join(parts)) if len(parts) >= 2 else (None, name)


def sniff(path: Path) -> bool:
    if not (path.is_dir() or path.suffix.lower() == ".zip"):
        return False
    names = list_names(path, 20_000)
    images = [n for n in names if is_image_name(n)]
    if not images or len(images) < 0.8 * len(names):
        return False
    classes = {_class_of(n)[0] for n in images} - {None}
    return len(classes) >= 2


def load(path: Path, categories: CategorySet | None = None, *, sizes: SizeLookup | None = None) -> Dataset:
    path = Path(path)
    names = [n for n in list_names(path) if is_image_name(n)]
    if not names:
        raise LoadError(f"{path.name}: no images in class folders (<class>/<image>).")
    ds = Dataset(TaskType.MULTICLASS, CategorySet([]))
    class_ids: dict[str, int] = {}
    by_file: dict[str, list[tuple[str, str]]] = defaultdict(list)  # base name -> (class, relative name)
    for name in names:
        cls, rel = _class_of(name)
        if cls is None:
            ds.issues.append(issue(name, "is not inside a class folder", name, level="warning"))
            continue
        class_ids.setdefault(cls, len(class_ids) + 1)
        by_file[posixpath.basename(rel)].append((cls, rel))
    multi = any(len({c for c, _ in entries}) > 1 for entries in by_file.values())
    ds.task_type = TaskType.MULTILABEL if multi else TaskType.MULTICLASS
    for base, entries in by_file.items():
        classes = sorted({class_ids[c] for c, _ in entries})
        if multi:
            ds.records.append(LabelRecord(file_name=base if len(entries) > 1 else entries[0][1], width=0, height=0,
                                          payload={"class_ids": classes}, origin=entries[0][1]))  # fmt: skip
        else:
            for cls, rel in entries:
                ds.records.append(LabelRecord(file_name=rel, width=0, height=0,
                                              payload={"class_id": class_ids[cls]}, origin=rel))  # fmt: skip
    ds.categories = CategorySet.of((i, n) for n, i in class_ids.items())
    return with_categories(ds, categories)
