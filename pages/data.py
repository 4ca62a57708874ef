"""Data: add a server folder (imported as a job, rescanned, watched) or upload images from the browser;
import labels (COCO, YOLO, VOC, ...) for the project's images (``ui.label_import_view``)."""

from __future__ import annotations

import streamlit as st

from core import images
from core.domain import Project
from core.images import MAX_UPLOAD_BYTES, ImportReport
from core.permissions import Action
from core.store.items import count_items
from ui import resources, session, widgets
from ui.label_import_view import label_import_section

UPLOAD_CHUNK = 16  # files per import call, so the progress bar moves
IMPORT_KINDS = ("import_folder",)


def submit_import(project: Project, source_id: int, user: str) -> None:
    resources.runner().submit(
        "import_folder",
        {"source_id": source_id},
        project_id=project.id,
        created_by=user,
        by=session.require_user(),
    )


def add_folder_form(project: Project, user: str) -> None:
    with st.form(
        f"add_folder_{project.id}", clear_on_submit=False, border=False
    ):  # per project: its own path
        folder = st.text_input(
            "Folder on the server",
            placeholder="/srv/photos/batch-1",
            help="A folder on the machine annota runs on. Files stay where they are; annota only reads them.",
            key=f"folder_path_{project.id}",
        )
        watch = st.toggle(
            "Watch it: new files appear within seconds", value=True, key=f"folder_watch_{project.id}"
        )
        if st.form_submit_button(
            "Add folder and import", type="primary", icon=":material/create_new_folder:"
        ):
            source = widgets.run_action(
                images.add_folder, resources.store(), project.id, folder, watch, by=session.require_user()
            )
            if source is not None:
                widgets.run_action(submit_import, project, source.id, user, success="Import started.")


def _toggle_watch(source_id: int, key: str) -> None:
    widgets.run_action(
        images.set_watch, resources.store(), source_id, bool(st.session_state[key]), by=session.require_user()
    )


def sources_list(project: Project, user: str) -> None:
    folders = [s for s in images.list_sources(resources.store(), project.id) if s.kind == "folder"]
    if not folders:
        st.caption("No folder added yet.")
        return
    for src in folders:
        with st.container(border=True):
            # the path and the scan note have the card's whole width; Watch and Rescan share a line below
            st.markdown(f":material/folder: `{src.path}`")
            if src.last_scan_at is None:
                st.caption("Not scanned yet.")
            else:
                refused = f", {src.last_scan_errors:,} refused" if src.last_scan_errors else ""
                st.caption(
                    f"Last scan {widgets.ago(src.last_scan_at)}: {src.last_scan_added:,} added{refused}."
                )
                refused_files(src)
            watcher = resources.runtime().watcher
            problem = watcher.source_errors.get(src.id) if watcher is not None and src.watch else None
            if problem:
                st.warning(
                    "The watcher cannot scan this folder; it tries again at every poll.",
                    icon=":material/sync_problem:",
                )
                st.text(problem)
            watch_col, scan_col = st.columns(2, vertical_alignment="center")
            key = f"watch_{src.id}"
            watch_col.toggle(
                "Watch",
                value=src.watch,
                key=key,
                on_change=_toggle_watch,
                args=(src.id, key),
                help="Pick up new files",
            )
            if scan_col.button("Rescan", key=f"rescan_{src.id}", icon=":material/refresh:", width="stretch"):
                widgets.run_action(submit_import, project, src.id, user, success="Rescan started.")


def upload_keys(project_id: int) -> tuple[str, str]:
    """The session keys of a project's uploader generation and last upload report: every project has
    its own, so project B's Data page never shows project A's files or report."""
    return f"upload_nonce_{project_id}", f"upload_report_{project_id}"


def refused_files(src: images.SourceInfo) -> None:
    """Which files the latest scan (a rescan or the watcher) refused, and why: names as plain text."""
    if not src.last_scan_refused:
        return
    more = src.last_scan_errors - len(src.last_scan_refused)
    with st.expander(f"{src.last_scan_errors:,} file(s) refused: which and why"):
        st.dataframe(
            [{"file": f, "why": why} for f, why in src.last_scan_refused], hide_index=True, width="stretch"
        )
        if more > 0:
            st.caption(f"…and {more:,} more (the first {len(src.last_scan_refused):,} are listed).")


