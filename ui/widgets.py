"""Shared screen parts: the error boundary, empty states, the project header, job progress, badges."""

from __future__ import annotations

import html
import logging
import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import NoReturn

import duckdb
import streamlit as st
from streamlit.errors import FragmentHandledException
from streamlit.runtime.scriptrunner_utils.exceptions import ScriptControlException

from core.config import data_dir
from core.disk import as_disk_full
from core.domain import ItemStatus, LabelClass, NotFound, Project, ProjectState, TaskType, ValidationError
from core.formats.tree import TooLarge
from core.jobs import Job, list_jobs
from core.permissions import Forbidden
from core.store import WriteConflict
from core.store.db import StoreInUse
from core.store.labels import StaleEdit, utcnow
from ui.text import html_text, plain

log = logging.getLogger("annota.ui")

# -- errors in words -----------------------------------------------------------------------------


def explain(exc: BaseException) -> str:
    """One or two sentences a user can act on, never a traceback."""
    full = as_disk_full(exc, data_dir())
    if full is not None:  # before the rest: DuckDB reports a full disk as a failed commit
        return str(full)
    if isinstance(
        exc, ValidationError | NotFound | StaleEdit | WriteConflict | TooLarge | StoreInUse | Forbidden
    ):
        return str(exc)  # Forbidden before PermissionError (its base): the rule's reason, not a file's
    if isinstance(exc, FileNotFoundError):
        name = exc.filename or str(exc)
        return f"The file or folder {name} could not be found. It may have been moved or deleted."
    if isinstance(exc, PermissionError):
        name = exc.filename or str(exc)
        return f"annota is not allowed to read or write {name}. Check the file permissions on the server."
    if isinstance(exc, OSError):
        return f"A file operation failed on the server: {exc.strerror or exc}."
    if isinstance(exc, duckdb.Error):
        return "The database could not answer just now. Try again in a moment; if it keeps happening, restart annota."
    if isinstance(exc, TimeoutError):
        return f"That took too long and was stopped: {exc}"
    text = str(exc).strip()
    return f"Something went wrong ({type(exc).__name__}{': ' + text if text else ''})."


@contextmanager
def error_boundary(what: str = "this page") -> Iterator[None]:
    """Turn any exception inside the block into an error message in words (Streamlit's own control flow,
    such as ``st.rerun``, ``st.stop`` and ``st.switch_page``, passes through)."""
    try:
        yield
    except (ScriptControlException, FragmentHandledException):
        raise
    except Exception as exc:
        log.exception("error while showing %s", what)
        st.error(f"**Could not show {what}.** {explain(exc)}", icon=":material/error:")


def run_action(fn, *args, success: str | None = None, **kwargs):  # type: ignore[no-untyped-def]
    """Call ``fn`` for a button's action; show ``success`` or the error in words. Returns the result or None."""
    try:
        result = fn(*args, **kwargs)
    except (ScriptControlException, FragmentHandledException):
        raise
    except Exception as exc:
        log.info("action %s failed: %s", getattr(fn, "__name__", fn), exc)
        st.error(explain(exc), icon=":material/error:")
        return None
    if success:
        st.toast(success, icon=":material/check_circle:")
    return result


TOAST_KEY = "_toast_next_run"


def toast_next_run(text: str) -> None:
    """A toast for the run after an ``st.rerun()`` (one shown just before a rerun is often never drawn)."""
    st.session_state[TOAST_KEY] = text


def rerun_with_toast(text: str) -> NoReturn:
    """Rerun the page, then show ``text`` as a toast (a toast drawn just before ``st.rerun()`` is often
    never seen: "Export started." was not, in Chromium)."""
    toast_next_run(text)
    st.rerun()


def show_pending_toast() -> None:
    text = st.session_state.pop(TOAST_KEY, None)
    if text:
        st.toast(text, icon=":material/check_circle:")


# -- words for core's values --------------------------------------------------------------------------

# ``TaskType.title`` is shadowed by ``str.title`` on Python 3.11 (the property is lost), so the words live here.
TASK_TITLES = {
    TaskType.MULTICLASS: "Image classification (one class)",
    TaskType.MULTILABEL: "Image classification (several classes)",
    TaskType.BOXES: "Object detection (bounding boxes)",
    TaskType.POLYGONS: "Instance segmentation (polygons)",
}


