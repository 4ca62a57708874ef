"""The queue's ranks from the assistant: typical-first, then uncertainty (or confidence), the audit at its share.

* ``rank_before_head``: before any head, typical, diverse items first (``sampling.typical_first``,
  TypiClust) with the audit items (``core.assist.audit``) at their share; set when featurisation ends.
* ``rank_with_head``: after each inference, while fewer than ``TYPICAL_FIRST`` labels, typical items
  still come first; then ``sampling.rank_queue``'s order (``learn`` or ``confirm``), the audit at its share.
* ``rest_confidence``: a head's confidences on (a sample of) the unlabeled items, the population the
  audit calibration is weighted to (``rest_bounds.reweighted_choice``).
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from core.assist import audit
from core.assist.calibration import proposal_confidence
from core.assist.embeddings import EmbeddingIndex
from core.assist.heads import LabelSpace, LinearHead
from core.assist.sampling import QueueOrder, QueueRanks, rank_queue
from core.store.db import Store

TYPICAL_FIRST = 50  # the first labels go to typical, diverse items (TypiClust), then uncertainty
RANK_SAMPLE = 20000  # before a head: typical-first and diversity over at most this many items


def rank_before_head(
    store: Store, project_id: int, index: EmbeddingIndex, audit_share: float
) -> dict[int, float]:
    """Ranks for the unlabeled featurised items before any head; above ``RANK_SAMPLE`` of them, over a
    random sample (the others follow in id order)."""
    rows = store.query("SELECT id, status FROM items WHERE project_id = ? ORDER BY id", [project_id])
    waiting = np.array([int(r[0]) for r in rows if r[1] == "new" and int(r[0]) in index], dtype=np.int64)
    if not len(waiting):
        return {}
    state = audit.audit_state(store, project_id)
    rng = np.random.default_rng(project_id)
    sample = (
        waiting if len(waiting) <= RANK_SAMPLE else np.sort(rng.choice(waiting, RANK_SAMPLE, replace=False))
    )
    labeled = [int(r[0]) for r in rows if r[1] in ("labeled", "reviewed") and int(r[0]) in index]
    ranks = rank_queue(
        sample, QueueOrder.LEARN, embeddings=index.get(sample.tolist()),
        labeled_embeddings=index.get(labeled) if labeled else None, diverse_head=0,
        typical=max(0, TYPICAL_FIRST - state.n_labels), audit=state.pending,
        audit_share=audit_share, audit_done=(state.n_labels, len(state.prefix)),
    ).as_dict()  # fmt: skip
    others = waiting[~np.isin(waiting, sample)]
    ranks.update({int(i): float(len(sample) + k) for k, i in enumerate(others.tolist())})
    return ranks


def rank_with_head(
    store: Store,
    project_id: int,
    index: EmbeddingIndex,
    item_ids: np.ndarray,
    order: QueueOrder,
    space: LabelSpace,
    proba: np.ndarray,
    labeled: Collection[int],
    audit_share: float,
) -> QueueRanks:
    """Ranks for ``item_ids`` (unlabeled, rows of ``proba``) after an inference."""
    state = audit.audit_state(store, project_id)
    typical = max(0, TYPICAL_FIRST - state.n_labels)
    emb = None if order is QueueOrder.CONFIRM and not typical else index.get(item_ids.tolist())
    done = [i for i in labeled if i in index]
    return rank_queue(
        item_ids, order, space, proba, emb, index.get(done) if done and typical else None,
        typical=typical, audit=state.pending, audit_share=audit_share,
        audit_done=(state.n_labels, len(state.prefix)),
    )  # fmt: skip


def rest_confidence(
    space: LabelSpace, index: EmbeddingIndex, labeled: Collection[int], head: LinearHead, seed: int = 0
) -> np.ndarray:
    """The confidences ``head`` gives the featurised items not in ``labeled`` (at most ``RANK_SAMPLE``,
    at random)."""
    rest = np.setdiff1d(index.ids, np.fromiter(labeled, dtype=np.int64, count=len(labeled)))
    if len(rest) > RANK_SAMPLE:
        rest = np.random.default_rng(seed).choice(rest, RANK_SAMPLE, replace=False)
    if not len(rest):
        return np.zeros(0)
    return proposal_confidence(space, head.predict_proba(index.get(rest.tolist())))[1]
