"""CVAT for images 1.1 XML (``annotations.xml``), written as a stream.

* ``meta/task/labels``: the project's classes in order (``type any``, no attributes);
* an ``image`` element per image (``id``, ``name``, ``width``, ``height``) holding:

  - classification: a ``tag`` per class of the image (one for multi-class, any number for
    multi-label);
  - boxes: a ``box`` per box, ``xtl ytl xbr ybr`` in pixels from the top-left (two decimals);
  - polygons: a ``polygon`` per polygon, ``points="x1,y1;x2,y2;..."`` in pixels;

  every shape with ``source="manual"`` (``auto`` for a proposal's label), ``occluded="0"`` and
  ``z_order="0"``, as CVAT writes them.
* annota keeps what CVAT has no place for in XML comments, which CVAT and other readers skip: after
  ``<annotations>`` the task type and the class ids, inside each ``image`` its item id, path,
  status, author, source and whether it was labeled.

``load_cvat`` reads CVAT's own task and project exports too: the shapes annota has (tags, boxes,
polygons; boxes become their four corners in a polygon project); polylines, points, ellipses, masks,
cuboids, skeletons and rotated boxes are reported, not read. An image CVAT lists with no shapes is
unlabeled unless annota's comment says it was labeled with nothing.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from core.domain import TaskType
from core.formats.load_support import annota_record, head
from core.formats.records import (
    CategorySet,
    Dataset,
    ExportRecord,
    Issue,
    RecordProblem,
    SaveSummary,
    classification_payload,
    finite,
    fmt_num,
    image_class_ids,
    objects_of,
    write_all,
)
from core.formats.single_file import SingleFileWriter

ANNOTA_MARK = "annota "
UNREAD_SHAPES = ("polyline", "points", "ellipse", "mask", "cuboid", "skeleton")


def _comment(value: dict[str, Any]) -> str:
    # "--" may not appear in an XML comment; JSON escapes it as "-\u002d"
    return "<!-- " + ANNOTA_MARK + json.dumps(value, ensure_ascii=False).replace("--", "-\\u002d") + " -->"


def _header(task: TaskType, categories: CategorySet) -> str:
    labels = "".join(
        f"        <label>\n          <name>{escape(c.name)}</name>\n          <type>any</type>\n"
        "          <attributes>\n          </attributes>\n        </label>\n"
        for c in categories
    )
    meta = {"task_type": task.value, "classes": [[c.id, c.name] for c in categories]}
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n  <version>1.1</version>\n'
        f"  {_comment(meta)}\n  <meta>\n    <task>\n      <name>annota export</name>\n"
        f"      <mode>annotation</mode>\n      <overlap>0</overlap>\n      <labels>\n{labels}      </labels>\n"
        "    </task>\n  </meta>\n"
    )


class CvatWriter(SingleFileWriter):
    TAIL = "</annotations>\n"

    def __init__(self, path: Path | str, task_type: TaskType | str, categories: CategorySet) -> None:
        super().__init__(path, task_type, categories)
        self._out.write(_header(self.task, categories))
        self._next_id = 0

    def _shapes(self, payload: dict[str, Any] | None) -> list[str]:
        if not payload:
            return []
        if self.task.is_classification:
            return [f"    <tag label={quoteattr(self.categories.name_of(c))} source=\"manual\">\n    </tag>\n"
                    for c in image_class_ids(self.task, payload)]  # fmt: skip
        out = []
        for obj in objects_of(self.task, payload):
            label = quoteattr(self.categories.name_of(obj["class_id"]))
            source = '"auto"' if obj.get("score") is not None else '"manual"'
            if self.task is TaskType.BOXES:
                x, y, w, h = finite(obj["xywh"])
                coords = (
                    f'xtl="{fmt_num(x)}" ytl="{fmt_num(y)}" xbr="{fmt_num(x + w)}" ybr="{fmt_num(y + h)}"'
                )
                out.append(f"    <box label={label} source={source} occluded=\"0\" {coords} z_order=\"0\">\n"
                           "    </box>\n")  # fmt: skip
            else:
                pts = ";".join(
                    f"{fmt_num(px)},{fmt_num(py)}" for px, py in (finite(p) for p in obj["points"])
                )
                out.append(f"    <polygon label={label} source={source} occluded=\"0\" points=\"{pts}\" "
                           "z_order=\"0\">\n    </polygon>\n")  # fmt: skip
        return out

    def write(self, record: ExportRecord) -> int:
        shapes = self._shapes(record.payload)
        meta = {"item_id": record.item_id, "path": record.path, "status": record.status, "author": record.author,
                "source": record.source, "labeled": record.payload is not None}  # fmt: skip
        self._out.write(
            f"  <image id=\"{self._next_id}\" name={quoteattr(record.file_name)} width=\"{record.width}\" "
            f"height=\"{record.height}\">\n    {_comment(meta)}\n" + "".join(shapes) + "  </image>\n"
        )  # fmt: skip
        self._next_id += 1
        return len(shapes)


def save_cvat(
    path: Path | str, task_type: TaskType | str, categories: CategorySet, records: Iterable[ExportRecord]
) -> SaveSummary:
    return write_all(CvatWriter(path, task_type, categories), records)


# --- loading ---------------------------------------------------------------------------------------


def _annota_comment(el: ET.Element) -> dict[str, Any] | None:
    for child in el:
        if child.tag is ET.Comment and (child.text or "").strip().startswith(ANNOTA_MARK):
            value = json.loads((child.text or "").strip()[len(ANNOTA_MARK) :])
            return value if isinstance(value, dict) else None
    return None


def _labels(root: ET.Element) -> list[str]:
    meta = root.find("meta")
    if meta is None:
        return []
    names = []
    for label in meta.iter("label"):
        if label.findtext("parent"):
            continue  # a skeleton's point
        name = label.findtext("name")
        if name is not None and name not in names:
            names.append(name)
    return names


def _task_type(root: ET.Element) -> TaskType:
    tags_per_image = [len(img.findall("tag")) for img in root.iter("image")]
    if any(img.find("polygon") is not None for img in root.iter("image")):
        return TaskType.POLYGONS
    if any(img.find("box") is not None for img in root.iter("image")):
        return TaskType.BOXES
    return TaskType.MULTILABEL if max(tags_per_image, default=0) > 1 else TaskType.MULTICLASS


def _points(text: str) -> list[list[float]]:
    pts = []
    for pair in text.strip().split(";"):
        x, sep, y = pair.partition(",")
        if not sep:
            raise RecordProblem(f"polygon point {pair!r} is not 'x,y'")
        pts.append(finite([float(x), float(y)]))
    return pts


def _num(el: ET.Element, name: str) -> float:
    value = el.get(name)
    if value is None:
        raise RecordProblem(f"a <{el.tag}> has no {name}")
    return finite([float(value)])[0]


class _Classes:
    def __init__(self, fixed: CategorySet) -> None:
        self.fixed = fixed

    def id_of(self, el: ET.Element) -> int:
        label = el.get("label")
        if not label:
            raise RecordProblem(f"a <{el.tag}> has no label")
        return self.fixed.id_of(label)


def _payload(task: TaskType, img: ET.Element, classes: _Classes, notes: list[str]) -> dict[str, Any] | None:
    if task.is_classification:
        ids = []
        for el in img.findall("tag"):
            try:
                ids.append(classes.id_of(el))
            except RecordProblem as exc:
                notes.append(str(exc))
        for el in img:
            if el.tag in ("box", "polygon", *UNREAD_SHAPES):
                notes.append(f"a <{el.tag}> is not read in a classification project")
        return classification_payload(task, ids) if ids else None
    objs: list[dict[str, Any]] = []
    for el in img:
        if not isinstance(el.tag, str) or el.tag == "tag":
            if el.tag == "tag":
                notes.append("a <tag> is not read in a box or polygon project")
            continue
        if el.tag in UNREAD_SHAPES or (el.tag == "polygon" and task is TaskType.BOXES):
            notes.append(f"a <{el.tag}> is not read as {task.value}")
            continue
        if el.tag not in ("box", "polygon"):
            continue
        try:
            cid = classes.id_of(el)
            if el.tag == "box":
                if float(el.get("rotation") or 0) % 360:
                    notes.append(f"a box rotated by {el.get('rotation')} degrees is not read")
                    continue
                x1, y1, x2, y2 = (_num(el, k) for k in ("xtl", "ytl", "xbr", "ybr"))
                obj: dict[str, Any] = {"class_id": cid, "xywh": [x1, y1, x2 - x1, y2 - y1]}
                if task is TaskType.POLYGONS:
                    obj = {"class_id": cid, "points": [[x1, y1], [x2, y1], [x2, y2], [x1, y2]]}
            else:
                obj = {"class_id": cid, "points": _points(el.get("points") or "")}
        except (RecordProblem, ValueError) as exc:
            notes.append(f"a <{el.tag}>: {exc}")
            continue
        objs.append(obj)
    return {"boxes" if task is TaskType.BOXES else "polygons": objs} if objs else None


def load_cvat(path: Path | str, categories: CategorySet | None = None) -> Dataset:
    """Read a CVAT for images 1.1 XML file (annota's or CVAT's own) into pixel records."""
    parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))
    root = ET.parse(path, parser).getroot()
    if root.tag != "annotations":
        raise ValueError(f"not a CVAT XML file (its root is <{root.tag}>, not <annotations>)")
    meta = _annota_comment(root) or {}
    task = TaskType(meta["task_type"]) if meta.get("task_type") else _task_type(root)
    if categories is not None:
        cats = categories
    elif meta.get("classes"):
        cats = CategorySet.of((int(i), str(n)) for i, n in meta["classes"])
    else:
        names = _labels(root)
        for img in root.iter("image"):  # labels used but not declared in meta
            for el in img:
                label = el.get("label") if isinstance(el.tag, str) else None
                if label and label not in names:
                    names.append(label)
        cats = CategorySet.from_names(names)
    classes = _Classes(cats)
    ds = Dataset(task, cats)
    seen: set[str] = set()
    for k, img in enumerate(root.iter("image")):
        name = img.get("name") or ""
        where = f"image {img.get('id', k)} ({name})"
        try:
            if not name:
                raise RecordProblem("has no name")
            if name in seen:
                ds.issues.append(Issue(f"{where}: listed again (subset {img.get('subset')}); the first is kept",
                                       None, name, "warning"))  # fmt: skip
                continue
            seen.add(name)
            extra = _annota_comment(img) or {}
            notes: list[str] = []
            payload = _payload(task, img, classes, notes)
            if payload is None and extra.get("labeled"):
                payload = classification_payload(task, []) if task.is_classification else (
                    {"boxes" if task is TaskType.BOXES else "polygons": []})  # fmt: skip
            for note in notes:
                ds.issues.append(Issue(f"{where}: {note}", extra.get("item_id"), name, "warning"))
            width, height = int(img.get("width") or 0), int(img.get("height") or 0)
            ds.records.append(annota_record(name, width, height, payload, extra))
        except (RecordProblem, ValueError) as exc:
            ds.issues.append(Issue(f"{where}: {exc}", None, name))
    return ds


def sniff_cvat(path: Path) -> bool:
    """An ``.xml`` file whose start has ``<annotations>`` and a ``<version>``."""
    if not (path.is_file() and path.suffix.lower() == ".xml"):
        return False
    text = head(path, 4096)
    return "<annotations" in text and "<version>" in text
