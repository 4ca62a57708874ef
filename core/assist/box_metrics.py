"""Boxes proposed and boxes true: the ``Detections`` table, matching, mAP and the calibrated threshold.

All boxes are ``xyxy`` in oriented image pixels. ``match`` pairs proposals with the truth greedily by
score, ``average_precision`` is the all-point interpolated AP (mAP@0.5 by default), and
``calibrate_threshold`` picks the lowest score above which held-out proposals reach the target
precision at the chosen IoU. Pure numpy: no torch, no model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Detections:
    """Boxes found in one image: ``xyxy (N, 4)`` pixels, ``class_id (N,)`` project ids, ``score (N,)``."""

    xyxy: np.ndarray
    class_id: np.ndarray
    score: np.ndarray

    def __post_init__(self) -> None:
        if not (len(self.xyxy) == len(self.class_id) == len(self.score)):
            raise ValueError("Detections columns differ in length")

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.int64), np.zeros(0, np.float32))

    def __len__(self) -> int:
        return len(self.score)

    def filter(self, keep: np.ndarray) -> Detections:
        return Detections(self.xyxy[keep], self.class_id[keep], self.score[keep])

    def above(self, threshold: float) -> Detections:
        return self.filter(self.score >= threshold)

    def to_payload(self) -> dict[str, Any]:
        """The ``boxes`` payload of ``core.domain`` (``xywh``, rounded), with scores."""
        boxes = []
        for (x1, y1, x2, y2), cid, s in zip(
            self.xyxy.tolist(), self.class_id.tolist(), self.score.tolist(), strict=True
        ):
            boxes.append(
                {
                    "class_id": int(cid),
                    "xywh": [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)],
                    "score": round(float(s), 4),
                }
            )
        return {"boxes": boxes}


@dataclass(frozen=True)
class Truth:
    """The human boxes of one image, for evaluation."""

    xyxy: np.ndarray
    class_id: np.ndarray


def match(det: Detections, truth: Truth, iou: float) -> np.ndarray:
    """Greedy by score: True where a proposal matches a not yet matched true box of its class."""
    from core.geometry import iou_matrix_xyxy

    ok = np.zeros(len(det), dtype=bool)
    if len(det) == 0 or len(truth.xyxy) == 0:
        return ok
    ious = iou_matrix_xyxy(det.xyxy, np.asarray(truth.xyxy).reshape(-1, 4))
    ious[det.class_id[:, None] != np.asarray(truth.class_id).reshape(1, -1)] = 0.0
    taken = np.zeros(ious.shape[1], dtype=bool)
    for i in np.argsort(-det.score, kind="stable"):
        cand = np.where(~taken & (ious[i] >= iou))[0]
        if len(cand):
            j = cand[np.argmax(ious[i, cand])]
            taken[j] = True
            ok[i] = True
    return ok


def average_precision(dets: Sequence[Detections], truths: Sequence[Truth], iou: float = 0.5) -> float:
    """Mean over classes (present in the truth) of the all-point interpolated AP (VOC 2010+/COCO)."""
    classes = sorted({int(c) for t in truths for c in np.asarray(t.class_id).reshape(-1)})
    aps = []
    for c in classes:
        scores, hits = [], []
        n_true = 0
        for d, t in zip(dets, truths, strict=True):
            dc = d.filter(d.class_id == c)
            of_c = np.asarray(t.class_id).reshape(-1) == c
            tc = Truth(np.asarray(t.xyxy).reshape(-1, 4)[of_c], np.full(int(of_c.sum()), c))
            n_true += len(tc.xyxy)
            scores.append(dc.score)
            hits.append(match(dc, tc, iou))
        s, h = np.concatenate(scores), np.concatenate(hits)
        if n_true == 0:
            continue
        order = np.argsort(-s, kind="stable")
        tp = np.cumsum(h[order])
        precision = tp / np.arange(1, len(tp) + 1)
        recall = tp / n_true
        mrec = np.concatenate([[0.0], recall, [1.0]])
        mpre = np.concatenate([[1.0], precision, [0.0]])
        mpre = np.maximum.accumulate(mpre[::-1])[::-1]
        aps.append(float(np.sum((mrec[1:] - mrec[:-1]) * mpre[1:])))
    return float(np.mean(aps)) if aps else 0.0


@dataclass(frozen=True)
class Calibration:
    """The score threshold above which proposals are shown, and what it achieved on held-out images."""

    threshold: float
    iou: float  # a proposal is right when it overlaps a true box of its class this much
    target: float  # the precision asked for
    precision: float  # achieved on the held-out images at ``threshold``
    recall: float
    n_images: int
    n_proposals: int  # held-out proposals at or above ``threshold``
    reached: bool  # False: the target was not met at any threshold; the best one is kept

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def calibrate_threshold(
    dets: Sequence[Detections],
    truths: Sequence[Truth],
    *,
    iou: float = 0.7,
    target: float = 0.6,
    min_support: int = 3,
    floor: float = 0.05,
) -> Calibration:
    """The lowest score whose proposals (score >= it) reach ``target`` precision at ``iou``.

    Scanned over the held-out proposals' own scores, highest first; a threshold needs at least
    ``min_support`` proposals above it. Where no threshold reaches the target, the one with the
    best precision is returned with ``reached=False``.
    """
    n_true = int(sum(len(np.asarray(t.xyxy).reshape(-1, 4)) for t in truths))
    scores = np.concatenate([d.score for d in dets]) if dets else np.zeros(0)
    hits = (
        np.concatenate([match(d, t, iou) for d, t in zip(dets, truths, strict=True)]) if dets else np.zeros(0)
    )
    keep = scores >= floor
    scores, hits = scores[keep], hits[keep]
    if len(scores) == 0:
        return Calibration(1.0, iou, target, 0.0, 0.0, len(truths), 0, False)
    order = np.argsort(-scores, kind="stable")
    s, h = scores[order], hits[order]
    tp = np.cumsum(h)
    n = np.arange(1, len(s) + 1)
    precision = tp / n
    # a threshold must sit at the end of a run of equal scores
    last_of_run = np.append(s[1:] != s[:-1], True)
    ok = last_of_run & (n >= min(min_support, len(s)))
    reached = ok & (precision >= target)
    k = int(np.where(reached)[0][-1]) if reached.any() else int(np.where(ok)[0][np.argmax(precision[ok])])
    return Calibration(
        threshold=float(s[k]),
        iou=iou,
        target=target,
        precision=float(precision[k]),
        recall=float(tp[k] / n_true) if n_true else 0.0,
        n_images=len(truths),
        n_proposals=int(n[k]),
        reached=bool(reached.any()),
    )
