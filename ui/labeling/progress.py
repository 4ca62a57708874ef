"""The labeling screen's progress line: labeled / total, what is left for this labeler, skipped.

Read afresh on every run of the labeling fragment (one grouped count over the project's items and the
queue's in-memory leases), so a submit shows in the next image's line.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from core.store import items, queue
from core.store.db import Store

DONE = ("labeled", "reviewed")


@dataclass(frozen=True)
class Progress:
    total: int
    labeled: int
    skipped: int
    left_for_me: int  # new items the queue can still hand this labeler (not leased to someone else)

    @property
    def fraction(self) -> float:
        return self.labeled / self.total if self.total else 0.0


def read(store: Store, project_id: int, user: str) -> Progress:
    counts = items.status_counts(store, project_id)
    others = sum(1 for u in queue.leased_items(store, project_id).values() if u != user)
    return Progress(
        total=sum(counts.values()),
        labeled=sum(counts.get(s, 0) for s in DONE),
        skipped=counts.get("skipped", 0),
        left_for_me=max(0, counts.get("new", 0) - others),
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
