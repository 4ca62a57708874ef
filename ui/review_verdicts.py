"""Review verdicts on screen: the review filters (state, model disagreement, agreement, labeled dates), the
state chip of a tile, the review queue's count, Approve / Reject with a reason on one image, and the
"Rejected by NAME: REASON" note the label page shows above a rejected image.

The work is ``core.quality.review``'s; only people who may review (``Action.REVIEW``) see the buttons, and
core refuses anyone else anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import streamlit as st

from core.domain import Item, NotFound, User, ValidationError
from core.permissions import Action, Forbidden, can
from core.quality import review
from core.store.db import WriteConflict
from core.store.items import ItemFilter, list_items
from ui import resources
from ui.text import plain

STATE_TITLES = {
    review.AWAITING: "Awaiting review",
    review.FIXED: "Fixed",
    review.REJECTED: "Rejected",
    review.APPROVED: "Approved",
}
STATE_COLORS = {
    review.AWAITING: "gray",
    review.FIXED: "orange",
    review.REJECTED: "red",
    review.APPROVED: "green",
}
APPROVE_KEY = "A"  # the Approve button's shortcut (Streamlit keeps C and R for itself)
FILTERS = ("review", "disagrees", "agreement", "from", "to")


def may_review(user: User, project_id: int) -> bool:
    return can(resources.store(), user, Action.REVIEW, project_id)


def state_chip(state: str | None) -> str:
    """Markdown for a review-state chip ("" for an image without a label)."""
    if state is None:
        return ""
    return f":{STATE_COLORS.get(state, 'gray')}-badge[{STATE_TITLES.get(state, state)}]"


def _valid(what: str, value: Any) -> bool:
    if what == "review":
        return value in STATE_TITLES
    if what == "disagrees":
        return isinstance(value, bool)
    if what == "agreement":
        return isinstance(value, int | float) and 0 <= value <= 1
    return isinstance(value, date)


def more_filters(
    pid: int, key: Callable[[int, str], str], saved: dict[str, Any], on_change: Callable[[int], None]
) -> dict[str, Any]:
    """The review filters' widgets (a second row); ``key(pid, what)`` names them, ``saved`` holds the values
    remembered while another page was shown. Returns the values by name."""
    for what in FILTERS:
        if key(pid, what) not in st.session_state and what in saved and _valid(what, saved[what]):
            st.session_state[key(pid, what)] = saved[what]
    state_col, dis_col, agr_col, from_col, to_col = st.columns(
        [1, 0.8, 0.8, 0.8, 0.8], vertical_alignment="bottom"
    )
    values: dict[str, Any] = {}
    values["review"] = state_col.selectbox(
        "Review",
        list(STATE_TITLES),
        index=None,
        format_func=STATE_TITLES.get,
        placeholder="Any review state",
        key=key(pid, "review"),
        on_change=on_change,
        args=(pid,),
        help="Awaiting review: labeled, or fixed after a rejection, with no verdict on the newest version.",
    )
    values["disagrees"] = dis_col.toggle(
        "Model disagrees",
        key=key(pid, "disagrees"),
        on_change=on_change,
        args=(pid,),
        help="The model's newest stored prediction names other classes than the label.",
    )
    values["agreement"] = agr_col.number_input(
        "Agreement below",
        min_value=0.0,
        max_value=1.0,
        step=0.05,
        value=None,
        placeholder="any",
        key=key(pid, "agreement"),
        on_change=on_change,
        args=(pid,),
        help="Consensus images whose labelers agreed less than this (0 to 1).",
    )
    values["from"] = from_col.date_input(
        "Labeled from", value=None, key=key(pid, "from"), on_change=on_change, args=(pid,), help="A UTC day."
    )
    values["to"] = to_col.date_input(
        "Labeled to",
        value=None,
        key=key(pid, "to"),
        on_change=on_change,
        args=(pid,),
        help="A UTC day, included.",
    )
    return values


def filter_fields(values: dict[str, Any]) -> dict[str, Any]:
    """``ItemFilter`` fields from ``more_filters``' values."""
    return {
        "review_state": values.get("review"),
        "disagrees": bool(values.get("disagrees")),
        "agreement_below": values.get("agreement"),
        "labeled_from": values.get("from"),
        "labeled_to": values.get("to"),
    }


def queue_count(pid: int, chosen: ItemFilter, on_open: Callable[[int, int], None] | None = None) -> None:
    """The review queue's size (the other filters applied, the review state's left out), and a button that
    opens its first image (``on_open(pid, item_id)``) with the review filter set to "Awaiting review"."""
    store = resources.store()
    n = review.queue_count(store, pid, chosen)
    words, button = st.columns([3, 1], vertical_alignment="center")
    words.markdown(
        f":material/rate_review: **Review queue:** {n:,} image{'' if n == 1 else 's'} awaiting review"
    )
    if on_open is not None and n:
        first = list_items(store, pid, review.queue_filter(chosen), limit=1)
        button.button(
            "Review the queue",
            key=f"review_queue_{pid}",
            icon=":material/play_arrow:",
            width="stretch",
            disabled=not first,
            on_click=on_open,
            args=(pid, first[0].id if first else 0),
            help="Open the first image awaiting review; Approve or Reject steps on to the next.",
        )


