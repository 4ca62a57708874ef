"""Handing out items to labelers: an ordered queue with leases.

An item handed out is leased to one labeler until the lease expires (default 10 minutes); several
labelers working at once never get the same item, and a rerun of the page gets the labeler's own
item back. Leases live in this process's memory, in a lease book beside the store: the DuckDB file
is opened by one server process at a time (DuckDB locks it), so that process is the one place that
hands items out, and a lease costs no disk write (a durable commit costs ~4 ms here). A restart
forgets leases, which only frees items sooner.

Candidates are read in ``queue_rank`` order a few hundred at a time into a per-project buffer;
each is checked against the lease book and its current status before it is handed out.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.domain import Item
from core.store.db import Store
from core.store.items import get_item

_BATCH = 512
_LOW_WATER = 128  # refill in the background when fewer candidates than this are buffered


@dataclass
class _ProjectQueue:
    ids: deque[int] = field(default_factory=deque)
    leases: dict[int, tuple[str, float]] = field(default_factory=dict)  # item -> (user, monotonic expiry)
    by_user: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    refilling: bool = False

    def holder(self, item_id: int, now: float) -> str | None:
        lease = self.leases.get(item_id)
        if lease is None:
            return None
        if lease[1] < now:
            self._drop(item_id)
            return None
        return lease[0]

    def grant(self, item_id: int, user: str, minutes: float, now: float) -> None:
        old = self.by_user.get(user)
        if old is not None and old != item_id:
            self.leases.pop(old, None)
        self.leases[item_id] = (user, now + minutes * 60)
        self.by_user[user] = item_id

    def _drop(self, item_id: int) -> None:
        lease = self.leases.pop(item_id, None)
        if lease and self.by_user.get(lease[0]) == item_id:
            del self.by_user[lease[0]]


def _queue(store: Store, project_id: int) -> _ProjectQueue:
    with store.lock:
        queues: dict[int, _ProjectQueue] = store.caches.setdefault("queue", {})
        if project_id not in queues:
            queues[project_id] = _ProjectQueue()
        return queues[project_id]


def invalidate(store: Store, project_id: int) -> None:
    """Forget buffered candidates (after the queue order changed); leases stay."""
    q = _queue(store, project_id)
    with q.lock:
        q.ids.clear()


def _is_new(store: Store, item_id: int) -> bool:
    return store.scalar("SELECT status FROM items WHERE id = ?", [item_id]) == "new"


def current_lease(store: Store, project_id: int, user: str) -> int | None:
    """The item leased to ``user`` in this project, if the lease still holds and the item still waits."""
    q = _queue(store, project_id)
    with q.lock:
        item_id = q.by_user.get(user)
        if item_id is None or q.holder(item_id, time.monotonic()) != user:
            return None
    if not _is_new(store, item_id):
        release(store, item_id)
        return None
    return item_id


def claim(store: Store, project_id: int, item_id: int, user: str, *, lease_minutes: float = 10) -> bool:
    """Lease one item to ``user`` if it waits for a label and nobody else holds it."""
    q = _queue(store, project_id)
    with q.lock:
        holder = q.holder(item_id, time.monotonic())
        if holder not in (None, user):
            return False
    if not _is_new(store, item_id):
        return False
    with q.lock:
        now = time.monotonic()
        if q.holder(item_id, now) not in (None, user):
            return False
        q.grant(item_id, user, lease_minutes, now)
    return True


def lease_many(
    store: Store, project_id: int, item_ids: Sequence[int], user: str, *, lease_minutes: float = 10
) -> bool:
    """Lease several items to ``user`` at once, all or none (a page of the cluster grid).

    Unlike ``claim`` this does not replace the labeler's one-item lease; it does not check status
    (the caller picked unlabeled items)."""
    q = _queue(store, project_id)
    with q.lock:
        now = time.monotonic()
        if any(q.holder(int(i), now) not in (None, user) for i in item_ids):
            return False
        for i in item_ids:
            q.leases[int(i)] = (user, now + lease_minutes * 60)
    return True


def held_by(store: Store, project_id: int, item_ids: Iterable[int], user: str) -> list[int]:
    """Those of ``item_ids`` whose lease ``user`` holds now."""
    q = _queue(store, project_id)
    with q.lock:
        now = time.monotonic()
        return [int(i) for i in item_ids if q.holder(int(i), now) == user]


def release(store: Store, item_id: int, project_id: int | None = None) -> None:
    """End whatever lease an item has (after a save or a skip)."""
    queues: dict[int, _ProjectQueue] = store.caches.get("queue", {})
    for pid, q in list(queues.items()):
        if project_id is not None and pid != project_id:
            continue
        with q.lock:
            q._drop(item_id)


def leased_items(store: Store, project_id: int) -> dict[int, str]:
    """Items handed out right now and to whom (for the dashboard)."""
    q = _queue(store, project_id)
    now = time.monotonic()
    with q.lock:
        return {i: u for i, (u, exp) in q.leases.items() if exp >= now}


def _refill(store: Store, project_id: int, q: _ProjectQueue) -> None:
    now = time.monotonic()
    with q.lock:
        held = [i for i, (_, exp) in q.leases.items() if exp >= now]
    from core.quality import consensus  # here: it imports this module's importers

    blind_sql, blind_params = consensus.queue_filter(store, project_id)  # consensus items go out blind only
    rows = store.query(
        "SELECT id FROM items WHERE project_id = ? AND status = 'new' AND id NOT IN (SELECT unnest(?))"
        + blind_sql
        + " ORDER BY queue_rank NULLS LAST, id LIMIT ?",
        [project_id, held, *blind_params, _BATCH],
    )
    with q.lock:
        buffered = set(q.ids)
        q.ids.extend(r[0] for r in rows if r[0] not in buffered)


def _refill_in_background(store: Store, project_id: int, q: _ProjectQueue) -> None:
    """Top the buffer up before it runs dry, so no labeler waits for the ordered read."""
    with q.lock:
        if q.refilling or len(q.ids) >= _LOW_WATER:
            return
        q.refilling = True

    def work() -> None:
        try:
            _refill(store, project_id, q)
        except Exception:  # the next labeler refills in the foreground
            pass
        finally:
            with q.lock:
                q.refilling = False

    threading.Thread(target=work, name="annota-queue-refill", daemon=True).start()


def rejected_item_id(store: Store, project_id: int, user: str, exclude: set[int] | None = None) -> int | None:
    """The oldest-rejected item ``user`` labeled that waits for their fix (``items.review_state``), unless they
    skipped it since it was rejected; no lease: only its labeler is handed it (the reason:
    ``core.quality.review.rejection``)."""
    if not store.query(  # the usual case, nothing rejected: ~1 ms at 500,000 items (the full look-up ~40 ms)
        "SELECT 1 FROM items WHERE project_id = ? AND review_state = 'rejected' AND labeled_by = ? LIMIT 1",
        [project_id, user],
    ):
        return None
    rows = store.query(
        "SELECT i.id FROM items i JOIN (SELECT item_id, max(created_at) AS t FROM reviews WHERE project_id = ?"
        " GROUP BY item_id) r ON r.item_id = i.id WHERE i.project_id = ? AND i.review_state = 'rejected'"
        " AND i.labeled_by = ? AND i.id NOT IN (SELECT unnest(?)) AND NOT EXISTS (SELECT 1 FROM skips s"
        " WHERE s.item_id = i.id AND s.author = ? AND s.created_at >= r.t) ORDER BY r.t, i.id LIMIT 1",
        [project_id, project_id, user, sorted(exclude or ()), user],
    )
    return int(rows[0][0]) if rows else None


def next_item_id(
    store: Store, project_id: int, user: str, *, lease_minutes: float = 10, exclude: set[int] | None = None
) -> int | None:
    """The labeler's next item id, leased to them; ``None`` when nothing waits (skipped items excluded).

    First comes an item of theirs a reviewer rejected (``rejected_item_id``), then their lease, then a blind
    (consensus or gold) item, then the queue."""
    rejected = rejected_item_id(store, project_id, user, exclude)
    if rejected is not None:
        return rejected
    own = current_lease(store, project_id, user)
    if own is not None and not (exclude and own in exclude):
        return own
    from core.quality import consensus

    blind = consensus.next_blind_item(store, project_id, user, lease_minutes=lease_minutes, exclude=exclude)
    if blind is not None:  # a consensus or gold item, answered blind (``core.quality.consensus``)
        return blind[0]
    q = _queue(store, project_id)
    for _ in range(4):  # a few refills at most: each refill reads only unleased new items
        while True:
            with q.lock:
                if not q.ids:
                    break
                candidate = q.ids.popleft()
            if exclude and candidate in exclude:
                continue
            if claim(store, project_id, candidate, user, lease_minutes=lease_minutes):
                _refill_in_background(store, project_id, q)
                return candidate
        _refill(store, project_id, q)
        with q.lock:
            if not q.ids:
                return None
    return None


def next_item(store: Store, project_id: int, user: str, *, lease_minutes: float = 10) -> Item | None:
    item_id = next_item_id(store, project_id, user, lease_minutes=lease_minutes)
    return get_item(store, item_id) if item_id is not None else None


def upcoming_ids(store: Store, project_id: int, n: int = 3) -> list[int]:
    """The next few candidates in the buffer (not leased), for preparing their images ahead."""
    q = _queue(store, project_id)
    with q.lock:
        return list(q.ids)[:n]


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
