"""The labeling screen's progress line: labeled / total, what is left for this labeler, skipped.

Counting a project's items by status is one grouped scan: a few ms on an idle machine at 500,000 items,
several times that on busy cores, too much for every submit. So the counts are a snapshot shared by the
sessions of this server, refreshed in the background once ``TTL_S`` old (the run that finds it old still
shows the old one), plus this session's own saves and skips since the snapshot was read, so the line
moves with every submit at once. Leases (who holds what) are read live from the queue (in memory).
Another labeler's work shows within about ``TTL_S``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import streamlit as st

from core.store import items, queue
from core.store.db import Store

TTL_S = 3.0
DONE = ("labeled", "reviewed")
EVENTS_KEY = "label_progress_events"  # [(time, "labeled" | "skipped")]: this session's own, recent

_snaps: dict[tuple[int, int], tuple[float, dict[str, int]]] = {}  # (store id, project) -> (read at, counts)
_pending: set[tuple[int, int]] = set()
_lock = threading.Lock()


@dataclass(frozen=True)
class Progress:
    total: int
    labeled: int
    skipped: int
    left_for_me: int  # new items the queue can still hand this labeler (not leased to someone else)

    @property
    def fraction(self) -> float:
        return self.labeled / self.total if self.total else 0.0


def _refresh(store: Store, key: tuple[int, int]) -> None:
    try:
        t = time.time()
        counts = items.status_counts(store, key[1])
        with _lock:
            _snaps[key] = (t, counts)
    finally:
        with _lock:
            _pending.discard(key)


def _snapshot(store: Store, project_id: int) -> tuple[float, dict[str, int]]:
    key = (id(store), project_id)
    with _lock:
        hit = _snaps.get(key)
        stale = hit is not None and time.time() - hit[0] > TTL_S and key not in _pending
        if stale:
            _pending.add(key)
    if hit is None:
        _refresh(store, key)
        with _lock:
            return _snaps[key]
    if stale:
        threading.Thread(target=_refresh, args=(store, key), daemon=True, name="annota-progress").start()
    return hit


def forget(store: Store, project_id: int) -> None:
    """Drop the snapshot (the next read counts afresh): after a bulk change such as a grid page."""
    with _lock:
        _snaps.pop((id(store), project_id), None)


def record(kind: str, n: int = 1) -> None:
    """This session saved (``"labeled"``) or skipped ``n`` images that were new."""
    events = st.session_state.setdefault(EVENTS_KEY, [])
    now = time.time()
    events[:] = [e for e in events if now - e[0] < 60 * TTL_S] + [(now, kind)] * n


def read(store: Store, project_id: int, user: str) -> Progress:
    t, counts = _snapshot(store, project_id)
    mine = [k for at, k in st.session_state.get(EVENTS_KEY, []) if at > t]
    labeled = sum(counts.get(s, 0) for s in DONE) + mine.count("labeled")
    skipped = counts.get("skipped", 0) + mine.count("skipped")
    new = counts.get("new", 0) - len(mine)
    others = sum(1 for u in queue.leased_items(store, project_id).values() if u != user)
    total = sum(counts.values())
    return Progress(
        total=total, labeled=min(labeled, total), skipped=skipped, left_for_me=max(0, new - others)
    )


def words(p: Progress) -> str:
    return (
        f"**{p.labeled:,} / {p.total:,}** labeled ({p.fraction:.0%}) · **{p.left_for_me:,}** left for you"
        f" · **{p.skipped:,}** skipped"
    )


def show(store: Store, project_id: int, user: str) -> Progress:
    p = read(store, project_id, user)
    with st.container(key="label_progress"):
        st.progress(p.fraction, text=words(p))
    return p
