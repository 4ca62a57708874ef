"""Thumbnails with their labels drawn on (Pillow): boxes and polygons in class colours, class names for
classification. Cached per item, label version and class look; the thumbnails come from core.images."""

from __future__ import annotations

import html
import io
import os
from collections.abc import Sequence
from typing import Any

import streamlit as st
from PIL import Image, ImageDraw, ImageFont

from core.domain import Item, LabelClass, TaskType
from ui import resources

Look = tuple[tuple[int, str, str], ...]  # (class id, name, colour) per class


def _rgb(color: str) -> tuple[int, int, int]:
    c = color.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # an old Pillow without sizes
        return ImageFont.load_default()


def _tag(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, color: str, font: Any) -> float:
    """A filled name tag with its top-left at ``xy``; returns its width."""
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    w, h = right - left + 6, bottom - top + 4
    x, y = xy
    draw.rectangle([x, y, x + w, y + h], fill=color)
    r, g, b = _rgb(color)
    ink = "#000000" if (0.299 * r + 0.587 * g + 0.114 * b) > 150 else "#ffffff"
    draw.text((x + 3 - left, y + 2 - top), text, fill=ink, font=font)
    return w


def draw_labels(
    image: Image.Image, task: TaskType | str, payload: dict[str, Any] | None, scale: float, look: Look
) -> Image.Image:
    """The image with the payload drawn on; coordinates are item pixels times ``scale``."""
    task = TaskType(task)
    names = {cid: (name, color) for cid, name, color in look}
    base = image.convert("RGBA")
    if not payload:
        return base.convert("RGB")
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    font = _font(max(10, base.width // 22))
    line = max(2, base.width // 128)
    if task.is_classification:
        ids = [payload["class_id"]] if "class_id" in payload else list(payload.get("class_ids", []))
        x, y = 4.0, 4.0
        for cid in ids:
            name, color = names.get(cid, (f"class {cid}", "#888888"))
            x += _tag(draw, (x, y), name, color, font) + 4
    else:
        key = "boxes" if task is TaskType.BOXES else "polygons"
        for obj in payload.get(key, []):
            name, color = names.get(obj.get("class_id"), (f"class {obj.get('class_id')}", "#888888"))
            rgb = _rgb(color)
            if task is TaskType.BOXES:
                x, y, w, h = (v * scale for v in obj["xywh"])
                draw.rectangle([x, y, x + w, y + h], outline=(*rgb, 255), width=line, fill=(*rgb, 40))
                tag_xy = (x, max(0.0, y - font.size - 4) if hasattr(font, "size") else y)
            else:
                pts = [(px * scale, py * scale) for px, py in obj["points"]]
                draw.polygon(pts, outline=(*rgb, 255), fill=(*rgb, 70), width=line)
                tag_xy = (min(p[0] for p in pts), min(p[1] for p in pts))
            _tag(draw, tag_xy, name, color, font)
    return Image.alpha_composite(base, layer).convert("RGB")


@st.cache_data(max_entries=5000, show_spinner=False)
def _rendered(root: str, item: Item, task: str, look: Look) -> bytes | None:
    from core import images  # the images package registers jobs on import: only when needed

    try:
        thumb = images.load_thumbnail(resources.paths(), item)
    except images.ImageUnavailable:
        return None
    scale = thumb.width / item.width if item.width else 1.0
    payload = item.annotation.payload if item.annotation else None
    out = io.BytesIO()
    letterbox(draw_labels(thumb, task, payload, scale, look)).save(out, "JPEG", quality=85)
    return out.getvalue()


def letterbox(image: Image.Image, size: tuple[int, int] = (256, 192), fill: str = "#f1f5f9") -> Image.Image:
    """The image scaled into a fixed frame (centred, the rest filled), so grid cards line up."""
    scale = min(size[0] / image.width, size[1] / image.height)
    fitted = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))
    frame = Image.new("RGB", size, fill)
    frame.paste(fitted, ((size[0] - fitted.width) // 2, (size[1] - fitted.height) // 2))
    return frame


def labeled_thumbnail(item: Item, task: TaskType | str, classes: Sequence[LabelClass]) -> bytes | None:
    """JPEG bytes of the item's thumbnail with its current label drawn on; None when the image is gone."""
    look: Look = tuple((c.id, c.name, c.color) for c in classes)
    return _rendered(str(resources.paths().root), item, TaskType(task).value, look)


def unavailable_reason(item: Item | None) -> str:
    """Why no thumbnail can be made for the item, in a few words."""
    from core import images

    if item is None:
        return "the image is no longer in the project"
    try:
        images.load_thumbnail(resources.paths(), item)
    except images.ImageUnavailable as exc:
        # the file's name, not its whole path: the box is small (the full path is on the Review page)
        return (str(exc) or "The file cannot be read.").replace(item.path, os.path.basename(item.path))
    return "the thumbnail could not be made"


def placeholder_html(reason: str, width: int = 120) -> str:
    """HTML for a thumbnail-sized "image unavailable" box with the reason (instead of a blank area)."""
    return (
        f'<div title="{html.escape(reason)}" style="width:{width}px;height:{round(width * 0.75)}px;'
        "display:flex;flex-direction:column;align-items:center;justify-content:center;gap:2px;"
        "background:#f1f5f9;border:1px dashed #94a3b8;border-radius:6px;color:#475569;"
        'font-size:0.75rem;text-align:center;padding:4px;overflow:hidden">'
        '<span style="font-size:1.4rem">&#x1F5BC;</span><b>Image unavailable</b>'
        f'<span style="display:-webkit-box;-webkit-line-clamp:2;-webkit-box-orient:vertical;'
        f'overflow:hidden">{html.escape(reason)}</span></div>'
    )
