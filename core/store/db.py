"""The DuckDB store: one file, one connection per process, a cursor per thread.

DuckDB uses optimistic concurrency: two transactions writing the same row conflict and the later
one fails. ``Store.write`` retries such a transaction a few times with backoff and re-raises
``WriteConflict`` if it still cannot commit, so a write is either done or reported, never lost. A
write that fails because the disk is full is not retried: it raises ``core.disk.DiskFull`` (free MB in
its message); once space is freed the same store writes again.
"""

from __future__ import annotations

import errno
import json
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from core.disk import as_disk_full
from core.store.migrations import MIGRATIONS

T = TypeVar("T")


class WriteConflict(RuntimeError):
    """A write that kept conflicting with other writers; nothing was saved."""


class StoreClosed(RuntimeError):
    """A call on a store that is closing or closed (the server is stopping)."""


class StoreInUse(OSError):
    """Another process holds the database file (DuckDB allows one writer process per file)."""

    def __init__(self, path: Path, pid: int | None, program: str | None) -> None:
        self.pid, self.program = pid, program
        who = f"Another annota process (PID {pid})" if pid else "Another process"
        words = (
            f"{who} holds the data directory {path.parent}: only one annota server can use a data directory"
            f" at a time. Stop that process, or start this one with another ANNOTA_DATA_DIR."
        )
        super().__init__(errno.EBUSY, words)

    def __str__(self) -> str:
        return str(self.strerror)


_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.*?) \(PID (?P<pid>\d+)\)")


def _store_in_use(exc: duckdb.Error, path: Path) -> StoreInUse | None:
    """DuckDB's "Could not set lock on file ... Conflicting lock is held in PROGRAM (PID N)", in words."""
    text = str(exc)
    if "Could not set lock" not in text and "Conflicting lock" not in text:
        return None
    found = _LOCK_HOLDER.search(text)
    return StoreInUse(path, int(found["pid"]) if found else None, found["program"] if found else None)


