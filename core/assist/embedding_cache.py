"""Image embeddings of the SAM encoder and their cache (memory LRU, optional float16 files on disk)."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ENCODER_SIZE = 1024


@dataclass(frozen=True)
class ImageEmbedding:
    """The encoder's output for one image, with the geometry needed to map prompts into its frame."""

    key: str
    embedding: np.ndarray  # (1, 256, 64, 64) float32
    height: int  # oriented image size, pixels
    width: int

    @property
    def resized_hw(self) -> tuple[int, int]:
        scale = ENCODER_SIZE / max(self.height, self.width)
        return round(self.height * scale), round(self.width * scale)


class EmbeddingCache:
    """A thread-safe LRU of embeddings in memory, backed (optionally) by float16 ``.npy`` files."""

    def __init__(self, capacity: int = 16, disk_dir: Path | None = None) -> None:
        self.capacity = max(1, capacity)
        self.disk_dir = disk_dir
        self._items: OrderedDict[str, ImageEmbedding] = OrderedDict()
        self._lock = threading.Lock()

    def _file(self, key: str) -> Path | None:
        if self.disk_dir is None:
            return None
        return self.disk_dir / f"{hashlib.sha1(key.encode()).hexdigest()}.npz"

    def get(self, key: str) -> ImageEmbedding | None:
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit
        path = self._file(key)
        if path is None or not path.is_file():
            return None
        try:
            with np.load(path) as data:
                emb = ImageEmbedding(
                    key, data["embedding"].astype(np.float32), int(data["h"]), int(data["w"])
                )
        except (OSError, ValueError, KeyError):
            return None  # a damaged file is a miss, recomputed and overwritten
        self._remember(emb)
        return emb

    def put(self, emb: ImageEmbedding) -> None:
        """Keep ``emb``: on disk first (where there is a folder), then in memory, so an embedding
        seen as cached is also on disk for the next start."""
        path = self._file(emb.key)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".part.npz")
            np.savez(tmp, embedding=emb.embedding.astype(np.float16), h=emb.height, w=emb.width)
            tmp.replace(path)
        self._remember(emb)

    def _remember(self, emb: ImageEmbedding) -> None:
        with self._lock:
            self._items[emb.key] = emb
            self._items.move_to_end(emb.key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def __contains__(self, key: str) -> bool:
        with self._lock:
            if key in self._items:
                return True
        path = self._file(key)
        return path is not None and path.is_file()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
