"""Embeddings stored compactly (float16) and searched for nearest neighbours, up to 500,000 items.

One ``EmbeddingIndex`` per project and backbone lives in a folder of the cache (memory-mapped
files, so a large index costs no RAM until read):

* ``ids.i64``   item ids, one per row (append-only; re-adding an id overwrites its row)
* ``unit.f16``  the L2-normalised vectors, float16, ``(rows, dim)``
* ``norms.f32`` their original lengths
* ``coarse.f32`` and ``pca.npz``: a PCA-reduced copy for fast search once the index is large

Search is by cosine similarity. Up to ``EXACT_LIMIT`` rows it is exact (chunked float32 dot
products); above, candidates come from the reduced copy and are re-ranked exactly.
The DuckDB ``embeddings`` table is the durable record; this index is a cache rebuilt from it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

EXACT_LIMIT = 40_000
COARSE_DIM = 128
CANDIDATES = 1024
CHUNK = 32_768


def to_blob(vec: np.ndarray) -> bytes:
    """One vector as float16 little-endian bytes (the ``embeddings.vec`` column)."""
    return np.asarray(vec, dtype="<f2").tobytes()


def from_blob(blob: bytes, dim: int | None = None) -> np.ndarray:
    out = np.frombuffer(blob, dtype="<f2").astype(np.float32)
    if dim is not None and out.shape[0] != dim:
        raise ValueError(f"embedding has {out.shape[0]} values, expected {dim}")
    return out


def normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), float32."""
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(norms, 1e-12)


@dataclass(frozen=True)
class Neighbors:
    """``ids[q, j]`` is the j-th nearest item of query q (``-1`` where fewer exist), ``scores`` cosine."""

    ids: np.ndarray  # (Q, k) int64
    scores: np.ndarray  # (Q, k) float32


