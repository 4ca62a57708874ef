"""Submitting a grid page (``cluster_pages``): the selected tiles get the page's class, a tile fixed in place
its own answer, in one transaction (``label_batch.save_labels``, source ``human``, via ``page``); the
deselected ones go back to the queue, and the page becomes the labeler's last one (``reopen_last``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.assist import cluster_pages
from core.domain import Source, TaskType, User, ValidationError
from core.permissions import SYSTEM, Action, require
from core.store import label_batch
from core.store.db import Store, WriteConflict, loads

RETURNED_MEMORY = cluster_pages.RETURNED_MEMORY


@dataclass(frozen=True)
class PageResult:
    saved: tuple[int, ...] = ()
    returned: tuple[int, ...] = ()  # deselected: back in the queue
    stale: tuple[int, ...] = ()  # someone else saved first; theirs is kept
    errors: dict[int, str] = field(default_factory=dict)
    unchanged: tuple[int, ...] = ()  # a reopened page: answers as saved before, no new version


def _payload(task: TaskType, current: dict[str, Any] | None, class_ids: tuple[int, ...]) -> dict[str, Any]:
    if task is TaskType.MULTILABEL:
        ids = set((current or {}).get("class_ids", []))
        return {"class_ids": sorted(ids | set(class_ids))}
    return {"class_id": class_ids[0]}


def saved_answer(task: TaskType | str, payload: dict[str, Any] | None) -> tuple[int, ...]:
    """A saved classification label as the classes it gives (what a reopened page's tile shows)."""
    if not payload:
        return ()
    if TaskType(task) is TaskType.MULTILABEL:
        return tuple(sorted(int(c) for c in payload.get("class_ids", [])))
    return () if payload.get("class_id") is None else (int(payload["class_id"]),)


def _own_answer(task: TaskType, value: int | Sequence[int]) -> tuple[int, ...]:
    """A tile's own answer: one class (multi-class), or a set of classes, maybe none (multi-label)."""
    ids = (int(value),) if isinstance(value, int | np.integer) else tuple(sorted({int(v) for v in value}))
    if task is not TaskType.MULTILABEL and len(ids) != 1:
        raise ValidationError("An image on a one-class page gets exactly one class of its own.")
    return ids


def submit_page(
    store: Store,
    page: cluster_pages.GridPage,
    selected: Iterable[int],
    class_id: int | None,
    task: TaskType | str,
    *,
    by: User,
    duration_ms: int | None = None,
    own: Mapping[int, int | Sequence[int]] | None = None,
) -> PageResult:
    """Save ``class_id`` on the selected items of the page (multi-label: added to their classes), or
    the item's own answer where ``own`` gives one (a tile the labeler fixed in place: a class, or for
    multi-label the tile's whole set, which replaces the page's class and may be empty); the others
    go back to the queue. Each save is one version, source ``human``. ``class_id`` may be None only
    when every selected item has its own answer. On a reopened page (``reopen_last``) an answer
    replaces the saved label, only a changed one is saved, and a tile left out keeps its label."""
    require(store, by, Action.LABEL, page.project_id)
    task = TaskType(task)
    mine = {int(k): _own_answer(task, v) for k, v in (own or {}).items()}
    picked = set(selected) | set(mine)
    answers: dict[int, tuple[int, ...]] = {}  # item -> the classes it gets
    for item_id in (i for i in page.item_ids if i in picked):
        if item_id in mine:
            answers[item_id] = mine[item_id]
        elif class_id is None:
            raise ValidationError("Choose the page's class first.")
        else:
            answers[item_id] = (int(class_id),)
    chosen = list(answers)
    saved: list[int] = []
    stale: list[int] = []
    unchanged: list[int] = []
    errors: dict[int, str] = {}
    per_item = None if duration_ms is None else max(1, duration_ms // max(1, len(chosen)))
    rows = (
        store.query(
            "SELECT i.id, i.version, a.payload FROM items i LEFT JOIN annotations a ON a.id = i.annotation_id"
            " WHERE i.id IN (SELECT unnest(?))",
            [chosen],
        )
        if chosen
        else []
    )
    now = {int(r[0]): (int(r[1]), None if r[2] is None else loads(r[2])) for r in rows}
    writes = []
    for item_id in chosen:
        if item_id not in now:
            errors[item_id] = "removed"
            continue
        version, current = now[item_id]
        given = answers[item_id]
        if page.reopened and current is not None and saved_answer(task, current) == given:
            unchanged.append(item_id)  # as saved: no new version
            continue
        base = page.version_of(item_id)
        writes.append(
            label_batch.LabelWrite(
                item_id,
                _payload(task, None if page.reopened else current, given),
                version if base is None else base,
                duration_ms=per_item,
                # a page of shown proposals: the labeler kept the proposed class, or gave another
                proposal_kept=None if page.suggested_class is None else given == (page.suggested_class,),
            )
        )
    if writes:  # one transaction for the page (nine saves one by one cost nine commits)
        try:
            outcome = label_batch.save_labels(
                store, page.project_id, writes, by=by, author=page.user, source=Source.HUMAN, via="page"
            )
        except WriteConflict as exc:
            outcome = label_batch.BatchOutcome(refused={w.item_id: str(exc) for w in writes})
        saved = [w.item_id for w in writes if w.item_id in outcome.saved]
        stale = [w.item_id for w in writes if w.item_id in set(outcome.stale)]
        errors.update(outcome.refused)
    if page.reopened:  # a tile left out keeps its label
        unchanged += [i for i in page.item_ids if i not in set(chosen)]
        returned = []
    else:
        returned = [i for i in page.item_ids if i not in set(chosen)]
    book = cluster_pages.page_book(store)
    with book.lock:
        if book.pages.get((page.project_id, page.user)) == page:
            del book.pages[(page.project_id, page.user)]
        if saved or unchanged:
            book.last[(page.project_id, page.user)] = tuple(
                i for i in page.item_ids if i in set(saved) | set(unchanged)
            )
        if returned:
            memory = book.returned.setdefault((page.project_id, page.user), [])
            memory.extend(returned)
            del memory[:-RETURNED_MEMORY]
    cluster_pages.release_held(store, page.project_id, page.item_ids, page.user)
    return PageResult(tuple(saved), tuple(returned), tuple(stale), errors, tuple(unchanged))


def hand_back(store: Store, project_id: int, user: str) -> None:
    """The labeler passes on their page unlabeled: back to the queue, and not on their next pages."""
    page = cluster_pages.current_page(store, project_id, user)
    if page is not None:
        submit_page(store, page, [], 0, TaskType.MULTICLASS, by=SYSTEM)  # nothing is saved: a release
