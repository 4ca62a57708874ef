"""Likely label errors: which human labels the project's own model most disagrees with (issue 11).

Every labeled item gets probabilities from a head that did not see it: K-fold cross-validation of the
head the product trains (``core.assist.heads.train_head`` on the stored embeddings, plain stratified
folds). The labels are then ranked by confident learning (Northcutt, Jiang & Chuang 2021):

* per-class thresholds ``t_j`` = mean predicted probability of class j over the items labeled j;
* an item labeled i is *flagged* (off the diagonal of the confident joint) when some other class j
  reaches ``p_j >= t_j``; its suggestion is the likeliest such j;
* the ranking puts flagged items first, each part ordered by a score (``RANKINGS``): self-confidence
  ``1 - p(given)`` or the normalized margin ``max_{j != given} p_j - p(given)``.

Multi-label projects are ranked per class: each (item, class) is a yes/no label with its own two
thresholds (mean ``p`` of the items that have the class, mean ``1 - p`` of those that lack it); an item's
score is its worst class, and the suggestion toggles the classes that are flagged or where the head's
own yes/no (``p >= 0.5``) disagrees (else the worst one).

Pure functions on arrays (``out_of_fold``, ``rank_label_errors``) and one store-facing function
(``find_label_errors``) that reads the project's labels and stored embeddings. Box projects are not
ranked here (no out-of-fold detector); ``find_label_errors`` says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np

from core.assist.calibration import out_of_fold_proba
from core.assist.heads import HeadConfig, LabelSpace
from core.store.db import Store

RANKINGS = ("cl_self_confidence", "cl_normalized_margin", "self_confidence", "normalized_margin")
DEFAULT_RANKING = "self_confidence"
MIN_LABELS = 10  # fewer labels: no ranking (each fold's head would see almost nothing)


def out_of_fold(
    space: LabelSpace,
    x: np.ndarray,
    y: np.ndarray,
    folds: int = 5,
    seed: int = 0,
    center: np.ndarray | None = None,
    config: HeadConfig | None = None,
) -> np.ndarray:
    """``(n, C)`` probabilities of each item from the product's head trained on the other folds.

    Plain stratified K-fold (no look-alike groups: a near-duplicate with the right label is exactly
    the evidence that shows a wrong one). Rows no fold predicted stay NaN."""
    return out_of_fold_proba(space, x, y, folds=folds, config=config, center=center, seed=seed, group_size=1)


@dataclass(frozen=True)
class Ranking:
    """``order``: rows, most suspect first; ``score`` ``(n,)`` higher = more suspect; ``flagged``
    ``(n,)`` off the confident joint's diagonal; ``suggested``: column index per row (multi-class) or
    ``(n, C)`` 0/1 (multi-label)."""

    order: np.ndarray
    score: np.ndarray
    flagged: np.ndarray
    suggested: np.ndarray


def _order(score: np.ndarray, flagged: np.ndarray, cl_first: bool) -> np.ndarray:
    s = np.where(np.isfinite(score), score, -np.inf)
    keys = (-s, ~flagged) if cl_first else (-s,)
    return np.lexsort(keys).astype(np.int64)  # last key is primary; lexsort is stable


def rank_label_errors(
    space: LabelSpace, y: np.ndarray, proba: np.ndarray, ranking: str = DEFAULT_RANKING
) -> Ranking:
    """Rank the given labels ``y`` (``space.encode`` form) against out-of-fold ``proba``.

    Rows of ``proba`` with NaN (never predicted) rank last with score NaN and are never flagged."""
    if ranking not in RANKINGS:
        raise ValueError(f"unknown ranking {ranking!r}; choose from {', '.join(RANKINGS)}")
    p = np.asarray(proba, dtype=np.float64)
    n, c = p.shape
    known = np.asarray(~np.isnan(p).any(axis=1), dtype=bool)
    p = np.where(known[:, None], p, 0.0)
    if space.multilabel:
        g = np.asarray(y, dtype=np.float64).reshape(n, c) > 0.5
        conf = np.where(g, p, 1.0 - p)  # self-confidence of each yes/no label
        t_yes = _class_means(p, g & known[:, None])
        t_no = _class_means(1.0 - p, ~g & known[:, None])
        wrong = np.where(g, (1.0 - p) >= t_no, p >= t_yes) & known[:, None]
        worst = conf.argmin(axis=1)
        # per class the two-class margin is 1 - 2 * conf: both scores order items alike
        score = (
            1.0 - conf.min(axis=1) if ranking.endswith("self_confidence") else 1.0 - 2.0 * conf.min(axis=1)
        )
        flagged = np.asarray(wrong.any(axis=1), dtype=bool)
        toggle = wrong | (conf < 0.5)  # confidently wrong, or the head's own yes/no disagrees
        none = ~toggle.any(axis=1)
        toggle[none, worst[none]] = True
        suggested = np.where(toggle, ~g, g).astype(np.float32)
    else:
        given = np.asarray(y, dtype=np.int64).reshape(n)
        rows = np.arange(n)
        p_given = p[rows, given]
        onehot = np.eye(c, dtype=bool)[given]
        thresholds = _class_means(p, onehot & known[:, None])
        others = np.where(onehot, -np.inf, p)
        above = np.where(p >= thresholds[None, :], others, -np.inf)
        flagged = np.asarray(np.isfinite(above.max(axis=1)) & known, dtype=bool)
        suggested = np.where(flagged, above.argmax(axis=1), others.argmax(axis=1)).astype(np.int64)
        margin = others.max(axis=1) - p_given
        score = 1.0 - p_given if ranking.endswith("self_confidence") else margin
    score = np.where(known, score, np.nan)
    order = _order(score, flagged, cl_first=ranking.startswith("cl_"))
    return Ranking(order=order, score=score, flagged=flagged, suggested=suggested)


def _class_means(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per column, the mean of ``values`` where ``mask``; a column with no such rows gets +inf (never met)."""
    count = mask.sum(axis=0)
    total = np.where(mask, values, 0.0).sum(axis=0)
    return np.where(count > 0, total / np.maximum(count, 1), np.inf)


