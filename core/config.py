"""Where annota keeps its files: the data directory and the paths inside it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Paths:
    """Every file annota writes lives under one data directory (default ``data/``)."""

    root: Path

    @property
    def db(self) -> Path:
        return self.root / "annota.duckdb"

    @property
    def uploads(self) -> Path:
        return self.root / "uploads"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def thumbnails(self) -> Path:
        return self.cache / "thumbs"

    @property
    def renditions(self) -> Path:
        return self.cache / "display"

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def embeddings(self) -> Path:
        return self.cache / "embeddings"

    def ensure(self) -> Paths:
        for p in (
            self.root,
            self.uploads,
            self.thumbnails,
            self.renditions,
            self.exports,
            self.models,
            self.embeddings,
        ):
            p.mkdir(parents=True, exist_ok=True)
        return self


def data_dir() -> Path:
    """The data directory: ``$ANNOTA_DATA_DIR`` or ``data/`` beside the code."""
    env = os.environ.get("ANNOTA_DATA_DIR")
    return Path(env).expanduser().resolve() if env else PROJECT_ROOT / "data"


def default_paths() -> Paths:
    return Paths(data_dir()).ensure()


def shared_datasets() -> Path:
    """The real labeled photos for tests and benchmarks (never copied into the repository)."""
    env = os.environ.get("ANNOTA_DATASETS")
    return Path(env) if env else PROJECT_ROOT.parent / "shared" / "datasets"