def upload_section(project: Project) -> None:
    nonce_key, report_key = upload_keys(project.id)
    nonce = st.session_state.setdefault(nonce_key, 0)
    files = st.file_uploader(
        "Images from your computer",
        accept_multiple_files=True,
        key=f"uploads_{project.id}_{nonce}",
        help="JPEG, PNG, WebP, BMP, TIFF or GIF. They are kept in annota's data folder.",
        max_upload_size=MAX_UPLOAD_BYTES // 2**20,
    )
    if files and st.button(
        f"Import {len(files)} file(s)",
        type="primary",
        icon=":material/upload:",
        key=f"import_up_{project.id}",
    ):
        report = ImportReport()
        failed = False
        bar = st.progress(0.0, text="Checking the files…")
        for start in range(0, len(files), UPLOAD_CHUNK):
            chunk = files[start : start + UPLOAD_CHUNK]
            part = widgets.run_action(
                images.import_uploads,
                resources.store(),
                resources.paths(),
                project.id,
                [(f.name, f.getvalue()) for f in chunk],
                by=session.require_user(),
            )
            if part is None:  # the error (a full disk, say) is on screen: keep it there, no rerun
                failed = True
                break
            report.merge(part)
            done = start + len(chunk)
            bar.progress(
                done / len(files), text=f"{done} of {len(files)} file(s) read · {report.added} added"
            )
        bar.empty()
        resources.forget_reads()
        st.session_state[report_key] = report
        if not failed:
            st.session_state[nonce_key] = nonce + 1  # a fresh, empty uploader
            st.rerun()
    report: ImportReport | None = st.session_state.get(report_key)
    if report is not None:
        upload_report(report)


def upload_report(report: ImportReport) -> None:
    """What happened to each uploaded file that did not simply go in."""
    if report.added and not report.errors and not report.duplicates:
        st.success(f"All {report.added} image(s) added.", icon=":material/check_circle:")
    elif report.added:
        st.success(f"{report.added} image(s) added.", icon=":material/check_circle:")
    if report.errors:
        st.warning(f"{len(report.errors)} file(s) could not be imported:", icon=":material/warning:")
        st.dataframe([{"file": f, "why": why} for f, why in report.errors], hide_index=True, width="stretch")
    if report.duplicates:
        st.info(f"{len(report.duplicates)} file(s) were already in the project (same picture):")
        st.dataframe(
            [{"file": f, "same as": first} for f, first in report.duplicates],
            hide_index=True,
            width="stretch",
        )
    if not report.added and not report.errors and not report.duplicates:
        st.info("Nothing was imported.")


def main() -> None:
    user = session.require_user()
    project = session.require_project()
    classes = resources.classes(project.id)
    widgets.project_header(
        project, classes, "Data", "Add the images to label. annota reads them where they are."
    )
    if not session.can(Action.MANAGE, project.id):
        st.info("Only an administrator or the project's owner can add images.")
        return
    total = count_items(resources.store(), project.id)
    if total == 0:
        widgets.empty_state(
            "No images yet",
            "Add a folder on the server (best for many images) or upload images from your computer.",
            ":material/add_photo_alternate:",
        )
    else:
        st.metric("Images in the project", f"{total:,}")
    folder_col, upload_col = st.columns(2, gap="large")
    with folder_col:
        st.subheader(":material/folder_open: Server folder")
        add_folder_form(project, user.username)
        sources_list(project, user.username)
    with upload_col:
        st.subheader(":material/upload: Upload")
        upload_section(project)
    st.subheader("Imports")
    if not widgets.jobs_panel(project.id, IMPORT_KINDS, key=f"imports_{project.id}"):
        st.caption("Folder imports and rescans started here show their progress here.")
    st.subheader(":material/label_important: Import labels")
    label_import_section(project)


with widgets.error_boundary("the data page"):
    main()
