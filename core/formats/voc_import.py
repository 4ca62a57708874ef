"""Pascal VOC XML as a label source: one ``<annotation>`` file per image, in a folder or a zip.

The XML files may sit in ``Annotations/`` (VOC), ``annotations/`` (many exports) or anywhere in what
was dropped; a single ``.xml`` file is read too. Each ``<object>`` gives a box: ``<name>`` and
``<bndbox>`` ``xmin ymin xmax ymax`` in pixels, read as written (VOC's 1-based integers are not
shifted, a half-pixel difference at most), except annota's own export, whose ``annota.json`` says its
pixels are VOC's 1-based integers (``voc_pixels``): read back exactly as ``core.formats.voc`` wrote them.
``<filename>`` names the image (else the XML's stem), ``<size>`` gives its size.

Classes: ``labels.txt`` when present (annota's export: the order of the project), else the names in
the order first met. annota's classification layout (``ImageSets/Main/<class>_trainval.txt``) is read
by ``core.formats.voc.load_voc``. A malformed XML file is an issue with its line and column.
"""

from __future__ import annotations

import json
import posixpath
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from core.domain import TaskType
from core.formats.label_mapping import with_categories
from core.formats.load_support import LabelRecord, LoadError, SizeLookup, error_text, head, issue, strip_root
from core.formats.records import CategorySet, Dataset, RecordProblem, read_manifest, read_meta
from core.formats.tree import ReadTree
from core.formats.voc import VOC_PIXELS, box_of_voc


def sniff(path: Path) -> bool:
    if path.is_file() and path.suffix.lower() == ".xml":
        return "<annotation" in head(path, 2048)
    if not (path.is_dir() or path.suffix.lower() == ".zip"):
        return False
    from core.formats.load_support import list_names

    names = list_names(path, 20_000)
    if any(
        n.lower().startswith("annotations/") or "/annotations/" in n.lower()
        for n in names
        if n.endswith(".xml")
    ):
        return True
    return path.is_dir() and any(
        "<annotation" in head(path / n, 2048) for n in names[:50] if n.lower().endswith(".xml")
    )


def _num(el: ET.Element, tag: str) -> float:
    text = el.findtext(tag)
    if text is None or not text.strip():
        raise RecordProblem(f"<bndbox> has no <{tag}>")
    try:
        return float(text)
    except ValueError:
        raise RecordProblem(f"<{tag}> {text.strip()!r} is not a number") from None


def load(path: Path, categories: CategorySet | None = None, *, sizes: SizeLookup | None = None) -> Dataset:
    path = Path(path)
    if path.is_file() and path.suffix.lower() == ".xml":
        docs = [(path.name, path.read_text(encoding="utf-8", errors="replace"))]
        meta_cats, manifest, class_order = None, {}, []
        one_based = False
    else:
        with ReadTree(path) as tree:
            prefix, _ = strip_root(tree.names())
            one_based = False
            if tree.exists(prefix + "annota.json"):
                task, meta_cats = read_meta(tree.read_text(prefix + "annota.json"))
                one_based = json.loads(tree.read_text(prefix + "annota.json")).get("voc_pixels") == VOC_PIXELS
                if task.is_classification:
                    from core.formats.voc import load_voc

                    return load_voc(path, categories)
            else:
                meta_cats = None
            manifest = (read_manifest(tree.read_text(prefix + "manifest.csv"))
                        if tree.exists(prefix + "manifest.csv") else {})  # fmt: skip
            class_order = ([n.strip() for n in tree.read_text(prefix + "labels.txt").splitlines() if n.strip()]
                           if tree.exists(prefix + "labels.txt") else [])  # fmt: skip
            docs = [(n, tree.read_text(n)) for n in tree.names(prefix) if n.lower().endswith(".xml")]
    if not docs:
        raise LoadError(f"{path.name}: no VOC XML files (<annotation>) in it.")
    names: dict[str, int] = {}
    if meta_cats is not None:
        names = {c.name: c.id for c in meta_cats}
    for n in class_order:
        names.setdefault(n, max(names.values(), default=0) + 1)
    ds = Dataset(TaskType.BOXES, CategorySet([]))
    rows = {r["file_name"]: r for r in manifest.values()}
    for rel, text in docs:
        try:
            root = ET.fromstring(text)
        except ET.ParseError as exc:
            line, col = exc.position
            ds.issues.append(issue(rel, f"malformed XML at line {line} column {col + 1}"))
            continue
        if root.tag != "annotation":
            continue  # another XML file in the folder (not VOC)
        file_name = (root.findtext("filename") or "").strip() or posixpath.splitext(posixpath.basename(rel))[
            0
        ]
        row = rows.get(file_name)
        try:
            size = root.find("size")
            width = int(float(size.findtext("width") or 0)) if size is not None else 0
            height = int(float(size.findtext("height") or 0)) if size is not None else 0
        except ValueError as exc:
            ds.issues.append(issue(rel, f"<size> is not a number ({error_text(exc)})", file_name))
            continue
        boxes: list[dict[str, Any]] = []
        for k, obj in enumerate(root.iter("object"), 1):
            name = (obj.findtext("name") or "").strip()
            try:
                if not name:
                    raise RecordProblem("has no <name>")
                bb = obj.find("bndbox")
                if bb is None:
                    raise RecordProblem("has no <bndbox>")
                x1, y1, x2, y2 = (_num(bb, t) for t in ("xmin", "ymin", "xmax", "ymax"))
            except RecordProblem as exc:
                ds.issues.append(issue(f"{rel} object {k}", str(exc), file_name))
                continue
            cid = names.setdefault(name, max(names.values(), default=0) + 1)
            xywh = box_of_voc(x1, y1, x2, y2) if one_based else [x1, y1, x2 - x1, y2 - y1]
            boxes.append({"class_id": cid, "xywh": xywh})  # x2 < x1: refused as no size
        labeled = row is None or row.get("labeled", "1") != "0"
        ds.records.append(
            LabelRecord(
                file_name=file_name, width=width or int((row or {}).get("width") or 0),
                height=height or int((row or {}).get("height") or 0),
                payload={"boxes": boxes} if labeled else None, path=(row or {}).get("path") or "",
                item_id=int(row["item_id"]) if row and row.get("item_id") else None, origin=rel,
            )
        )  # fmt: skip
    ds.categories = CategorySet.of((i, n) for n, i in names.items())
    return with_categories(ds, categories)
