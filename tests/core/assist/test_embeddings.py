"""The float16 embedding index: round trips, upserts, persistence, exact and approximate search."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.assist.embeddings import EmbeddingIndex, from_blob, index_folder, normalize, to_blob


def _clustered(n: int, dim: int, centers: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centers, dim)).astype(np.float32)
    return (c[rng.integers(0, centers, n)] + 0.6 * rng.standard_normal((n, dim))).astype(np.float32)


def test_blob_round_trip_is_float16() -> None:
    v = np.linspace(-3, 3, 1280, dtype=np.float32)
    blob = to_blob(v)
    assert len(blob) == 1280 * 2
    np.testing.assert_allclose(from_blob(blob, 1280), v, atol=2e-3)
    with pytest.raises(ValueError):
        from_blob(blob, 640)


def test_add_get_upsert_and_reopen(tmp_path: Path) -> None:
    folder = index_folder(tmp_path, 7, "efficientnet-lite0@abc")
    idx = EmbeddingIndex(folder, dim=16)
    vecs = _clustered(3000, 16, 5)  # past the first capacity of 1024 rows
    ids = np.arange(100, 3100)
    assert idx.add(ids, vecs) == 3000
    nan_row = np.full((1, 16), np.nan, np.float32)
    assert idx.add([99], nan_row) == 0  # failed featurisation rows are not stored
    assert len(idx) == 3000 and 150 in idx and 99 not in idx
    np.testing.assert_allclose(idx.get([150, 3099]), normalize(vecs[[50, 2999]]), atol=2e-3)
    np.testing.assert_allclose(idx.get([150], unit=False)[0], vecs[50], rtol=2e-3, atol=2e-3)
    idx.add([150], vecs[:1] * 3)  # overwrite, no new row
    assert len(idx) == 3000
    again = EmbeddingIndex(folder, dim=16)
    assert len(again) == 3000
    np.testing.assert_allclose(again.get([150]), normalize(vecs[:1]), atol=2e-3)
    assert list(again.ids[:3]) == [100, 101, 102]
    with pytest.raises(KeyError):
        again.get([5])
    with pytest.raises(ValueError):
        EmbeddingIndex(folder, dim=32)


def test_exact_search_matches_brute_force_and_respects_allowed(tmp_path: Path) -> None:
    vecs = _clustered(2000, 32, 8, seed=1)
    idx = EmbeddingIndex(tmp_path / "i", dim=32)
    idx.add(range(2000), vecs)
    q = vecs[:5]
    nb = idx.search(q, k=6)
    unit = normalize(vecs)
    brute = np.argsort(-(normalize(q) @ unit.T), axis=1)[:, :6]
    assert (nb.ids[:, 0] == np.arange(5)).all()  # each item is its own nearest
    overlap = np.mean([len(set(a) & set(b)) / 6 for a, b in zip(nb.ids, brute, strict=True)])
    assert overlap > 0.95  # float16 storage may swap near-ties only
    allowed = list(range(1000, 2000))
    nb2 = idx.search(q, k=4, allowed_ids=allowed)
    assert ((nb2.ids >= 1000) & (nb2.ids < 2000)).all()
    assert (np.diff(nb2.scores, axis=1) <= 1e-6).all()
    few = idx.search(q[:1], k=5, allowed_ids=[3, 4])
    assert sorted(few.ids[0][:2].tolist()) == [3, 4] and (few.ids[0][2:] == -1).all()


def test_approximate_search_recalls_the_exact_neighbours(tmp_path: Path) -> None:
    vecs = _clustered(6000, 256, 40, seed=2)
    idx = EmbeddingIndex(tmp_path / "a", dim=256, exact_limit=1000)
    for s in range(0, 6000, 1500):  # grows in batches, as featurisation does
        idx.add(range(s, s + 1500), vecs[s : s + 1500])
    q = vecs[::300]
    exact = idx.search(q, k=10, exact=True)
    approx = idx.search(q, k=10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact.ids, approx.ids, strict=True)])
    assert recall >= 0.9, recall
    np.testing.assert_allclose(approx.scores[:, 0], exact.scores[:, 0], atol=1e-3)
    reopened = EmbeddingIndex(tmp_path / "a", dim=256, exact_limit=1000)
    assert (reopened.search(q, k=10).ids == approx.ids).all()


def test_rows_of_is_vectorised_and_follows_the_index_as_it_grows(tmp_path) -> None:
    idx = EmbeddingIndex(tmp_path / "ix", dim=4)
    assert idx.rows_of([1, 2]).tolist() == [-1, -1]  # empty
    rng = np.random.default_rng(0)
    idx.add([30, 10, 20], rng.normal(size=(3, 4)))
    assert idx.rows_of(np.array([10, 20, 30, 40])).tolist() == [1, 2, 0, -1]
    assert idx.contains_many([40, 30]).tolist() == [False, True]
    idx.add([40, 10], rng.normal(size=(2, 4)))  # one new id, one overwritten: rows stay put
    assert idx.rows_of([10, 20, 30, 40, 5]).tolist() == [1, 2, 0, 3, -1]
    reopened = EmbeddingIndex(tmp_path / "ix", dim=4)
    assert reopened.rows_of([40, 30]).tolist() == [3, 0]
