"""The grid's page choice: which kind of page a labeler gets next, and which items, as one pure rule.

``choose_pages`` reads a ``PoolState`` (counts, the latest head's one-class predictions with their
confidences and shown flags, its page threshold) and returns the candidate pages in the order the
grid tries to lease them. In order of preference:

1. multi-class, once at least ``PREDICTION_MIN_SHARE`` of the unlabeled featurised items (and a
   page's worth) have a shown proposal: pages of items sharing a shown proposal, the class suggested
   (``PageKind.PROPOSED``);
2. with a finite page threshold (``calibration.page_threshold``): pages of items the head puts in one
   class at or above it, no class shown (``PageKind.PREDICTED``; multi-label: items predicted to
   hold exactly one class);
3. before any head (multi-label: also when 2 gives none): look-alike pages from the embeddings
   (``neighbours``, called only then; ``neighbour_candidates`` is the product's).

``core.assist.cluster_pages.next_page`` builds the state from the store and leases the first
candidate it can; ``benchmarks.assist_product`` and the tests call the same function.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from core.assist import clustering
from core.assist.clustering import ClusterPage, PageKind
from core.assist.embeddings import EmbeddingIndex
from core.domain import TaskType

PREDICTION_MIN_SHARE = 0.5  # use proposal pages when at least this share of the pool has a shown one
SEEDS = 32  # seeds drawn from the head of the queue per new look-alike page
NEIGHBOUR_PAGES = 3  # look-alike candidates made at once (another labeler may lease the first)


def _ints(values: Sequence[int] | np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.int64).reshape(-1)


@dataclass(frozen=True)
class PoolState:
    """What the page choice reads of a project, for one labeler.

    ``pred_*``: one row per unlabeled item this labeler may get whose latest prediction holds exactly
    one class (any subset that keeps each class's most confident rows, shown and not shown, chooses
    the same first pages as the whole). ``n_unlabeled`` and ``n_shown`` count every unlabeled
    featurised item and every unlabeled item with a shown proposal, whoever holds them.
    ``page_threshold``: the latest head's (``None``: no head trained yet; ``inf``: the head groups
    no page)."""

    task: TaskType
    page_size: int
    n_unlabeled: int
    n_shown: int
    page_threshold: float | None
    pred_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    pred_class: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    pred_conf: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    pred_shown: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))

    def __post_init__(self) -> None:
        n = len(self.pred_ids)
        if not (len(self.pred_class) == len(self.pred_conf) == len(self.pred_shown) == n):
            raise ValueError("pred_ids, pred_class, pred_conf and pred_shown must have the same length")
        clustering._check_size(self.page_size)

    @property
    def proposal_pages_due(self) -> bool:
        """Multi-class, and enough of the pool shows a proposal (``PREDICTION_MIN_SHARE``)."""
        return (
            TaskType(self.task) is TaskType.MULTICLASS
            and self.n_shown >= self.page_size
            and self.n_shown >= PREDICTION_MIN_SHARE * self.n_unlabeled
        )

    @property
    def grouping(self) -> bool:
        return self.page_threshold is not None and bool(np.isfinite(self.page_threshold))

    @property
    def neighbours_allowed(self) -> bool:
        return self.page_threshold is None or TaskType(self.task) is not TaskType.MULTICLASS


def choose_pages(state: PoolState, neighbours: Callable[[], list[ClusterPage]]) -> list[ClusterPage]:
    """Candidate pages for the labeler, the one to lease first first (empty: no page now). The same
    state in any row order gives the same pages."""
    ids, cls = _ints(state.pred_ids), _ints(state.pred_class)
    conf = np.asarray(state.pred_conf, dtype=np.float64).reshape(-1)
    shown = np.asarray(state.pred_shown, dtype=bool).reshape(-1)
    by_id = np.argsort(ids, kind="stable")  # equal confidences: the lower id first, whatever the rows' order
    ids, cls, conf, shown = ids[by_id], cls[by_id], conf[by_id], shown[by_id]
    if state.proposal_pages_due:
        pages = clustering.prediction_pages(ids[shown].tolist(), cls[shown], conf[shown], state.page_size)
        if pages:
            return pages
    if state.grouping:
        assert state.page_threshold is not None
        pages = clustering.prediction_pages(
            ids.tolist(), cls, conf, state.page_size, min_confidence=state.page_threshold, suggest=False
        )
        if pages:
            return pages
    if state.neighbours_allowed:
        return neighbours()
    return []


def choose_page(state: PoolState, neighbours: Callable[[], list[ClusterPage]]) -> ClusterPage | None:
    """The page a lone labeler gets: the first candidate."""
    pages = choose_pages(state, neighbours)
    return pages[0] if pages else None


def neighbour_candidates(
    index: EmbeddingIndex, pool: Sequence[int] | np.ndarray, page_size: int
) -> list[ClusterPage]:
    """Look-alike pages seeded at the head of ``pool`` (unlabeled featurised items the labeler may get,
    in queue order), as the grid makes them; empty when the pool is smaller than a page."""
    pool = _ints(pool)
    if len(pool) < page_size:
        return []
    return clustering.neighbour_pages(
        index, pool, page_size=page_size, n_pages=NEIGHBOUR_PAGES, candidates=SEEDS, seed_ids=pool[:SEEDS]
    )


__all__ = [
    "NEIGHBOUR_PAGES",
    "PREDICTION_MIN_SHARE",
    "SEEDS",
    "PageKind",
    "PoolState",
    "choose_page",
    "choose_pages",
    "neighbour_candidates",
]
