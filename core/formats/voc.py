"""Pascal VOC XML, labels only, in a zip (or a folder).

* ``Annotations/<image stem>.xml`` per image: ``filename``, ``path`` (the original file), ``size``
  and an ``object`` per box with ``name``, ``pose``, ``truncated``, ``difficult`` and ``bndbox``
  (``xmin ymin xmax ymax``) in **VOC's 1-based integer pixels**: the box ``[x, x + w]`` of annota's
  0-based pixel edges covers pixels ``round(x) .. round(x + w) - 1``, written as ``xmin = round(x) + 1``,
  ``xmax = round(x + w)`` (the same for y), so a box moves by at most half a pixel. ``annota.json``
  says so (``voc_pixels``) and ``load_voc`` (and the label import) read such a file back with
  ``x = xmin - 1``, ``w = xmax - xmin + 1``; an export again gives the same integers. VOC files
  without that key (other tools', annota's older ones) are read as written.
* **Polygons are exported as their bounding boxes** (VOC XML has no polygons; ``segmented`` is 0
  because no mask images are written). Loading such an export gives boxes.
* Classification projects: VOC's classification layout, ``ImageSets/Main/<class>_trainval.txt``
  with ``<image stem>  1`` (the image shows the class) or ``<image stem> -1`` per labeled image; the
  XML files then have no objects.
* ``ImageSets/Main/trainval.txt`` lists every image stem; ``labels.txt`` the class names in order;
  ``manifest.csv`` and ``annota.json`` as for YOLO (original paths, status, class ids).
"""

from __future__ import annotations

import json
import posixpath
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any
from xml.sax.saxutils import escape

from core import geometry
from core.domain import TaskType
from core.formats.records import (
    MANIFEST_COLUMNS,
    CategorySet,
    Dataset,
    ExportRecord,
    Issue,
    RecordProblem,
    SaveSummary,
    classification_payload,
    finite,
    image_class_ids,
    manifest_record,
    manifest_row,
    meta_json,
    read_manifest,
    read_meta,
    safe_names,
    write_all,
)
from core.formats.tree import ReadTree
from core.formats.tree_writer import TreeWriter

VOC_PIXELS = "1-based integers"


def voc_box(xyxy: list[float]) -> tuple[int, int, int, int]:
    """annota's 0-based pixel edges -> VOC's 1-based pixel numbers (first and last pixel covered)."""
    x1, y1 = round(xyxy[0]) + 1, round(xyxy[1]) + 1
    return x1, y1, max(round(xyxy[2]), x1), max(round(xyxy[3]), y1)


def box_of_voc(xmin: float, ymin: float, xmax: float, ymax: float) -> list[float]:
    """VOC's 1-based pixel numbers -> annota's ``xywh`` of pixel edges."""
    return [xmin - 1, ymin - 1, xmax - xmin + 1, ymax - ymin + 1]


def _object_xml(name: str, xyxy: list[float]) -> str:
    x1, y1, x2, y2 = voc_box(xyxy)
    return (
        f"  <object>\n    <name>{escape(name)}</name>\n    <pose>Unspecified</pose>\n    <truncated>0</truncated>\n"
        f"    <difficult>0</difficult>\n    <bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax>"
        f"<ymax>{y2}</ymax></bndbox>\n  </object>\n"
    )


def annotation_xml(record: ExportRecord, objects: list[tuple[str, list[float]]]) -> str:
    return (
        "<annotation>\n  <folder>images</folder>\n"
        f"  <filename>{escape(record.file_name)}</filename>\n  <path>{escape(record.path)}</path>\n"
        "  <source><database>annota</database></source>\n"
        f"  <size><width>{record.width}</width><height>{record.height}</height><depth>3</depth></size>\n"
        "  <segmented>0</segmented>\n" + "".join(_object_xml(n, b) for n, b in objects) + "</annotation>\n"
    )


class VocWriter(TreeWriter):
    FORMAT = "voc"

    def __init__(self, path: Path | str, task_type: TaskType | str, categories: CategorySet) -> None:
        super().__init__(path, task_type, categories)
        self._manifest = self._spool.open("manifest.csv", newline="")
        self._manifest.write(",".join(MANIFEST_COLUMNS) + "\n")
        self._trainval = self._spool.open("ImageSets/Main/trainval.txt")
        self._lists: list[IO[str]] = []
        if self.task.is_classification:
            self._lists = [
                self._spool.open(f"ImageSets/Main/{s}_trainval.txt") for s in safe_names(categories.names)
            ]

    def _objects(self, payload: dict[str, Any] | None) -> list[tuple[str, list[float]]]:
        if not payload or self.task.is_classification:
            return []
        if self.task is TaskType.BOXES:
            return [
                (self.categories.name_of(b["class_id"]), finite(geometry.xywh_to_xyxy(b["xywh"])))
                for b in payload["boxes"]
            ]
        return [
            (
                self.categories.name_of(p["class_id"]),
                finite(geometry.xywh_to_xyxy(geometry.polygon_bbox_xywh(p["points"]))),
            )
            for p in payload["polygons"]
        ]

    def write(self, record: ExportRecord) -> int:
        objects = self._objects(record.payload)
        n = len(objects)
        if self.task.is_classification and record.payload is not None:
            present = {self.categories.index_of(c) for c in image_class_ids(self.task, record.payload)}
            for k, fh in enumerate(self._lists):
                fh.write(f"{record.stem} {' 1' if k in present else '-1'}\n")
            n = len(present)
        self.tree.write_text(f"Annotations/{record.stem}.xml", annotation_xml(record, objects))
        self._trainval.write(record.stem + "\n")
        self._manifest.write(manifest_row(record))
        return n

    def last_texts(self) -> dict[str, str]:
        # voc_pixels: readers subtract 1 from xmin and ymin
        meta = meta_json(self.FORMAT, self.task, self.categories, voc_pixels=VOC_PIXELS)
        return {"labels.txt": "".join(n + "\n" for n in self.categories.names), "annota.json": meta}


