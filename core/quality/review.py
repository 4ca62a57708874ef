"""Reviewing labels: a reviewer approves or rejects (with a reason) the version of an item they saw.

States (``items.review_state``): none (labeled, waiting for a first verdict), ``approved``, ``rejected``
and ``fixed`` (a new version saved after a verdict: ``core.store.labels`` sets it, and the item waits
for review again). Each verdict is a row in ``reviews`` naming the version it is about; a verdict on a
version that is no longer the item's newest is refused with ``StaleReview`` and nothing is written.

The review queue is the items awaiting review: labeled, and either never reviewed or fixed since
(``ItemFilter(review_state="awaiting")``, with the Review page's other filters). A labeler gets their
rejected items back first (``core.store.queue.next_item_id``) with the reason (``rejection``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import duckdb

from core import permissions
from core.domain import NotFound, User, ValidationError
from core.permissions import Action
from core.store.db import Store
from core.store.items import ItemFilter, count_items
from core.store.labels import StaleEdit, current_annotation, utcnow

APPROVED = "approved"
REJECTED = "rejected"
FIXED = "fixed"
AWAITING = "awaiting"  # the queue's state: labeled or fixed, no verdict on this version yet
STATES = (AWAITING, FIXED, REJECTED, APPROVED)
REASON_MAX = 1000


@dataclass(frozen=True)
class Review:
    id: int
    item_id: int
    version: int
    reviewer: str
    verdict: str  # approved | rejected
    reason: str
    created_at: datetime


class StaleReview(StaleEdit):
    """The item was saved again after the version the reviewer looked at."""

    def __init__(self, item_id: int, seen_version: int, store: Store) -> None:
        super().__init__(item_id, seen_version, current_annotation(store, item_id), {})
        now = self.current.version if self.current else 0
        self.args = (
            f"Image {item_id} changed since you looked at it (you saw version {seen_version}, it is now "
            f"version {now}). Nothing was recorded: look at the new version and decide again.",
        )


def _project_of(store: Store, item_id: int) -> int:
    pid = store.scalar("SELECT project_id FROM items WHERE id = ?", [item_id])
    if pid is None:
        raise NotFound(f"Image {item_id} does not exist (it may have been removed).")
    return int(pid)


def _verdict(store: Store, item_id: int, version: int, verdict: str, reason: str, by: User) -> Review:
    project_id = _project_of(store, item_id)
    permissions.require(store, by, Action.REVIEW, project_id)

    def tx(cur: duckdb.DuckDBPyConnection) -> Review | None:
        row = cur.execute("SELECT version, annotation_id FROM items WHERE id = ?", [item_id]).fetchone()
        if row is None:
            raise NotFound(f"Image {item_id} does not exist (it may have been removed).")
        if row[0] != version:
            return None
        if row[1] is None:
            raise ValidationError(f"Image {item_id} has no label yet; there is nothing to review.")
        now = utcnow()
        # ``version = version`` writes the column a save writes: a save committed meanwhile makes this a
        # write conflict (retried, then seen as stale) instead of a verdict on a version nobody saw
        cur.execute(
            "UPDATE items SET review_state = ?, version = version WHERE id = ? AND version = ?",
            [verdict, item_id, version],
        )
        rid = cur.execute("SELECT nextval('seq_reviews')").fetchone()[0]  # type: ignore[index]
        cur.execute(
            "INSERT INTO reviews (id, project_id, item_id, version, reviewer, verdict, reason, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [rid, project_id, item_id, version, by.username, verdict, reason, now],
        )
        return Review(int(rid), item_id, version, by.username, verdict, reason, now)

    done = store.write(tx)
    if done is None:
        raise StaleReview(item_id, version, store)
    return done


def approve(store: Store, item_id: int, *, version: int, by: User) -> Review:
    """Approve version ``version`` of the item's label (``StaleReview`` if it is no longer the newest)."""
    return _verdict(store, item_id, version, APPROVED, "", by)


