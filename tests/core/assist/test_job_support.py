"""Helpers shared by the assist job handlers, on a real store."""

from __future__ import annotations

from pathlib import Path

import pytest

from core import jobs
from core.assist.job_support import error_collector, insert_embeddings, job_project_id, missing_items
from core.permissions import SYSTEM
from core.store.db import Store
from core.store.items import NewItem, add_items
from core.store.labels import utcnow
from core.store.projects import create_project


def _ctx(store: Store, project_id: int | None, params: dict | None = None) -> jobs.JobContext:
    job = jobs.submit(store, "x", params or {}, project_id=project_id)
    return jobs.JobContext(store, job, jobs.JobRunner(store))


def test_job_project_id_from_the_job_or_its_params(store: Store) -> None:
    assert job_project_id(_ctx(store, 7)) == 7
    assert job_project_id(_ctx(store, None, {"project_id": "3"})) == 3
    with pytest.raises(ValueError, match="needs a project"):
        job_project_id(_ctx(store, None))


def test_missing_items_then_inserted_embeddings(store: Store, tmp_path: Path) -> None:
    project = create_project(store, "p", "multiclass", ["a", "b"], by=SYSTEM)
    add_items(store, project.id, [NewItem(str(tmp_path / f"{i}.jpg"), 10, 10, f"h{i}") for i in range(5)])
    todo = missing_items(store, project.id, "m1", set(), 10)
    ids = [i for i, _ in todo]
    assert len(todo) == 5 and ids == sorted(ids) and todo[0][1].endswith("0.jpg")
    assert [i for i, _ in missing_items(store, project.id, "m1", {ids[0]}, 2)] == ids[1:3]

    insert_embeddings(store, [(i, project.id, "m1", b"\x00" * 8, utcnow()) for i in ids[:3]])
    assert [i for i, _ in missing_items(store, project.id, "m1", set(), 10)] == ids[3:]
    assert len(missing_items(store, project.id, "other-model", set(), 10)) == 5


def test_error_collector_keeps_the_messages() -> None:
    errors: dict[int, str] = {}
    on_error = error_collector(errors)
    on_error(2, "a.jpg", "unreadable")
    on_error(5, "b.jpg", "truncated")
    assert errors == {2: "unreadable", 5: "truncated"}
