"""Items (one image each): bulk insert, look-up, filtered pages."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import pyarrow as pa

from core.domain import Annotation, Item, ItemStatus, NotFound, Source
from core.store.db import Store, loads

_ITEM_COLS = (
    "i.id, i.project_id, i.path, i.width, i.height, i.sha1, i.status, i.version, i.created_at, i.updated_at"
)
_ANN_COLS = "a.id, a.item_id, a.version, a.parent_id, a.author, a.source, a.payload, a.created_at"


@dataclass(frozen=True)
class NewItem:
    """An image ready to be added: its probed size (after EXIF orientation) and content hash."""

    path: str
    width: int
    height: int
    sha1: str
    bytes: int = 0
    orientation: int = 1


def annotation_from_row(row: Sequence[Any]) -> Annotation:
    return Annotation(
        id=row[0],
        item_id=row[1],
        version=row[2],
        parent_id=row[3],
        author=row[4],
        source=Source(row[5]),
        payload=loads(row[6]) or {},
        created_at=row[7],
    )


def _item(row: Sequence[Any], ann: Annotation | None = None) -> Item:
    return Item(
        id=row[0],
        project_id=row[1],
        path=row[2],
        width=row[3],
        height=row[4],
        sha1=row[5],
        status=ItemStatus(row[6]),
        version=row[7],
        created_at=row[8],
        updated_at=row[9],
        annotation=ann,
    )


def known_hashes(store: Store, project_id: int) -> set[str]:
    """The SHA-1s of the project's images and of the images removed from it (never imported again)."""
    return {
        r[0]
        for r in store.query(
            "SELECT sha1 FROM items WHERE project_id = ? UNION SELECT sha1 FROM removed_items WHERE project_id = ?",
            [project_id, project_id],
        )
    }


def known_paths(store: Store, project_id: int) -> set[str]:
    """The paths of the project's images and of the images removed from it (never imported again)."""
    return {
        r[0]
        for r in store.query(
            "SELECT path FROM items WHERE project_id = ? UNION SELECT path FROM removed_items WHERE project_id = ?",
            [project_id, project_id],
        )
    }


def add_items(store: Store, project_id: int, items: Iterable[NewItem], source_id: int | None = None) -> int:
    """Insert items in one bulk statement (deduplication by hash is the caller's: see core.images)."""
    rows = list(items)
    if not rows:
        return 0
    table = pa.table(
        {
            "path": [r.path for r in rows],
            "width": pa.array([r.width for r in rows], pa.int32()),
            "height": pa.array([r.height for r in rows], pa.int32()),
            "orientation": pa.array([r.orientation for r in rows], pa.int16()),
            "sha1": [r.sha1 for r in rows],
            "bytes": pa.array([r.bytes for r in rows], pa.int64()),
        }
    )

    def tx(cur: Any) -> int:
        cur.register("new_items", table)
        try:
            cur.execute(
                "INSERT INTO items (id, project_id, source_id, path, width, height, orientation, sha1, bytes)"
                " SELECT nextval('seq_items'), ?, ?, path, width, height, orientation, sha1, bytes FROM new_items",
                [project_id, source_id],
            )
        finally:
            cur.unregister("new_items")
        return len(rows)

    return store.write(tx)


def get_item(store: Store, item_id: int, *, with_annotation: bool = True) -> Item:
    row = store.query_one(f"SELECT {_ITEM_COLS}, i.annotation_id FROM items i WHERE i.id = ?", [item_id])
    if row is None:
        raise NotFound(f"Item {item_id} does not exist.")
    ann = None
    if with_annotation and row[10] is not None:
        arow = store.query_one(f"SELECT {_ANN_COLS} FROM annotations a WHERE a.id = ?", [row[10]])
        ann = annotation_from_row(arow) if arow else None
    return _item(row, ann)


def get_items(store: Store, item_ids: Sequence[int]) -> list[Item]:
    """Several items with their current annotations, in the order asked."""
    if not item_ids:
        return []
    rows = store.query(
        f"SELECT {_ITEM_COLS}, {_ANN_COLS} FROM items i LEFT JOIN annotations a ON a.id = i.annotation_id"
        " WHERE i.id IN (SELECT unnest(?))",
        [list(item_ids)],
    )
    by_id = {r[0]: _item(r[:10], annotation_from_row(r[10:]) if r[10] is not None else None) for r in rows}
    return [by_id[i] for i in item_ids if i in by_id]


# the review states a filter takes (core.quality.review); ``awaiting``: labeled or fixed, no verdict yet
REVIEW_STATES = ("awaiting", "fixed", "rejected", "approved")


