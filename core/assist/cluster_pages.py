"""Cluster pages for one labeler: 4, 6 or 9 unlabeled images that belong together, leased as a page.

``next_page`` hands a labeler their page: their current one while its lease holds, else a new one
chosen by ``page_choice.choose_pages`` (one pure rule, which the benchmarks call too) over
``pool_state``, built in this order of preference, from a shared shown proposal (``clustering.prediction_pages``,
the labeler confirms the proposed class; multi-class), from a shared prediction of the latest head at
or above its page threshold (``calibration.page_threshold``; multi-label: items predicted to hold
exactly that one class; the page carries no class, the labeler gives it one), or, before any head
exists (multi-label: also when no such page is left), from the project's stored embeddings
(``clustering.neighbour_pages``, seeded at the head of the queue). Every item of the page is
leased to the labeler in the queue's lease book, so several labelers never see the same tiles and
the one-image queue skips them too.

``page_submit.submit_page`` gives the selected items the page's class (a new version each, saved in one
transaction, source ``human``), or what the labeler gave a tile of its own (an
odd one out fixed in place: its class, or for multi-label its set of classes; a click instead of a
deselection now and a label later), and hands the deselected ones back to the queue.
``reopen_last`` leases the labeler's last submitted page again as it was saved (a page made in a
hurry is corrected on the grid, like Back on the one-image screen).
"""

from __future__ import annotations

import functools
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from core.assist import audit, clustering, page_ahead, page_choice, trained
from core.assist.classify_jobs import project_index
from core.domain import TaskType
from core.quality import consensus
from core.store import queue
from core.store.db import Store

PAGE_SIZES = clustering.PAGE_SIZES
SEEDS = page_choice.SEEDS  # seeds drawn from the head of the queue per new page
RETURNED_MEMORY = 200  # deselected items remembered per labeler
PREDICTION_MIN_SHARE = page_choice.PREDICTION_MIN_SHARE  # the rule is page_choice's
# up to this many classes a tile's own class is one click (chips over the tile); with more, a
# drop-down (two clicks)
ONE_CLICK_CLASSES = 12


@dataclass(frozen=True)
class GridPage:
    """A page leased to one labeler."""

    project_id: int
    user: str
    item_ids: tuple[int, ...]
    page_size: int
    suggested_class: int | None = None
    cohesion: float = 0.0
    reason: clustering.PageKind = clustering.PageKind.NEIGHBOURS  # shown as its words
    versions: tuple[int, ...] = ()  # each item's version when the page was made (a save edits it)
    reopened: bool = False  # the labeler's last page, labeled, opened again to correct it

    def version_of(self, item_id: int) -> int | None:
        if len(self.versions) != len(self.item_ids):
            return None
        return self.versions[self.item_ids.index(item_id)]


@dataclass
class _Book:
    pages: dict[tuple[int, str], GridPage] = field(default_factory=dict)
    # items a labeler deselected lately: not put on their next pages again (others may get them)
    returned: dict[tuple[int, str], list[int]] = field(default_factory=dict)
    last: dict[tuple[int, str], tuple[int, ...]] = field(default_factory=dict)  # last page's saved items
    lock: threading.Lock = field(default_factory=threading.Lock)


def page_book(store: Store) -> _Book:
    with store.lock:
        book = store.caches.get("grid_pages")
        if book is None:
            book = store.caches["grid_pages"] = _Book()
        return book


# ---------------------------------------------------------------- facts


def embedding_model(store: Store, project_id: int) -> str | None:
    """The backbone whose embeddings the project has most of (``None`` before featurisation)."""
    row = store.query_one(
        "SELECT model FROM embeddings WHERE project_id = ? GROUP BY model ORDER BY count(*) DESC LIMIT 1",
        [project_id],
    )
    return str(row[0]) if row else None


def featurised_unlabeled(store: Store, project_id: int) -> int:
    """Unlabeled items (status ``new``) with an embedding."""
    model = embedding_model(store, project_id)
    if model is None:
        return 0
    return int(
        store.scalar(
            "SELECT count(*) FROM items i WHERE i.project_id = ? AND i.status = 'new' AND EXISTS"
            " (SELECT 1 FROM embeddings e WHERE e.item_id = i.id AND e.project_id = i.project_id"
            " AND e.model = ?)",
            [project_id, model],
        )
        or 0
    )


def grid_available(store: Store, project_id: int, page_size: int = min(PAGE_SIZES)) -> bool:
    """Whether a page can be made: enough unlabeled items have embeddings."""
    return featurised_unlabeled(store, project_id) >= page_size


# ---------------------------------------------------------------- leases


