"""Queue order: which unlabeled item a labeler sees next.

* ``learn`` (uncertainty + diversity): the items the head is least sure of, spread over the
  embedding space (greedy k-center among the most uncertain), so the model learns fastest. Before
  any head exists, diversity alone (k-center from the labeled items) covers the classes quickly.
* ``confirm`` (confident-first): the items with the most confident proposals first, so labelers
  confirm pre-labels fastest.

The output is a rank per item id (lower first), the shape of ``items.queue_rank``.
"""

from __future__ import annotations

from collections.abc import Sequence
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


def kmeans(x: np.ndarray, k: int, seed: int = 0, iters: int = 15, n_init: int = 3) -> np.ndarray:
    """Spherical k-means (k-means++ seeding on the squared cosine distance; the best of ``n_init``
    starts by the summed distance to the centres): a cluster id per row of unit vectors."""
    u = np.asarray(x, dtype=np.float32)
    n = len(u)
    k = max(1, min(k, n))
    best, best_cost = np.zeros(n, dtype=np.int64), np.inf
    for start in range(n_init):
        rng = np.random.default_rng(seed + start)
        centers = np.empty((k, u.shape[1]), dtype=np.float32)
        centers[0] = u[rng.integers(n)]
        dist = np.maximum(1.0 - u @ centers[0], 0.0)
        for c in range(1, k):
            p = (dist.astype(np.float64)) ** 2
            i = int(rng.choice(n, p=p / p.sum())) if p.sum() > 0 else int(rng.integers(n))
            centers[c] = u[i]
            dist = np.minimum(dist, np.maximum(1.0 - u @ centers[c], 0.0))
        assign = np.full(n, -1, dtype=np.int64)
        for _ in range(iters):
            new = (u @ centers.T).argmax(axis=1)
            if np.array_equal(new, assign):
                break
            assign = new
            for c in range(k):
                members = u[assign == c]
                if len(members):
                    m = members.sum(axis=0)
                    centers[c] = m / max(float(np.linalg.norm(m)), 1e-12)
        cost = float((1.0 - (u @ centers.T).max(axis=1)).sum())
        if cost < best_cost:
            best, best_cost = assign, cost
    return best


def typicality(x: np.ndarray, k_nn: int = 20) -> np.ndarray:
    """TypiClust's typicality per row: the inverse of the mean distance (1 - cosine) to its ``k_nn``
    nearest other rows (the rows of one cluster)."""
    u = np.asarray(x, dtype=np.float32)
    n = len(u)
    if n <= 1:
        return np.ones(n)
    k = min(k_nn, n - 1)
    d = np.maximum(1.0 - u @ u.T, 0.0)
    np.fill_diagonal(d, np.inf)
    near = np.partition(d, k - 1, axis=1)[:, :k]
    return 1.0 / (near.mean(axis=1) + 1e-6)


def typical_first(
    embeddings: np.ndarray,
    budget: int,
    labeled_embeddings: np.ndarray | None = None,
    k_nn: int = 20,
    seed: int = 0,
    max_points: int = 20000,
) -> np.ndarray:
    """TypiClust: ``budget`` row indices of typical, diverse items, first first.

    k-means with ``k = labeled + budget`` clusters; clusters holding a labeled item are covered; from
    the uncovered ones, largest first, the most typical member (``typicality`` within its cluster).
    Above ``max_points`` rows, a random sample of that many is clustered."""
    x = np.asarray(embeddings, dtype=np.float32)
    n = len(x)
    budget = min(budget, n)
    if budget <= 0:
        return np.zeros(0, dtype=np.int64)
    rng = np.random.default_rng(seed)
    rows = np.arange(n) if n <= max_points else np.sort(rng.choice(n, max_points, replace=False))
    lab = (
        np.zeros((0, x.shape[1]), np.float32)
        if labeled_embeddings is None
        else np.asarray(labeled_embeddings)
    )
    pts = np.concatenate([x[rows], lab.astype(np.float32)])
    assign = kmeans(pts, min(len(pts), len(lab) + budget), seed)
    covered = set(assign[len(rows) :].tolist())
    a = assign[: len(rows)]
    clusters = [c for c in np.unique(a) if c not in covered]
    clusters.sort(key=lambda c: -int((a == c).sum()))
    picked: list[int] = []
    for c in clusters[:budget]:
        members = np.flatnonzero(a == c)
        t = typicality(x[rows[members]], k_nn) if len(members) <= 5000 else np.ones(len(members))
        picked.append(int(rows[members[int(np.argmax(t))]]))
    return np.array(picked, dtype=np.int64)


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
    *,
    typical: int = 0,
    audit: Sequence[int] = (),
    audit_share: float = 0.0,
    audit_done: tuple[int, int] = (0, 0),
) -> QueueRanks:
    """Rank unlabeled items.

    ``proba`` (from the current head, rows as ``item_ids``) drives uncertainty or confidence;
    ``embeddings`` (unit vectors, same rows) drive diversity for the first ``diverse_head``
    places, chosen among the ``pool_factor`` x as many most uncertain items. Without a head,
    ``learn`` ranks by diversity alone (then at random), ``confirm`` at random.

    ``typical`` (``learn``, with embeddings): the first places go to that many typical, diverse items
    (``typical_first``: before and just after the first head, typical items teach it more than
    uncertain ones). ``audit``: pending audit item ids in audit order (``core.assist.audit``), put at
    ``audit_share`` of the labels, counting ``audit_done`` = (labels given, audit ones among them)
    (``audit.interleave``).
    """
    ranks = _rank_queue(item_ids, order, space, proba, embeddings, labeled_embeddings, diverse_head,
                        pool_factor, seed, typical)  # fmt: skip
    if not len(audit) or audit_share <= 0:
        return ranks
    from core.assist.audit import interleave

    present = set(ranks.item_ids.tolist())
    pending = [int(a) for a in audit if int(a) in present]
    done, done_audit = audit_done
    order_ids = interleave(ranks.order().tolist(), pending, audit_share, done=done, done_audit=done_audit)
    return _ranks_of(ranks.item_ids, order_ids)


def _ranks_of(ids: np.ndarray, ordered_ids: np.ndarray) -> QueueRanks:
    pos = {int(i): k for k, i in enumerate(ids.tolist())}
    return _ranks(ids, np.array([pos[int(i)] for i in ordered_ids], dtype=np.int64))


def _rank_queue(
    item_ids: np.ndarray,
    order: QueueOrder | str,
    space: LabelSpace | None,
    proba: np.ndarray | None,
    embeddings: np.ndarray | None,
    labeled_embeddings: np.ndarray | None,
    diverse_head: int,
    pool_factor: int,
    seed: int,
    typical: int,
) -> QueueRanks:
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
    if embeddings is not None and typical > 0:
        first = typical_first(np.asarray(embeddings), typical, labeled_embeddings, seed=seed)
        rest = by_unc[~np.isin(by_unc, first)]
        if has_head or diverse_head <= 0:
            return _ranks(ids, np.concatenate([first, rest]))
        more = rest[k_center(np.asarray(embeddings)[rest], diverse_head, np.asarray(embeddings)[first], seed)]
        return _ranks(ids, np.concatenate([first, more, rest[~np.isin(rest, more)]]))
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
