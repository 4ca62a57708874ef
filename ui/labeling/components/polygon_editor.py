"""An SVG polygon editor over the image (Streamlit components v2), in image pixels.

streamlit-drawable-canvas draws and closes polygons, and moves them, but cannot move a single
vertex; this editor does all of it: draw (click points, close on the first point or by
double-click), select, move, change a vertex (drag), insert (double-click an edge) or remove
(Alt+click) a vertex, delete, and zoom (wheel) and pan (drag the background). With ``mode="view"``
it is a zoomable image viewer.

The editor keeps its own copy of the polygons while ``rev`` stays the same and sends each completed
edit as state ``polygons`` = ``{"rev", "item", "polygons"}``; a new ``rev`` (after the object list
changed something) makes it reload the polygons given.

With ``sam=True`` it also offers segmentation prompts: "Click" (positive clicks; Shift/Alt/right-click
negative) and "Box" (drag a box; then clicks on its shape correct it), "Cut" (plain clicks negative)
and "Undo click". Each change is sent as state ``prompt`` = ``{"item", "rev", "seq",
"points": [[x, y, 1|0]], "box": [x1, y1, x2, y2] | None, "accept": bool}``; Python answers with
``preview`` = ``{"item", "rev", "seq", "points", "score", "ms"}``, drawn dashed until kept.
``proposed`` polygons (the model's, with ``score``) are drawn dashed while unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

_JS = (Path(__file__).parent / "polygon_editor.js").read_text(encoding="utf-8")
_CSS = """
.pe-root { outline: none; font-family: var(--st-font, sans-serif); }
.pe-bar { display: flex; gap: 4px; align-items: center; margin-bottom: 4px; flex-wrap: wrap; }
.pe-bar button { border: 1px solid #bbb; background: #fff; border-radius: 6px; padding: 2px 8px;
  font-size: 13px; cursor: pointer; }
.pe-bar button.on { background: #ff4b4b; color: #fff; border-color: #ff4b4b; }
.pe-bar button:disabled { opacity: .4; cursor: default; }
.pe-bar.view button:nth-child(-n+8) { display: none; }
.pe-bar button.on:nth-child(3), .pe-bar button.on:nth-child(4) { background: #16a34a; border-color: #16a34a; }
.pe-hint { color: #777; font-size: 12px; margin-left: 6px; }
.pe-svg { width: 100%; display: block; background: #222; border-radius: 4px; touch-action: none;
  user-select: none; cursor: crosshair; }
.pe-root[data-mode="edit"] .pe-svg, .pe-root[data-mode="view"] .pe-svg { cursor: grab; }
.pe-poly { cursor: inherit; }
.pe-root[data-mode="edit"] .pe-poly { cursor: move; }
.pe-handle { fill: #fff; stroke: #111; cursor: pointer; }
.pe-first { fill: #ffe600; stroke: #111; stroke-width: 1.5; }
.pe-dpt { fill: #fff; stroke: #111; stroke-width: 1; }
"""

_component = st.components.v2.component(
    "annota.polygon_editor", html='<div class="pe-host"></div>', js=_JS, css=_CSS, isolate_styles=True
)


def polygon_editor(
    *,
    key: str,
    item_id: int,
    rev: int,
    image_url: str,
    width: int,
    height: int,
    polygons: list[dict[str, Any]],
    classes: dict[int, dict[str, str]],
    draw_class_id: int | None,
    height_px: int = 560,
    mode: str = "draw",
    sam: bool = False,
    preview: dict[str, Any] | None = None,
    proposed: list[dict[str, Any]] | None = None,
    start_mode: str | None = None,
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Show the editor; returns the last ``polygons`` state it sent and its last ``prompt`` (or ``None``s)."""
    result = _component(
        key=key,
        data={
            "item": item_id,
            "rev": rev,
            "image_url": image_url,
            "width": width,
            "height": height,
            "polygons": polygons,
            "classes": {str(k): v for k, v in classes.items()},
            "draw_class_id": draw_class_id,
            "height_px": height_px,
            "mode": mode,
            "sam": sam,
            "preview": preview,
            "proposed": proposed or [],
            "start_mode": start_mode,
        },
        default={"polygons": None, "prompt": None},
        on_polygons_change=lambda: None,
        on_prompt_change=lambda: None,
        height="content",
    )
    return _state(result, "polygons"), _state(result, "prompt")


def _state(result: Any, name: str) -> dict[str, Any] | None:
    value = result.get(name) if hasattr(result, "get") else getattr(result, name, None)
    return value if isinstance(value, dict) else None