def _lease_all(store: Store, project_id: int, item_ids: Sequence[int], user: str, minutes: float) -> bool:
    """Lease every item of a page to ``user`` (all or none)."""
    return queue.lease_many(store, project_id, item_ids, user, lease_minutes=minutes)


def _holds(store: Store, project_id: int, item_ids: Iterable[int], user: str) -> list[int]:
    return queue.held_by(store, project_id, item_ids, user)


def release_page(store: Store, project_id: int, user: str) -> None:
    """Give the labeler's page back to the queue (grid size changed, mode left)."""
    book = page_book(store)
    with book.lock:
        page = book.pages.pop((project_id, user), None)
    if page is not None:
        release_held(store, project_id, page.item_ids, user)


def release_held(store: Store, project_id: int, item_ids: Iterable[int], user: str) -> None:
    """End the leases this labeler holds on these items."""
    mine = _holds(store, project_id, item_ids, user)
    for i in mine:
        queue.release(store, i, project_id)


# ---------------------------------------------------------------- pages


def _new_ids(store: Store, project_id: int, ids: Sequence[int]) -> list[int]:
    if not ids:
        return []
    rows = store.query("SELECT id FROM items WHERE id IN (SELECT unnest(?)) AND status = 'new'", [list(ids)])
    new = {int(r[0]) for r in rows}
    return [i for i in ids if i in new]


def current_page(store: Store, project_id: int, user: str) -> GridPage | None:
    """The labeler's page while all of its items still wait and are still leased to them."""
    book = page_book(store)
    with book.lock:
        page = book.pages.get((project_id, user))
    if page is None:
        return None
    waiting = page.item_ids if page.reopened else _new_ids(store, project_id, page.item_ids)
    still = _holds(store, project_id, waiting, user)
    if len(still) == len(page.item_ids):
        return page
    release_page(store, project_id, user)
    return None


def _excluded(store: Store, project_id: int, user: str) -> set[int]:
    """Items this labeler may not get on a page: leased to someone else, or deselected by them lately."""
    held = {i for i, u in queue.leased_items(store, project_id).items() if u != user}
    book = page_book(store)
    with book.lock:
        held.update(book.returned.get((project_id, user), []))
    return held | consensus_ids(store, project_id)


def consensus_ids(store: Store, project_id: int) -> set[int]:
    """Unlabeled consensus images: they are answered blind by k labelers (``core.quality.consensus``),
    never labeled by one person on a page. None unless the project sets a consensus share."""
    sql, params = consensus.queue_filter(store, project_id)
    if len(params) < 2:  # no share: only the images recorded while a share was set
        return {
            int(r[0])
            for r in store.query(
                "SELECT c.item_id FROM consensus_items c JOIN items i ON i.id = c.item_id"
                " WHERE c.project_id = ? AND i.status = 'new'",
                [project_id],
            )
        }
    rows = store.query(f"SELECT id FROM items WHERE project_id = ? AND status = 'new' AND NOT (true{sql})",
                       [project_id, *params])  # fmt: skip
    return {int(r[0]) for r in rows}


def _pool(store: Store, project_id: int, model: str, excluded: set[int]) -> np.ndarray:
    """Unlabeled featurised items nobody else holds, in queue order (for neighbour pages)."""
    ids = store.query_columns(
        "SELECT i.id FROM items i WHERE i.project_id = ? AND i.status = 'new' AND EXISTS"
        " (SELECT 1 FROM embeddings e WHERE e.item_id = i.id AND e.project_id = i.project_id"
        " AND e.model = ?) ORDER BY i.queue_rank NULLS LAST, i.id",
        [project_id, model],
    )["id"]
    ids = np.asarray(ids, dtype=np.int64)
    if excluded:
        ids = ids[~np.isin(ids, np.fromiter(excluded, dtype=np.int64, count=len(excluded)))]
    return ids