def task_title(task: TaskType | str) -> str:
    return TASK_TITLES[TaskType(task)]


# -- empty states and headings ---------------------------------------------------------------------


def empty_state(title: str, body: str = "", icon: str = ":material/inbox:") -> None:
    with st.container(border=True):
        st.markdown(f"#### {icon} {title}")
        if body:
            st.caption(body)


def class_chips(classes: Sequence[LabelClass], counts: dict[int, int] | None = None) -> str:
    """HTML for coloured class chips (with hotkeys, or counts when given)."""
    chips = []
    for c in classes:
        extra = (
            f" · {counts.get(c.id, 0):,}" if counts is not None else (f" · {c.hotkey}" if c.hotkey else "")
        )
        chips.append(
            f'<span style="display:inline-block;margin:0 6px 6px 0;padding:2px 10px;border-radius:12px;'
            f'border:2px solid {c.color};font-size:0.85rem"><span style="display:inline-block;width:10px;'
            f'height:10px;border-radius:50%;background:{c.color};margin-right:6px"></span>'
            f"{html_text(c.name)}<span style='opacity:.6'>{html.escape(extra)}</span></span>"
        )
    return "".join(chips)


def project_header(project: Project, classes: Sequence[LabelClass], title: str, caption: str = "") -> None:
    """A page title with the open project's name, task type, state and classes."""
    st.title(title)
    state = " :orange-badge[:material/pause: Paused]" if project.state is ProjectState.PAUSED else ""
    st.markdown(f"**{plain(project.name)}** · {task_title(project.task_type)}{state}")
    if classes:
        st.markdown(class_chips(classes), unsafe_allow_html=True)
    if caption:
        st.caption(caption)


# -- badges ---------------------------------------------------------------------------------------

STATUS_COLORS = {
    ItemStatus.NEW.value: "gray",
    ItemStatus.SKIPPED.value: "orange",
    ItemStatus.LABELED.value: "green",
    ItemStatus.PRELABELED.value: "violet",
    ItemStatus.REVIEWED.value: "blue",
}
STATUS_TITLES = {
    "new": "Not labeled",
    "skipped": "Skipped",
    "labeled": "Labeled",
    "prelabeled": "Pre-labeled",
    "reviewed": "Reviewed",
}
JOB_COLORS = {"queued": "gray", "running": "blue", "done": "green", "failed": "red", "cancelled": "orange"}
JOB_TITLES = {
    "import_folder": "Folder import",
    "import_uploads": "Upload import",
    "export": "Export",
}


def status_badge(status: str) -> str:
    """Markdown for an item status badge."""
    return f":{STATUS_COLORS.get(status, 'gray')}-badge[{STATUS_TITLES.get(status, status)}]"


def one_line_name(path: str) -> str:
    """HTML for a file's name on one line, cut with an ellipsis when too long (the full path on hover)."""
    name = html_text(os.path.basename(path) or path)
    return (
        f'<div title="{html.escape(path)}" style="white-space:nowrap;overflow:hidden;'
        f'text-overflow:ellipsis;color:gray;font-size:0.875rem">{name}</div>'
    )


def job_badge(state: str) -> str:
    return f":{JOB_COLORS.get(state, 'gray')}-badge[{state.capitalize()}]"


def job_title(job: Job) -> str:
    return JOB_TITLES.get(job.kind, job.kind.replace("_", " ").capitalize())


# -- time and sizes -------------------------------------------------------------------------------


