"""Likely errors in box labels: the people's boxes against the project's trained detector (issue 11).

Not out-of-fold: training the detector K times is minutes of CPU per fold, so the boxes are compared
with the one detector the product trained, which saw them. It finds what it can despite that (a
detector fitted on thousands of boxes does not memorise every slip): per image,

* ``missing``: the detector is confident (score >= its calibrated threshold) of an object no person's
  box overlaps (IoU < ``loose_iou``);
* ``shifted``: a confident detection overlaps a person's box only loosely (``loose_iou <= IoU < iou``);
* ``class``: a confident detection sits on a person's box (IoU >= ``iou``) with another class;
* ``extra``: a person's box the detector does not support at all (no detection of its class, at any
  score from 0.05, with IoU >= ``iou``); its score is ``1 -`` the best support.

An issue's score is the detection's confidence (``extra``: one minus the support); an image's score is
its worst issue's. Matching is greedy by detection score, one person's box per detection.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.assist.box_metrics import Detections
from core.geometry import iou_matrix_xyxy

ISSUE_KINDS = ("missing", "shifted", "class", "extra")


@dataclass(frozen=True)
class BoxIssue:
    kind: str  # one of ISSUE_KINDS
    score: float
    xyxy: tuple[float, float, float, float]  # the detection's box (``extra``: the person's box)
    label: int | None  # the person's class (None for ``missing``)
    suggested: int | None  # the detector's class (None for ``extra``: remove the box)


def box_issues(
    truth_xyxy: np.ndarray,
    truth_class: np.ndarray,
    det: Detections,
    threshold: float,
    iou: float = 0.5,
    loose_iou: float = 0.1,
) -> list[BoxIssue]:
    """The issues of one image, worst first (see the module's doc)."""
    t_xyxy = np.asarray(truth_xyxy, dtype=np.float64).reshape(-1, 4)
    t_cls = np.asarray(truth_class, dtype=np.int64).reshape(-1)
    ious = (
        iou_matrix_xyxy(det.xyxy, t_xyxy) if len(det) and len(t_xyxy) else np.zeros((len(det), len(t_xyxy)))
    )
    issues: list[BoxIssue] = []
    taken = np.zeros(len(t_xyxy), dtype=bool)
    for i in np.argsort(-det.score, kind="stable"):
        s = float(det.score[i])
        if s < threshold:
            break
        box = tuple(float(v) for v in det.xyxy[i])
        free = np.where(~taken)[0]
        j = int(free[np.argmax(ious[i, free])]) if len(free) else -1
        best = float(ious[i, j]) if j >= 0 else 0.0
        if best < loose_iou:
            issues.append(BoxIssue("missing", s, box, None, int(det.class_id[i])))  # type: ignore[arg-type]
            continue
        taken[j] = True
        if best < iou:
            issues.append(BoxIssue("shifted", s, box, int(t_cls[j]), int(det.class_id[i])))  # type: ignore[arg-type]
        elif int(det.class_id[i]) != int(t_cls[j]):
            issues.append(BoxIssue("class", s, box, int(t_cls[j]), int(det.class_id[i])))  # type: ignore[arg-type]
    for j in range(len(t_xyxy)):
        same = det.class_id == t_cls[j]
        support = det.score[same & (ious[:, j] >= iou)] if len(det) else np.zeros(0)
        if not taken[j] and len(support) == 0:
            box = tuple(float(v) for v in t_xyxy[j])
            issues.append(BoxIssue("extra", 1.0, box, int(t_cls[j]), None))  # type: ignore[arg-type]
    issues.sort(key=lambda b: -b.score)
    return issues


@dataclass(frozen=True)
class BoxImageErrors:
    item_id: int
    path: str
    score: float
    issues: list[BoxIssue]

    def as_json(self, names: dict[int, str]) -> dict[str, Any]:
        def name(c: int | None) -> str | None:
            return None if c is None else names.get(c, str(c))

        worst = self.issues[0]
        return {
            "image": self.path,
            "item_id": self.item_id,
            "label": name(worst.label),
            "suggested": name(worst.suggested),
            "score": round(self.score, 4),
            "kind": worst.kind,
            "issues": [
                {
                    "kind": b.kind,
                    "score": round(b.score, 4),
                    "xyxy": [round(v, 1) for v in b.xyxy],
                    "label": name(b.label),
                    "suggested": name(b.suggested),
                }
                for b in self.issues
            ],
        }


def rank_box_images(
    images: Iterable[tuple[int, str, np.ndarray, np.ndarray]],
    predict: Callable[[str], Detections],
    threshold: float,
    iou: float = 0.5,
) -> list[BoxImageErrors]:
    """``(item id, path, boxes xyxy, classes)`` per labeled image, ``predict(path)`` the detector's
    boxes (scores from 0.05); the images with an issue, worst first (unreadable files are left out)."""
    out = []
    for item_id, path, xyxy, cls in images:
        try:
            det = predict(path)
        except OSError:  # the file is gone or unreadable: nothing to compare with
            continue
        found = box_issues(xyxy, cls, det, threshold, iou)
        if found:
            out.append(BoxImageErrors(item_id, path, found[0].score, found))
    out.sort(key=lambda e: -e.score)
    return out


@dataclass(frozen=True)
class BoxErrorReport:
    """The ranked images, or why there is none (``reason``)."""

    errors: list[BoxImageErrors]
    n_labels: int
    reason: str | None = None


def find_box_label_errors(
    store: Any,
    project_id: int,
    predict: Callable[[str], Detections] | None = None,
    threshold: float | None = None,
) -> BoxErrorReport:
    """Every person-labeled image of a boxes or polygons project (polygons: their bounding boxes) against
    the newest trained detector (``predict``/``threshold`` replace it, e.g. in tests). Nothing is written.
    One detector pass per labeled image: about 0.1 s each on a CPU."""
    from core.assist.detect_jobs import _project, labeled_items, objects_xyxy

    task, _, settings = _project(store, project_id)
    if predict is None:
        from core.assist import trained
        from core.assist.detector import BoxDetector

        found = trained.latest(store, project_id, trained.ModelKind.DETECTOR)
        if found is None:
            return BoxErrorReport([], 0, "no trained detector yet (the Assist page trains one)")
        detector, extra = BoxDetector.load(found.path)
        recorded = 0.5 if found.threshold is None else found.threshold
        threshold = float((extra.get("calibration") or {}).get("threshold", recorded))

        def predict(path: str) -> Detections:
            return detector.predict(path)

    labeled = labeled_items(store, project_id)
    images = [(item_id, path, *objects_xyxy(task, payload)) for item_id, path, payload in labeled]
    thr = 0.5 if threshold is None else float(threshold)
    return BoxErrorReport(rank_box_images(images, predict, thr, settings.detect_iou), len(labeled))
