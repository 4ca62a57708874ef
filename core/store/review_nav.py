"""Stepping through a filtered list of items one at a time (the Review page's detail view).

The list is the Review grid's: newest label first, then by id (``core.store.items.list_items``). A
``Cursor`` holds the place of an item in that order as it was when the item was opened, so stepping
on after a correction (which moves the corrected item to the top) continues from where the person
was, not from the top.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.domain import NotFound
from core.store.db import Store
from core.store.items import ItemFilter, _where


@dataclass(frozen=True)
class Cursor:
    item_id: int
    labeled_at: datetime | None  # the item's sort key when it was opened


def cursor_for(store: Store, item_id: int) -> Cursor:
    rows = store.query("SELECT labeled_at FROM items WHERE id = ?", [item_id])
    if not rows:
        raise NotFound(f"Image {item_id} is no longer in the project.")
    return Cursor(int(item_id), rows[0][0])


def _before(c: Cursor) -> tuple[str, list[object]]:
    """Items that come before the cursor in the list's order."""
    if c.labeled_at is None:
        return "(i.labeled_at IS NOT NULL OR i.id < ?)", [c.item_id]
    return "(i.labeled_at > ? OR (i.labeled_at = ? AND i.id < ?))", [c.labeled_at, c.labeled_at, c.item_id]


def _after(c: Cursor) -> tuple[str, list[object]]:
    """Items that come after the cursor in the list's order."""
    if c.labeled_at is None:
        return "(i.labeled_at IS NULL AND i.id > ?)", [c.item_id]
    return "(i.labeled_at IS NULL OR i.labeled_at < ? OR (i.labeled_at = ? AND i.id > ?))", [
        c.labeled_at,
        c.labeled_at,
        c.item_id,
    ]


def step(store: Store, project_id: int, f: ItemFilter, cursor: Cursor, direction: int) -> Cursor | None:
    """The item just after (``direction`` > 0) or just before the cursor among those matching ``f``;
    None at an end of the list."""
    where, params = _where(project_id, f)
    if direction > 0:
        cond, extra = _after(cursor)
        order = "i.labeled_at DESC NULLS LAST, i.id"
    else:
        cond, extra = _before(cursor)
        order = "i.labeled_at ASC NULLS FIRST, i.id DESC"
    rows = store.query(
        f"SELECT i.id, i.labeled_at FROM items i WHERE {where} AND {cond} ORDER BY {order} LIMIT 1",
        [*params, *extra],
    )
    return Cursor(int(rows[0][0]), rows[0][1]) if rows else None


def position(store: Store, project_id: int, f: ItemFilter, cursor: Cursor) -> int:
    """How many items matching ``f`` come before the cursor (its 0-based place in the list)."""
    where, params = _where(project_id, f)
    cond, extra = _before(cursor)
    return int(store.scalar(f"SELECT count(*) FROM items i WHERE {where} AND {cond}", [*params, *extra]) or 0)


def matches(store: Store, project_id: int, f: ItemFilter, item_id: int) -> bool:
    """Whether the item is (still) in the filtered list."""
    where, params = _where(project_id, f)
    return bool(store.scalar(f"SELECT count(*) FROM items i WHERE {where} AND i.id = ?", [*params, item_id]))
