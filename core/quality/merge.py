"""One answer from k independent answers to the same image (consensus), or None when they do not agree
enough to make one: such an item goes to review instead.

* multi-class: the class more than half of the answers gave; a tie or a mere plurality is no consensus.
* multi-label: each class that more than half of the answers ticked; a class ticked by exactly half
  (a tie) is no consensus for the whole item.
* boxes and polygons: the shapes are clustered across the answers. The first answer's shapes seed the
  clusters; each further answer's shapes are matched to the clusters' seeds one to one (Hungarian, same
  class, IoU >= 0.5) and a shape left unmatched seeds a new cluster. A cluster found by more than half of
  the answers is kept: a box becomes the mean of its members' corners; a polygon becomes the member with
  the highest mean IoU to the others (its medoid). Averaging polygon vertices is meaningless: two outlines
  of the same object have different numbers of points starting at different places, so there is no
  vertex-to-vertex correspondence to average.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from core.domain import TaskType
from core.quality.agreement import MATCH_IOU, match_shapes, shape_iou, shapes_of


def majority_class(answers: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    votes = Counter(a.get("class_id") for a in answers if a.get("class_id") is not None)
    if not votes:
        return None
    cls, n = votes.most_common(1)[0]
    return {"class_id": cls} if 2 * n > len(answers) else None


def majority_classes(answers: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    votes = Counter(c for a in answers for c in set(a.get("class_ids", [])))
    k = len(answers)
    if any(2 * n == k for n in votes.values()):
        return None
    return {"class_ids": sorted(c for c, n in votes.items() if 2 * n > k)}


def shape_clusters(
    task: TaskType | str, answers: Sequence[Mapping[str, Any]], min_iou: float = MATCH_IOU
) -> list[dict[int, dict[str, Any]]]:
    """Clusters of matched shapes: each maps an answer's index to its shape in the cluster."""
    clusters: list[dict[int, dict[str, Any]]] = []
    seeds: list[dict[str, Any]] = []
    for idx, answer in enumerate(answers):
        shapes = shapes_of(task, answer)
        matched = match_shapes(task, seeds, shapes, min_iou)
        taken = set()
        for ci, si, _ in matched:
            clusters[ci][idx] = dict(shapes[si])
            taken.add(si)
        for si, shape in enumerate(shapes):
            if si not in taken:
                clusters.append({idx: dict(shape)})
                seeds.append(dict(shape))
    return clusters


def _mean_box(members: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    corners = [
        (b["xywh"][0], b["xywh"][1], b["xywh"][0] + b["xywh"][2], b["xywh"][1] + b["xywh"][3])
        for b in members
    ]
    x1, y1, x2, y2 = (sum(c[i] for c in corners) / len(corners) for i in range(4))
    return {"class_id": members[0]["class_id"], "xywh": [round(v, 2) for v in (x1, y1, x2 - x1, y2 - y1)]}


def _medoid_polygon(members: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    if len(members) == 1:
        best = members[0]
    else:
        scores = [
            sum(shape_iou(TaskType.POLYGONS, m, o) for j, o in enumerate(members) if j != i)
            for i, m in enumerate(members)
        ]
        best = members[max(range(len(members)), key=lambda i: scores[i])]
    return {"class_id": best["class_id"], "points": [list(p) for p in best["points"]]}


def merge_shapes(task: TaskType | str, answers: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    t = TaskType(task)
    k = len(answers)
    kept = [c for c in shape_clusters(t, answers) if 2 * len(c) > k]
    if t is TaskType.BOXES:
        return {"boxes": [_mean_box([c[i] for i in sorted(c)]) for c in kept]}
    return {"polygons": [_medoid_polygon([c[i] for i in sorted(c)]) for c in kept]}


def merge(task: TaskType | str, answers: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The merged answer of ``answers`` (at least one), or None when they make no consensus."""
    if not answers:
        return None
    t = TaskType(task)
    if t is TaskType.MULTICLASS:
        return majority_class(answers)
    if t is TaskType.MULTILABEL:
        return majority_classes(answers)
    return merge_shapes(t, answers)
