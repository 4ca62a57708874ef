"""Saving labels as versions, skipping, history: the labeling operations on one item.

Annotations are never updated in place. Each save inserts a new version that names its parent, and
the item points at its newest. A save carries the version it edits (``base_version``); when someone
else saved first the save is refused with ``StaleEdit``, which holds both versions, and nothing is
written.

Who may save (``core.permissions``): ``LABEL`` labels an image and changes one's own label; changing a
label whose newest version is someone else's is a correction and needs ``REVIEW`` (reviewers, owners,
admins). ``author`` is the acting user's name (``by.username``); only an admin (or ``SYSTEM``: imports,
jobs, the command line) may save under another name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb

from core import domain
from core.domain import Annotation, ItemStatus, NotFound, Role, Source, TaskType, User
from core.permissions import SYSTEM, Action, Forbidden, can, require
from core.store import queue
from core.store.db import Store, dumps
from core.store.items import _ANN_COLS, annotation_from_row

VIA = frozenset({"item", "page"})


class StaleEdit(RuntimeError):
    """Someone saved this item after the version the labeler started from."""

    def __init__(
        self, item_id: int, base_version: int, current: Annotation | None, attempted: dict[str, Any]
    ):
        self.item_id = item_id
        self.base_version = base_version
        self.current = current
        self.attempted = attempted
        who = f"{current.author} (version {current.version})" if current else "someone"
        super().__init__(
            f"Item {item_id} was saved by {who} while you were editing version {base_version}. "
            "Nothing was overwritten: choose which version to keep."
        )


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class _ProjectRules:
    task_type: TaskType
    class_ids: frozenset[int]


def _rules(cur: duckdb.DuckDBPyConnection, project_id: int) -> _ProjectRules:
    task = cur.execute("SELECT task_type FROM projects WHERE id = ?", [project_id]).fetchone()
    if task is None:
        raise NotFound(f"Project {project_id} does not exist.")
    ids = cur.execute("SELECT id FROM label_classes WHERE project_id = ?", [project_id]).fetchall()
    return _ProjectRules(TaskType(task[0]), frozenset(r[0] for r in ids))


def current_annotation(store: Store, item_id: int) -> Annotation | None:
    row = store.query_one(
        f"SELECT {_ANN_COLS} FROM items i JOIN annotations a ON a.id = i.annotation_id WHERE i.id = ?",
        [item_id],
    )
    return annotation_from_row(row) if row else None


def author_for(by: User, author: str | None) -> str:
    """The name a write is recorded under: ``by``'s own, or another one given by an admin (or SYSTEM)."""
    if author is None or author == by.username:
        return by.username
    if by.role is not Role.ADMIN:
        raise Forbidden(f"{by.username} may not save labels under another name ({author}).")
    return author


def check_may_label(
    store: Store, item_id: int, by: User, author: str, base_version: int | None = None
) -> int:
    """Raise ``Forbidden`` unless ``by`` may save a label on the item (see the module notes); returns
    the item's project. A save from an older version than the item's is left to ``StaleEdit`` (the
    person sees both versions first; overwriting someone else's then needs ``REVIEW``)."""
    row = store.query_one(
        "SELECT i.project_id, a.author, i.version FROM items i LEFT JOIN annotations a ON a.id = i.annotation_id"
        " WHERE i.id = ?",
        [item_id],
    )
    if row is None:
        raise NotFound(f"Item {item_id} does not exist (it may have been removed).")
    project_id, previous, version = row
    require(store, by, Action.LABEL, project_id)
    if base_version is not None and base_version != version:
        return int(project_id)  # stale: the save is refused with both versions
    if previous is not None and previous != author and not can(store, by, Action.REVIEW, project_id):
        raise Forbidden(
            f"This image's label is {previous}'s; {by.username} may change only their own labels"
            " (a reviewer or an owner may correct it)."
        )
    return int(project_id)


