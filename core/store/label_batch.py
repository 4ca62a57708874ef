"""Saving many items' labels at once (imports): ``save_label``'s rules, one transaction per batch.

Each write names the version it was read at (``base_version``), exactly as one save does: a payload is
validated against the item's image size and the project's classes (``core.domain.validate_payload``),
a new annotation version is inserted naming its parent, and the item points at it. An item someone
saved after ``base_version`` is **stale** and left as it is (nothing is overwritten); a payload that
does not validate is **refused** with the reason. Both are returned, the rest is saved, in one
transaction: set-based SQL, so 100,000 labels take seconds, not one round trip each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from core import domain
from core.domain import Source, User, ValidationError
from core.permissions import Action, can, require
from core.store import queue
from core.store.db import Store, dumps
from core.store.labels import VIA, _rules, author_for, utcnow


@dataclass(frozen=True)
class LabelWrite:
    item_id: int
    payload: dict[str, Any]
    base_version: int
    origin: str | None = None  # the file the label came from (imports)
    duration_ms: int | None = None  # time the person spent on it (a grid page: the page's time shared out)
    proposal_kept: bool | None = None  # a shown proposal: whether the label kept it (``labels.save_label``)


@dataclass
class BatchOutcome:
    saved: dict[int, int] = field(default_factory=dict)  # item id -> its new version
    refused: dict[int, str] = field(default_factory=dict)  # item id -> why (validation, missing item)
    stale: list[int] = field(default_factory=list)  # saved by someone after base_version: left alone


def save_labels(
    store: Store,
    project_id: int,
    writes: Sequence[LabelWrite],
    *,
    by: User,
    author: str | None = None,
    source: Source | str = Source.IMPORT,
    via: str = "item",
) -> BatchOutcome:
    """Validate and save a new version for each write, in one transaction (see the module notes).

    ``by`` needs ``LABEL`` in the project; without ``REVIEW`` a write over someone else's label is
    refused (that item alone, as in ``labels.save_label``)."""
    src = Source(source)
    if via not in VIA:
        raise ValueError(f"via must be one of {sorted(VIA)}")
    author = author_for(by, author)
    require(store, by, Action.LABEL, project_id)
    corrects = can(store, by, Action.REVIEW, project_id)

    def tx(cur: duckdb.DuckDBPyConnection) -> BatchOutcome:
        out = BatchOutcome()
        if not writes:
            return out
        rules = _rules(cur, project_id)
        ids = [w.item_id for w in writes]
        rows = cur.execute(
            "SELECT i.id, i.width, i.height, i.version, i.annotation_id, a.author FROM items i"
            " LEFT JOIN annotations a ON a.id = i.annotation_id"
            " WHERE i.project_id = ? AND i.id IN (SELECT unnest(?))",
            [project_id, ids],
        ).fetchall()
        items = {r[0]: r for r in rows}
        ok: list[tuple[LabelWrite, dict[str, Any], list[int], int | None]] = []
        seen: set[int] = set()
        for w in writes:
            row = items.get(w.item_id)
            if row is None:
                out.refused[w.item_id] = f"item {w.item_id} is not in this project (it may have been removed)"
                continue
            if w.item_id in seen:
                out.refused[w.item_id] = f"item {w.item_id} has two labels in one batch"
                continue
            seen.add(w.item_id)
            if row[3] != w.base_version:
                out.stale.append(w.item_id)
                continue
            if not corrects and row[5] is not None and row[5] != author:
                out.refused[w.item_id] = (
                    f"the label is {row[5]}'s; only a reviewer or an owner may correct it"
                )
                continue
            try:
                clean = domain.validate_payload(rules.task_type, w.payload, row[1], row[2], rules.class_ids)
            except ValidationError as exc:
                out.refused[w.item_id] = str(exc)
                continue
            ok.append((w, clean, domain.payload_class_ids(rules.task_type, clean), row[4]))
        if not ok:
            return out
        ann_ids = [
            r[0] for r in cur.execute("SELECT nextval('seq_annotations') FROM range(?)", [len(ok)]).fetchall()
        ]
        now = utcnow()
        table = pa.table(
            {
                "item_id": pa.array([w.item_id for w, *_ in ok], pa.int64()),
                "base_version": pa.array([w.base_version for w, *_ in ok], pa.int32()),
                "ann_id": pa.array(ann_ids, pa.int64()),
                "parent_id": pa.array([parent for *_, parent in ok], pa.int64()),
                "payload": [dumps(clean) for _, clean, _, _ in ok],
                "class_ids": pa.array([cids for _, _, cids, _ in ok], pa.list_(pa.int32())),
                "origin": [w.origin for w, *_ in ok],
                "duration_ms": pa.array([w.duration_ms for w, *_ in ok], pa.int32()),
                "proposal_kept": pa.array([w.proposal_kept for w, *_ in ok], pa.bool_()),
            }
        )
        cur.register("label_batch", table)
        try:
            # a plain UPDATE, then read back which items took it: DuckDB's UPDATE ... RETURNING writes whole
            # rows back without a conflict, so a save committed meanwhile would be overwritten silently
            # (tests/core/test_store_returning.py)
            cur.execute(
                "UPDATE items SET version = b.base_version + 1, annotation_id = b.ann_id, status = 'labeled',"
                " class_ids = b.class_ids, labeled_by = ?, labeled_at = ?, updated_at = ?,"
                " review_state = CASE WHEN items.review_state IS NULL THEN NULL ELSE 'fixed' END FROM label_batch b"
                " WHERE items.id = b.item_id AND items.version = b.base_version",
                [author, now, now],
            )
            updated = cur.execute(
                "SELECT items.id, items.version FROM items JOIN label_batch b ON items.id = b.item_id"
                " WHERE items.annotation_id = b.ann_id"
            ).fetchall()
            done = {r[0]: r[1] for r in updated}
            cur.execute(
                "INSERT INTO annotations (id, project_id, item_id, version, parent_id, author, source, payload,"
                " class_ids, created_at, via, origin, duration_ms, proposal_kept) SELECT b.ann_id, ?, b.item_id,"
                " b.base_version + 1, b.parent_id, ?, ?, b.payload, b.class_ids, ?, ?, b.origin, b.duration_ms,"
                " b.proposal_kept FROM label_batch b"
                " WHERE b.item_id IN (SELECT unnest(?))",
                [project_id, author, src.value, now, via, list(done)],
            )
        finally:
            cur.unregister("label_batch")
        out.saved = done
        out.stale.extend(w.item_id for w, *_ in ok if w.item_id not in done)
        return out

    outcome = store.write(tx)
    for item_id in outcome.saved:
        queue.release(store, item_id, project_id)
    return outcome
