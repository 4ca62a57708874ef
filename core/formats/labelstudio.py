"""Label Studio JSON export (the "JSON" export of a Label Studio project), written as a stream.

One JSON list, one task per image:

* ``data.image``: the image (its original path); ``file_upload`` its file name;
* ``annotations``: one annotation (none for an unlabeled image) whose ``result`` holds:

  - classification: one ``choices`` result, ``value.choices`` the class names (one for multi-class,
    any number for multi-label; a multi-label image labeled "none of these" has an empty ``result``);
  - boxes: a ``rectanglelabels`` result per box, ``value`` ``x, y, width, height`` in **percent of
    the image size** from the top-left, ``rotation: 0``;
  - polygons: a ``polygonlabels`` result per polygon, ``value.points`` ``[[x%, y%], ...]``;

  each region result carries ``original_width``/``original_height`` (the image size in pixels),
  ``from_name`` ``label`` (``choice`` for choices) and ``to_name`` ``image``, as Label Studio writes
  them. The labeling config these names fit is ``label_config`` below.
* annota adds ``meta.annota`` (item id, path, status, author, source, task type, the class list), which
  Label Studio keeps as task metadata and ``load_labelstudio`` uses to give back annota's class ids.

``load_labelstudio`` reads Label Studio's own exports too: the newest annotation that was not cancelled
(none: the image is unlabeled), percentages converted to pixels with ``original_width``/``_height``.
Rotated rectangles, keypoints, brushes and other result types are reported, not read.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

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
    image_class_ids,
    objects_of,
    strict_dumps,
    write_all,
)
from core.formats.single_file import SingleFileWriter

REGION_TYPES = {TaskType.BOXES: "rectanglelabels", TaskType.POLYGONS: "polygonlabels"}


def label_config(task: TaskType, categories: CategorySet) -> str:
    """A Label Studio labeling config the export fits (paste it into the project's settings)."""
    from xml.sax.saxutils import quoteattr

    values = "".join(f"    <{'Choice' if task.is_classification else 'Label'} value={quoteattr(n)}/>\n"
                     for n in categories.names)  # fmt: skip
    if task.is_classification:
        kind = "single" if task is TaskType.MULTICLASS else "multiple"
        tag = f'  <Choices name="choice" toName="image" choice="{kind}">\n{values}  </Choices>\n'
    else:
        name = "RectangleLabels" if task is TaskType.BOXES else "PolygonLabels"
        tag = f'  <{name} name="label" toName="image">\n{values}  </{name}>\n'
    return f'<View>\n  <Image name="image" value="$image"/>\n{tag}</View>\n'


def _pct(value: float, size: int) -> float:
    return float(value) * 100.0 / size


class LabelStudioWriter(SingleFileWriter):
    TAIL = "\n]\n"

    def __init__(self, path: Path | str, task_type: TaskType | str, categories: CategorySet) -> None:
        super().__init__(path, task_type, categories)
        self._out.write("[")
        self._n = 0

    def _results(self, record: ExportRecord, key: str) -> list[dict[str, Any]]:
        payload = record.payload or {}
        if self.task.is_classification:
            names = [self.categories.name_of(c) for c in image_class_ids(self.task, payload)]
            if not names:
                return []
            return [{"id": f"{key}-0", "type": "choices", "from_name": "choice", "to_name": "image",
                     "origin": "manual", "value": {"choices": names}}]  # fmt: skip
        w, h = record.width, record.height
        if w <= 0 or h <= 0:
            raise RecordProblem(f"image size {w} x {h} cannot give percentages")
        out = []
        for k, obj in enumerate(objects_of(self.task, payload)):
            name = self.categories.name_of(obj["class_id"])
            if self.task is TaskType.BOXES:
                x, y, bw, bh = finite(obj["xywh"])
                value: dict[str, Any] = {"x": _pct(x, w), "y": _pct(y, h), "width": _pct(bw, w),
                                         "height": _pct(bh, h), "rotation": 0, "rectanglelabels": [name]}  # fmt: skip
            else:
                pts = [finite(p) for p in obj["points"]]
                value = {"points": [[_pct(px, w), _pct(py, h)] for px, py in pts], "closed": True,
                         "polygonlabels": [name]}  # fmt: skip
            result = {"id": f"{key}-{k}", "type": REGION_TYPES[self.task], "from_name": "label", "to_name": "image",
                      "original_width": w, "original_height": h, "image_rotation": 0, "origin": "manual",
                      "value": value}  # fmt: skip
            if obj.get("score") is not None:
                result["score"] = obj["score"]
            out.append(result)
        return out

    def write(self, record: ExportRecord) -> int:
        n = self._n + 1
        annotations = []
        results: list[dict[str, Any]] = []
        if record.payload is not None:
            results = self._results(record, f"r{n}")
            annotations.append({"id": n, "result": results, "was_cancelled": False, "ground_truth": False,
                                "completed_by": record.author or None})  # fmt: skip
        task = {
            "id": record.item_id if record.item_id is not None else n,
            "data": {"image": record.path or record.file_name},
            "file_upload": record.file_name,
            "annotations": annotations,
            "predictions": [],
            "meta": {"annota": {"file_name": record.file_name, "item_id": record.item_id, "path": record.path,
                                "status": record.status, "author": record.author, "source": record.source,
                                "task_type": self.task.value, "labeled": record.payload is not None,
                                "width": record.width, "height": record.height,
                                "classes": [[c.id, c.name] for c in self.categories] if n == 1 else None}},
        }  # fmt: skip
        text = strict_dumps(task)  # made before writing: a problem leaves the file as it was
        self._out.write(("," if self._n else "") + "\n" + text)
        self._n = n
        if self.task.is_classification:
            return len(image_class_ids(self.task, record.payload))
        return len(results)


def save_labelstudio(
    path: Path | str, task_type: TaskType | str, categories: CategorySet, records: Iterable[ExportRecord]
) -> SaveSummary:
    return write_all(LabelStudioWriter(path, task_type, categories), records)


# --- loading ---------------------------------------------------------------------------------------

_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")


def image_name(task: dict[str, Any]) -> str:
    """The image's name as a task gives it: annota's own, else the file of ``data.image``
    (``/data/local-files/?d=dir/a.jpg`` -> ``dir/a.jpg``; an upload loses Label Studio's 8-hex prefix)."""
    meta = (task.get("meta") or {}).get("annota") or {}
    if meta.get("file_name"):
        return str(meta["file_name"])
    data = task.get("data") or {}
    ref = next((v for k, v in data.items() if k == "image"), None)
    if not isinstance(ref, str):
        ref = next((v for v in data.values() if isinstance(v, str)), "")
    url = urlparse(ref)
    d = parse_qs(url.query).get("d")
    if d:
        return unquote(d[0]).lstrip("/")
    name = posixpath.basename(unquote(url.path)) or str(task.get("file_upload") or "")
    if "/data/upload/" in url.path or name == task.get("file_upload"):
        name = _UPLOAD_PREFIX.sub("", name)
    return name


def _annotation(task: dict[str, Any]) -> dict[str, Any] | None:
    """The newest annotation not cancelled (by ``updated_at``, else the last one)."""
    live = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
    if not live:
        return None
    return max(enumerate(live), key=lambda ka: (str(ka[1].get("updated_at") or ""), ka[0]))[1]


def _task_type(tasks: list[dict[str, Any]]) -> TaskType:
    for t in tasks:
        declared = ((t.get("meta") or {}).get("annota") or {}).get("task_type")
        if declared:
            return TaskType(declared)
    types: set[str] = set()
    most_choices = 0
    for t in tasks:
        ann = _annotation(t)
        for r in (ann or {}).get("result") or []:
            types.add(str(r.get("type")))
            if r.get("type") == "choices":
                most_choices = max(most_choices, len((r.get("value") or {}).get("choices") or []))
    if "polygonlabels" in types:
        return TaskType.POLYGONS
    if "rectanglelabels" in types:
        return TaskType.BOXES
    return TaskType.MULTILABEL if most_choices > 1 else TaskType.MULTICLASS


def _size(result: dict[str, Any], known: tuple[int, int]) -> tuple[int, int]:
    w, h = result.get("original_width"), result.get("original_height")
    if w and h:
        return int(w), int(h)
    if known[0] > 0 and known[1] > 0:
        return known
    raise RecordProblem(
        "a region has no original_width/original_height: its percentages cannot become pixels"
    )


class _Names:
    """Class names to ids: the given categories, annota's class list, or 1.. in order of appearance."""

    def __init__(self, fixed: CategorySet | None) -> None:
        self.fixed = fixed
        self.found: dict[str, int] = {}

    def id_of(self, name: str) -> int:
        if self.fixed is not None:
            return self.fixed.id_of(name)
        if name not in self.found:
            self.found[name] = len(self.found) + 1
        return self.found[name]

    def categories(self) -> CategorySet:
        return self.fixed if self.fixed is not None else CategorySet.of((i, n) for n, i in self.found.items())


def _labels(value: dict[str, Any], key: str) -> list[str]:
    names = value.get(key)
    if not isinstance(names, list) or not names:
        raise RecordProblem(f"a {key} result has no label")
    return [str(n) for n in names]


def _payload(task_type: TaskType, results: list[dict[str, Any]], names: _Names, size: tuple[int, int],
             issues: list[str]) -> dict[str, Any]:  # fmt: skip
    if task_type.is_classification:
        chosen: list[int] = []
        for r in results:
            if r.get("type") == "choices":
                chosen += [names.id_of(n) for n in (r.get("value") or {}).get("choices") or []]
            else:
                issues.append(f"a {r.get('type')} result is not read in a classification project")
        payload = classification_payload(task_type, chosen)
        return payload if payload is not None else {}
    objs: list[dict[str, Any]] = []
    want = REGION_TYPES[task_type]
    for r in results:
        kind = r.get("type")
        value = r.get("value") or {}
        if kind == "rectanglelabels" and task_type is TaskType.POLYGONS:
            pass  # a box in a polygon project: its four corners
        elif kind != want:
            issues.append(f"a {kind} result is not read as {task_type.value}")
            continue
        w, h = _size(r, size)
        cid = names.id_of(_labels(value, str(kind))[0])
        if kind == "rectanglelabels":
            if float(value.get("rotation") or 0) % 360:
                issues.append(f"a rectangle rotated by {value.get('rotation')} degrees is not read")
                continue
            x, y = finite([value["x"]])[0] * w / 100, finite([value["y"]])[0] * h / 100
            bw, bh = finite([value["width"]])[0] * w / 100, finite([value["height"]])[0] * h / 100
            obj: dict[str, Any] = {"class_id": cid, "xywh": [x, y, bw, bh]}
            if task_type is TaskType.POLYGONS:
                obj = {"class_id": cid, "points": [[x, y], [x + bw, y], [x + bw, y + bh], [x, y + bh]]}
        else:
            pts = value.get("points")
            if not isinstance(pts, list) or len(pts) < 3:
                issues.append("a polygon with fewer than 3 points is not read")
                continue
            obj = {
                "class_id": cid,
                "points": [[px * w / 100, py * h / 100] for px, py in (finite(p) for p in pts)],
            }
        if r.get("score") is not None:
            obj["score"] = r["score"]
        objs.append(obj)
    return {"boxes" if task_type is TaskType.BOXES else "polygons": objs}


def load_labelstudio(path: Path | str, categories: CategorySet | None = None) -> Dataset:
    """Read a Label Studio JSON export (annota's or Label Studio's own) into pixel records."""
    with open(path, encoding="utf-8") as fh:
        tasks = json.load(fh)
    if isinstance(tasks, dict):
        tasks = [tasks]
    if not isinstance(tasks, list):
        raise ValueError("a Label Studio export is a JSON list of tasks")
    task_type = _task_type(tasks)
    fixed = categories
    if fixed is None:
        for t in tasks:
            classes = ((t.get("meta") or {}).get("annota") or {}).get("classes")
            if classes:
                fixed = CategorySet.of((int(i), str(n)) for i, n in classes)
                break
    names = _Names(fixed)
    ds = Dataset(task_type, CategorySet([]))
    for k, t in enumerate(tasks):
        where = f"task {t.get('id', k + 1)}" if isinstance(t, dict) else f"task {k + 1}"
        try:
            if not isinstance(t, dict):
                raise RecordProblem("a task is not a JSON object")
            meta = (t.get("meta") or {}).get("annota") or {}
            file_name = image_name(t)
            ann = _annotation(t)
            results = [r for r in (ann or {}).get("result") or [] if isinstance(r, dict)]
            sized = [r for r in results if r.get("original_width") and r.get("original_height")]
            size = (
                (int(sized[0]["original_width"]), int(sized[0]["original_height"]))
                if sized
                else (int(meta.get("width") or 0), int(meta.get("height") or 0))
            )
            notes: list[str] = []
            payload = _payload(task_type, results, names, size, notes) if ann is not None else None
            if payload == {} or (results and notes and payload is not None and not any(payload.values())):
                payload = None  # no choice, or every result was one annota cannot read: not labeled
            for note in notes:
                ds.issues.append(Issue(f"{where}: {note}", meta.get("item_id"), file_name, "warning"))
            ds.records.append(annota_record(file_name, size[0], size[1], payload, meta))
        except (RecordProblem, KeyError, TypeError, ValueError) as exc:
            reason = f"missing field {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc)
            ds.issues.append(Issue(f"{where}: {reason}", None, ""))
    ds.categories = names.categories()
    return ds


def sniff_labelstudio(path: Path) -> bool:
    """A ``.json`` file that starts as a list of tasks with ``annotations`` or ``predictions`` and ``data``."""
    if not (path.is_file() and path.suffix.lower() == ".json"):
        return False
    text = head(path, 1 << 16)
    return (
        text.lstrip().startswith("[")
        and '"data"' in text
        and ('"annotations"' in text or '"predictions"' in text)
    )
