"""Helpers for the page tests: run a page with a user, make projects and tiny images, read the text."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image
from streamlit.testing.v1 import AppTest

from core.domain import User
from core.permissions import SYSTEM
from core.runtime import Runtime
from core.store import projects
from core.store.projects import ClassSpec

ROOT = Path(__file__).resolve().parents[2]
ADMIN_PASSWORD = "admin-pass-123"


def make_project(runtime: Runtime, task: str = "boxes", name: str = "Pets", **kw):  # type: ignore[no-untyped-def]
    return projects.create_project(
        runtime.store,
        name,
        task,
        [ClassSpec("cat", "#ff0000", "c"), ClassSpec("dog", "#00ff00", "d")],
        created_by="admin",
        **kw,
        by=SYSTEM,
    )


def page(path: str, user: User | None = None, project_id: int | None = None, **state) -> AppTest:  # type: ignore[no-untyped-def]
    """An AppTest of one page file (relative to the repository root) with session state preset."""
    at = AppTest.from_file(str(ROOT / path), default_timeout=60)
    if user is not None:
        at.session_state["user"] = user
    if project_id is not None:
        at.session_state["project_id"] = project_id
    for key, value in state.items():
        at.session_state[key] = value
    return at


def png_bytes(size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def write_pngs(folder: Path, n: int, size: tuple[int, int] = (64, 48)) -> list[Path]:
    """``n`` distinct tiny PNGs (distinct colours, so no duplicates by content)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        p = folder / f"img_{i:03d}.png"
        p.write_bytes(png_bytes(size, (10 + 20 * i % 250, 40 + 7 * i % 200, 90)))
        out.append(p)
    return out


def texts(at: AppTest) -> str:
    """Every piece of text on the page (markdown, captions, alerts, titles), for assertions."""
    parts = []
    for kind in (
        "title",
        "header",
        "subheader",
        "markdown",
        "caption",
        "info",
        "warning",
        "error",
        "success",
    ):
        parts.extend(str(e.value) for e in getattr(at, kind))
    return "\n".join(parts)