def save_label(
    store: Store,
    item_id: int,
    payload: dict[str, Any],
    *,
    by: User,
    base_version: int,
    author: str | None = None,
    source: Source | str = Source.HUMAN,
    duration_ms: int | None = None,
    via: str = "item",
    proposal_kept: bool | None = None,
    origin: str | None = None,
) -> Annotation:
    """Validate and save a new version of an item's label. Raises ``ValidationError`` or ``StaleEdit``.

    ``via`` says how the label was given: ``item`` (one image at a time) or ``page`` (a cluster page
    of look-alike images labeled at once). Calibration uses only ``item`` labels: pages pick easy,
    alike images, so their labels would make a model's held-out precision look better than it is.
    ``proposal_kept``: where the model's proposal was shown, whether this label kept it (``None``:
    no proposal was shown); the live precision of proposals counts these, for all time.
    ``origin``: the file an imported label came from (``source = import``).
    """
    src = Source(source)
    if via not in VIA:
        raise ValueError(f"via must be one of {sorted(VIA)}")
    author = author_for(by, author)
    check_may_label(store, item_id, by, author, base_version)

    def tx(cur: duckdb.DuckDBPyConnection) -> Annotation | None:
        row = cur.execute(
            "SELECT project_id, width, height, version, annotation_id FROM items WHERE id = ?", [item_id]
        ).fetchone()
        if row is None:
            raise NotFound(f"Item {item_id} does not exist (it may have been removed).")
        project_id, width, height, version, parent_id = row
        if version != base_version:
            return None
        rules = _rules(cur, project_id)
        clean = domain.validate_payload(rules.task_type, payload, width, height, rules.class_ids)
        class_ids = domain.payload_class_ids(rules.task_type, clean)
        now = utcnow()
        new_version = version + 1
        ann_id = cur.execute("SELECT nextval('seq_annotations')").fetchone()[0]  # type: ignore[index]
        # a plain UPDATE, then read back whether it took (the fresh annotation id is ours alone): DuckDB's
        # UPDATE ... RETURNING writes the whole row back and would silently undo a concurrent commit to
        # other columns (queue ranks, a review verdict; tests/core/test_store_returning.py)
        cur.execute(
            "UPDATE items SET version = ?, annotation_id = ?, status = 'labeled', class_ids = ?, labeled_by = ?,"
            " labeled_at = ?, updated_at = ?, review_state = CASE WHEN review_state IS NULL THEN NULL ELSE 'fixed' END"
            " WHERE id = ? AND version = ?",  # a reviewed item's new version waits for review again
            [new_version, ann_id, class_ids, author, now, now, item_id, version],
        )
        took = cur.execute("SELECT annotation_id FROM items WHERE id = ?", [item_id]).fetchone()
        if took is None or took[0] != ann_id:
            return None
        cur.execute(
            "INSERT INTO annotations (id, project_id, item_id, version, parent_id, author, source, payload, class_ids,"
            " duration_ms, created_at, via, proposal_kept, origin) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                ann_id,
                project_id,
                item_id,
                new_version,
                parent_id,
                author,
                src.value,
                dumps(clean),
                class_ids,
                duration_ms,
                now,
                via,
                proposal_kept,
                origin,
            ],
        )
        return Annotation(ann_id, item_id, new_version, parent_id, author, src, clean, now)

    saved = store.write(tx)
    queue.release(store, item_id)
    if saved is None:
        raise StaleEdit(item_id, base_version, current_annotation(store, item_id), payload)
    return saved


def skip_item(store: Store, item_id: int, *, by: User, reason: str = "", author: str | None = None) -> None:
    """Put an item aside; it leaves the queue and waits in the skipped list (its labels, if any, stay)."""
    author = author_for(by, author)
    project_id = store.scalar("SELECT project_id FROM items WHERE id = ?", [item_id])
    if project_id is None:
        raise NotFound(f"Item {item_id} does not exist.")
    require(store, by, Action.LABEL, int(project_id))
    now = utcnow()

    def tx(cur: duckdb.DuckDBPyConnection) -> None:
        row = cur.execute("SELECT project_id, status FROM items WHERE id = ?", [item_id]).fetchone()
        if row is None:
            raise NotFound(f"Item {item_id} does not exist.")
        project_id, status = row
        new_status = ItemStatus.SKIPPED.value if status in ("new", "prelabeled", "skipped") else status
        cur.execute(
            "UPDATE items SET status = ?, updated_at = ? WHERE id = ?",
            [new_status, now, item_id],
        )
        cur.execute(
            "INSERT INTO skips (project_id, item_id, author, reason, created_at) VALUES (?, ?, ?, ?, ?)",
            [project_id, item_id, author, (reason or "").strip()[:500], now],
        )

    store.write(tx)
    queue.release(store, item_id)


