"""What the labeling buttons do: thin wrappers over ``core.store`` run as button callbacks.

Each runs before the labeling fragment reruns, so the next run draws the outcome (the next item, a
stale-save chooser, a message) in one pass.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.disk import DiskFull
from core.domain import NotFound, Source, TaskType, User, ValidationError
from core.permissions import Forbidden
from core.store import labels, queue
from core.store.db import WriteConflict
from ui.labeling import blind, payloads, progress, state
from ui.resources import store
from ui.text import plain

KEY_TAG = "__i"  # an action button's key ends with the item it was drawn for: ``label_submit__i42``
IGNORED = "Key ignored: the next image was still loading."


def keyed(key: str, item_id: int) -> str:
    """The widget key of an action button drawn for ``item_id``.

    Streamlit gives a keyed button the same widget id on every run and replaces its callback args with
    the newest run's; a shortcut pressed while the next image was being drawn then ran with that image's
    args (labeling an image never seen). A key per item makes the button of the image on screen a
    widget of its own, so its press carries that image, and ``on_screen`` drops it once another image
    is pinned."""
    return f"{key}{KEY_TAG}{item_id}"


def on_screen(item_id: int) -> bool:
    """Whether ``item_id`` is still the image on screen (the pinned one). A press made for an image that
    has since left the screen (saved, skipped, replaced) is dropped, with a short note."""
    if state.current_item_id() == item_id:
        return True
    state.flash("info", IGNORED)
    return False


def _me() -> User:
    return st.session_state["user"]  # the page ran ``session.require_user`` (the gate) first


def save(
    item_id: int,
    version: int,
    task: TaskType,
    payload: dict[str, Any],
    author: str,
    proposal: dict[str, Any] | None = None,
    source: Source | None = None,
) -> bool:
    """Save ``payload`` as the next version of the item; on success the queue's next item follows."""
    if blind.active(item_id):  # a consensus or gold item: a blind answer, never the item's label
        return blind.save(item_id, payload)
    src = source or payloads.source_for(task, payload, proposal)
    try:
        labels.save_label(
            store(),
            item_id,
            payload,
            by=_me(),
            author=author,
            base_version=version,
            source=src,
            duration_ms=state.duration_ms(item_id),
            proposal_kept=None if not proposal else src is Source.PRELABEL,
        )
    except labels.StaleEdit as exc:
        st.session_state[state.STALE_KEY] = {
            "item_id": item_id,
            "base_version": version,
            "current": exc.current,
            "attempted": exc.attempted,
            "source": src.value,
        }
        return False
    except ValidationError as exc:
        state.flash("error", f"Not saved: {exc}")
        return False
    except (NotFound, WriteConflict, DiskFull, Forbidden) as exc:
        state.flash("error", f"Not saved: {exc}")
        return False
    state.drop_work(item_id)
    state.pin_item(None)
    if version == 0:  # a first label: the progress line counts it at once
        progress.record("labeled")
    state.flash("success", f"Saved image {item_id}.")
    return True


def classify_multiclass(item_id: int, version: int, class_id: int, author: str, proposal: Any = None) -> None:
    if not on_screen(item_id):
        return
    save(item_id, version, TaskType.MULTICLASS, {"class_id": class_id}, author, proposal)


def toggle_multilabel(item_id: int, version: int, class_id: int) -> None:
    if not on_screen(item_id):
        return
    work = state.get_work(item_id, version) or {"class_ids": []}
    state.set_work(
        item_id, version, {"class_ids": payloads.toggle_class(work.get("class_ids", []), class_id)}
    )


def submit_work(item_id: int, version: int, task: TaskType, author: str, proposal: Any = None) -> None:
    if not on_screen(item_id):
        return
    work = state.get_work(item_id, version)
    if work is None:
        state.flash("error", "Nothing to submit yet.")
        return
    if task is TaskType.MULTICLASS and "class_id" not in work:
        state.flash("warning", "Choose a class first.")
        return
    save(item_id, version, task, work, author, proposal)


def accept_proposal(
    item_id: int, version: int, task: TaskType, author: str, proposal: dict[str, Any]
) -> None:
    if not on_screen(item_id):
        return
    save(item_id, version, task, payloads.strip_scores(task, proposal), author, proposal, Source.PRELABEL)


def skip(item_id: int, author: str, reason_key: str) -> None:
    if not on_screen(item_id):
        return
    if blind.active(item_id):
        blind.skip(item_id, author)
        return
    reason = str(st.session_state.get(reason_key) or "")
    try:
        labels.skip_item(store(), item_id, by=_me(), author=author, reason=reason)
    except (NotFound, WriteConflict, DiskFull, Forbidden) as exc:
        state.flash("error", f"Not skipped: {exc}")
        return
    state.drop_work(item_id)
    state.pin_item(None)
    progress.record("skipped")
    state.flash(
        "info", f"Skipped image {item_id}" + (f" ({plain(reason.strip())})." if reason.strip() else ".")
    )


def back(project_id: int, author: str, current: int | None) -> None:
    # The item on screen is the one pinned in the session now, not the one this button was drawn
    # for: a click that lands while a skip's rerun draws the next image carries the old item, and
    # "back" from it would skip one image too far (or seem to do nothing).
    current = state.current_item_id()
    recent = labels.recent_by(store(), project_id, author, limit=200)
    target = payloads.back_target(recent, current)
    if target is None:
        state.flash("info", "There is no earlier image of yours in this project.")
        return
    state.pin_item(target)


def next_in_queue(project_id: int, author: str, current: int | None) -> None:
    """Leave the item on screen as it is (its working state stays) and take the queue's next."""
    if current is not None and not on_screen(current):
        return
    state.pin_item(None)
    if current is None:
        return
    if queue.current_lease(store(), project_id, author) == current:
        queue.release(store(), current, project_id)  # let the queue hand out a different one
    nxt = queue.next_item_id(store(), project_id, author, exclude={current})
    state.pin_item(nxt)
    if nxt is None:
        state.flash("info", "No other image is waiting in the queue.")


def reset(item_id: int, version: int, initial: dict[str, Any]) -> None:
    if not on_screen(item_id):
        return
    state.set_work(item_id, version, initial)
    state.bump_rev(item_id, version)


def set_work(item_id: int, version: int, payload: dict[str, Any], bump: bool = False) -> None:
    state.set_work(item_id, version, payload)
    if bump:
        state.bump_rev(item_id, version)
