"""How far two answers to the same image agree, and how reliable a project's labelers are together.

Pure functions over label payloads (the shapes ``core.domain.validate_payload`` returns); no store.

Per pair of answers (0..1, 1 = the same answer):

* multi-class: exact match (1 or 0);
* multi-label: the Jaccard index of the two class sets, |A and B| / |A or B| (two empty sets agree: 1);
* boxes and polygons: F1 of the shapes matched one to one at IoU >= 0.5. The matching is Hungarian
  (``scipy.optimize.linear_sum_assignment``) on the IoU of shapes of the same class, so each shape
  counts at most once; F1 = 2 * matched / (shapes in A + shapes in B) (two empty answers agree: 1).

Per project: Krippendorff's alpha (nominal) for classification; for multi-label the alpha of each class
as a present / absent value, averaged over the classes whose alpha is defined (a class nobody ever
disagreed on and that never varied has no expected disagreement, so no alpha); for shapes the mean IoU
of the matched pairs.

Polygon IoU is computed on a raster of the two polygons' common bounding box fitted to ``POLY_GRID``
cells on its longer side (exact for boxes; within about 1 % for polygons of a few dozen pixels or more).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from core import geometry
from core.domain import TaskType

MATCH_IOU = 0.5
POLY_GRID = 512  # raster cells on the longer side of two polygons' common box


# ---------------------------------------------------------------- shapes


def shapes_of(task: TaskType | str, payload: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The boxes or polygons of a payload (an empty list for none)."""
    key = "boxes" if TaskType(task) is TaskType.BOXES else "polygons"
    return list((payload or {}).get(key, []) or [])


def polygon_iou(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]], grid: int = POLY_GRID) -> float:
    """IoU of two polygons (lists of ``[x, y]``), by rasterizing both on their common bounding box."""
    pa, pb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(pa) < 3 or len(pb) < 3:
        return 0.0
    both = np.vstack([pa, pb])
    x0, y0 = both.min(axis=0)
    x1, y1 = both.max(axis=0)
    side = max(x1 - x0, y1 - y0)
    if side <= 0:
        return 0.0
    scale = grid / side
    w, h = max(1, math.ceil((x1 - x0) * scale)), max(1, math.ceil((y1 - y0) * scale))
    ma = geometry.rasterize_polygon(((pa - [x0, y0]) * scale).tolist(), w, h)
    mb = geometry.rasterize_polygon(((pb - [x0, y0]) * scale).tolist(), w, h)
    return geometry.mask_iou(ma, mb)


def shape_iou(task: TaskType | str, a: Mapping[str, Any], b: Mapping[str, Any]) -> float:
    """IoU of two boxes (``xywh``) or two polygons (``points``)."""
    if TaskType(task) is TaskType.BOXES:
        return geometry.iou_xywh(a["xywh"], b["xywh"])
    return polygon_iou(a["points"], b["points"])


def iou_table(
    task: TaskType | str, a: Sequence[Mapping[str, Any]], b: Sequence[Mapping[str, Any]]
) -> np.ndarray:
    """IoU of every shape of ``a`` with every shape of ``b``; 0 where the classes differ."""
    out = np.zeros((len(a), len(b)))
    for i, sa in enumerate(a):
        for j, sb in enumerate(b):
            if sa.get("class_id") == sb.get("class_id"):
                out[i, j] = shape_iou(task, sa, sb)
    return out


def match_shapes(
    task: TaskType | str,
    a: Sequence[Mapping[str, Any]],
    b: Sequence[Mapping[str, Any]],
    min_iou: float = MATCH_IOU,
) -> list[tuple[int, int, float]]:
    """One-to-one matches ``(index in a, index in b, IoU)`` with IoU >= ``min_iou`` and the same class,
    chosen by the Hungarian method to maximise the summed IoU."""
    if not a or not b:
        return []
    table = iou_table(task, a, b)
    rows, cols = linear_sum_assignment(-table)
    return [
        (int(i), int(j), float(table[i, j]))
        for i, j in zip(rows, cols, strict=True)
        if table[i, j] >= min_iou
    ]


@dataclass(frozen=True)
class ShapeMatch:
    f1: float
    matched: int
    ious: tuple[float, ...]  # the matched pairs' IoU

    @property
    def mean_iou(self) -> float | None:
        return sum(self.ious) / len(self.ious) if self.ious else None


