"""Segmentation masks: one indexed PNG per image and a class table, in a zip (or a folder).

* ``masks/<image stem>.png``: a palette ("P" mode) PNG the size of the image; pixel value 0 is
  background, ``k + 1`` is the k-th class of the project (its colour in the palette is annota's class
  colour order: a fixed, distinct colour per index). Polygons are filled as drawn (a later one over an
  earlier one where they overlap); boxes are filled rectangles (pixels ``round(x) .. round(x + w) - 1``).
* ``classes.csv``: ``index,name,r,g,b`` for background (index 0) and every class, so a reader knows the
  value of each class without annota.
* ``manifest.csv`` and ``annota.json`` as for YOLO (original paths, sizes, status, class ids); an
  unlabeled image (``include: "all"``) has no mask, a labeled image with no objects an all-zero one.

A mask holds pixels, not objects: two touching objects of one class become one region, a hole is
filled, overlaps keep the later object. ``load_masks`` turns each connected region of a class back into
a polygon (its outer contour, OpenCV ``findContours``), or a box in a box project. The round trip is
exact in pixels (the mask written again is the same); coordinates come back on the pixel grid.
Classification projects have no pixels to write and are refused.
"""

from __future__ import annotations

import csv
import io
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from core.domain import TaskType
from core.formats.records import (
    MANIFEST_COLUMNS,
    CategorySet,
    Dataset,
    ExportRecord,
    Issue,
    RecordProblem,
    SaveSummary,
    finite,
    manifest_record,
    manifest_row,
    objects_of,
    read_manifest,
    read_meta,
    write_all,
)
from core.formats.tree import ReadTree
from core.formats.tree_writer import TreeWriter

MAX_CLASSES = 255  # one byte a pixel, 0 is background


