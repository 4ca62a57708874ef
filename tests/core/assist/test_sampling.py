"""Queue order: uncertainty + diversity to learn, confident-first to confirm."""

from __future__ import annotations

import numpy as np
import pytest

from core.assist.embeddings import normalize
from core.assist.heads import LabelSpace
from core.assist.sampling import QueueOrder, k_center, rank_queue, uncertainty
from core.domain import TaskType

MC = LabelSpace(TaskType.MULTICLASS, (1, 2, 3))
ML = LabelSpace(TaskType.MULTILABEL, (1, 2, 3))


@pytest.mark.parametrize(
    ("space", "row", "expected"),
    [
        (MC, [1.0, 0.0, 0.0], 0.0),
        (MC, [0.5, 0.5, 0.0], 1.0),
        (MC, [0.6, 0.3, 0.1], 0.7),
        (ML, [0.0, 1.0, 0.0], 0.0),
        (ML, [0.9, 0.5, 0.0], 1.0),
        (ML, [0.9, 0.75, 0.0], 0.5),
    ],
)
def test_uncertainty_table(space: LabelSpace, row: list[float], expected: float) -> None:
    assert uncertainty(space, np.array([row]))[0] == pytest.approx(expected)


def _blobs(n_per: int, centers: int, dim: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centers, dim)) * 4
    y = np.repeat(np.arange(centers), n_per)
    return normalize(c[y] + rng.standard_normal((len(y), dim))), y


def test_k_center_covers_every_cluster_quickly() -> None:
    x, y = _blobs(50, 8)
    picked = k_center(x, 8)
    assert len(set(y[picked])) == 8
    anchored = k_center(x, 4, anchors=x[[0, 50, 100, 150]])  # one item of clusters 0..3
    assert set(y[anchored]) == {4, 5, 6, 7}  # new regions first, away from what is labeled


def test_learn_order_puts_uncertain_and_diverse_items_first() -> None:
    x, y = _blobs(40, 4)
    ids = np.arange(1000, 1000 + len(y))
    rng = np.random.default_rng(1)
    proba = np.full((len(y), 3), [0.98, 0.01, 0.01])
    unsure = rng.choice(len(y), 30, replace=False)
    proba[unsure] = [0.4, 0.35, 0.25]
    ranks = rank_queue(ids, QueueOrder.LEARN, MC, proba, x, diverse_head=10, pool_factor=3)
    assert sorted(ranks.rank.tolist()) == list(range(len(y)))
    first30 = ranks.order()[:30] - 1000
    assert set(first30) == set(unsure)
    assert len(set(y[first30[:10]])) == len(set(y[unsure]))  # the diverse head spans their clusters


def test_cold_start_learn_order_is_diverse_and_confirm_is_confident_first() -> None:
    x, y = _blobs(40, 6)
    ids = np.arange(len(y))
    cold = rank_queue(ids, "learn", embeddings=x, diverse_head=6)
    assert len(set(y[cold.order()[:6]])) == 6
    proba = np.tile([0.34, 0.33, 0.33], (len(y), 1))
    proba[5] = [0.99, 0.005, 0.005]
    proba[9] = [0.1, 0.85, 0.05]
    conf = rank_queue(ids, QueueOrder.CONFIRM, MC, proba)
    assert conf.order()[:2].tolist() == [5, 9]
    assert conf.as_dict()[5] == 0.0
    assert len(rank_queue(np.zeros(0, np.int64)).rank) == 0