@dataclass(frozen=True)
class ItemFilter:
    status: str | None = None
    class_id: int | None = None
    labeled_by: str | None = None
    source: str | None = None  # of the current annotation
    review_state: str | None = None  # one of REVIEW_STATES (core.quality.review)
    disagrees: bool = False  # the newest stored prediction's classes differ from the label's
    agreement_below: float | None = None  # consensus agreement (0..1) under this
    labeled_from: date | None = None  # labeled on or after this day
    labeled_to: date | None = None  # labeled on or before this day


def _where(project_id: int, f: ItemFilter) -> tuple[str, list[Any]]:
    clauses: list[str] = ["i.project_id = ?"]
    params: list[Any] = [project_id]
    if f.status:
        clauses.append("i.status = ?")
        params.append(f.status)
    if f.class_id is not None:
        clauses.append("list_contains(i.class_ids, ?)")
        params.append(f.class_id)
    if f.labeled_by:
        clauses.append("i.labeled_by = ?")
        params.append(f.labeled_by)
    if f.source:
        clauses.append("i.annotation_id IN (SELECT id FROM annotations WHERE project_id = ? AND source = ?)")
        params.extend([project_id, f.source])
    _review_where(project_id, f, clauses, params)
    return " AND ".join(clauses), params


_AWAITING = (
    "i.annotation_id IS NOT NULL AND i.status IN ('labeled', 'reviewed')"
    " AND coalesce(i.review_state, '') IN ('', 'fixed')"
)


def _review_where(project_id: int, f: ItemFilter, clauses: list[str], params: list[Any]) -> None:
    """The review queue's filters (review state, model disagreement, agreement, labeled dates)."""
    if f.review_state:
        if f.review_state not in REVIEW_STATES:
            raise ValueError(
                f"review state must be one of {', '.join(REVIEW_STATES)}, not {f.review_state!r}"
            )
        if f.review_state == "awaiting":
            clauses.append(f"({_AWAITING})")
        else:
            clauses.append("i.review_state = ?")
            params.append(f.review_state)
    if f.disagrees:
        # uncorrelated: each item's newest prediction (one grouped pass) joined to its label
        clauses.append(
            "i.annotation_id IS NOT NULL AND i.id IN (SELECT q.item_id FROM (SELECT item_id,"
            " arg_max(class_ids, created_at) AS class_ids FROM predictions WHERE project_id = ? GROUP BY item_id) q"
            " JOIN items j ON j.id = q.item_id WHERE list_sort(list_distinct(coalesce(q.class_ids, []::INTEGER[])))"
            " IS DISTINCT FROM list_sort(list_distinct(coalesce(j.class_ids, []::INTEGER[]))))"
        )
        params.append(project_id)
    if f.agreement_below is not None:
        clauses.append(
            "i.id IN (SELECT item_id FROM consensus_items WHERE project_id = ? AND agreement IS NOT NULL"
            " AND agreement < ?)"
        )
        params.extend([project_id, float(f.agreement_below)])
    if f.labeled_from is not None:
        clauses.append("i.labeled_at >= ?")
        params.append(datetime.combine(f.labeled_from, time.min))
    if f.labeled_to is not None:
        clauses.append("i.labeled_at < ?")
        params.append(datetime.combine(f.labeled_to + timedelta(days=1), time.min))


def count_items(store: Store, project_id: int, f: ItemFilter | None = None) -> int:
    where, params = _where(project_id, f or ItemFilter())
    return int(store.scalar(f"SELECT count(*) FROM items i WHERE {where}", params) or 0)


def list_items(
    store: Store, project_id: int, f: ItemFilter | None = None, *, limit: int = 60, offset: int = 0
) -> list[Item]:
    """A page of items (newest label first, then by id) with their current annotations."""
    where, params = _where(project_id, f or ItemFilter())
    ids = [
        r[0]
        for r in store.query(
            f"SELECT i.id FROM items i WHERE {where} ORDER BY i.labeled_at DESC NULLS LAST, i.id LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
    ]
    return get_items(store, ids)


def item_neighbours(store: Store, project_id: int, item_id: int) -> tuple[int | None, int | None]:
    """The previous and next item ids by id within the project."""
    prev = store.scalar("SELECT max(id) FROM items WHERE project_id = ? AND id < ?", [project_id, item_id])
    nxt = store.scalar("SELECT min(id) FROM items WHERE project_id = ? AND id > ?", [project_id, item_id])
    return prev, nxt


def status_counts(store: Store, project_id: int) -> dict[str, int]:
    counts = {s.value: 0 for s in ItemStatus}
    for status, n in store.query(
        "SELECT status, count(*) FROM items WHERE project_id = ? GROUP BY status", [project_id]
    ):
        counts[status] = int(n)
    return counts