def palette(n: int) -> list[tuple[int, int, int]]:
    """Background black, then the PASCAL VOC colour map (distinct, stable colours by index)."""
    out = []
    for k in range(n + 1):
        r = g = b = 0
        c = k
        for shift in range(7, -1, -1):
            r |= ((c >> 0) & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        out.append((r, g, b))
    return out


def refuse_classification(task: TaskType, fmt: str) -> None:
    if task.is_classification:
        raise ValueError(
            f"{fmt} holds shapes (boxes or polygons); a {task.display_name.lower()} project has only "
            "image-level classes. Export it as COCO, JSON lines, CSV, YOLO, Label Studio, CVAT or imagefolder."
        )


def rasterise(
    task: TaskType, categories: CategorySet, payload: dict[str, Any], width: int, height: int
) -> Any:
    """The indexed PIL image of one payload (0 background, class index + 1 per object)."""
    from PIL import Image, ImageDraw

    img = Image.new("P", (width, height), 0)
    draw = ImageDraw.Draw(img)
    for obj in objects_of(task, payload):
        value = categories.index_of(obj["class_id"]) + 1
        if task is TaskType.BOXES:
            x, y, w, h = finite(obj["xywh"])
            x0, y0, x1, y1 = round(x), round(y), round(x + w) - 1, round(y + h) - 1
            if x1 >= x0 and y1 >= y0:
                draw.rectangle([x0, y0, x1, y1], fill=value)
        else:
            pts = [tuple(finite(p)) for p in obj["points"]]
            draw.polygon(pts, fill=value, outline=value)
    return img


class MasksWriter(TreeWriter):
    FORMAT = "masks"

    def __init__(self, path: Path | str, task_type: TaskType | str, categories: CategorySet) -> None:
        refuse_classification(TaskType(task_type), "A mask export")  # before the tree is opened
        if len(categories) > MAX_CLASSES:
            raise ValueError(
                f"an indexed mask holds at most {MAX_CLASSES} classes; this project has {len(categories)}"
            )
        self._palette = [v for rgb in palette(MAX_CLASSES) for v in rgb]
        super().__init__(path, task_type, categories)
        self._manifest = self._spool.open("manifest.csv", newline="")
        self._manifest.write(",".join(MANIFEST_COLUMNS) + "\n")
        self._tmp = tempfile.TemporaryDirectory(prefix="annota-masks-png-")

    def write(self, record: ExportRecord) -> int:
        n = 0
        if record.payload is not None:
            if record.width <= 0 or record.height <= 0:
                raise RecordProblem(f"image size {record.width} x {record.height} cannot hold a mask")
            img = rasterise(self.task, self.categories, record.payload, record.width, record.height)
            img.putpalette(self._palette)
            local = Path(self._tmp.name) / "mask.png"
            img.save(
                local, format="PNG", compress_level=1
            )  # level 1: 6x faster encoding than the default 6; masks stay small
            self.tree.add_file(f"masks/{record.stem}.png", local)
            n = len(objects_of(self.task, record.payload))
        self._manifest.write(manifest_row(record))
        return n

    def _classes_csv(self) -> str:
        buf = io.StringIO()
        out = csv.writer(buf, lineterminator="\n")
        out.writerow(["index", "name", "r", "g", "b"])
        colours = palette(len(self.categories))
        for k, name in enumerate(["background", *self.categories.names]):
            out.writerow([k, name, *colours[k]])
        return buf.getvalue()

    def last_texts(self) -> dict[str, str]:
        return {"classes.csv": self._classes_csv(), **super().last_texts()}

    def close(self) -> list[Path]:
        try:
            return super().close()
        finally:
            self._tmp.cleanup()

    def abort(self) -> None:
        try:
            super().abort()
        finally:
            self._tmp.cleanup()


def save_masks(
    path: Path | str, task_type: TaskType | str, categories: CategorySet, records: Iterable[ExportRecord]
) -> SaveSummary:
    """Write a mask zip (``path`` ending ``.zip``) or folder."""
    return write_all(MasksWriter(path, task_type, categories), records)


# --- loading ---------------------------------------------------------------------------------------


def mask_objects(task: TaskType, mask: np.ndarray, class_of_value: dict[int, int]) -> list[dict[str, Any]]:
    """Every connected region of each class value of an indexed mask, as a polygon (outer contour) or
    a box. Values not in ``class_of_value`` raise ``RecordProblem``."""
    import cv2

    objs: list[dict[str, Any]] = []
    for value in sorted(int(v) for v in np.unique(mask) if v != 0):
        if value not in class_of_value:
            raise RecordProblem(f"mask value {value} is not a class of the class table")
        binary = (mask == value).astype(np.uint8)
        if task is TaskType.BOXES:
            n, _, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
            for k in range(1, n):
                x, y, w, h = (int(v) for v in stats[k][:4])
                objs.append(
                    {"class_id": class_of_value[value], "xywh": [float(x), float(y), float(w), float(h)]}
                )
            continue
        contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for contour in contours:
            pts = contour.reshape(-1, 2)
            if len(pts) < 3:  # a region one pixel wide: its outline has no area; the box around it
                x0, y0 = pts.min(axis=0)
                x1, y1 = pts.max(axis=0) + 1
                pts = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
            objs.append({"class_id": class_of_value[value], "points": [[float(x), float(y)] for x, y in pts]})
    return objs


def _read_bytes(path: Path, rel: str) -> bytes:
    if path.is_file():
        with zipfile.ZipFile(path) as zf:
            return zf.read(rel)
    return (path / rel).read_bytes()


def load_masks(path: Path | str, categories: CategorySet | None = None) -> Dataset:
    """Read a mask zip or folder back: polygons (boxes in a box project) from each mask's regions."""
    from PIL import Image

    path = Path(path)
    with ReadTree(path) as tree:
        if tree.exists("annota.json"):
            task, file_cats = read_meta(tree.read_text("annota.json"))
        else:
            rows = list(csv.DictReader(io.StringIO(tree.read_text("classes.csv"))))
            task = TaskType.POLYGONS
            file_cats = CategorySet.of((int(r["index"]), r["name"]) for r in rows if int(r["index"]) != 0)
        ids = file_cats.remap_by_name(categories)
        class_of_value = {k + 1: ids[c.id] for k, c in enumerate(file_cats)}
        if not tree.exists("annota.json"):  # foreign table: the value is the index column
            class_of_value = {c.id: ids[c.id] for c in file_cats}
        manifest = read_manifest(tree.read_text("manifest.csv")) if tree.exists("manifest.csv") else {}
        masks = {
            rel[len("masks/") : -len(".png")]: rel for rel in tree.names("masks/") if rel.endswith(".png")
        }
        if not manifest:
            manifest = {stem: {"file_name": stem, "width": "0", "height": "0"} for stem in masks}
        ds = Dataset(task, categories if categories is not None else file_cats)
        for name, row in manifest.items():
            stem = name.rsplit(".", 1)[0] if "." in name else name
            try:
                payload = None
                rel = masks.get(stem)
                if rel is not None:
                    with Image.open(io.BytesIO(_read_bytes(path, rel))) as img:
                        if img.mode not in ("P", "L"):
                            raise RecordProblem(f"{rel} is a {img.mode} image, not an indexed (P or L) mask")
                        mask = np.asarray(img)
                        row = {**row, "width": str(img.width), "height": str(img.height)}
                    payload = {
                        "boxes" if task is TaskType.BOXES else "polygons": mask_objects(
                            task, mask, class_of_value
                        )
                    }
                ds.records.append(manifest_record(row, payload))
            except (RecordProblem, OSError, ValueError, KeyError) as exc:
                ds.issues.append(Issue(str(exc), None, name))
        return ds


def sniff_masks(path: Path) -> bool:
    from core.formats.load_support import list_names

    names = list_names(path)
    return "classes.csv" in names and any(n.startswith("masks/") and n.endswith(".png") for n in names)