# -- verdicts on one image ---------------------------------------------------------------------------------


def note_key(pid: int) -> str:
    return f"review_verdict_note_{pid}"


def reason_key(pid: int, item_id: int) -> str:
    return f"review_reason_{pid}_{item_id}"


def _say(pid: int, kind: str, text: str) -> None:
    st.session_state[note_key(pid)] = (kind, text)


def show_note(pid: int) -> None:
    """The last verdict's outcome, in a slot that is always there (so the elements below keep their places)."""
    slot = st.empty()
    note = st.session_state.pop(note_key(pid), None)
    if note:
        getattr(slot, note[0], slot.info)(note[1])


def _decide(pid: int, item_id: int, version: int, verdict: str, user: User, then: Callable[[], None]) -> None:
    store = resources.store()
    try:
        if verdict == review.APPROVED:
            review.approve(store, item_id, version=version, by=user)
            _say(pid, "success", f"Approved image {item_id} (version {version}).")
        else:
            reason = str(st.session_state.get(reason_key(pid, item_id)) or "")
            review.reject(store, item_id, version=version, reason=reason, by=user)
            _say(
                pid,
                "success",
                f"Rejected image {item_id} (version {version}); the labeler gets it back first.",
            )
    except (review.StaleReview, Forbidden, ValidationError, NotFound, WriteConflict) as exc:
        _say(pid, "error", f"Not recorded: {plain(exc)}")
        return
    then()


def verdict_panel(pid: int, item: Item, user: User, then: Callable[[], None]) -> None:
    """The image's review state, its history, and Approve / Reject for a reviewer; ``then`` runs after a
    verdict was recorded (the page steps on)."""
    store = resources.store()
    state = review.review_state(store, item.id)
    if state:
        st.markdown(state_chip(state))
    last = review.rejection(store, item.id)
    if last is not None:
        st.text(f"Rejected by {last.reviewer}: {last.reason}")  # plain text
    if item.annotation is None or not may_review(user, pid):
        _history(item.id)
        return
    st.button(
        "Approve",
        key=f"review_approve_{pid}",
        shortcut=APPROVE_KEY,
        type="primary",
        icon=":material/check_circle:",
        width="stretch",
        help=f"Approve version {item.version} (key {APPROVE_KEY})",
        disabled=state == review.APPROVED,  # approved already (a Reject still takes it back)
        on_click=_decide,
        args=(pid, item.id, item.version, review.APPROVED, user, then),
    )
    st.text_input(
        "Reason for rejecting", key=reason_key(pid, item.id), placeholder="What the labeler should fix"
    )
    st.button(
        "Reject",
        key=f"review_reject_{pid}",
        icon=":material/block:",
        width="stretch",
        on_click=_decide,
        args=(pid, item.id, item.version, review.REJECTED, user, then),
    )
    if state == review.APPROVED:
        gold = bool(store.scalar("SELECT gold FROM items WHERE id = ?", [item.id]))
        st.toggle(
            "Gold image",
            value=gold,
            key=f"review_gold_{pid}_{item.id}",
            help="A reference answer: a share of each labeler's queue (Projects → Settings → Quality checks) "
            "is gold, unannounced, and their accuracy on it is on the Dashboard.",
            on_change=_set_gold,
            args=(pid, item.id, not gold, user),
        )
    _history(item.id)


def _set_gold(pid: int, item_id: int, gold: bool, user: User) -> None:
    try:
        review.mark_gold(resources.store(), [item_id], gold, by=user)
    except (Forbidden, ValidationError, NotFound, WriteConflict) as exc:
        _say(pid, "error", f"Not recorded: {plain(exc)}")
        return
    _say(pid, "success", f"Image {item_id} is {'now' if gold else 'no longer'} a gold image.")


def _history(item_id: int) -> None:
    past = review.review_history(resources.store(), item_id)
    if not past:
        return
    with st.expander(f"Review history ({len(past)})", icon=":material/history:"):
        for r in past:
            why = f": {r.reason}" if r.reason else ""
            st.text(
                f"{r.verdict.capitalize()} version {r.version} by {r.reviewer}, {r.created_at:%Y-%m-%d %H:%M}{why}"
            )


# -- the label page ----------------------------------------------------------------------------------------


def rejection_note(item_id: int) -> None:
    """Above a rejected image on the label page: who rejected it and why (until it is fixed)."""
    last = review.rejection(resources.store(), item_id)
    if last is not None:
        st.error(
            f"**Rejected by {plain(last.reviewer)}:** {plain(last.reason)}  \n"
            "Fix the label and save: a new version goes back for review.",
            icon=":material/report:",
        )
