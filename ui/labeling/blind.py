"""Blind items on the labeling screen: a consensus or gold item is shown without its label and without
the model's proposal, unannounced (it looks like any other image), and its save goes to
``core.quality.consensus.save_blind_answer`` instead of the item's label.

The screen calls ``view`` for the item it is about to draw; the actions ask ``active`` before saving or
skipping. ``label_blind`` holds ``(item id, kind)`` of the blind item on screen.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import streamlit as st

from core.disk import DiskFull
from core.domain import Item, ItemStatus, NotFound, User, ValidationError
from core.permissions import Forbidden
from core.quality import consensus
from core.store.db import WriteConflict
from ui import session
from ui.labeling import progress, state
from ui.resources import store

BLIND_KEY = "label_blind"


def view(project_id: int, item: Item, user: User) -> Item:
    """The item as the labeler may see it: a blind item without its label (and marked on screen as such
    for the actions), any other item as it is."""
    kind = consensus.held_kind(store(), project_id, item.id, user.username)
    if kind is None:
        if active(item.id):
            st.session_state.pop(BLIND_KEY, None)
        return item
    st.session_state[BLIND_KEY] = (item.id, kind)
    return replace(item, annotation=None, status=ItemStatus.NEW)


def active(item_id: int) -> str | None:
    """The kind of the blind item ``item_id`` when it is the one on screen, else None."""
    held = st.session_state.get(BLIND_KEY)
    return held[1] if held and held[0] == item_id else None


def save(item_id: int, payload: dict[str, Any]) -> bool:
    """Save the labeler's blind answer; on success the queue's next item follows (as after a label)."""
    kind, user = active(item_id), session.current_user()
    if kind is None or user is None:
        state.flash("error", "Not saved: this image is no longer yours to answer; take the next one.")
        return False
    try:
        consensus.save_blind_answer(
            store(), item_id, payload, kind=kind, by=user, duration_ms=state.duration_ms(item_id)
        )
    except (ValidationError, NotFound, WriteConflict, DiskFull, Forbidden) as exc:
        state.flash("error", f"Not saved: {exc}")
        return False
    st.session_state.pop(BLIND_KEY, None)
    state.drop_work(item_id)
    state.pin_item(None)
    progress.record("labeled")
    state.flash("success", f"Saved image {item_id}.")
    return True


def skip(item_id: int, username: str) -> None:
    """Pass a blind item on: it stays open for the others (never marked skipped for everyone), and this
    labeler is not handed it again (``consensus.decline``)."""
    consensus.decline(store(), item_id, username)
    st.session_state.pop(BLIND_KEY, None)
    state.drop_work(item_id)
    state.pin_item(None)
    progress.record("skipped")
    state.flash("info", f"Skipped image {item_id}.")