# ------------------------------------------------------------------ the store


@dataclass(frozen=True)
class LabelError:
    """One labeled item as a likely error: its current and suggested classes (ids and names)."""

    item_id: int
    path: str
    label: list[int]
    suggested: list[int]
    score: float
    flagged: bool

    def as_json(self, names: dict[int, str]) -> dict[str, Any]:
        return {
            "image": self.path,
            "item_id": self.item_id,
            "label": [names.get(c, str(c)) for c in self.label],
            "suggested": [names.get(c, str(c)) for c in self.suggested],
            "score": round(float(self.score), 4),
            "flagged": self.flagged,
        }


@dataclass(frozen=True)
class LabelErrorReport:
    """The ranking for a project (most suspect first), or why there is none (``reason``)."""

    errors: list[LabelError]
    n_labels: int
    model: str | None
    reason: str | None = None


def stored_model(store: Store, project_id: int) -> str | None:
    """The backbone with the most stored embeddings of the project (no backbone is loaded)."""
    row = store.query_one(
        "SELECT model FROM embeddings WHERE project_id = ? GROUP BY model ORDER BY count(*) DESC, model LIMIT 1",
        [project_id],
    )
    return None if row is None else str(row[0])


def find_label_errors(
    store: Store, project_id: int, folds: int = 5, ranking: str = DEFAULT_RANKING, seed: int = 0
) -> LabelErrorReport:
    """Every human label of a classification project ranked by how likely it is wrong.

    Reads the labels (auto-accepted ones excluded) and the stored embeddings; items without an
    embedding are left out. Nothing is written."""
    from core.assist.classify_jobs import labeled_answers, project_index, project_info

    task = store.scalar("SELECT task_type FROM projects WHERE id = ?", [project_id])
    if task is None:
        raise ValueError(f"project {project_id} does not exist")
    if str(task) not in ("multiclass", "multilabel"):
        return LabelErrorReport([], 0, None, "likely label errors are found for classification projects only")
    info = project_info(store, project_id)
    model = stored_model(store, project_id)
    if model is None:
        return LabelErrorReport([], 0, None, "no image has been featurised yet (the Assist page does it)")
    index = project_index(store, project_id, model)
    ids, answers = labeled_answers(store, info)
    keep = [k for k, i in enumerate(ids) if i in index]
    ids, answers = [ids[k] for k in keep], [answers[k] for k in keep]
    y = info.space.encode(answers)
    seen = int((y.sum(axis=0) > 0).sum()) if info.space.multilabel else len(set(answers))
    if len(ids) < MIN_LABELS or seen < 2:
        return LabelErrorReport(
            [], len(ids), model, f"needs at least {MIN_LABELS} featurised labels of two classes or more"
        )
    x = index.get(ids)
    center = _center(index)
    proba = out_of_fold(info.space, x, y, folds=folds, seed=seed, center=center)
    r = rank_label_errors(info.space, y, proba, ranking)
    paths = {int(i): str(p) for i, p in store.query(
        "SELECT id, path FROM items WHERE project_id = ? AND id IN (SELECT unnest(?))", [project_id, ids])}  # fmt: skip
    errors = []
    for row in r.order.tolist():
        if not np.isfinite(r.score[row]):
            continue
        if info.space.multilabel:
            label = info.space.decode(np.flatnonzero(y[row] > 0.5))
            suggested = info.space.decode(np.flatnonzero(r.suggested[row] > 0.5))
        else:
            label = [int(answers[row])]
            suggested = info.space.decode(np.array([r.suggested[row]]))
        errors.append(
            LabelError(ids[row], paths[ids[row]], label, suggested, float(r.score[row]), bool(r.flagged[row]))
        )
    return LabelErrorReport(errors, len(ids), model)


