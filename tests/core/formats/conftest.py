"""Shared fixtures for the format tests: a real store with one labeled project per task type."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from core.domain import TaskType
from core.permissions import SYSTEM
from core.store import Store
from core.store.items import NewItem, add_items
from core.store.labels import save_label
from core.store.projects import create_project, list_classes

CLASS_NAMES = ["cat", "dog", "traffic light"]


@dataclass
class Labeled:
    store: Store
    project_id: int
    task: TaskType
    class_ids: list[int]
    item_ids: list[int]
    payloads: dict[int, dict[str, Any]]  # item id -> saved (normalised) payload


def sample_payload(task: TaskType, k: int, ids: list[int]) -> dict[str, Any]:
    """A varied payload for the k-th image (640 x 480)."""
    a, b = ids[k % len(ids)], ids[(k + 1) % len(ids)]
    if task is TaskType.MULTICLASS:
        return {"class_id": a}
    if task is TaskType.MULTILABEL:
        return {"class_ids": [] if k % 4 == 3 else sorted({a, b})}
    if task is TaskType.BOXES:
        boxes = [
            {"class_id": a, "xywh": [10.5 + k, 20.25, 100.0, 50.5]},
            {"class_id": b, "xywh": [300, 200, 40, 60]},
        ]
        return {"boxes": boxes[: k % 3]}
    polys = [
        {"class_id": a, "points": [[10, 10], [200.5, 15], [180, 160.25], [20, 140]]},
        {"class_id": b, "points": [[400, 300], [600, 320], [500, 470]]},
    ]
    return {"polygons": polys[: 1 + k % 2]}


def make_project(root: Path, task: TaskType | str, n: int = 6, *, n_unlabeled: int = 2) -> Labeled:
    task = TaskType(task)
    store = Store(root / "a.duckdb")
    project = create_project(store, f"Demo {task.value}", task, CLASS_NAMES, by=SYSTEM)
    ids = [c.id for c in list_classes(store, project.id)]
    add_items(
        store,
        project.id,
        [
            NewItem(path=f"/photos/set{k % 2}/img_{k:03d}.jpg", width=640, height=480, sha1=f"h{k}")
            for k in range(n)
        ],
    )
    item_ids = [
        r[0] for r in store.query("SELECT id FROM items WHERE project_id = ? ORDER BY id", [project.id])
    ]
    payloads = {}
    for k, item_id in enumerate(item_ids[: n - n_unlabeled]):
        ann = save_label(
            store, item_id, sample_payload(task, k, ids), author="ann", base_version=0, by=SYSTEM
        )
        payloads[item_id] = ann.payload
    return Labeled(store, project.id, task, ids, item_ids, payloads)


@pytest.fixture
def labeled_project(tmp_path: Path, request: pytest.FixtureRequest) -> Labeled:
    lab = make_project(tmp_path, getattr(request, "param", TaskType.BOXES))
    yield lab
    lab.store.close()
