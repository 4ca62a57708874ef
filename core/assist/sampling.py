"""Queue order: which unlabeled item a labeler sees next.

* ``learn`` (uncertainty + diversity): the items the head is least sure of, spread over the
  embedding space (greedy k-center among the most uncertain), so the model learns fastest. Before
  any head exists, diversity alone (k-center from the labeled items) covers the classes quickly.
* ``confirm`` (confident-first): the items with the most confident proposals first, so labelers
  confirm pre-labels fastest.

The output is a rank per item id (lower first), the shape of ``items.queue_rank``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from core.assist.heads import LabelSpace


class QueueOrder(StrEnum):
    LEARN = "learn"  # uncertainty + diversity
    CONFIRM = "confirm"  # confident-first


@dataclass(frozen=True)
class QueueRanks:
    item_ids: np.ndarray  # (n,) int64
    rank: np.ndarray  # (n,) float64, lower first; a permutation of 0..n-1

    def as_dict(self) -> dict[int, float]:
        return {int(i): float(r) for i, r in zip(self.item_ids, self.rank, strict=True)}

    def order(self) -> np.ndarray:
        """Item ids, first in the queue first."""
        return self.item_ids[np.argsort(self.rank, kind="stable")]


def uncertainty(space: LabelSpace, proba: np.ndarray) -> np.ndarray:
    """0 (sure) .. 1 (undecided) per row: 1 - margin of the top two classes; multi-label: the
    least decided class (1 - |2p - 1|)."""
    p = np.asarray(proba, dtype=np.float64)
    if space.multilabel:
        return (1.0 - np.abs(2.0 * p - 1.0)).max(axis=1)
    top2 = -np.sort(-p, axis=1)[:, :2]
    return 1.0 - (top2[:, 0] - top2[:, 1])


def k_center(
    candidates: np.ndarray, count: int, anchors: np.ndarray | None = None, seed: int = 0, chunk: int = 4096
) -> np.ndarray:
    """Greedy k-center: ``count`` row indices of ``candidates`` (unit vectors), each the farthest
    (lowest max cosine) from the anchors and the rows already picked."""
    n = len(candidates)
    count = min(count, n)
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    x = np.asarray(candidates, dtype=np.float32)
    nearest = np.full(n, -np.inf, dtype=np.float32)  # max similarity to anything chosen so far
    if anchors is not None and len(anchors):
        a = np.asarray(anchors, dtype=np.float32)
        for s in range(0, len(a), chunk):
            nearest = np.maximum(nearest, (x @ a[s : s + chunk].T).max(axis=1))
    picked = np.empty(count, dtype=np.int64)
    first = (
        int(np.argmin(nearest))
        if np.isfinite(nearest).any()
        else int(np.random.default_rng(seed).integers(n))
    )
    for j in range(count):
        i = first if j == 0 else int(np.argmin(nearest))
        picked[j] = i
        nearest = np.maximum(nearest, x @ x[i])
        nearest[i] = np.inf
    return picked


def rank_queue(
    item_ids: np.ndarray,
    order: QueueOrder | str = QueueOrder.LEARN,
    space: LabelSpace | None = None,
    proba: np.ndarray | None = None,
    embeddings: np.ndarray | None = None,
    labeled_embeddings: np.ndarray | None = None,
    diverse_head: int = 200,
    pool_factor: int = 5,
    seed: int = 0,
) -> QueueRanks:
    """Rank unlabeled items.

    ``proba`` (from the current head, rows as ``item_ids``) drives uncertainty or confidence;
    ``embeddings`` (unit vectors, same rows) drive diversity for the first ``diverse_head``
    places, chosen among the ``pool_factor`` x as many most uncertain items. Without a head,
    ``learn`` ranks by diversity alone (then at random), ``confirm`` at random.
    """
    ids = np.asarray(item_ids, dtype=np.int64)
    n = len(ids)
    rng = np.random.default_rng(seed)
    if n == 0:
        return QueueRanks(ids, np.zeros(0))
    order = QueueOrder(order)
    has_head = proba is not None and space is not None
    # no head yet: a random order, refined by diversity below
    unc = uncertainty(space, proba) if space is not None and proba is not None else rng.random(n) * 1e-3
    if order is QueueOrder.CONFIRM:
        sequence = np.argsort(unc + rng.random(n) * 1e-9, kind="stable")
        return _ranks(ids, sequence)
    by_unc = np.argsort(-unc, kind="stable")
    if embeddings is None or diverse_head <= 0:
        return _ranks(ids, by_unc)
    pool = by_unc[: min(n, diverse_head * pool_factor)] if has_head else rng.permutation(n)[:5000]
    head = pool[k_center(np.asarray(embeddings)[pool], diverse_head, labeled_embeddings, seed)]
    rest = by_unc[~np.isin(by_unc, head)]
    return _ranks(ids, np.concatenate([head, rest]))


def _ranks(ids: np.ndarray, sequence: np.ndarray) -> QueueRanks:
    rank = np.empty(len(ids), dtype=np.float64)
    rank[sequence] = np.arange(len(ids), dtype=np.float64)
    return QueueRanks(ids, rank)