def _one_class_predictions(
    store: Store, project_id: int, page_size: int, excluded: set[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The most confident unlabeled items of each predicted class, shown and not shown apart, a few
    pages' worth each (items predicted to hold exactly one class: all of them for multi-class).

    Done in the database (a window per class and shown flag), so a page costs the same at 500,000
    predictions as at 500: only ``3 * page_size`` items per class and flag (plus the excluded ones)
    come back. Each class's most confident rows among the shown and among all are in it, so
    ``page_choice.choose_pages`` picks from it what it would pick from every prediction."""
    per_class = 3 * page_size + len(excluded)
    # the top ``per_class`` of each (class, shown) group by (confidence desc, item id asc): ``max_by`` with a
    # count keeps only those per group while it scans, where a window sorted every group whole (a third of
    # the CPU at 500,000 predictions, for the same rows)
    rows = store.query(
        "SELECT t.item_id, t.cls, t.confidence, t.shown FROM (SELECT unnest(max_by({'item_id': p.item_id,"
        " 'cls': p.class_ids[1], 'confidence': p.confidence, 'shown': p.shown}, (p.confidence, -p.item_id), ?))"
        " AS t FROM predictions p JOIN items i ON i.id = p.item_id WHERE p.project_id = ? AND i.status = 'new'"
        " AND len(p.class_ids) = 1 GROUP BY p.class_ids[1], p.shown)",
        [per_class, project_id],
    )
    rows = [r for r in rows if int(r[0]) not in excluded]
    return (
        np.array([int(r[0]) for r in rows], dtype=np.int64),
        np.array([int(r[1]) for r in rows], dtype=np.int64),
        np.array([float(r[2]) for r in rows], dtype=np.float64),
        np.array([bool(r[3]) for r in rows], dtype=bool),
    )


def shown_unlabeled(store: Store, project_id: int) -> int:
    """Unlabeled items with a shown proposal."""
    return int(
        store.scalar(
            "SELECT count(*) FROM predictions p JOIN items i ON i.id = p.item_id"
            " WHERE p.project_id = ? AND p.shown AND i.status = 'new'",
            [project_id],
        )
        or 0
    )


def _page_threshold(store: Store, project_id: int) -> float | None:
    """The latest trained head's page threshold; ``None`` when no head has been trained."""
    found = trained.latest(store, project_id, trained.ModelKind.HEAD)
    return None if found is None else found.page_threshold


def pool_state(
    store: Store, project_id: int, task: TaskType, page_size: int, excluded: set[int]
) -> page_choice.PoolState:
    """What ``page_choice.choose_pages`` reads, from the store, for a labeler who may not get ``excluded``."""
    ids, cls, conf, shown = _one_class_predictions(store, project_id, page_size, excluded)
    return page_choice.PoolState(
        task=task,
        page_size=page_size,
        n_unlabeled=featurised_unlabeled(store, project_id),
        n_shown=shown_unlabeled(store, project_id),
        page_threshold=_page_threshold(store, project_id),
        pred_ids=ids,
        pred_class=cls,
        pred_conf=conf,
        pred_shown=shown,
    )


def _candidates(
    store: Store,
    project_id: int,
    task: TaskType,
    user: str,
    page_size: int,
    model: str,
    also: Iterable[int] = (),
) -> list[clustering.ClusterPage]:
    """The candidate pages for ``user``, best first; ``also``: more items to leave out (the page on screen,
    when the next one is chosen ahead)."""
    excluded = _excluded(store, project_id, user) | {int(i) for i in also}

    def neighbours() -> list[clustering.ClusterPage]:
        pool = _pool(store, project_id, model, excluded)
        if len(pool) < page_size:
            return []
        index = project_index(store, project_id, model, store.path.parent / "cache" / "embeddings")
        return page_choice.neighbour_candidates(index, pool, page_size)

    pages = page_choice.choose_pages(pool_state(store, project_id, task, page_size, excluded), neighbours)
    return _audit_tiles(store, project_id, page_size, excluded, pages)


def _audit_tiles(
    store: Store, project_id: int, page_size: int, excluded: set[int], pages: list[clustering.ClusterPage]
) -> list[clustering.ClusterPage]:
    """The audit's next items as the pages' last tiles while the audit is behind its share of the labels
    (``audit.due_tiles``, ``audit.with_tiles``): random tiles, so grid projects calibrate too."""
    if not pages:
        return pages
    from core.store.projects import get_project

    share = get_project(store, project_id).prefs.grid_audit_share  # a random tile costs a click here
    if share <= 0:
        return pages
    state = audit.audit_state(store, project_id)
    if not state.pending:
        return pages
    rows = store.query(
        "SELECT id FROM items WHERE id IN (SELECT unnest(?)) AND status = 'new'",
        [state.pending[: 4 * page_size]],
    )
    tiles = audit.due_tiles(state, page_size, {int(r[0]) for r in rows} - excluded, share)
    with_tiles = audit.with_tiles(pages, tiles, page_size)
    return _matching_first(store, with_tiles, tiles) if with_tiles else pages


def _matching_first(
    store: Store, pages: list[clustering.ClusterPage], tiles: Sequence[int]
) -> list[clustering.ClusterPage]:
    """The pages whose images the model puts in the class it guesses for most of the audit tiles first
    (else in their order): an audit tile on a page of its own guessed class is right with the page's
    class more often, and costs no click of its own. Which images the audit draws, and in which order,
    never depends on the model; only the page it is shown on does."""
    if len(pages) < 2 or not tiles:
        return pages
    ids = {int(t) for t in tiles} | {int(i) for p in pages for i in p.item_ids}
    guess = {
        int(r[0]): tuple(sorted(int(c) for c in (r[1] or [])))
        for r in store.query(
            "SELECT item_id, class_ids FROM predictions WHERE item_id IN (SELECT unnest(?))", [sorted(ids)]
        )
    }
    mine = {int(t) for t in tiles}
    tile_guesses = [guess.get(int(t)) for t in tiles]

    def matches(page: clustering.ClusterPage) -> int:
        others = [guess.get(int(i)) for i in page.item_ids if int(i) not in mine]
        counts = Counter(g for g in others if g)
        if not counts:
            return 0
        page_class = counts.most_common(1)[0][0]
        return sum(1 for g in tile_guesses if g == page_class)

    return sorted(pages, key=lambda page: -matches(page))  # stable: equal pages keep their order


def next_page(
    store: Store,
    project_id: int,
    user: str,
    task: TaskType | str,
    page_size: int = 9,
    *,
    lease_minutes: float = 10,
) -> GridPage | None:
    """The labeler's page of ``page_size`` items, leased to them; ``None`` when none can be made."""
    if page_size not in PAGE_SIZES:
        raise ValueError(f"a page holds 4, 6 or 9 images, not {page_size}")
    task = TaskType(task)
    page = current_page(store, project_id, user)
    if page is not None and (page.page_size == page_size or page.reopened):
        return page
    if page is not None:
        release_page(store, project_id, user)
    model = embedding_model(store, project_id)
    if model is None:
        return None
    ahead = page_ahead.Key(project_id, user, task.value, page_size)
    for attempt in range(3):  # another labeler may lease some of the items between our read and our lease
        # the first try takes the page chosen ahead while the last one was on screen (``page_ahead``)
        chosen = page_ahead.take(store, ahead, _returned(store, project_id, user)) if attempt == 0 else None
        for cand in chosen or _candidates(store, project_id, task, user, page_size, model):
            if _lease_all(store, project_id, cand.item_ids, user, lease_minutes):
                ids = tuple(int(i) for i in cand.item_ids)
                page = GridPage(
                    project_id,
                    user,
                    ids,
                    page_size,
                    cand.suggested_class,
                    cand.cohesion,
                    cand.reason,
                    _versions(store, ids),
                )
                book = page_book(store)
                with book.lock:
                    book.pages[(project_id, user)] = page
                page_ahead.start(
                    store,
                    ahead,
                    functools.partial(_candidates, store, project_id, task, user, page_size, model, also=ids),
                )
                return page
    return None


def _returned(store: Store, project_id: int, user: str) -> list[int]:
    """The items the labeler handed back lately (never on their next pages)."""
    book = page_book(store)
    with book.lock:
        return list(book.returned.get((project_id, user), []))


def _versions(store: Store, ids: Sequence[int]) -> tuple[int, ...]:
    rows = store.query("SELECT id, version FROM items WHERE id IN (SELECT unnest(?))", [list(ids)])
    by_id = {int(r[0]): int(r[1]) for r in rows}
    return tuple(by_id.get(i, 0) for i in ids)


def has_last(store: Store, project_id: int, user: str) -> bool:
    """Whether the labeler has a submitted page to go back to."""
    book = page_book(store)
    with book.lock:
        return bool(book.last.get((project_id, user)))


def reopen_last(store: Store, project_id: int, user: str, *, lease_minutes: float = 10) -> GridPage | None:
    """Lease the labeler's last submitted page again, as saved; their current page goes back unlabeled.

    Submitting it saves a new version only where a tile's answer changed (``submit_page``), on the
    version each item had when reopened, so an edit someone made meanwhile is kept, not overwritten.
    ``None`` when there is no last page, or someone holds one of its items."""
    book = page_book(store)
    with book.lock:
        ids = book.last.get((project_id, user), ())
    present = {
        int(r[0]) for r in store.query("SELECT id FROM items WHERE id IN (SELECT unnest(?))", [list(ids)])
    }
    ids = tuple(i for i in ids if i in present)
    if not ids:
        return None
    release_page(store, project_id, user)
    if not _lease_all(store, project_id, ids, user, lease_minutes):
        return None
    page = GridPage(
        project_id,
        user,
        ids,
        len(ids),
        reason=clustering.PageKind.REOPENED,
        versions=_versions(store, ids),
        reopened=True,
    )
    with book.lock:
        book.pages[(project_id, user)] = page
    return page
