"""Handing out items to labelers: an ordered queue with leases.

An item handed out is leased to one labeler until ``lease_until``; several labelers working at once
never get the same item. Candidates are read in ``queue_rank`` order a few hundred at a time into a
per-project buffer in this process, and each is claimed with a conditional update, so the database
decides who wins when two processes race.
"""

from __future__ import annotations

import threading
from collections import deque
from datetime import timedelta
from typing import Any

from core.domain import Item
from core.store.db import Store
from core.store.items import get_item
from core.store.labels import utcnow

_BATCH = 256


class _Buffer:
    def __init__(self) -> None:
        self.ids: deque[int] = deque()
        self.lock = threading.Lock()
        self.generation = 0


def _buffer(store: Store, project_id: int) -> _Buffer:
    with store.lock:
        buffers = store.caches.setdefault("queue", {})
        if project_id not in buffers:
            buffers[project_id] = _Buffer()
        return buffers[project_id]


def invalidate(store: Store, project_id: int) -> None:
    """Forget buffered candidates (after the queue order changed)."""
    buf = _buffer(store, project_id)
    with buf.lock:
        buf.ids.clear()
        buf.generation += 1


def _refill(store: Store, project_id: int, buf: _Buffer) -> None:
    rows = store.query(
        "SELECT id FROM items WHERE project_id = ? AND status = 'new' AND (lease_until IS NULL OR lease_until < ?)"
        " ORDER BY queue_rank NULLS LAST, id LIMIT ?",
        [project_id, utcnow(), _BATCH],
    )
    buf.ids.extend(r[0] for r in rows)


def current_lease(store: Store, project_id: int, user: str) -> int | None:
    return store.scalar(
        "SELECT id FROM items WHERE project_id = ? AND lease_user = ? AND lease_until > ? AND status = 'new'"
        " ORDER BY lease_until DESC LIMIT 1",
        [project_id, user, utcnow()],
    )


def claim(store: Store, item_id: int, user: str, *, lease_minutes: float = 10) -> bool:
    """Lease one item to ``user`` if it is free (or already theirs)."""
    now = utcnow()
    rows = store.execute(
        "UPDATE items SET lease_user = ?, lease_until = ? WHERE id = ? AND status = 'new'"
        " AND (lease_until IS NULL OR lease_until < ? OR lease_user = ?) RETURNING id",
        [user, now + timedelta(minutes=lease_minutes), item_id, now, user],
    )
    return bool(rows)


def release(store: Store, item_id: int, user: str) -> None:
    store.execute(
        "UPDATE items SET lease_user = NULL, lease_until = NULL WHERE id = ? AND lease_user = ?",
        [item_id, user],
    )


def next_item_id(
    store: Store, project_id: int, user: str, *, lease_minutes: float = 10, exclude: set[int] | None = None
) -> int | None:
    """The labeler's next item id, leased to them; ``None`` when the queue is empty."""
    own = current_lease(store, project_id, user)
    if own is not None and not (exclude and own in exclude):
        return own
    buf = _buffer(store, project_id)
    for _ in range(4):  # a few refills at most: each refill reads only free items
        while True:
            with buf.lock:
                if not buf.ids:
                    break
                candidate = buf.ids.popleft()
            if exclude and candidate in exclude:
                continue
            if claim(store, candidate, user, lease_minutes=lease_minutes):
                return candidate
        with buf.lock:
            if not buf.ids:
                _refill(store, project_id, buf)
            if not buf.ids:
                return None
    return None


def next_item(store: Store, project_id: int, user: str, *, lease_minutes: float = 10) -> Item | None:
    item_id = next_item_id(store, project_id, user, lease_minutes=lease_minutes)
    return get_item(store, item_id) if item_id is not None else None


def set_ranks(store: Store, project_id: int, ranks: dict[int, float]) -> None:
    """Store a new queue order (lower first) and drop buffered candidates."""
    import pyarrow as pa

    table = pa.table(
        {"id": pa.array(list(ranks), pa.int64()), "rank": pa.array(list(ranks.values()), pa.float64())}
    )

    def tx(cur: Any) -> None:
        cur.register("new_ranks", table)
        try:
            cur.execute(
                "UPDATE items SET queue_rank = r.rank FROM new_ranks r WHERE items.id = r.id AND items.project_id = ?",
                [project_id],
            )
        finally:
            cur.unregister("new_ranks")

    store.write(tx)
    invalidate(store, project_id)
