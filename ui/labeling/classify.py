"""Class controls: multi-class (a key or a click labels and moves on) and multi-label (toggle, Enter)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import streamlit as st

from core.domain import Item, LabelClass, TaskType
from ui.labeling import actions, shortcuts
from ui.text import plain


def multiclass(
    item: Item, classes: Sequence[LabelClass], work: dict[str, Any], author: str, proposal: Any = None
) -> None:
    """One button per class; a click (or its key) saves the label and the next image follows."""
    current = work.get("class_id")
    st.markdown("**Class** — click or press its key")
    for cls in classes:
        st.button(
            plain(cls.name),
            key=actions.keyed(f"label_cls_{cls.id}", item.id),
            shortcut=shortcuts.class_shortcut(cls),
            type="primary" if cls.id == current else "secondary",
            icon=":material/check:" if cls.id == current else None,
            width="stretch",
            on_click=actions.classify_multiclass,
            args=(item.id, item.version, cls.id, author, proposal),
        )


def multilabel(
    item: Item, classes: Sequence[LabelClass], work: dict[str, Any], author: str, proposal: Any = None
) -> None:
    """Toggle buttons (a click or the class key), then Submit (Enter)."""
    chosen = set(work.get("class_ids", []))
    st.markdown("**Classes** — toggle with a click or its key, then submit")
    for cls in classes:
        on = cls.id in chosen
        st.button(
            plain(cls.name),
            key=actions.keyed(f"label_tog_{cls.id}", item.id),
            shortcut=shortcuts.class_shortcut(cls),
            type="primary" if on else "secondary",
            icon=":material/check_box:" if on else ":material/check_box_outline_blank:",
            width="stretch",
            on_click=actions.toggle_multilabel,
            args=(item.id, item.version, cls.id),
        )
    if not chosen:
        st.caption("Nothing chosen: submitting says *none of these classes*.")
    st.button(
        "Submit",
        key=actions.keyed("label_submit", item.id),
        shortcut=shortcuts.SUBMIT,
        type="primary",
        icon=":material/send:",
        width="stretch",
        on_click=actions.submit_work,
        args=(item.id, item.version, TaskType.MULTILABEL, author, proposal),
    )
