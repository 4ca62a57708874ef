"""Clustering pages on real flower embeddings: pages are mostly one class, disjoint, unlabeled."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.assist.backbone import Backbone
from core.assist.clustering import neighbour_pages, prediction_pages
from core.assist.embeddings import EmbeddingIndex
from core.config import default_paths, shared_datasets

FLOWERS = shared_datasets() / "flowers"
CLASSES = ["daisy", "dandelion", "rose", "sunflower", "tulip"]


@pytest.fixture(scope="module")
def clustering_index(tmp_path_factory: pytest.TempPathFactory) -> tuple[EmbeddingIndex, dict[int, int]]:
    """An index of 40 photos a class, item id -> class."""
    if not FLOWERS.is_dir():
        pytest.skip(f"shared flowers dataset absent at {FLOWERS}")
    paths: list[Path] = []
    truth: dict[int, int] = {}
    for k, name in enumerate(CLASSES):
        for p in sorted((FLOWERS / name).glob("*.jpg"))[2::5][:40]:
            truth[1000 + len(paths)] = k
            paths.append(p)
    bb = Backbone.load(cache_dir=default_paths().models)
    index = EmbeddingIndex(tmp_path_factory.mktemp("clustering") / "idx")
    index.add(list(truth), bb.embed_paths(paths))
    return index, truth


@pytest.mark.parametrize("page_size", [4, 6, 9])
def test_neighbour_pages_are_mostly_one_class(
    clustering_index: tuple[EmbeddingIndex, dict[int, int]], page_size: int
) -> None:
    index, truth = clustering_index
    labeled = set(list(truth)[::10])
    unlabeled = [i for i in truth if i not in labeled]
    pages = neighbour_pages(index, unlabeled, page_size=page_size, n_pages=6)
    assert len(pages) == 6
    seen: set[int] = set()
    purities = []
    for page in pages:
        assert len(page.item_ids) == page_size
        assert not (set(page.item_ids) & labeled)
        assert not (set(page.item_ids) & seen)  # pages are disjoint
        seen.update(page.item_ids)
        classes = [truth[i] for i in page.item_ids]
        purities.append(max(classes.count(c) for c in set(classes)) / page_size)
    assert [p.cohesion for p in pages] == sorted((p.cohesion for p in pages), reverse=True)
    # a random page of 5 balanced classes is about 1/5 to 2/5 pure
    assert np.mean(purities) >= 0.75, purities


def test_neighbour_pages_refuse_odd_sizes_and_small_pools(
    clustering_index: tuple[EmbeddingIndex, dict[int, int]],
) -> None:
    index, truth = clustering_index
    with pytest.raises(ValueError):
        neighbour_pages(index, list(truth), page_size=5)
    assert neighbour_pages(index, list(truth)[:3], page_size=4) == []
    assert neighbour_pages(index, [1, 2, 3, 4, 5], page_size=4) == []  # never featurised


def test_prediction_pages_group_by_class_most_confident_first() -> None:
    ids = np.arange(20)
    classes = np.array([7] * 12 + [8] * 8)
    conf = np.linspace(0.99, 0.5, 20)
    pages = prediction_pages(ids, classes, conf, page_size=4, min_confidence=0.6, exclude=[0])
    assert all(p.suggested_class in (7, 8) for p in pages)
    for p in pages:
        assert {int(classes[i]) for i in p.item_ids} == {p.suggested_class}
        assert 0 not in p.item_ids and all(conf[i] >= 0.6 for i in p.item_ids)
    assert pages[0].item_ids == (1, 2, 3, 4)
    assert [p.cohesion for p in pages] == sorted((p.cohesion for p in pages), reverse=True)
