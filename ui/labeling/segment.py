"""Click-to-segment and box-to-polygon in the polygon editor, over ``core.assist.segment_service``.

The editor sends its prompts (clicks, a box) as component state ``prompt``; before the editor is drawn
this module reads that state, asks the model for the object's polygon and hands it back as the
editor's ``preview``. "Add shape" (the editor's button, Enter in the editor, or the button beside
the image) appends the preview to the working payload as an ordinary, editable polygon.

Session state ``label_sam``: ``{"<item_id>:<version>": {"sig", "rev", "seq", "polygon", "score",
"ms", "cached", "accepted_seq"}}``, the newest preview per item.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import streamlit as st

from core.assist import segment_service
from core.assist.segmenter import SegmenterUnavailable
from core.domain import Item
from ui.labeling import actions, state

SAM_KEY = "label_sam"
REASON_KEY = "label_sam_reason"


def _store() -> dict[str, dict[str, Any]]:
    if not isinstance(st.session_state.get(SAM_KEY), dict):
        st.session_state[SAM_KEY] = {}
    return st.session_state[SAM_KEY]


def unavailable(paths: Any) -> str | None:
    """Why click-to-segment is off here, in words (``None``: it works)."""
    return segment_service.unavailable_reason(paths.cache if paths is not None else None)


def item_key(item: Item) -> str:
    return segment_service.item_key(item.id, item.sha1)


def prefetch(item: Item, upcoming: Sequence[Item], paths: Any) -> int:
    """Embeddings of the item on screen and the next ones, computed in the background."""
    entries = [(item_key(i), i.path) for i in [item, *upcoming]]
    return segment_service.prefetch(entries, paths.cache if paths is not None else None)


def pending_prompt(widget_key: str) -> dict[str, Any] | None:
    """The editor's latest prompt, read before the editor is drawn (so its answer goes out with it)."""
    value = st.session_state.get(widget_key)
    prompt = value.get("prompt") if hasattr(value, "get") else None
    return prompt if isinstance(prompt, dict) else None


def preview_for(item: Item, rev: int, prompt: dict[str, Any] | None, paths: Any) -> dict[str, Any] | None:
    """The editor's ``preview`` for the prompt (segmenting it when new); ``None`` without a prompt."""
    store = _store()
    wid = state.work_id(item.id, item.version)
    cur = store.get(wid)
    if prompt is None or prompt.get("item") != item.id or prompt.get("rev") != rev:
        return _as_preview(item, cur) if cur and cur.get("rev") == rev else None
    p = segment_service.Prompt.from_points(prompt.get("points") or [], prompt.get("box"))
    if p.empty:
        store.pop(wid, None)
        return None
    sig = repr((p, rev))
    if cur is None or cur.get("sig") != sig:
        # the item's click session goes on: a new click refines the previous mask, one taken back
        # (Undo click, Backspace) gives the previous shape back as it was
        chain = (cur or {}).get("chain") if (cur or {}).get("rev") == rev else None
        cur = {"sig": sig, "rev": rev, "accepted_seq": (cur or {}).get("accepted_seq")}
        try:
            res, chain = segment_service.refine_item(
                item.path, item_key(item), p, chain, cache_root=paths.cache if paths is not None else None
            )
            cur.update(polygon=res.polygon, score=res.score, ms=res.ms, cached=res.embedding_cached)
            cur.update(chain=chain, clicks=len(chain.clicks), box=p.box_xyxy is not None)
        except SegmenterUnavailable as exc:
            cur.update(polygon=None, error=str(exc))
        except (OSError, ValueError) as exc:
            cur.update(polygon=None, error=f"The image could not be segmented: {exc}")
        store[wid] = cur
    cur["seq"] = prompt.get("seq")
    return _as_preview(item, cur)


