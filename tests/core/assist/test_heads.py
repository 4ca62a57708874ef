"""Heads on real flower embeddings: they help after tens of labels, for one class and for several."""

from __future__ import annotations

import numpy as np
import pytest

from core.assist.backbone import Backbone
from core.assist.embeddings import normalize
from core.assist.heads import HeadConfig, LabelSpace, LinearHead, train_head
from core.config import default_paths, shared_datasets
from core.domain import TaskType

FLOWERS = shared_datasets() / "flowers"
CLASSES = ["daisy", "dandelion", "rose", "sunflower", "tulip"]


@pytest.fixture(scope="module")
def heads_flowers() -> tuple[np.ndarray, np.ndarray]:
    """Unit embeddings and class indices of 30 photos a class (every 6th file)."""
    if not FLOWERS.is_dir():
        pytest.skip(f"shared flowers dataset absent at {FLOWERS}")
    paths, labels = [], []
    for k, name in enumerate(CLASSES):
        files = sorted((FLOWERS / name).glob("*.jpg"))[::6][:30]
        paths += files
        labels += [k] * len(files)
    bb = Backbone.load(cache_dir=default_paths().models)
    return normalize(bb.embed_paths(paths)), np.array(labels)


def _split(y: np.ndarray, per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    train = np.concatenate(
        [rng.choice(np.flatnonzero(y == k), per_class, replace=False) for k in np.unique(y)]
    )
    return train, np.setdiff1d(np.arange(len(y)), train)


@pytest.mark.parametrize(
    ("task", "class_ids", "error"),
    [
        (TaskType.BOXES, (1, 2), ValueError),
        (TaskType.MULTICLASS, (1,), ValueError),
        (TaskType.MULTILABEL, (1, 1, 2), ValueError),
    ],
)
def test_label_space_rejects_bad_contracts(task: TaskType, class_ids: tuple[int, ...], error: type) -> None:
    with pytest.raises(error):
        LabelSpace(task, class_ids)


def test_encode_and_decode() -> None:
    mc = LabelSpace(TaskType.MULTICLASS, (10, 20, 30))
    assert mc.encode([30, 10]).tolist() == [2, 0]
    assert mc.decode(np.array([1, 2])) == [20, 30]
    ml = LabelSpace(TaskType.MULTILABEL, (10, 20, 30))
    assert ml.encode([[10, 30], []]).tolist() == [[1, 0, 1], [0, 0, 0]]
    with pytest.raises(KeyError):
        mc.encode([99])
    with pytest.raises(TypeError):
        ml.encode([10])


def test_multiclass_head_helps_after_tens_of_labels(heads_flowers: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = heads_flowers
    space = LabelSpace(TaskType.MULTICLASS, (11, 12, 13, 14, 15))
    accs = []
    for seed in range(3):
        train, test = _split(y, 8, seed)  # 40 labels
        head = train_head(space, x[train], y[train])
        proba = head.predict_proba(x[test])
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
        accs.append(float((proba.argmax(1) == y[test]).mean()))
    assert np.mean(accs) > 0.6, accs  # chance is 0.2


def test_multilabel_head_is_one_vs_rest(heads_flowers: tuple[np.ndarray, np.ndarray]) -> None:
    """Tags: the flower, plus 'yellow' for dandelions and sunflowers; 60 labeled photos."""
    x, y = heads_flowers
    space = LabelSpace(TaskType.MULTILABEL, (1, 2, 3, 4, 5, 6))
    answers = [[int(k) + 1] + ([6] if k in (1, 3) else []) for k in y]
    targets = space.encode(answers)
    train, test = _split(y, 12, 0)
    head = train_head(space, x[train], targets[train], HeadConfig(l2=1e-2))
    proba = head.predict_proba(x[test])
    assert proba.shape == (len(test), 6)
    assert (np.abs(proba.sum(axis=1) - 1.0) > 0.05).any()  # independent sigmoids, not a softmax
    yellow_auc = _auc(proba[:, 5], targets[test, 5])
    assert yellow_auc > 0.85, yellow_auc
    exact = np.all((proba >= 0.5) == (targets[test] >= 0.5), axis=1).mean()
    assert exact > 0.5, exact


def test_head_round_trips_and_is_deterministic(heads_flowers: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = heads_flowers
    space = LabelSpace(TaskType.MULTICLASS, (1, 2, 3, 4, 5))
    train, _ = _split(y, 5, 1)
    a = train_head(space, x[train], y[train], center=x.mean(axis=0))
    b = train_head(space, x[train], y[train], center=x.mean(axis=0))
    np.testing.assert_allclose(a.weight, b.weight, atol=1e-6)
    c = LinearHead.from_bytes(a.to_bytes())
    assert c.space == space and c.n_train == len(train)
    np.testing.assert_allclose(c.predict_proba(x[:7]), a.predict_proba(x[:7]), atol=1e-6)


def _auc(score: np.ndarray, truth: np.ndarray) -> float:
    pos, neg = score[truth >= 0.5], score[truth < 0.5]
    return float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())
