import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


@pytest.fixture
def store(tmp_path):
    """A real DuckDB file in a temporary folder, migrated."""
    from core.store import Store

    s = Store(tmp_path / "annota.duckdb")
    yield s
    s.close()


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    d = tmp_path / "data"
    monkeypatch.setenv("ANNOTA_DATA_DIR", str(d))
    return d


def datasets_or_skip() -> Path:
    from core.config import shared_datasets

    root = shared_datasets()
    if not root.is_dir():
        print(f"SKIP REASON: shared datasets not found at {root}", file=sys.stderr)
        pytest.skip(f"shared datasets not found at {root}")
    return root


os.environ.setdefault("ANNOTA_TEST", "1")