def reject(store: Store, item_id: int, *, version: int, reason: str, by: User) -> Review:
    """Reject version ``version`` of the item's label; ``reason`` (required) tells the labeler what to fix."""
    text = " ".join((reason or "").split())
    if not text:
        raise ValidationError("Say why the label is rejected: the labeler sees the reason with the image.")
    if len(text) > REASON_MAX:
        raise ValidationError(f"The reason is {len(text):,} characters long; {REASON_MAX:,} at most.")
    return _verdict(store, item_id, version, REJECTED, text, by)


def _reviews(rows: Iterable[Sequence[Any]]) -> list[Review]:
    return [Review(int(r[0]), int(r[1]), int(r[2]), r[3], r[4], r[5] or "", r[6]) for r in rows]


_REVIEW_COLS = "id, item_id, version, reviewer, verdict, reason, created_at"


def review_history(store: Store, item_id: int) -> list[Review]:
    """Every verdict on the item, newest first."""
    return _reviews(
        store.query(f"SELECT {_REVIEW_COLS} FROM reviews WHERE item_id = ? ORDER BY id DESC", [item_id])
    )


def review_state(store: Store, item_id: int) -> str | None:
    """The item's state: ``approved``, ``rejected``, ``fixed``, ``awaiting`` (labeled, no verdict), or
    None (no label yet)."""
    return review_states(store, [item_id]).get(item_id)


def review_states(store: Store, item_ids: Sequence[int]) -> dict[int, str | None]:
    """``review_state`` for several items at once (the Review grid's chips)."""
    if not item_ids:
        return {}
    rows = store.query(
        "SELECT id, review_state, annotation_id IS NOT NULL FROM items WHERE id IN (SELECT unnest(?))",
        [list(item_ids)],
    )
    return {int(r[0]): r[1] or (AWAITING if r[2] else None) for r in rows}


def rejection(store: Store, item_id: int) -> Review | None:
    """The verdict that sent the item back, while it waits for a fix (None otherwise)."""
    rows = store.query(
        f"SELECT {_REVIEW_COLS} FROM reviews WHERE item_id = ? AND verdict = 'rejected'"
        " AND EXISTS (SELECT 1 FROM items WHERE id = ? AND review_state = 'rejected') ORDER BY id DESC LIMIT 1",
        [item_id, item_id],
    )
    return _reviews(rows)[0] if rows else None


def queue_filter(f: ItemFilter | None = None) -> ItemFilter:
    """``f`` limited to the review queue (items awaiting review)."""
    return replace(f or ItemFilter(), review_state=AWAITING)


def queue_count(store: Store, project_id: int, f: ItemFilter | None = None) -> int:
    """How many items await review (with the other filters of ``f``)."""
    return count_items(store, project_id, queue_filter(f))


def mark_gold(store: Store, item_ids: Sequence[int], gold: bool, *, by: User) -> int:
    """Mark approved items as gold (reference answers), or unmark any; returns how many changed.

    Only an approved label can be gold: marking anything else is refused whole, naming the items."""
    ids = sorted({int(i) for i in item_ids})
    if not ids:
        return 0
    rows = store.query(
        "SELECT id, project_id, review_state, gold FROM items WHERE id IN (SELECT unnest(?))", [ids]
    )
    missing = sorted(set(ids) - {int(r[0]) for r in rows})
    if missing:
        raise NotFound(
            f"Image(s) {', '.join(map(str, missing[:10]))} do not exist (they may have been removed)."
        )
    for pid in sorted({int(r[1]) for r in rows}):
        permissions.require(store, by, Action.REVIEW, pid)
    if gold:
        not_approved = [int(r[0]) for r in rows if r[2] != APPROVED]
        if not_approved:
            shown = ", ".join(map(str, not_approved[:10])) + (" …" if len(not_approved) > 10 else "")
            raise ValidationError(f"Only approved labels can be gold; not approved: image(s) {shown}.")
    change = [int(r[0]) for r in rows if bool(r[3]) != gold]
    if not change:
        return 0

    def tx(cur: duckdb.DuckDBPyConnection) -> None:
        if gold:  # approved when read, and still approved now
            cur.execute(
                "UPDATE items SET gold = true WHERE id IN (SELECT unnest(?)) AND review_state = 'approved'",
                [change],
            )
        else:
            cur.execute("UPDATE items SET gold = false WHERE id IN (SELECT unnest(?))", [change])

    store.write(tx)
    return len(change)
