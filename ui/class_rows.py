"""The label classes of the new-project form: one row of plain text inputs per class (name, colour,
hotkey), a fixed number of rows and a More rows button.

Plain text inputs, not a data table: inside an ``st.form`` a text input hands every key typed to the form
at once, so Create sends every row exactly as typed, however soon after the last key it is clicked. The
data table kept a cell's text in its own editor until the cell was closed and sent edits a moment later,
and lost typed text twice over (keys typed at once after the click into an empty row; a Create clicked
within about 100 ms of the last edit)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st

from core.store.projects import ClassSpec

BLANK_ROWS = 6  # rows drawn at first, and added by each More rows
_COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass(frozen=True)
class ClassRow:
    """One row as typed (spaces around kept off)."""

    name: str = ""
    color: str = ""
    hotkey: str = ""

    @property
    def blank(self) -> bool:
        return not (self.name or self.color or self.hotkey)


def row_count(key: Callable[[str], str]) -> int:
    """How many rows the form of this generation draws."""
    return int(st.session_state.get(key("new_cls_rows"), BLANK_ROWS))


def add_rows(key: Callable[[str], str]) -> None:
    """More rows: the rows typed stay (their inputs keep their keys), blank ones are added below."""
    st.session_state[key("new_cls_rows")] = row_count(key) + BLANK_ROWS


def input_keys(key: Callable[[str], str], n: int) -> tuple[str, str, str]:
    """The keys of row ``n``'s three inputs (0-based) in the form's current generation."""
    return key(f"new_cls_name_{n}"), key(f"new_cls_color_{n}"), key(f"new_cls_key_{n}")


def class_inputs(key: Callable[[str], str]) -> list[ClassRow]:
    """Draw the rows (inside the caller's form) and return them as typed, blank ones included."""
    widths = [4, 2, 1]
    heads = st.columns(widths)
    for col, head in zip(heads, ("Class", "Colour (#rrggbb)", "Hotkey"), strict=True):
        col.caption(f"**{head}**")
    rows = []
    for n in range(row_count(key)):
        name_key, color_key, hotkey_key = input_keys(key, n)
        c_name, c_color, c_key = st.columns(widths)
        name = c_name.text_input(
            f"Class {n + 1}", key=name_key, label_visibility="collapsed", placeholder=f"Class {n + 1}"
        )
        color = c_color.text_input(
            f"Colour of class {n + 1}", key=color_key, label_visibility="collapsed", placeholder="auto"
        )
        hotkey = c_key.text_input(
            f"Hotkey of class {n + 1}",
            key=hotkey_key,
            max_chars=1,
            label_visibility="collapsed",
            placeholder="auto",
        )
        rows.append(ClassRow(name.strip(), color.strip(), hotkey.strip()))
    return rows


def class_specs(rows: list[ClassRow]) -> tuple[list[ClassSpec], list[str]]:
    """The classes typed, and why each row that cannot become one cannot, in words (blank rows are
    ignored; a blank colour or hotkey is left to core, which gives a free one)."""
    specs: list[ClassSpec] = []
    problems: list[str] = []
    for n, row in enumerate(rows, start=1):
        if row.blank:
            continue
        if not row.name:
            problems.append(
                f"Row {n} has a colour or hotkey but no class name: type a name or clear the row."
            )
            continue
        if row.color and not _COLOR_RE.match(row.color):
            problems.append(
                f"Row {n} ({row.name}): the colour {row.color!r} is not a #rrggbb colour (e.g. #1f77b4);"
                " leave it empty for a free one."
            )
            continue
        specs.append(ClassSpec(row.name, row.color or None, row.hotkey or None))
    return specs, problems