def _as_preview(item: Item, cur: dict[str, Any]) -> dict[str, Any]:
    return {
        "item": item.id,
        "rev": cur.get("rev"),
        "seq": cur.get("seq"),
        "points": cur.get("polygon"),
        "score": cur.get("score"),
        "ms": cur.get("ms"),
    }


def wants_accept(item: Item, prompt: dict[str, Any] | None) -> bool:
    """Whether the editor asked to keep the preview (Enter / its "Add shape") and it was not kept yet."""
    if not prompt or not prompt.get("accept"):
        return False
    cur = _store().get(state.work_id(item.id, item.version))
    return bool(cur and cur.get("polygon") and cur.get("accepted_seq") != prompt.get("seq"))


def accept(item_id: int, version: int, class_id: int, seq: Any = None) -> bool:
    """Append the preview to the working payload as a polygon of ``class_id`` (the editor reloads)."""
    store = _store()
    wid = state.work_id(item_id, version)
    cur = store.get(wid)
    if not cur or not cur.get("polygon"):
        return False
    work = state.get_work(item_id, version) or {"polygons": []}
    polys = [dict(p) for p in work.get("polygons", [])]
    polys.append({"class_id": class_id, "points": [[round(x, 2), round(y, 2)] for x, y in cur["polygon"]]})
    actions.set_work(item_id, version, {"polygons": polys}, bump=True)
    store[wid] = {"accepted_seq": seq if seq is not None else cur.get("seq")}
    return True


def clear(item_id: int, version: int) -> None:
    """Forget the prompts and the preview (the editor reloads without them)."""
    _store().pop(state.work_id(item_id, version), None)
    state.bump_rev(item_id, version)


def short_reason(reason: str) -> str:
    """The reason without absolute paths (a folder's last name is enough beside the image)."""
    return re.sub(r"(?<![\w.])/(?:[^\s()/]+/)*([^\s()/]+)/?", r"…/\1", reason)


def controls(item: Item, class_id: int, reason: str | None) -> None:
    """Beside the image: whether click-to-segment works, the preview's facts, Add shape / Clear."""
    if reason:
        st.caption(":material/block: Click-to-segment is off here; draw the polygons by hand.")
        with st.expander("Why", icon=":material/info:"):
            st.caption(short_reason(reason))
        return
    cur = _store().get(state.work_id(item.id, item.version)) or {}
    rev = state.rev(item.id, item.version)
    live = cur.get("rev") == rev
    if live and cur.get("error"):
        st.warning(cur["error"], icon=":material/error:")
    if live and cur.get("polygon"):
        n = int(cur.get("clicks") or 0)
        fixes = f", {n} correction click{'s' if n != 1 else ''}" if n and cur.get("box") else ""
        st.caption(
            f":material/auto_awesome: Shape found: {len(cur['polygon'])} points, "
            f"model score {cur.get('score', 0):.2f}, {cur.get('ms', 0):.0f} ms{fixes}. "
            "Fix it with clicks: Shift+click (or *Cut*) removes a part, a click adds one; "
            "*Undo click* takes the last one back."
        )
    elif live and "polygon" in cur:
        st.caption("The model found no object there; click elsewhere or draw by hand.")
    else:
        st.caption(
            "**Segment:** choose *Click* in the editor and click the object (Shift/right-click marks "
            "what is not part of it), or *Box* and drag a box around it, then click to fix the "
            "shape (Shift+click or *Cut* removes a part); Enter keeps the shape."
        )
    c1, c2 = st.columns(2)
    c1.button(
        "Add shape",
        key="label_sam_accept",
        icon=":material/add_circle:",
        width="stretch",
        disabled=not (live and cur.get("polygon")),
        help="Keep the segmented shape as a polygon of the chosen class",
        on_click=accept,
        args=(item.id, item.version, class_id),
    )
    c2.button(
        "Clear clicks",
        key="label_sam_clear",
        icon=":material/backspace:",
        width="stretch",
        disabled=not live,
        on_click=clear,
        args=(item.id, item.version),
    )