def history(store: Store, item_id: int) -> list[Annotation]:
    """Every version of an item's label, newest first."""
    return [
        annotation_from_row(r)
        for r in store.query(
            f"SELECT {_ANN_COLS} FROM annotations a WHERE a.item_id = ? ORDER BY a.version DESC", [item_id]
        )
    ]


@dataclass(frozen=True)
class SkipRecord:
    item_id: int
    author: str
    reason: str
    created_at: datetime


def skipped_items(store: Store, project_id: int, *, limit: int = 200, offset: int = 0) -> list[SkipRecord]:
    """Items waiting in the skipped list, with the newest skip's who/when/why."""
    rows = store.query(
        "SELECT s.item_id, s.author, s.reason, s.created_at FROM items i"
        " JOIN (SELECT item_id, author, reason, created_at,"
        "       row_number() OVER (PARTITION BY item_id ORDER BY id DESC) AS rn FROM skips WHERE project_id = ?) s"
        "   ON s.item_id = i.id AND s.rn = 1"
        " WHERE i.project_id = ? AND i.status = 'skipped' ORDER BY s.created_at DESC LIMIT ? OFFSET ?",
        [project_id, project_id, limit, offset],
    )
    return [SkipRecord(*r) for r in rows]


def recent_by(store: Store, project_id: int, author: str, *, limit: int = 50) -> list[int]:
    """Item ids this person labeled or skipped, newest first (for "Back")."""
    rows = store.query(
        "SELECT item_id, max(t) AS t FROM ("
        "  SELECT item_id, created_at AS t FROM annotations WHERE project_id = ? AND author = ?"
        "  UNION ALL SELECT item_id, created_at FROM skips WHERE project_id = ? AND author = ?)"
        " GROUP BY item_id ORDER BY t DESC LIMIT ?",
        [project_id, author, project_id, author, limit],
    )
    return [r[0] for r in rows]


def reassign_class(store: Store, project_id: int, from_class: int, to_class: int, *, by: User) -> int:
    """Give every item labeled with ``from_class`` a new version using ``to_class`` instead (a class
    change, ``MANAGE``: each new version keeps its previous author)."""
    require(store, by, Action.MANAGE, project_id)
    task = TaskType(store.scalar("SELECT task_type FROM projects WHERE id = ?", [project_id]))
    rows = store.query(
        "SELECT id, version FROM items WHERE project_id = ? AND list_contains(class_ids, ?)",
        [project_id, from_class],
    )
    n = 0
    for item_id, version in rows:
        ann = current_annotation(store, item_id)
        if ann is None:
            continue
        save_label(
            store,
            item_id,
            replace_class(task, ann.payload, from_class, to_class),
            by=SYSTEM,  # checked above; the new version keeps the label's author
            author=ann.author,
            base_version=version,
            source=ann.source,
        )
        n += 1
    return n


def replace_class(task: TaskType, payload: dict[str, Any], old: int, new: int) -> dict[str, Any]:
    if task is TaskType.MULTICLASS:
        return {"class_id": new if payload.get("class_id") == old else payload.get("class_id")}
    if task is TaskType.MULTILABEL:
        return {"class_ids": sorted({new if c == old else c for c in payload.get("class_ids", [])})}
    key = "boxes" if task is TaskType.BOXES else "polygons"
    return {
        key: [{**o, "class_id": new if o["class_id"] == old else o["class_id"]} for o in payload.get(key, [])]
    }