def ago(when: datetime | None) -> str:
    """'3 min ago' for a UTC timestamp from the store."""
    if when is None:
        return "—"
    secs = (utcnow() - when.replace(tzinfo=None)).total_seconds()
    if secs < 60:
        return "just now"
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if secs >= size:
            n = int(secs // size)
            return f"{n} {unit}{'s' if unit == 'day' and n > 1 else ''} ago"
    return when.strftime("%Y-%m-%d %H:%M")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 90:
        return f"{seconds:.1f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def money(value: float | None) -> str:
    """A cost: two decimals from 0.01 up, else two significant digits (0.000079), never "0.0000"."""
    if value is None:
        return "—"
    if value == 0:
        return "0"
    if abs(value) >= 0.01:
        return f"{value:,.2f}"
    decimals = min(10, 1 - math.floor(math.log10(abs(value))))
    return f"{value:.{decimals}f}"


def file_size(n: int | float) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


# -- jobs -----------------------------------------------------------------------------------------


def _runner_notice() -> str | None:
    """Why the job runner cannot go on (a full disk), or None."""
    from ui.resources import runner

    try:
        return runner().notice()
    except Exception:  # no runtime (a page test without one): nothing to say
        return None


def job_progress(job: Job) -> None:
    """One job: what it is, its state, a progress bar while it runs, the error in words when it failed."""
    with st.container(border=True):
        head, badge = st.columns([5, 1], vertical_alignment="center")
        head.markdown(
            f"**{job_title(job)}** · started by {plain(job.created_by or 'annota')} · {ago(job.created_at)}"
        )
        badge.markdown(job_badge(job.state))
        if job.state in ("queued", "running"):
            notice = _runner_notice()
            if notice:  # a full disk keeps queued jobs waiting: say why
                st.error(notice, icon=":material/hard_drive:")
            text = job.message or ("Waiting for a free worker…" if job.state == "queued" else "Working…")
            st.progress(min(max(float(job.progress or 0.0), 0.0), 1.0), text=f"{job.progress:.0%} · {text}")
        elif job.state == "failed":
            first = (job.error or job.message or "unknown error").splitlines()[0]
            st.error(f"It failed: {plain(first)}", icon=":material/error:")
        else:
            result = job.result if isinstance(job.result, dict) else {}
            summary = result.get("summary") or (job.message if job.message not in ("", "Done") else "")
            if summary:
                st.caption(f"{plain(summary)} · took {duration(job.duration_s)}")
            refused = result.get("error_list") or []
            if refused:
                with st.expander(f"{result.get('errors', len(refused)):,} file(s) refused, and why"):
                    st.dataframe(
                        [{"file": f, "reason": why} for f, why in refused], hide_index=True, width="stretch"
                    )


def jobs_panel(
    project_id: int, kinds: Sequence[str] | None = None, *, limit: int = 5, key: str = "jobs", title: str = ""
) -> list[Job]:
    """The project's latest jobs (of ``kinds``) with progress bars, refreshed every second while one runs;
    when the last one ends the whole page reruns (so counts catch up). Returns the jobs shown."""
    from ui.resources import forget_reads, store

    def latest() -> list[Job]:
        jobs = list_jobs(store(), project_id, limit=50)
        return [j for j in jobs if kinds is None or j.kind in kinds][:limit]

    shown = latest()
    running = any(j.active for j in shown)

    @st.fragment(run_every=1.0 if running else None)
    def panel() -> None:
        jobs = latest()
        if title and jobs:
            st.markdown(f"**{title}**")
        for job in jobs:
            job_progress(job)
        if running and not any(j.active for j in jobs):
            forget_reads()
            st.rerun(scope="app")

    with st.container(key=f"{key}_panel"):
        panel()
    return shown


def pager(total: int, page_size: int, key: str) -> int:
    """Previous / next buttons with "page x of y"; returns the offset of the page to show."""
    pages = max(1, -(-total // page_size))
    current = min(int(st.session_state.get(key, 0)), pages - 1)
    if pages > 1:
        prev, label, nxt = st.columns([1, 2, 1], vertical_alignment="center")
        if prev.button("Previous", key=f"{key}_prev", icon=":material/chevron_left:", disabled=current == 0):
            current -= 1
        if nxt.button(
            "Next", key=f"{key}_next", icon=":material/chevron_right:", disabled=current >= pages - 1
        ):
            current += 1
        first, last = current * page_size + 1, min(total, (current + 1) * page_size)
        label.markdown(
            f"<div style='text-align:center'>Page {current + 1} of {pages} · {first:,}–{last:,} of {total:,}</div>",
            unsafe_allow_html=True,
        )
    st.session_state[key] = current
    return current * page_size
