"""Proposals (pre-labels) as typed values: read the one shown for an item, accept it, count outcomes.

The ``predictions`` table holds the latest inference run's proposal for every unlabeled, featurised
item (``shown`` when it passed the calibrated threshold); each inference replaces the project's
rows. The labeling screen reads ``shown_prediction``; nothing here waits for a model.

Counts (``proposal_stats``):

* ``shown``: items with a shown proposal from the latest inference.
* ``accepted``: items whose current label has source ``prelabel`` (a proposal saved unchanged),
  over the project's whole history; ``auto_accepted`` is the part the model saved itself.
* ``corrected``: items whose current label changed the proposal shown when it was given;
  ``agreed``: items whose current label kept it but was given by a person (e.g. a page of shown
  proposals confirmed). Every label records this at save time (``annotations.proposal_kept``, since
  migration 4), so both count over the project's whole history, like ``accepted``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.domain import Annotation, NotFound, Source, TaskType, User, ValidationError
from core.store.db import Store, loads
from core.store.labels import save_label

AUTO_ACCEPT_AUTHOR = "annota:auto-accept"  # as core.assist.classify_jobs writes it


@dataclass(frozen=True)
class Prediction:
    """One proposal of the model for one item, in the item's payload shape (objects may carry ``score``)."""

    item_id: int
    payload: dict[str, Any]
    confidence: float
    run_id: int | None
    shown: bool
    class_ids: tuple[int, ...]


def _prediction(row: tuple[Any, ...]) -> Prediction:
    return Prediction(
        item_id=int(row[0]),
        payload=loads(row[1]) or {},
        confidence=float(row[2]),
        run_id=None if row[3] is None else int(row[3]),
        shown=bool(row[4]),
        class_ids=tuple(int(c) for c in (row[5] or [])),
    )


_COLS = "item_id, payload, confidence, run_id, shown, class_ids"


def prediction(store: Store, item_id: int) -> Prediction | None:
    """The item's newest proposal, shown or not (the newest run first)."""
    row = store.query_one(
        f"SELECT {_COLS} FROM predictions WHERE item_id = ? ORDER BY run_id DESC NULLS LAST, created_at DESC"
        " LIMIT 1",
        [item_id],
    )
    return _prediction(row) if row else None


def shown_prediction(store: Store, item_id: int) -> Prediction | None:
    """The proposal to show on the item, or ``None`` (none above the threshold, or none at all)."""
    found = prediction(store, item_id)
    return found if found is not None and found.shown else None


def shown_predictions(store: Store, item_ids: list[int]) -> dict[int, Prediction]:
    """Shown proposals of several items at once (for grids)."""
    if not item_ids:
        return {}
    rows = store.query(
        f"SELECT {_COLS} FROM predictions WHERE shown AND item_id IN (SELECT unnest(?))"
        " ORDER BY run_id NULLS FIRST, created_at",
        [list(item_ids)],
    )
    return {p.item_id: p for p in map(_prediction, rows)}  # the newest run wins


def label_payload(task: TaskType | str, payload: dict[str, Any]) -> dict[str, Any]:
    """A proposal as a label: the model's scores dropped, only the fields of the task's payload kept."""
    task = TaskType(task)
    if task is TaskType.MULTICLASS:
        if "class_id" not in payload:
            raise ValidationError("The proposal has no class.")
        return {"class_id": int(payload["class_id"])}
    if task is TaskType.MULTILABEL:
        return {"class_ids": sorted(int(c) for c in payload.get("class_ids", []))}
    key, field = ("boxes", "xywh") if task is TaskType.BOXES else ("polygons", "points")
    return {key: [{"class_id": int(o["class_id"]), field: o[field]} for o in payload.get(key, [])]}


def accept(store: Store, item_id: int, author: str | None, base_version: int, *, by: User) -> Annotation:
    """Save the item's shown proposal as its label, source ``prelabel``.

    Raises ``NotFound`` for a missing item, ``ValidationError`` when no proposal is shown, and
    ``core.store.labels.StaleEdit`` when someone saved the item after ``base_version``.
    """
    task = store.scalar(
        "SELECT p.task_type FROM items i JOIN projects p ON p.id = i.project_id WHERE i.id = ?", [item_id]
    )
    if task is None:
        raise NotFound(f"Item {item_id} does not exist (it may have been removed).")
    found = shown_prediction(store, item_id)
    if found is None:
        raise ValidationError(f"Image {item_id} has no proposal to accept.")
    return save_label(
        store,
        item_id,
        label_payload(task, found.payload),
        by=by,
        author=author,
        base_version=base_version,
        source=Source.PRELABEL,
        proposal_kept=True,
    )


@dataclass(frozen=True)
class ProposalStats:
    shown: int  # items with a shown proposal (latest inference)
    accepted: int  # current labels saved from a proposal (source prelabel), all time
    auto_accepted: int  # of those, saved by the model itself (auto-accept)
    corrected: int  # current labels that changed the proposal shown when they were given, all time
    agreed: int  # current labels that kept it but were typed by a person (e.g. a page of proposals)
    pending: int  # shown proposals on items nobody has labeled yet
    proposals: int  # every stored proposal, shown or not
    pre_ticked: int = 0  # multi-label: unlabeled items whose sure classes come pre-ticked (no whole proposal)

    @property
    def decided(self) -> int:
        return self.accepted + self.corrected + self.agreed

    @property
    def live_precision(self) -> float | None:
        """How often people kept a proposal they were shown (accepted or agreed), of all they decided."""
        return (self.accepted + self.agreed) / self.decided if self.decided else None


def proposal_stats(store: Store, project_id: int) -> ProposalStats:
    """How the project's proposals fared (see the module's notes for the windows)."""
    shown, pending, total, ticked = store.query_one(
        "SELECT count(*) FILTER (WHERE p.shown), count(*) FILTER (WHERE p.shown AND i.status IN ('new', 'skipped')),"
        " count(*), count(*) FILTER (WHERE NOT p.shown AND i.status IN ('new', 'skipped')"
        " AND p.payload LIKE '%sure_class_ids%')"
        " FROM predictions p JOIN items i ON i.id = p.item_id WHERE p.project_id = ?",
        [project_id],
    ) or (0, 0, 0, 0)  # fmt: skip
    accepted, auto = store.query_one(
        "SELECT count(*), count(*) FILTER (WHERE a.author = ?) FROM items i JOIN annotations a"
        " ON a.id = i.annotation_id WHERE i.project_id = ? AND a.source = 'prelabel'",
        [AUTO_ACCEPT_AUTHOR, project_id],
    ) or (0, 0)
    # Each label records whether it kept the proposal shown when it was given (annotations.proposal_kept),
    # so these count all time, over the items' current labels.
    corrected, agreed = store.query_one(
        "SELECT count(*) FILTER (WHERE NOT a.proposal_kept), count(*) FILTER (WHERE a.proposal_kept"
        " AND a.source = 'human') FROM items i JOIN annotations a ON a.id = i.annotation_id"
        " WHERE i.project_id = ?",
        [project_id],
    ) or (0, 0)
    return ProposalStats(
        shown=int(shown or 0),
        accepted=int(accepted or 0),
        auto_accepted=int(auto or 0),
        corrected=int(corrected or 0),
        agreed=int(agreed or 0),
        pending=int(pending or 0),
        proposals=int(total or 0),
        pre_ticked=int(ticked or 0),
    )