def shape_match(
    task: TaskType | str, a: Mapping[str, Any] | None, b: Mapping[str, Any] | None, min_iou: float = MATCH_IOU
) -> ShapeMatch:
    sa, sb = shapes_of(task, a), shapes_of(task, b)
    if not sa and not sb:
        return ShapeMatch(1.0, 0, ())
    pairs = match_shapes(task, sa, sb, min_iou)
    return ShapeMatch(2 * len(pairs) / (len(sa) + len(sb)), len(pairs), tuple(p[2] for p in pairs))


# ---------------------------------------------------------------- one pair, one item


def exact_match(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> float:
    """Multi-class: 1 when both answers name the same class, else 0."""
    ca, cb = (a or {}).get("class_id"), (b or {}).get("class_id")
    return 1.0 if ca is not None and ca == cb else 0.0


def jaccard(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> float:
    """Multi-label: |A and B| / |A or B| of the two class sets; two empty sets: 1."""
    sa, sb = set((a or {}).get("class_ids", [])), set((b or {}).get("class_ids", []))
    union = sa | sb
    return len(sa & sb) / len(union) if union else 1.0


def pair_agreement(task: TaskType | str, a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> float:
    """The agreement (0..1) of two answers to the same image, by the task's measure."""
    t = TaskType(task)
    if t is TaskType.MULTICLASS:
        return exact_match(a, b)
    if t is TaskType.MULTILABEL:
        return jaccard(a, b)
    return shape_match(t, a, b).f1


def item_agreement(task: TaskType | str, answers: Sequence[Mapping[str, Any]]) -> float | None:
    """The mean agreement over every pair of the answers (None with fewer than two)."""
    pairs = list(combinations(answers, 2))
    if not pairs:
        return None
    return sum(pair_agreement(task, a, b) for a, b in pairs) / len(pairs)


# ---------------------------------------------------------------- a project


def krippendorff_alpha_nominal(units: Iterable[Sequence[Hashable | None]]) -> float | None:
    """Krippendorff's alpha for nominal values.

    ``units``: per unit (an image), the values its coders gave (``None``: no value). Units with fewer
    than two values are not pairable and drop out. Returns None when nothing is pairable or when the
    values never vary (no expected disagreement: alpha is undefined).

    alpha = 1 - D_o / D_e from the coincidence matrix: each unit with m values adds, for every ordered
    pair of its values from different coders, 1 / (m - 1).
    """
    coincide: defaultdict[tuple[Hashable, Hashable], float] = defaultdict(float)
    for unit in units:
        vals = [v for v in unit if v is not None]
        m = len(vals)
        if m < 2:
            continue
        for i, vi in enumerate(vals):
            for j, vj in enumerate(vals):
                if i != j:
                    coincide[(vi, vj)] += 1.0 / (m - 1)
    n = sum(coincide.values())
    if n <= 1:
        return None
    totals: defaultdict[Hashable, float] = defaultdict(float)
    for (c, _), w in coincide.items():
        totals[c] += w
    observed = sum(w for (c, k), w in coincide.items() if c != k)
    spread = n * n - sum(t * t for t in totals.values())  # sum over c != k of n_c * n_k
    if spread <= 0:
        return None
    return 1.0 - (n - 1) * observed / spread


def project_alpha(
    task: TaskType | str, items: Iterable[Sequence[Mapping[str, Any]]], class_ids: Iterable[int] = ()
) -> float | None:
    """Krippendorff's alpha of a classification project: ``items`` holds each item's answers.

    Multi-class: the class as a nominal value. Multi-label: each class as a binary present / absent
    value, alpha per class, averaged over the classes where it is defined (``class_ids``: the classes
    to consider; by default every class named in any answer)."""
    t = TaskType(task)
    answers = [list(a) for a in items]
    if t is TaskType.MULTICLASS:
        return krippendorff_alpha_nominal([[(p or {}).get("class_id") for p in a] for a in answers])
    if t is not TaskType.MULTILABEL:
        raise ValueError("Krippendorff's alpha is for classification; shapes use mean matched IoU.")
    ids = set(class_ids) or {c for a in answers for p in a for c in (p or {}).get("class_ids", [])}
    alphas = []
    for c in sorted(ids):
        value = krippendorff_alpha_nominal(
            [[c in (p or {}).get("class_ids", []) for p in a] for a in answers]
        )
        if value is not None:
            alphas.append(value)
    return sum(alphas) / len(alphas) if alphas else None


def mean_matched_iou(task: TaskType | str, items: Iterable[Sequence[Mapping[str, Any]]]) -> float | None:
    """Shapes: the mean IoU of every matched pair (IoU >= 0.5), over every pair of answers of every item."""
    ious: list[float] = []
    for answers in items:
        for a, b in combinations(list(answers), 2):
            ious.extend(shape_match(task, a, b).ious)
    return sum(ious) / len(ious) if ious else None