def _center(index: Any) -> np.ndarray:
    total = np.zeros(index.dim, dtype=np.float64)
    for _, chunk in index.iter_chunks():
        total += chunk.sum(axis=0)
    return (total / max(len(index), 1)).astype(np.float32)


def labels_signature(store: Store, project_id: int) -> tuple[int, int, int, int]:
    """Changes whenever a label, an embedding or a trained model of the project does: (labels, newest
    annotation, embeddings, newest training). A page may keep a ranking while it holds."""
    row = store.query_one(
        "SELECT count(*), coalesce(max(annotation_id), 0) FROM items"
        " WHERE project_id = ? AND status IN ('labeled', 'reviewed')",
        [project_id],
    )
    n_emb = store.scalar("SELECT count(*) FROM embeddings WHERE project_id = ?", [project_id])
    last_run = store.scalar("SELECT coalesce(max(id), 0) FROM model_runs WHERE project_id = ?", [project_id])
    return (int(row[0]) if row else 0, int(row[1]) if row else 0, int(n_emb or 0), int(last_run or 0))


class _HasItem(Protocol):
    @property
    def item_id(self) -> int: ...


E = TypeVar("E", bound=_HasItem)


def keep_matching(store: Store, project_id: int, errors: list[E], f: Any) -> list[E]:
    """The errors whose item matches an ``ItemFilter`` now (status, class, labeler), in ranking order."""
    from core.store.items import ItemFilter, _where

    if not errors or f == ItemFilter():
        return errors
    where, params = _where(project_id, f)
    ids = [e.item_id for e in errors]
    hits = {int(r[0]) for r in store.query(
        f"SELECT i.id FROM items i WHERE {where} AND i.id IN (SELECT unnest(?))", [*params, ids])}  # fmt: skip
    return [e for e in errors if e.item_id in hits]