def save_voc(
    path: Path | str, task_type: TaskType | str, categories: CategorySet, records: Iterable[ExportRecord]
) -> SaveSummary:
    """Write a VOC zip (``path`` ending ``.zip``) or folder."""
    return write_all(VocWriter(path, task_type, categories), records)


def _num(el: ET.Element, tag: str) -> float:
    text = el.findtext(tag)
    if text is None:
        raise RecordProblem(f"<{tag}> is missing")
    return float(text)


def load_voc(path: Path | str, categories: CategorySet | None = None) -> Dataset:
    """Read a VOC zip or folder back. Boxes come back as pixel ``xywh``; polygons were exported as boxes."""
    with ReadTree(path) as tree:
        one_based = False
        if tree.exists("annota.json"):
            task, file_cats = read_meta(tree.read_text("annota.json"))
            one_based = json.loads(tree.read_text("annota.json")).get("voc_pixels") == VOC_PIXELS
        else:
            names = tree.read_text("labels.txt").splitlines() if tree.exists("labels.txt") else []
            task, file_cats = TaskType.BOXES, CategorySet.from_names([n for n in names if n])
        manifest = read_manifest(tree.read_text("manifest.csv")) if tree.exists("manifest.csv") else {}
        name_to_id: dict[str, int] = {
            c.name: (categories.id_of(c.name) if categories else c.id) for c in file_cats
        }
        out_cats = categories if categories is not None else file_cats
        classes: dict[str, list[int]] = {}
        if task.is_classification:
            for cat, rel in zip(file_cats, [f"ImageSets/Main/{s}_trainval.txt" for s in safe_names(file_cats.names)],
                                strict=True):  # fmt: skip
                if tree.exists(rel):
                    for line in tree.read_text(rel).splitlines():
                        parts = line.split()
                        if len(parts) == 2 and parts[1] == "1":
                            classes.setdefault(parts[0], []).append(name_to_id[cat.name])
        geo_task = task if task.is_classification else TaskType.BOXES
        ds = Dataset(geo_task, out_cats)
        for rel in tree.names("Annotations/"):
            if not rel.endswith(".xml"):
                continue
            try:
                root = ET.fromstring(tree.read_text(rel))
                file_name = root.findtext("filename") or posixpath.basename(rel)[:-4]
                size = root.find("size")
                if size is None:
                    raise RecordProblem("<size> is missing")
                row = manifest.get(file_name) or {"file_name": file_name, "path": root.findtext("path") or "",
                                                  "labeled": "1"}  # fmt: skip
                row = {
                    **row,
                    "width": str(int(_num(size, "width"))),
                    "height": str(int(_num(size, "height"))),
                }
                payload: dict[str, Any] | None = None
                if row.get("labeled", "1") != "0":
                    if task.is_classification:
                        payload = classification_payload(
                            task, classes.get(posixpath.splitext(file_name)[0], [])
                        )
                    else:
                        boxes = []
                        for obj in root.iter("object"):
                            name = obj.findtext("name") or ""
                            if name not in name_to_id:
                                if categories is not None or tree.exists("annota.json"):
                                    raise RecordProblem(f"class name {name!r} is not a class of this project")
                                name_to_id[name] = max(name_to_id.values(), default=0) + 1
                            bb = obj.find("bndbox")
                            if bb is None:
                                raise RecordProblem("an object has no <bndbox>")
                            xyxy = [_num(bb, t) for t in ("xmin", "ymin", "xmax", "ymax")]
                            xywh = box_of_voc(*xyxy) if one_based else geometry.xyxy_to_xywh(xyxy)
                            boxes.append({"class_id": name_to_id[name], "xywh": xywh})
                        payload = {"boxes": boxes}
                ds.records.append(manifest_record(row, payload))
            except (RecordProblem, ET.ParseError, ValueError, KeyError) as exc:
                ds.issues.append(Issue(str(exc), None, rel))
        if categories is None and not tree.exists("annota.json"):
            ds.categories = CategorySet.of((i, n) for n, i in name_to_id.items())
        return ds