class EmbeddingIndex:
    """A growable float16 matrix of unit vectors with item ids; thread-safe."""

    def __init__(self, folder: str | Path, dim: int = 1280, exact_limit: int = EXACT_LIMIT) -> None:
        self.folder = Path(folder)
        self.exact_limit = exact_limit
        self.candidates = CANDIDATES  # rows re-ranked exactly per query in approximate search
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        meta = self._read_meta()
        self.dim = int(meta.get("dim", dim))
        if self.dim != dim:
            raise ValueError(f"index at {self.folder} holds {self.dim}-d vectors, not {dim}-d")
        self._count = int(meta.get("count", 0))
        self._capacity = int(meta.get("capacity", 0))
        self._pca_rows = int(meta.get("pca_rows", 0))
        self._open(max(self._capacity, 1024))
        self._row_of: dict[int, int] = {int(i): r for r, i in enumerate(self._ids[: self._count])}
        self._lookup: tuple[int, np.ndarray, np.ndarray] | None = None  # (count, sorted ids, their rows)
        self._pca: tuple[np.ndarray, np.ndarray] | None = None
        if self._pca_rows and (self.folder / "pca.npz").exists():
            with np.load(self.folder / "pca.npz") as z:
                self._pca = (z["mean"], z["components"])

    # ------------------------------------------------------------ files

    def _read_meta(self) -> dict[str, int]:
        path = self.folder / "meta.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def _write_meta(self) -> None:
        meta = {"dim": self.dim, "count": self._count, "capacity": self._capacity, "pca_rows": self._pca_rows}
        tmp = self.folder / "meta.json.tmp"
        tmp.write_text(json.dumps(meta))
        tmp.replace(self.folder / "meta.json")

    def _map(self, name: str, dtype: str, shape: tuple[int, ...]) -> np.memmap:
        path = self.folder / name
        size = int(np.prod(shape)) * np.dtype(dtype).itemsize
        with open(path, "ab") as f:
            if f.tell() < size:
                f.truncate(size)
        return np.memmap(path, dtype=dtype, mode="r+", shape=shape)

    def _open(self, capacity: int) -> None:
        self._capacity = capacity
        self._ids = self._map("ids.i64", "<i8", (capacity,))
        self._unit = self._map("unit.f16", "<f2", (capacity, self.dim))
        self._norms = self._map("norms.f32", "<f4", (capacity,))
        self._coarse = self._map("coarse.f32", "<f4", (capacity, min(COARSE_DIM, self.dim)))

    # ------------------------------------------------------------ writing

    def add(self, item_ids: Iterable[int], vectors: np.ndarray) -> int:
        """Store vectors (any float dtype, raw or unit); an id already present is overwritten.

        Rows with NaN are ignored. Returns the number of rows written.
        """
        ids = np.asarray(list(item_ids), dtype=np.int64)
        vecs = np.asarray(vectors, dtype=np.float32).reshape(len(ids), self.dim)
        keep = np.isfinite(vecs).all(axis=1)
        ids, vecs = ids[keep], vecs[keep]
        if len(ids) == 0:
            return 0
        norms = np.linalg.norm(vecs, axis=1)
        unit = vecs / np.maximum(norms, 1e-12)[:, None]
        with self._lock:
            rows = np.empty(len(ids), dtype=np.int64)
            for j, item in enumerate(ids.tolist()):
                row = self._row_of.get(item)
                if row is None:
                    row = self._count
                    self._row_of[item] = row
                    self._count += 1
                rows[j] = row
            if self._count > self._capacity:
                self._flush()
                self._open(max(self._count, 2 * self._capacity))
            self._ids[rows] = ids
            self._unit[rows] = unit.astype(np.float16)
            self._norms[rows] = norms
            if self._pca is not None:
                self._coarse[rows] = self._project(unit)
            self._maybe_fit_pca()
            self._flush()
        return len(ids)

    def _flush(self) -> None:
        for m in (self._ids, self._unit, self._norms, self._coarse):
            m.flush()
        self._write_meta()

    def _project(self, unit: np.ndarray) -> np.ndarray:
        assert self._pca is not None
        mean, comps = self._pca
        return ((unit - mean) @ comps.T).astype(np.float32)

    def _maybe_fit_pca(self) -> None:
        """Fit the reduced copy once the index outgrows exact search; refit when it grows 4x."""
        n = self._count
        if n <= self.exact_limit or (self._pca is not None and n < 4 * self._pca_rows):
            return
        rng = np.random.default_rng(0)
        sample = np.sort(rng.choice(n, size=min(n, 20_000), replace=False))
        x = self._unit[sample].astype(np.float32)
        mean = x.mean(axis=0)
        xc = x - mean
        _, vecs = np.linalg.eigh(xc.T @ xc)  # ascending eigenvalues
        comps = vecs[:, ::-1][:, : min(COARSE_DIM, self.dim)].T
        self._pca = (mean.astype(np.float32), np.ascontiguousarray(comps, dtype=np.float32))
        np.savez(self.folder / "pca.npz", mean=self._pca[0], components=self._pca[1])
        for s in range(0, n, CHUNK):
            self._coarse[s : s + CHUNK] = self._project(self._unit[s : s + CHUNK].astype(np.float32))
        self._pca_rows = n

    # ------------------------------------------------------------ reading

    def __len__(self) -> int:
        return self._count

    def __contains__(self, item_id: object) -> bool:
        return isinstance(item_id, int | np.integer) and int(item_id) in self._row_of

    @property
    def ids(self) -> np.ndarray:
        """Item ids in row order (a copy)."""
        with self._lock:
            return np.array(self._ids[: self._count])

    def rows_of(self, item_ids: Iterable[int]) -> np.ndarray:
        """The row of each id, ``-1`` where absent (vectorised: a sorted copy of the ids, kept until
        the index grows; an id's row never changes)."""
        ids = np.asarray(item_ids if isinstance(item_ids, np.ndarray) else list(item_ids), dtype=np.int64)
        with self._lock:
            n = self._count
            if n == 0 or len(ids) == 0:
                return np.full(len(ids), -1, dtype=np.int64)
            if self._lookup is None or self._lookup[0] != n:
                order = np.argsort(self._ids[:n], kind="stable")
                self._lookup = (n, self._ids[:n][order], order)
            _, sorted_ids, order = self._lookup
        pos = np.minimum(np.searchsorted(sorted_ids, ids), len(sorted_ids) - 1)
        return np.where(sorted_ids[pos] == ids, order[pos], -1).astype(np.int64)

    def contains_many(self, item_ids: Iterable[int]) -> np.ndarray:
        """A bool per id: has it a vector here."""
        return self.rows_of(item_ids) >= 0

    def get(self, item_ids: Iterable[int], unit: bool = True) -> np.ndarray:
        """Vectors of the given ids as float32 (unit length unless ``unit=False``); missing ids raise."""
        rows = self.rows_of(item_ids)
        if (rows < 0).any():
            raise KeyError(f"{int((rows < 0).sum())} item(s) have no embedding")
        with self._lock:
            out = self._unit[rows].astype(np.float32)
            return out if unit else out * self._norms[rows][:, None]

    def iter_chunks(self, chunk: int = CHUNK) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(ids, unit vectors float32)`` in row order, ``chunk`` rows at a time."""
        for s in range(0, self._count, chunk):
            e = min(self._count, s + chunk)
            with self._lock:
                yield np.array(self._ids[s:e]), self._unit[s:e].astype(np.float32)

    def search(
        self,
        queries: np.ndarray,
        k: int = 10,
        allowed_ids: Iterable[int] | None = None,
        exact: bool | None = None,
    ) -> Neighbors:
        """The ``k`` most similar stored items to each query vector (cosine).

        ``allowed_ids`` limits the answer to those items (e.g. the unlabeled ones). The scan is
        exact up to ``exact_limit`` rows (or with ``exact=True``); above, candidates come from the
        PCA-reduced copy and are re-ranked with the full vectors.
        """
        q = normalize(np.atleast_2d(queries))
        n_q = q.shape[0]
        with self._lock:
            n = self._count
            mask: np.ndarray | None = None
            if allowed_ids is not None:
                rows = self.rows_of(allowed_ids)
                mask = np.zeros(n, dtype=bool)
                mask[rows[rows >= 0]] = True
            use_exact = exact if exact is not None else (n <= self.exact_limit or self._pca is None)
            if use_exact or self._pca is None:
                rows_k, scores_k = self._scan(q, k, mask, self._unit, n)
            else:
                pool = max(20 * k, self.candidates)
                # (x - mean) . P P^T q ~ x.q - mean.q: the same order as x.q for a fixed query
                cand, _ = self._scan(q @ self._pca[1].T, pool, mask, self._coarse, n)
                rows_k, scores_k = self._rerank(q, cand, k)
            ids = np.where(rows_k >= 0, self._ids[np.maximum(rows_k, 0)], -1).astype(np.int64)
        return Neighbors(ids.reshape(n_q, -1), scores_k.reshape(n_q, -1).astype(np.float32))

    @staticmethod
    def _scan(
        qm: np.ndarray, k: int, mask: np.ndarray | None, matrix: np.ndarray, n: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k rows of ``matrix[:n] @ qm.T`` per query, chunk by chunk."""
        n_q = qm.shape[0]
        best_rows = np.full((n_q, k), -1, dtype=np.int64)
        best = np.full((n_q, k), -np.inf, dtype=np.float32)
        for s in range(0, n, CHUNK):
            e = min(n, s + CHUNK)
            sims = qm @ np.asarray(matrix[s:e], dtype=np.float32).T  # (Q, chunk)
            if mask is not None:
                sims[:, ~mask[s:e]] = -np.inf
            kk = min(k, e - s)
            part = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
            cand_scores = np.take_along_axis(sims, part, axis=1)
            all_scores = np.concatenate([best, cand_scores], axis=1)
            all_rows = np.concatenate([best_rows, part + s], axis=1)
            top = np.argsort(-all_scores, axis=1, kind="stable")[:, :k]
            best = np.take_along_axis(all_scores, top, axis=1)
            best_rows = np.take_along_axis(all_rows, top, axis=1)
        best_rows[~np.isfinite(best)] = -1
        return best_rows, best

    def _rerank(self, q: np.ndarray, cand: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        rows_out = np.full((q.shape[0], k), -1, dtype=np.int64)
        scores_out = np.full((q.shape[0], k), -np.inf, dtype=np.float32)
        for i in range(q.shape[0]):
            c = cand[i][cand[i] >= 0]
            if len(c) == 0:
                continue
            order = np.argsort(c)  # sorted rows read the memmap in file order
            c = c[order]
            sims = self._unit[c].astype(np.float32) @ q[i]
            top = np.argsort(-sims, kind="stable")[:k]
            rows_out[i, : len(top)] = c[top]
            scores_out[i, : len(top)] = sims[top]
        return rows_out, scores_out


def index_folder(cache_root: str | Path, project_id: int, model_id: str) -> Path:
    """Where a project's index for one backbone lives, e.g. ``cache/embeddings/p3-efficientnet-lite0-ab12``."""
    safe = model_id.replace("@", "-").replace("/", "_")
    return Path(cache_root) / f"p{project_id}-{safe}"
