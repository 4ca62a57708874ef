"""The DuckDB store and the queries the screens and jobs need, one module per concern."""

from core.store.db import Store, WriteConflict

__all__ = ["Store", "WriteConflict"]
