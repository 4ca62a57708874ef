"""What the review page and the dashboard read about blind answers: an item's answers and consensus
state, the consensus items waiting for review, agreement per pair of labelers and the project's figures
(Krippendorff's alpha or mean matched IoU). Re-exported by ``core.quality.consensus``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.domain import TaskType
from core.quality import agreement
from core.store.db import Store, loads


@dataclass(frozen=True)
class BlindAnswer:
    id: int
    item_id: int
    author: str
    kind: str
    payload: dict[str, Any]
    score: float | None


@dataclass(frozen=True)
class ConsensusState:
    item_id: int
    k: int
    state: str  # open | merged | review
    agreement: float | None
    answers: int


def _task(store: Store, project_id: int) -> TaskType:
    return TaskType(store.scalar("SELECT task_type FROM projects WHERE id = ?", [project_id]))


def answers_of(store: Store, item_id: int) -> list[BlindAnswer]:
    """Every blind answer to an item, oldest first (for reviewers; never shown to labelers)."""
    rows = store.query(
        "SELECT id, item_id, author, kind, payload, score FROM blind_answers WHERE item_id = ? ORDER BY id",
        [item_id],
    )
    return [BlindAnswer(int(i), int(it), str(a), str(k), loads(p), s) for i, it, a, k, p, s in rows]


def state_of(store: Store, item_id: int) -> ConsensusState | None:
    row = store.query_one(
        "SELECT c.item_id, c.k, c.state, c.agreement, (SELECT count(*) FROM blind_answers b"
        " WHERE b.item_id = c.item_id AND b.kind = 'consensus') FROM consensus_items c WHERE c.item_id = ?",
        [item_id],
    )
    return ConsensusState(int(row[0]), int(row[1]), str(row[2]), row[3], int(row[4])) if row else None


def items_in_review(store: Store, project_id: int) -> list[ConsensusState]:
    """Consensus items whose answers did not agree enough: they wait for a reviewer's label."""
    ids = store.query(
        "SELECT c.item_id FROM consensus_items c JOIN items i ON i.id = c.item_id"
        " WHERE c.project_id = ? AND c.state = 'review' AND i.status = 'new' ORDER BY c.agreement, c.item_id",
        [project_id],
    )
    return [s for (i,) in ids if (s := state_of(store, int(i))) is not None]


def _answers_by_item(store: Store, project_id: int) -> dict[int, list[tuple[str, dict[str, Any]]]]:
    out: dict[int, list[tuple[str, dict[str, Any]]]] = {}
    for item_id, author, payload in store.query(
        "SELECT item_id, author, payload FROM blind_answers WHERE project_id = ? AND kind = 'consensus' ORDER BY id",
        [project_id],
    ):
        out.setdefault(int(item_id), []).append((str(author), loads(payload)))
    return out


@dataclass(frozen=True)
class PairAgreement:
    a: str
    b: str
    items: int
    agreement: float  # the mean over the items both answered


def pair_agreements(store: Store, project_id: int) -> list[PairAgreement]:
    """Per pair of labelers, their mean agreement over the consensus items both answered."""
    task = _task(store, project_id)
    sums: dict[tuple[str, str], list[float]] = {}
    for answers in _answers_by_item(store, project_id).values():
        for i, (ua, pa) in enumerate(answers):
            for ub, pb in answers[i + 1 :]:
                key = (ua, ub) if ua <= ub else (ub, ua)
                sums.setdefault(key, []).append(agreement.pair_agreement(task, pa, pb))
    return [PairAgreement(a, b, len(v), sum(v) / len(v)) for (a, b), v in sorted(sums.items())]


@dataclass(frozen=True)
class ProjectAgreement:
    items: int  # consensus items with at least two answers
    mean_item_agreement: float | None
    alpha: float | None  # classification: Krippendorff's alpha (nominal; multi-label: mean over classes)
    mean_matched_iou: float | None  # boxes and polygons


def project_agreement(store: Store, project_id: int) -> ProjectAgreement:
    task = _task(store, project_id)
    groups = [[p for _, p in a] for a in _answers_by_item(store, project_id).values() if len(a) >= 2]
    per_item = [v for g in groups if (v := agreement.item_agreement(task, g)) is not None]
    mean = sum(per_item) / len(per_item) if per_item else None
    if task.is_classification:
        classes = [
            r[0] for r in store.query("SELECT id FROM label_classes WHERE project_id = ?", [project_id])
        ]
        return ProjectAgreement(len(groups), mean, agreement.project_alpha(task, groups, classes), None)
    return ProjectAgreement(len(groups), mean, None, agreement.mean_matched_iou(task, groups))
