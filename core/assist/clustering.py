"""Clustering pages: 4, 6 or 9 unlabeled images that belong together, labeled at once.

The labeler gives the page one class and fixes the odd ones out (multi-class: their own class on the
page; multi-label, or when unsure: left out, back to the queue). Pages come from nearest
neighbours in embedding space (any stage once items are featurised) or, once a head exists, from
a shared confident prediction (the page then carries a suggested class).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from core.assist.embeddings import EmbeddingIndex

PAGE_SIZES = (4, 6, 9)


class PageKind(StrEnum):
    """How a page's images were put together; the value is the words the page shows."""

    NEIGHBOURS = "nearest neighbours"  # similar embeddings (any stage)
    PROPOSED = "same proposed class"  # a shared confident proposal: the page suggests its class
    PREDICTED = "same predicted class"  # the head's shared guess, not sure enough to propose
    REOPENED = "your last page"  # the labeler's last page, opened again to correct it


@dataclass(frozen=True)
class ClusterPage:
    item_ids: tuple[int, ...]
    cohesion: float  # mean cosine similarity of the page's items to its seed (1 = identical)
    suggested_class: int | None = None  # set when the page shares a confident prediction
    reason: PageKind = PageKind.NEIGHBOURS


def _check_size(page_size: int) -> None:
    if page_size not in PAGE_SIZES:
        raise ValueError(f"a page holds 4, 6 or 9 images, not {page_size}")


def neighbour_pages(
    index: EmbeddingIndex,
    unlabeled_ids: Sequence[int] | np.ndarray,
    page_size: int = 9,
    n_pages: int = 1,
    candidates: int = 64,
    seed: int = 0,
    seed_ids: Sequence[int] | np.ndarray | None = None,
) -> list[ClusterPage]:
    """Up to ``n_pages`` disjoint pages of mutually near unlabeled items, most cohesive first.

    ``candidates`` seeds are drawn (from ``seed_ids`` when given, e.g. the head of the queue, else
    at random from the unlabeled featurised items); each gathers its nearest unlabeled neighbours,
    and the tightest pages win. Items without an embedding are never paged.
    """
    _check_size(page_size)
    pool = np.asarray(list(unlabeled_ids), dtype=np.int64)
    pool = pool[index.contains_many(pool)]
    if len(pool) < page_size:
        return []
    rng = np.random.default_rng(seed)
    if seed_ids is not None:
        seeds = np.asarray(list(seed_ids), dtype=np.int64)
        chosen = seeds[index.contains_many(seeds)][:candidates]
    else:
        chosen = rng.choice(pool, size=min(candidates, len(pool)), replace=False)
    if len(chosen) == 0:
        return []
    k = page_size * 2  # spare neighbours in case another page took some
    nb = index.search(index.get(chosen), k=k, allowed_ids=pool)
    drafts = []
    for row, seed_id in enumerate(chosen.tolist()):
        ids = [int(seed_id)] + [int(i) for i in nb.ids[row] if i >= 0 and i != seed_id]
        sims = [1.0] + [
            float(s) for i, s in zip(nb.ids[row], nb.scores[row], strict=True) if i >= 0 and i != seed_id
        ]
        drafts.append((float(np.mean(sims[:page_size])), ids, sims))
    drafts.sort(key=lambda d: -d[0])
    used: set[int] = set()
    pages: list[ClusterPage] = []
    for _, ids, sims in drafts:
        if ids[0] in used:
            continue
        free = [(i, s) for i, s in zip(ids, sims, strict=True) if i not in used][:page_size]
        if len(free) < page_size:
            continue
        used.update(i for i, _ in free)
        pages.append(ClusterPage(tuple(i for i, _ in free), float(np.mean([s for _, s in free]))))
        if len(pages) >= n_pages:
            break
    pages.sort(key=lambda p: -p.cohesion)
    return pages


def prediction_pages(
    item_ids: Sequence[int],
    classes: np.ndarray,
    confidence: np.ndarray,
    page_size: int = 9,
    min_confidence: float = 0.0,
    exclude: Iterable[int] = (),
    suggest: bool = True,
) -> list[ClusterPage]:
    """Pages of items sharing a predicted class (multi-class), most confident first.

    ``classes`` holds one class id per item, ``confidence`` the head's confidence. With ``suggest``
    (shown proposals) a page carries the class as its suggestion and the labeler confirms it for
    the page; without (a grouping page below the proposal threshold) it carries none and the
    labeler gives the page its class. Either way the odd ones get their own class or are left out.
    """
    _check_size(page_size)
    ids = np.asarray(item_ids, dtype=np.int64)
    conf = np.asarray(confidence, dtype=np.float64)
    cls = np.asarray(classes, dtype=np.int64)
    skip = set(int(i) for i in exclude)
    keep = (conf >= min_confidence) & np.array([int(i) not in skip for i in ids], dtype=bool)
    pages: list[ClusterPage] = []
    for c in np.unique(cls[keep]):
        members = np.flatnonzero(keep & (cls == c))
        members = members[np.argsort(-conf[members], kind="stable")]
        for s in range(0, len(members) - page_size + 1, page_size):
            chunk = members[s : s + page_size]
            pages.append(
                ClusterPage(
                    tuple(int(i) for i in ids[chunk]),
                    float(conf[chunk].mean()),
                    suggested_class=int(c) if suggest else None,
                    reason=PageKind.PROPOSED if suggest else PageKind.PREDICTED,
                )
            )
    pages.sort(key=lambda p: -p.cohesion)
    return pages
