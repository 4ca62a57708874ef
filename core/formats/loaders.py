"""The label loaders, by format name: what ``import-labels`` and the Data page's import read.

Contract (every entry of ``LOADERS`` keeps it; add a format with one ``register(Loader(...))`` call at
the end of this file, next to the others):

``load(path, categories=None, *, sizes=None) -> Dataset``
    ``path`` is what the user dropped: a file (``.json``, ``.xml``, ``.csv``, ``.jsonl``, ``.txt``), a
    ``.zip`` or a folder. Returns a ``Dataset`` (``core.formats.records``):

    * ``task_type``: the task the file holds (boxes, polygons, multi-class, multi-label);
    * ``categories``: the file's classes (ids are the file's own or 1.., names as written) unless
      ``categories`` is given, then names are matched to those ids (a loader that cannot match a name
      reports the record; the import calls loaders with ``categories=None`` and maps names itself);
    * ``records``: one ``LabelRecord`` (``core.formats.load_support``: an ``ExportRecord`` with
      ``origin``) per image named in the file. ``file_name`` is the image as the
      file names it (a relative path such as ``train/cat1.jpg`` where the format keeps one; the
      import matches it to the project's images by relative path, then by file name). ``payload`` is
      the label in annota's payload shape, in image **pixels**, each object with ``class_id`` (a file
      class id) and, where the file has one, ``score`` (kept for proposals) and ``iscrowd`` (COCO).
      ``payload`` is None when the file names the image without a label. ``width``/``height`` are
      the image size the file gives (0 when it gives none). ``origin`` is the file inside ``path``
      (relative, ``/``-separated) the label came from, for the saved version and for messages;
    * ``issues``: one ``Issue`` per record or annotation that could not be read, its ``message``
      starting with where it is (``labels/a.txt line 3:``, ``instances.json annotation 17:``,
      ``Annotations/b.xml:``) and saying why (malformed JSON/XML, unknown class, a polygon with too
      few points, ...); ``level="unmatched"`` for a label whose image the loader could not place
      (YOLO without a size). A loader never stops at one bad record; it raises only when nothing at all
      can be read (not the format, unreadable file), as ``LoadError`` with one clear line.

    Geometry is not checked against the image here (the loader may not know the size); the import
    validates every payload against the project's image with ``core.domain.validate_payload`` and
    refuses what reaches outside or has no area.

``sizes``
    Formats with normalised coordinates (YOLO) need each image's size: ``sizes(name)`` returns
    ``(width, height)`` or None for a label file's image name without extension (``train/cat1``),
    and the loader reports labels whose image size is unknown. Other formats ignore it.

``sniff(path) -> bool``
    Cheap (reads names and at most the start of one file): True when ``path`` looks like this format.
    ``detect`` asks each loader in ``order`` (more specific formats first) and returns every match;
    the first is the guess, and the user can override it.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from core.formats.load_support import LoadError, SizeLookup
from core.formats.records import CategorySet, Dataset


class LoadFn(Protocol):
    def __call__(
        self, path: Path, categories: CategorySet | None = None, *, sizes: SizeLookup | None = None
    ) -> Dataset: ...


@dataclass(frozen=True)
class Loader:
    name: str  # the --format value: coco, yolo, voc, jsonl, csv, folders, labelstudio, cvat
    title: str  # shown in the format picker
    load: LoadFn
    sniff: Callable[[Path], bool]
    order: int = 50  # detection order: lower is asked first (specific formats before generic ones)
    help: str = ""  # one line: what a file of this format looks like


LOADERS: dict[str, Loader] = {}


def sizes_not_needed(load: Callable[[Path, CategorySet | None], Dataset]) -> LoadFn:
    """The registry's entry of a format whose file gives every image's size: ``sizes`` is ignored."""

    def entry(
        path: Path, categories: CategorySet | None = None, *, sizes: SizeLookup | None = None
    ) -> Dataset:
        return load(path, categories)

    return entry


def register(loader: Loader) -> Loader:
    LOADERS[loader.name] = loader
    return loader


def get_loader(name: str) -> Loader:
    loader = LOADERS.get(name)
    if loader is None:
        raise LoadError(f"Unknown label format {name!r}; one of {', '.join(sorted(LOADERS))}.")
    return loader


def detect(path: Path | str) -> list[str]:
    """Names of every loader whose ``sniff`` accepts ``path``, best guess first (may be empty)."""
    p = Path(path)
    found = []
    for loader in sorted(LOADERS.values(), key=lambda lo: (lo.order, lo.name)):
        try:
            if loader.sniff(p):
                found.append(loader.name)
        except (OSError, ValueError, zipfile.BadZipFile):
            continue
    return found


def load_labels(
    path: Path | str,
    fmt: str = "auto",
    *,
    categories: CategorySet | None = None,
    sizes: SizeLookup | None = None,
) -> tuple[str, Dataset]:
    """Load ``path`` as ``fmt`` (``auto``: the first detected format). Returns (format name, dataset)."""
    p = Path(path)
    if not p.exists():
        raise LoadError(f"{p.name}: no such file or folder.")
    if fmt == "auto":
        found = detect(p)
        if not found:
            raise LoadError(f"{p.name}: not a label format annota reads ({', '.join(sorted(LOADERS))}).")
        fmt = found[0]
    return fmt, get_loader(fmt).load(p, categories, sizes=sizes)


# --- the formats ---------------------------------------------------------------------------------
# One ``register`` call per format; the format modules hold ``load`` and ``sniff``. Detection asks
# lower ``order`` first: single files with a clear signature, then layouts, then generic folders.

from core.formats import (  # noqa: E402  (the format modules import this module's helpers)
    coco_import,
    folders_import,
    tabular_import,
    voc_import,
    yolo_import,
)

register(Loader("coco", "COCO JSON", coco_import.load, coco_import.sniff, order=20,
                help="instances JSON: images, annotations (bbox, segmentation polygons or RLE), categories"))  # fmt: skip
register(Loader("jsonl", "JSON lines (annota)", tabular_import.load_jsonl, tabular_import.sniff_jsonl, order=20,
                help="one row per image: file_name, width, height, task_type, label"))  # fmt: skip
register(Loader("csv", "CSV", tabular_import.load_csv, tabular_import.sniff_csv, order=40,
                help="image,label (several labels joined by ';'), or annota's CSV export"))  # fmt: skip
register(Loader("yolo", "YOLO (folder or zip)", yolo_import.load, yolo_import.sniff, order=30,
                help="labels/<image>.txt (boxes or polygons, normalised) with data.yaml or classes.txt"))  # fmt: skip
register(Loader("voc", "Pascal VOC XML", voc_import.load, voc_import.sniff, order=35,
                help="one <annotation> XML per image (Annotations/ or annotations/), boxes"))  # fmt: skip
register(Loader("folders", "Class per subfolder", folders_import.load, folders_import.sniff, order=90,
                help="<class>/<image>: the folder is the class"))  # fmt: skip

# annota's further export formats (their modules hold load_* and sniff_*; their files give the sizes)
from core.formats import cvat, imagefolder, labelstudio, masks, yolo_seg  # noqa: E402

register(Loader("labelstudio", "Label Studio JSON", sizes_not_needed(labelstudio.load_labelstudio),
                labelstudio.sniff_labelstudio, order=20,
                help="a JSON list of tasks: choices, rectanglelabels, polygonlabels in percent of the image"))  # fmt: skip
register(Loader("cvat", "CVAT for images 1.1 XML", sizes_not_needed(cvat.load_cvat), cvat.sniff_cvat, order=20,
                help="<annotations> with an <image> per image: tags, boxes, polygons in pixels"))  # fmt: skip
register(Loader("yolo-seg", "YOLO segmentation (annota)", yolo_seg.load, yolo_seg.sniff, order=25,
                help="annota's YOLO segmentation zip (boxes written as polygons come back as boxes)"))  # fmt: skip
register(Loader("masks", "Indexed PNG masks", sizes_not_needed(masks.load_masks), masks.sniff_masks, order=25,
                help="masks/<image>.png (pixel value = class index + 1) with classes.csv"))  # fmt: skip
register(Loader("imagefolder", "Hugging Face imagefolder", sizes_not_needed(imagefolder.load_imagefolder),
                imagefolder.sniff_imagefolder, order=25,
                help="metadata.jsonl with file_name and label / labels / objects"))  # fmt: skip

__all__ = [
    "LOADERS",
    "LoadError",
    "LoadFn",
    "Loader",
    "SizeLookup",
    "detect",
    "get_loader",
    "load_labels",
    "register",
]
