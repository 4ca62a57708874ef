"""Proposals through core: the shown one of an item, accepting it, and the project's counts."""

from __future__ import annotations

from typing import Any

import pytest

from core.assist import predictions as pr
from core.domain import Source, ValidationError
from core.permissions import SYSTEM
from core.store.db import Store, dumps
from core.store.items import NewItem, add_items
from core.store.labels import StaleEdit, current_annotation, save_label
from core.store.projects import create_project, list_classes


def _setup(store: Store, task: str = "multiclass", n: int = 6) -> tuple[int, list[int], list[int]]:
    project = create_project(store, f"p-{task}", task, ["cat", "dog", "fox"], by=SYSTEM)
    add_items(store, project.id, [NewItem(f"/x/{task}{i}.jpg", 100, 80, f"{task}{i}") for i in range(n)])
    ids = [
        int(r[0]) for r in store.query("SELECT id FROM items WHERE project_id = ? ORDER BY id", [project.id])
    ]
    return project.id, ids, [c.id for c in list_classes(store, project.id)]


def _predict(store: Store, project_id: int, item_id: int, payload: dict[str, Any], conf: float, shown: bool,
             class_ids: list[int], run_id: int = 1) -> None:  # fmt: skip
    store.execute(
        "INSERT INTO predictions (item_id, project_id, run_id, payload, confidence, shown, class_ids)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [item_id, project_id, run_id, dumps(payload), conf, shown, class_ids],
    )


def test_shown_prediction_is_typed_and_hidden_ones_stay_hidden(store: Store) -> None:
    pid, ids, (cat, dog, _) = _setup(store)
    _predict(store, pid, ids[0], {"class_id": cat, "score": 0.97}, 0.97, True, [cat], run_id=1)
    _predict(store, pid, ids[0], {"class_id": dog, "score": 0.99}, 0.99, True, [dog], run_id=2)
    _predict(store, pid, ids[1], {"class_id": dog, "score": 0.4}, 0.4, False, [dog])
    found = pr.shown_prediction(store, ids[0])
    assert found == pr.Prediction(ids[0], {"class_id": dog, "score": 0.99}, 0.99, 2, True, (dog,))
    assert pr.shown_prediction(store, ids[1]) is None and pr.prediction(store, ids[1]) is not None
    assert pr.shown_prediction(store, ids[2]) is None
    assert (
        set(pr.shown_predictions(store, ids)) == {ids[0]}
        and pr.shown_predictions(store, ids)[ids[0]].run_id == 2
    )


@pytest.mark.parametrize(
    ("task", "payload", "label"),
    [
        ("multiclass", {"class_id": 0, "score": 0.9}, {"class_id": 0}),
        ("multilabel", {"class_ids": [1, 0], "score": 0.9}, {"class_ids": [0, 1]}),
        ("boxes", {"boxes": [{"class_id": 0, "xywh": [1, 2, 30, 40], "score": 0.9}]},
         {"boxes": [{"class_id": 0, "xywh": [1, 2, 30, 40]}]}),
        ("polygons", {"polygons": [{"class_id": 1, "points": [[1, 1], [20, 1], [9, 30]], "score": 0.8}]},
         {"polygons": [{"class_id": 1, "points": [[1, 1], [20, 1], [9, 30]]}]}),
    ],
)  # fmt: skip
def test_accept_saves_the_proposal_as_a_prelabel(store: Store, task: str, payload: dict, label: dict) -> None:
    pid, ids, classes = _setup(store, task)

    def real(p: Any) -> Any:  # class positions -> the project's class ids
        if isinstance(p, dict):
            return {k: (classes[v] if k == "class_id" else [classes[c] for c in v] if k == "class_ids" else real(v))
                    for k, v in p.items()}  # fmt: skip
        return [real(v) for v in p] if isinstance(p, list) else p

    _predict(store, pid, ids[0], real(payload), 0.9, True, [])
    ann = pr.accept(store, ids[0], "lena", 0, by=SYSTEM)
    assert ann.source is Source.PRELABEL and ann.author == "lena"
    current = current_annotation(store, ids[0])
    assert current is not None and current.payload == real(label) and current.source is Source.PRELABEL
    with pytest.raises(StaleEdit):
        pr.accept(store, ids[0], "max", 0, by=SYSTEM)
    with pytest.raises(ValidationError, match="no proposal"):
        pr.accept(store, ids[1], "lena", 0, by=SYSTEM)


def test_proposal_stats_count_shown_accepted_corrected(store: Store) -> None:
    pid, ids, (cat, dog, fox) = _setup(store, n=7)
    for i, shown in zip(ids[:5], [True, True, True, True, False], strict=True):
        _predict(store, pid, i, {"class_id": cat}, 0.95 if shown else 0.5, shown, [cat])
    pr.accept(store, ids[0], "lena", 0, by=SYSTEM)  # accepted
    save_label(
        store, ids[1], {"class_id": dog}, author="lena", base_version=0, proposal_kept=False, by=SYSTEM
    )  # corrected
    save_label(
        store, ids[2], {"class_id": cat}, author="lena", base_version=0, proposal_kept=True, by=SYSTEM
    )  # agreed
    save_label(
        store, ids[4], {"class_id": fox}, author="lena", base_version=0, by=SYSTEM
    )  # not shown: not counted
    save_label(
        store, ids[5], {"class_id": cat}, author="annota:auto-accept", base_version=0, source="prelabel",
        proposal_kept=True, by=SYSTEM,
    )  # fmt: skip
    s = pr.proposal_stats(store, pid)
    assert (s.shown, s.accepted, s.auto_accepted, s.corrected, s.agreed, s.pending, s.proposals) == (
        4, 2, 1, 1, 1, 1, 5,
    )  # fmt: skip
    assert s.decided == 4 and s.live_precision == pytest.approx(3 / 4)
    # a new inference replaces the proposals; what people did with the old ones still counts
    store.execute("DELETE FROM predictions WHERE project_id = ?", [pid])
    after = pr.proposal_stats(store, pid)
    assert (after.shown, after.accepted, after.corrected, after.agreed) == (0, 2, 1, 1)
    assert after.live_precision == pytest.approx(3 / 4)
    empty = pr.proposal_stats(store, create_project(store, "none", "multiclass", ["a", "b"], by=SYSTEM).id)
    assert empty.live_precision is None and empty.shown == 0


def test_pre_ticked_counts_unlabeled_multilabel_items_with_sure_classes(store: Store) -> None:
    pid, ids, (cat, dog, _) = _setup(store, "multilabel", n=4)
    _predict(
        store, pid, ids[0], {"class_ids": [cat], "score": 0.6, "sure_class_ids": [cat]}, 0.6, False, [cat]
    )
    _predict(store, pid, ids[1], {"class_ids": [dog], "score": 0.99}, 0.99, True, [dog])  # a whole proposal
    _predict(store, pid, ids[2], {"class_ids": [dog], "score": 0.4}, 0.4, False, [dog])  # nothing sure
    _predict(
        store, pid, ids[3], {"class_ids": [cat], "score": 0.6, "sure_class_ids": [cat]}, 0.6, False, [cat]
    )
    save_label(
        store, ids[3], {"class_ids": [cat, dog]}, author="lena", base_version=0, by=SYSTEM
    )  # labeled since
    s = pr.proposal_stats(store, pid)
    assert (s.pre_ticked, s.shown, s.pending) == (1, 1, 1)
