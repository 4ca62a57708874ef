"""A labeler's next grid page, chosen ahead while they work on the one on screen.

Choosing a page reads the store's predictions, the audit's state and (before any head) the embedding
index: about 100 ms of CPU at 500,000 items, more with neighbour pages. ``cluster_pages.next_page`` starts
that choice in a background thread as soon as it has leased a page (the page's own items excluded, as
they will be labeled or handed back by then), and takes it at the next page instead of choosing again,
so a submit shows the next page without waiting for the choice.

Nothing is leased ahead: the candidates are only a list. ``take`` hands them out only while they are
fresh (same project, labeler, task and page size; no model run since; at most ``MAX_AGE_S`` old) and
drops every candidate whose items are no longer all unlabeled or that the labeler handed back
meanwhile; ``next_page`` then leases as before (all or none), so another labeler holding an item makes
it try the next candidate, and with none left it chooses afresh.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from core.assist.clustering import ClusterPage
from core.store.db import Store, StoreClosed

log = logging.getLogger(__name__)

MAX_AGE_S = 60.0  # a choice older than this is made again (the queue moves on)
WAIT_S = 2.0  # how long ``take`` waits for a choice still being made before choosing afresh
_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="annota-page-ahead")


@dataclass(frozen=True)
class Key:
    project_id: int
    user: str
    task: str
    page_size: int


@dataclass
class _Ahead:
    generation: int  # the project's latest model run when the choice started
    started: float
    future: Future[list[ClusterPage]]


@dataclass
class _Book:
    ahead: dict[Key, _Ahead]
    lock: threading.Lock


def _book(store: Store) -> _Book:
    with store.lock:
        book = store.caches.get("grid_pages_ahead")
        if book is None:
            book = store.caches["grid_pages_ahead"] = _Book({}, threading.Lock())
        return book


def generation(store: Store, project_id: int) -> int:
    """The project's latest model run (a training or an inference changes what a page would be)."""
    return int(
        store.scalar("SELECT coalesce(max(id), 0) FROM model_runs WHERE project_id = ?", [project_id]) or 0
    )


def start(store: Store, key: Key, choose: Callable[[], list[ClusterPage]]) -> None:
    """Start choosing the labeler's next page in the background (``choose`` runs in another thread)."""

    def run() -> list[ClusterPage]:
        try:
            return choose()
        except StoreClosed:  # annota is stopping
            return []
        except Exception:  # a choice made ahead is a shortcut only: next_page chooses again
            log.exception("choosing the next grid page ahead failed")
            return []

    ahead = _Ahead(generation(store, key.project_id), time.monotonic(), _pool.submit(run))
    book = _book(store)
    with book.lock:
        book.ahead[key] = ahead


def when_ready(store: Store, key: Key, then: Callable[[list[ClusterPage]], None]) -> bool:
    """Call ``then`` with the candidates chosen ahead for ``key`` once they are (in the background thread,
    or at once if they are ready), e.g. to prepare the first one's tiles; ``False`` if none are coming."""
    book = _book(store)
    with book.lock:
        ahead = book.ahead.get(key)
    if ahead is None:
        return False

    def done(future: Future[list[ClusterPage]]) -> None:
        try:
            then(future.result())
        except Exception:  # preparing ahead is a shortcut only
            log.exception("preparing the next grid page ahead failed")

    ahead.future.add_done_callback(done)
    return True


def take(store: Store, key: Key, returned: Iterable[int]) -> list[ClusterPage] | None:
    """The candidates chosen ahead for ``key``, still fresh and all of their items still unlabeled and not
    handed back by the labeler (``returned``); ``None`` when there is no usable choice (choose afresh)."""
    book = _book(store)
    with book.lock:
        ahead = book.ahead.pop(key, None)
    if ahead is None or time.monotonic() - ahead.started > MAX_AGE_S:
        return None
    try:
        pages = ahead.future.result(timeout=WAIT_S)
    except Exception:  # still running after WAIT_S: choose afresh
        return None
    if not pages or generation(store, key.project_id) != ahead.generation:
        return None
    ids = sorted({int(i) for p in pages for i in p.item_ids})
    new = {
        int(r[0])
        for r in store.query("SELECT id FROM items WHERE id IN (SELECT unnest(?)) AND status = 'new'", [ids])
    }
    gone = set(returned)
    usable = [p for p in pages if all(int(i) in new and int(i) not in gone for i in p.item_ids)]
    return usable or None
