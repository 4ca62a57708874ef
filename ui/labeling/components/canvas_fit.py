"""The box canvas's helper component: the width its column offers, and Delete / Backspace for the selected box.

streamlit-drawable-canvas draws at a fixed pixel size given from Python; Python does not know the
column's width, so a landscape photo on a 960 px canvas in a narrower column was cut off. This hidden
component (``canvas_fit.js``) reports the width of the column it is drawn in (state ``width``, on
mount and whenever the column resizes by a few pixels); ``draw.boxes`` fits the image to it at zoom 1.
It also binds Delete and Backspace (outside text boxes) to the canvas toolbar's "Delete selected".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

_JS = (Path(__file__).parent / "canvas_fit.js").read_text(encoding="utf-8")
KEY = "label_canvas_fit"
WIDTH_KEY = "label_canvas_width"  # the last width reported, kept for the next items' first run

_component = st.components.v2.component(
    "annota.canvas_fit", html='<div class="cf-host"></div>', js=_JS, isolate_styles=True
)


def available_width(default: int) -> int:
    """Mount the helper; the column's width in CSS px as last reported (``default`` until it is)."""
    result: Any = _component(
        key=KEY, data={}, default={"width": None}, on_width_change=lambda: None, height="content"
    )
    value = result.get("width") if hasattr(result, "get") else getattr(result, "width", None)
    if isinstance(value, int | float) and value > 0:
        st.session_state[WIDTH_KEY] = int(value)
    return int(st.session_state.get(WIDTH_KEY, default))
