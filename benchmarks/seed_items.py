"""A multi-class project filled at scale in two SQL statements (500,000 items in seconds), for the store
and UI benchmarks: ``n`` items, the first half labeled with one annotation version each (class
``first_class + i % 5``, by ``labeler0``..``labeler7``, spread over the last 30 days), the rest new."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

PLACEHOLDER_IMAGES = "'/bench/img' || i || '.jpg', 320, 240"  # no files behind them: the store alone


def insert_half_labeled(
    cur: Any,
    project_id: int,
    first_class: int,
    n: int,
    *,
    images: str = PLACEHOLDER_IMAGES,
    join: str = "",
    join_params: Sequence[Any] = (),
) -> None:
    """Insert the items and the annotations of the labeled half (ids from 1; the caller moves the
    sequences on). ``images`` is the SQL of each item's ``path, width, height`` from its number ``i``
    (``join`` may add a table to take them from, with its parameters)."""
    half = n // 2
    cur.execute(
        "INSERT INTO annotations (id, project_id, item_id, version, author, source, payload, class_ids, created_at)"
        " SELECT i + 1, ?, i + 1, 1, 'labeler' || (i % 8), 'human', '{\"class_id\":' || (? + i % 5) || '}',"
        " [? + i % 5], now()::TIMESTAMP - to_days(CAST(i % 30 AS INTEGER)) FROM range(?) t(i)",
        [project_id, first_class, first_class, half],
    )
    cur.execute(
        "INSERT INTO items (id, project_id, path, width, height, sha1, bytes, status, version, annotation_id,"
        " class_ids, labeled_by, labeled_at)"
        f" SELECT i + 1, ?, {images}, md5(i::VARCHAR), 20000,"
        " CASE WHEN i < ? THEN 'labeled' ELSE 'new' END, CASE WHEN i < ? THEN 1 ELSE 0 END,"
        " CASE WHEN i < ? THEN i + 1 END, CASE WHEN i < ? THEN [? + i % 5] END,"
        " CASE WHEN i < ? THEN 'labeler' || (i % 8) END, CASE WHEN i < ? THEN now()::TIMESTAMP END"
        f" FROM range(?) t(i){join}",
        [project_id, half, half, half, half, first_class, half, half, n, *join_params],
    )
