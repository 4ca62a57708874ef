"""Gold images: items a reviewer marked as reference answers (``items.gold``), handed unannounced to each
labeler at the project's ``gold_share`` of their queue, and scored against the gold label.

Which turn is gold is deterministic per labeler and queue position: the position is how many answers the
labeler has given in the project (labels saved and blind answers), and every ``round(1 / gold_share)``-th
position is gold (``is_gold_turn``), as long as a gold item waits that they have neither answered nor
labeled themselves. A gold answer's score (``blind_answers.score``) is its agreement with the gold label
by the measures of ``core.quality.agreement``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from core.store.db import Store


def gold_every(share: float) -> int | None:
    """Every how many positions a gold item comes (None: no gold)."""
    if share <= 0:
        return None
    return max(1, round(1 / share))


def is_gold_turn(position: int, share: float) -> bool:
    """Whether queue position ``position`` (0 for a labeler's first answer) is a gold turn."""
    every = gold_every(share)
    return every is not None and (position + 1) % every == 0


def position(store: Store, project_id: int, user: str) -> int:
    """How many answers ``user`` has given in the project: label versions saved and blind answers."""
    return int(
        store.scalar(
            "SELECT (SELECT count(*) FROM annotations WHERE project_id = ? AND author = ?)"
            " + (SELECT count(*) FROM blind_answers WHERE project_id = ? AND author = ?)",
            [project_id, user, project_id, user],
        )
        or 0
    )


def gold_position(store: Store, project_id: int, user: str) -> int | None:
    """``position`` when the project has a gold item, else None (the common case: one short look)."""
    if not has_gold(store, project_id):
        return None
    return position(store, project_id, user)


def has_gold(store: Store, project_id: int) -> bool:
    return (
        store.query_one("SELECT 1 FROM items WHERE project_id = ? AND gold LIMIT 1", [project_id]) is not None
    )


def pick_gold(store: Store, project_id: int, user: str, exclude: Iterable[int] = ()) -> int | None:
    """A gold item ``user`` has neither answered nor labeled, in an order of its own per labeler."""
    row = store.query_one(
        "SELECT i.id FROM items i WHERE i.project_id = ? AND i.gold AND i.annotation_id IS NOT NULL"
        " AND NOT EXISTS (SELECT 1 FROM blind_answers b WHERE b.item_id = i.id AND b.author = ?)"
        " AND NOT EXISTS (SELECT 1 FROM annotations a WHERE a.item_id = i.id AND a.author = ?)"
        " AND i.id NOT IN (SELECT unnest(?)) ORDER BY md5(i.id::VARCHAR || ?), i.id LIMIT 1",
        [project_id, user, user, sorted(set(exclude)), user],
    )
    return int(row[0]) if row else None


@dataclass(frozen=True)
class GoldAccuracy:
    user: str
    answers: int
    accuracy: float  # the mean score of their gold answers (0..1)


def accuracy_by_labeler(store: Store, project_id: int) -> list[GoldAccuracy]:
    """Per labeler, how many gold items they answered and their mean score, worst first."""
    rows = store.query(
        "SELECT author, count(*), avg(score) FROM blind_answers WHERE project_id = ? AND kind = 'gold'"
        " AND score IS NOT NULL GROUP BY author ORDER BY avg(score), author",
        [project_id],
    )
    return [GoldAccuracy(str(u), int(n), float(s)) for u, n, s in rows]
