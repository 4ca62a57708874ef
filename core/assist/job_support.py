"""Small helpers the assist job handlers share (classification and detection jobs alike).

* ``job_project_id``: the project a job works on (its ``project_id``, or ``params["project_id"]``).
* ``missing_items``: the next items without an embedding of a model, in id order.
* ``error_collector``: an ``on_error`` callback for ``Backbone.embed_paths`` that keeps the messages.
* ``insert_embeddings``: embedding rows written in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core import jobs
from core.store.db import Store


def job_project_id(ctx: jobs.JobContext) -> int:
    """The job's project; an assist job without one is an error."""
    pid = ctx.project_id if ctx.project_id is not None else ctx.params.get("project_id")
    if pid is None:
        raise ValueError("an assist job needs a project")
    return int(pid)


def missing_items(
    store: Store, project_id: int, model_id: str, skip: set[int], limit: int
) -> list[tuple[int, str]]:
    """``(item id, path)`` of up to ``limit`` items with no ``model_id`` embedding, ids in ``skip`` left out."""
    rows = store.query(
        "SELECT i.id, i.path FROM items i WHERE i.project_id = ? AND NOT EXISTS (SELECT 1 FROM embeddings e"
        " WHERE e.item_id = i.id AND e.project_id = i.project_id AND e.model = ?) ORDER BY i.id LIMIT ?",
        [project_id, model_id, limit + len(skip)],
    )
    return [(int(i), str(p)) for i, p in rows if int(i) not in skip][:limit]


def error_collector(errors: dict[int, str]) -> Callable[[int, str, str], None]:
    """``on_error(k, path, message)`` that records ``errors[k] = message``."""

    def on_error(k: int, _path: str, message: str) -> None:
        errors[k] = message

    return on_error


def insert_embeddings(store: Store, rows: list[tuple[Any, ...]]) -> None:
    """Rows ``(item_id, project_id, model, vec, created_at)`` into ``embeddings``, in one transaction."""

    def tx(cur: Any) -> None:
        cur.executemany(
            "INSERT INTO embeddings (item_id, project_id, model, vec, created_at) VALUES (?, ?, ?, ?, ?)",
            rows,
        )

    store.write(tx)
