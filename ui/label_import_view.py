"""The Data page's "Import labels" section: a file or server path, a preview, then the import.

The preview (``core.formats.label_import.preview_import``) writes nothing: it shows how many labeled
images match the project, the label files with no image, the images that get no label, the file's
classes (each goes to the project class of the same name, or where the admin maps it: another class,
a new class, or nowhere) and every record or object that would be refused, with where it is in the
file. Import saves the labels as new versions (source import), or brings them in as proposals.
File, class and image names are shown as plain text.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import streamlit as st

from core.domain import Project
from core.formats.label_import import (
    CREATE,
    IGNORE,
    ImportOptions,
    Preview,
    apply_import,
    check_server_path,
    preview_import,
)
from core.formats.loaders import LOADERS, LoadError
from core.formats.records import Issue
from ui import resources, widgets
from ui.text import plain

UPLOAD_TYPES = ["json", "jsonl", "ndjson", "csv", "tsv", "xml", "zip", "txt"]
ROWS_SHOWN = 200  # rows per table; the counts are whole


def _keys(project_id: int) -> dict[str, str]:
    return {
        k: f"label_import_{k}_{project_id}"
        for k in ("preview", "result", "nonce", "source", "path", "format")
    }


def _saved_upload(project_id: int, name: str, data: bytes) -> Path:
    """An uploaded label file under the data folder (read from there by the loaders)."""
    folder = resources.paths().uploads / "label-imports" / str(project_id)
    safe = re.sub(r"[^\w.-]+", "_", Path(name).name).strip("._") or "labels"
    target = folder / safe
    if target.is_file() and target.stat().st_size == len(data) and target.read_bytes() == data:
        return target  # the same upload on a rerun
    if folder.exists():
        shutil.rmtree(folder, ignore_errors=True)  # one pending import file per project
    folder.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return target


def _issues_table(issues: list[Issue]) -> None:
    rows = [{"where and why": i.message, "image": i.file_name} for i in issues[:ROWS_SHOWN]]
    st.dataframe(rows, hide_index=True, width="stretch")
    if len(issues) > ROWS_SHOWN:
        st.caption(f"The first {ROWS_SHOWN:,} of {len(issues):,}.")


def _class_choices(project_classes: list[Any]) -> tuple[list[str], dict[str, int | str]]:
    labels: dict[str, int | str] = {f"{c.name}": c.id for c in project_classes}
    labels["Create it as a new class"] = CREATE
    labels["Ignore (drop these labels)"] = IGNORE
    return list(labels), labels


def _preview_panel(project: Project, pv: Preview, keys: dict[str, str]) -> None:
    st.markdown(
        f"**Preview** of {plain(pv.path.name)} as **{plain(LOADERS[pv.fmt].title)}**: nothing is saved yet."
    )
    cols = st.columns(5)
    cols[0].metric(
        "Images matched", f"{len(pv.matched):,}", help="Labeled images of the file found in the project"
    )
    cols[1].metric("Labels with no image", f"{len(pv.unmatched):,}")
    cols[2].metric(
        "Images with no label", f"{pv.without_labels:,}", help="Project images the file does not label"
    )
    cols[3].metric("Refused", f"{len(pv.refused):,}", help="Objects or labels that would not be saved")
    cols[4].metric("Unreadable records", f"{len(pv.issues):,}")
    if pv.conversion:
        st.info(f"The file holds {pv.file_task.display_name.lower()} labels; they are imported as "
                f"{pv.project_task.display_name.lower()}.", icon=":material/swap_horiz:")  # fmt: skip
    if pv.already_labeled:
        st.caption(f"{pv.already_labeled:,} matched images have a label now: the import saves a new version "
                   "(the old one stays in their history) unless you leave them as they are.")  # fmt: skip
    classes = resources.classes(project.id)
    options, values = _class_choices(classes)
    by_id = {c.id: c.name for c in classes}
    st.markdown("**Classes in the file**")
    choice: dict[str, int | str] = {}
    for c in pv.classes:
        default = by_id[c.target] if c.target is not None else "Create it as a new class"
        col_name, col_to = st.columns([2, 3], vertical_alignment="center")
        col_name.markdown(f"{plain(c.name)} · {c.uses:,} {'use' if c.uses == 1 else 'uses'}")
        picked = col_to.selectbox(
            f"Class {plain(c.name)} goes to", options, index=options.index(default), label_visibility="collapsed",
            key=f"label_import_class_{project.id}_{c.file_id}",
        )  # fmt: skip
        choice[c.name] = values[picked]
    if pv.project_only:
        st.caption("Project classes the file does not name: " + ", ".join(plain(n) for n in pv.project_only))
    for title, issues in (("Labels with no image in the project", pv.unmatched), ("Refused", pv.refused),
                          ("Unreadable records", pv.issues)):  # fmt: skip
        if issues:
            with st.expander(f"{title} ({len(issues):,})"):
                _issues_table(issues)
    if pv.without_labels:
        with st.expander(f"Images with no label in the file ({pv.without_labels:,})"):
            st.dataframe([{"image": n} for n in pv.without_labels_sample], hide_index=True, width="stretch")
    proposals = st.toggle("Bring them in as proposals (an outside model's predictions), not as labels",
                          key=f"label_import_proposals_{project.id}",
                          help="Labelers see an imported proposal, with its scores, and accept or correct it.")  # fmt: skip
    skip_labeled = st.toggle(
        "Leave images that already have a label as they are", key=f"label_import_skip_{project.id}"
    )
    if not pv.matched:
        st.warning("No labeled image of the file matches an image of this project: nothing to import.")
        return
    what = "proposals" if proposals else "labels"
    if st.button(f"Import {len(pv.matched):,} {what}", type="primary", icon=":material/download_done:",
                 key=f"label_import_apply_{project.id}"):  # fmt: skip
        options = ImportOptions(class_map=choice, as_proposals=proposals, skip_labeled=skip_labeled)
        bar = st.progress(0.0, text="Saving…")
        result = widgets.run_action(
            apply_import, resources.store(), project.id, pv, by=st.session_state["user"],
            options=options, progress=lambda f, m: bar.progress(f, text=m),
        )  # fmt: skip
        bar.empty()
        if result is not None:
            resources.forget_reads()
            st.session_state[keys["result"]] = (result, [*pv.refused, *result.refused])
            st.session_state.pop(keys["preview"], None)
            st.rerun()


def label_import_section(project: Project) -> None:
    """The whole section (an administrator's)."""
    keys = _keys(project.id)
    done = st.session_state.get(keys["result"])
    if done is not None:
        result, refused = done
        st.success(plain(result.summary()) + ".", icon=":material/check_circle:")
        if refused:
            with st.expander(f"Refused ({len(refused):,})"):
                _issues_table(refused)
    source = st.radio("Labels from", ["A file from your computer", "A file or folder on the server"],
                      horizontal=True, key=keys["source"])  # fmt: skip
    path: Path | None = None
    if source == "A file from your computer":
        nonce = st.session_state.setdefault(keys["nonce"], 0)
        up = st.file_uploader("Label file (JSON, JSON lines, CSV, XML, or a zip)", type=UPLOAD_TYPES,
                              key=f"label_import_upload_{project.id}_{nonce}")  # fmt: skip
        if up is not None:
            path = _saved_upload(project.id, up.name, up.getvalue())
    else:
        text = st.text_input("Path on the server", placeholder="/srv/labels/instances.json or /srv/yolo-dataset",
                             key=keys["path"])  # fmt: skip
        path = Path(text.strip()).expanduser() if text.strip() else None
    formats = ["auto", *LOADERS]
    fmt = st.selectbox("Format", formats, key=keys["format"],
                       format_func=lambda f: "Detect it" if f == "auto" else LOADERS[f].title)  # fmt: skip
    if st.button(
        "Preview",
        icon=":material/preview:",
        disabled=path is None,
        key=f"label_import_preview_btn_{project.id}",
    ):
        st.session_state.pop(keys["result"], None)
        try:
            if source != "A file from your computer":  # a path typed on the server: not / nor /etc
                check_server_path(path)  # type: ignore[arg-type]
            pv = preview_import(resources.store(), project.id, path, fmt)  # type: ignore[arg-type]
        except LoadError as exc:
            st.session_state.pop(keys["preview"], None)
            st.error(plain(str(exc)), icon=":material/error:")
        except Exception as exc:
            st.session_state.pop(keys["preview"], None)
            st.error(widgets.explain(exc), icon=":material/error:")
        else:
            st.session_state[keys["preview"]] = pv
    pv = st.session_state.get(keys["preview"])
    if pv is not None:
        _preview_panel(project, pv, keys)