class Store:
    """Owns the DuckDB connection. Safe to share between threads (each gets its own cursor)."""

    def __init__(self, path: Path | str, *, read_only: bool = False) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.IOException as exc:
            in_use = _store_in_use(exc, self.path)
            if in_use is not None:
                raise in_use from exc
            raise
        self._conn.execute("SET TimeZone = 'UTC'")  # every timestamp annota writes is UTC
        self._local = threading.local()
        self._lock = threading.RLock()  # guards in-process caches built on the store
        self.caches: dict[str, Any] = {}
        # calls in flight, so that ``close`` waits for them (closing under a running query fails in DuckDB)
        self._calls = 0
        self._calls_cv = threading.Condition()
        self._closed = False
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        if not read_only:
            self.migrate()

    # -- connection -----------------------------------------------------------------------------
    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor (created on first use)."""
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            if self._closed:
                raise StoreClosed("The database is closed: annota is stopping.")
            cur = self._conn.cursor()
            self._local.cursor = cur
            with self._calls_cv:
                self._cursors.append(cur)
        return cur

    @contextmanager
    def _call(self) -> Iterator[None]:
        """Count a call in flight (``close`` waits for it); refuse one once the store is closing."""
        with self._calls_cv:
            if self._closed:
                raise StoreClosed("The database is closed: annota is stopping.")
            self._calls += 1
        try:
            yield
        finally:
            with self._calls_cv:
                self._calls -= 1
                self._calls_cv.notify_all()

    def close(self, timeout: float = 30.0) -> None:
        """Close the database once the calls in flight are done: new calls are refused at once, running ones
        get ``timeout`` seconds, then are interrupted (they fail, their transactions roll back)."""
        with self._calls_cv:
            self._closed = True
            if not self._calls_cv.wait_for(lambda: self._calls == 0, timeout):
                for cur in self._cursors:
                    with suppress(duckdb.Error):
                        cur.interrupt()
                self._calls_cv.wait_for(lambda: self._calls == 0, 10.0)
        self._conn.close()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    # -- reading ----------------------------------------------------------------------------
    def query(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        with self._call():
            return self.cursor().execute(sql, params or []).fetchall()

    def query_one(self, sql: str, params: Any = None) -> tuple[Any, ...] | None:
        with self._call():
            return self.cursor().execute(sql, params or []).fetchone()

    def query_columns(self, sql: str, params: Any = None) -> dict[str, Any]:
        """The result as numpy columns by name (``fetchnumpy``): for reads of many rows, counted as a call in
        flight like every other, so ``close`` waits for it."""
        with self._call():
            return dict(self.cursor().execute(sql, params or []).fetchnumpy())

    def scalar(self, sql: str, params: Any = None) -> Any:
        row = self.query_one(sql, params)
        return row[0] if row else None

    def query_dicts(self, sql: str, params: Any = None) -> list[dict[str, Any]]:
        with self._call():
            cur = self.cursor().execute(sql, params or [])
            cols = [d[0] for d in cur.description or []]
            return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]

    # -- writing ----------------------------------------------------------------------------
    def execute(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        """One statement in its own transaction, retried on conflict."""
        return self.write(lambda cur: cur.execute(sql, params or []).fetchall())

    def write(self, fn: Callable[[duckdb.DuckDBPyConnection], T], *, attempts: int = 8) -> T:
        """Run ``fn(cursor)`` in a transaction; retry on a write conflict, then raise ``WriteConflict``."""
        with self._call():
            return self._write(fn, attempts)

    def _write(self, fn: Callable[[duckdb.DuckDBPyConnection], T], attempts: int) -> T:
        cur = self.cursor()
        last: Exception | None = None
        for attempt in range(attempts):
            cur.execute("BEGIN TRANSACTION")
            try:
                result = fn(cur)
                cur.execute("COMMIT")
                return result
            except duckdb.TransactionException as exc:
                last = exc
                _rollback(cur)
                full = as_disk_full(exc, self.path.parent, "the change")
                if full is not None:  # a full disk stays full: say so at once, never "busy"
                    raise full from exc
                time.sleep(min(0.2, 0.002 * (2**attempt)) * (0.5 + random.random()))
            except BaseException as exc:
                _rollback(cur)
                full = as_disk_full(exc, self.path.parent, "the change")
                if full is not None:
                    raise full from exc
                raise
        raise WriteConflict(f"The database was busy and the change could not be saved; try again. ({last})")

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A plain transaction without retry (for bulk work owned by one thread)."""
        with self._call():
            cur = self.cursor()
            cur.execute("BEGIN TRANSACTION")
            try:
                yield cur
                cur.execute("COMMIT")
            except BaseException as exc:
                _rollback(cur)
                full = as_disk_full(exc, self.path.parent, "the change")
                if full is not None:
                    raise full from exc
                raise

    # -- schema --------------------------------------------------------------------------------
    def migrate(self) -> int:
        cur = self.cursor()
        cur.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, description VARCHAR,"
            " applied_at TIMESTAMP DEFAULT now())"
        )
        current = cur.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
        have = int(current[0]) if current else 0
        for version, description, sql in MIGRATIONS:
            if version <= have:
                continue
            cur.execute("BEGIN TRANSACTION")
            try:
                cur.execute(sql)
                cur.execute(
                    "INSERT INTO schema_version (version, description) VALUES (?, ?)", [version, description]
                )
                cur.execute("COMMIT")
            except BaseException:
                _rollback(cur)
                raise
            have = version
        return have

    def schema_version(self) -> int:
        return int(self.scalar("SELECT max(version) FROM schema_version") or 0)


def _rollback(cur: duckdb.DuckDBPyConnection) -> None:
    with suppress(duckdb.Error):
        cur.execute("ROLLBACK")


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def loads(text: str | None) -> Any:
    return json.loads(text) if text else None
