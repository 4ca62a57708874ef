"""Keyboard shortcuts of the labeling screen (Streamlit button shortcuts) and their legend."""

from __future__ import annotations

from collections.abc import Sequence

from core.domain import LabelClass, TaskType

SUBMIT = "Enter"
SKIP = "S"
BACK = "B"
ACCEPT = "A"  # accept the model's proposal as it is
NEXT = "N"  # leave this item as it is and go back to the queue
SKIPPED_LIST = "K"
RESET = "Z"  # forget unsaved changes on this item

# Streamlit reserves C and R for itself; a class whose hotkey is one of these gets no shortcut.
_STREAMLIT_RESERVED = {"c", "r"}


def class_shortcut(cls: LabelClass) -> str | None:
    key = (cls.hotkey or "").strip().lower()
    if len(key) != 1 or key in _STREAMLIT_RESERVED:
        return None
    return key.upper()


def legend(
    task: TaskType, classes: Sequence[LabelClass], *, has_proposal: bool = False
) -> list[tuple[str, str]]:
    """(key, action) rows shown beside the image."""
    rows: list[tuple[str, str]] = []
    keyed = [(class_shortcut(c), c.name) for c in classes]
    verb = {
        TaskType.MULTICLASS: "label as",
        TaskType.MULTILABEL: "toggle",
        TaskType.BOXES: "draw boxes of",
        TaskType.POLYGONS: "draw polygons of",
    }[TaskType(task)]
    rows.extend((k, f"{verb} {name}") for k, name in keyed if k)
    if task is not TaskType.MULTICLASS:
        rows.append((SUBMIT, "submit and go to the next image"))
    if has_proposal:
        rows.append((ACCEPT, "accept the model's proposal"))
    rows.extend(
        [
            (SKIP, "skip (with the reason typed, if any)"),
            (BACK, "back to the previous image"),
            (NEXT, "next image from the queue, leaving this one"),
            (RESET, "undo unsaved changes on this image"),
            (SKIPPED_LIST, "open the skipped list"),
        ]
    )
    if task is TaskType.POLYGONS:
        rows.extend(
            [
                ("click", "add a point; click the first point (or double-click) to close"),
                ("drag", "move a vertex or a whole polygon; drag the background to pan"),
                ("double-click edge", "insert a vertex"),
                ("Alt+click vertex", "remove the vertex"),
                ("Backspace / Delete", "remove the last point / the selected polygon"),
                ("Esc", "cancel the polygon being drawn"),
                ("wheel", "zoom"),
            ]
        )
    if task is TaskType.BOXES:
        rows.append(("canvas ✎ toggle", "select, move, resize or delete boxes on the canvas"))
        rows.append(("Delete / Backspace", "delete the selected box"))
    return rows


def legend_markdown(rows: Sequence[tuple[str, str]]) -> str:
    return "\n".join(f"- `{k}` {action}" for k, action in rows)
