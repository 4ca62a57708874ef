"""Export: pick a format, run the export as a background job with progress, download the file; earlier
exports stay listed for download."""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from core.domain import Project
from core.jobs import Job, handlers, list_jobs
from core.permissions import Action
from core.store.items import ItemFilter, count_items
from ui import resources, session, widgets
from ui.text import plain

FORMAT_NOTES = {
    "coco": "One JSON file in COCO's `instances` layout: images, categories, annotations (boxes as `xywh`, "
    "polygons as segmentations). Most detection and segmentation tools read it.",
    "jsonl": "One JSON object per image per line: path, size and the label as annota stores it. Easy to stream.",
    "csv": "One row per label (per object for boxes and polygons). Opens in a spreadsheet.",
    "yolo": "A zip with `data.yaml` and one `.txt` per image, coordinates normalised to 0..1 (Ultralytics).",
    "voc": "A zip with one Pascal VOC XML file per image.",
    "yolo-seg": "A zip in Ultralytics' segmentation layout: `data.yaml` and one `.txt` per image, a polygon per "
    "line (boxes as their four corners), normalised to 0..1.",
    "coco-rle": "COCO JSON with each polygon as a run-length encoded mask (pycocotools' RLE).",
    "masks": "A zip with one indexed PNG mask per image (pixel value = class number, 0 background) and "
    "`classes.csv`. Touching objects of one class merge into one region.",
    "labelstudio": "Label Studio's JSON: a task per image, regions in percent of the image size. Import it "
    "into a Label Studio project with the same class names.",
    "cvat": "CVAT for images 1.1 XML: tags, boxes and polygons in pixels. Upload it to a CVAT task.",
    "imagefolder": 'A zip with `metadata.jsonl` for Hugging Face `datasets` (`load_dataset("imagefolder", '
    "data_dir=...)` once the images are in it).",
}
MIME = {
    ".json": "application/json",
    ".jsonl": "application/jsonl",
    ".csv": "text/csv",
    ".zip": "application/zip",
    ".xml": "application/xml",
}


def _formats(task: str | None = None) -> dict[str, str] | None:
    """Format name -> title of the formats that carry ``task`` (all without one), or None when the
    export job is not installed."""
    if "export" not in handlers():
        return None
    from core.formats.export import FORMATS

    return {name: spec.title for name, spec in FORMATS.items() if task is None or task in spec.tasks}


def _image_formats() -> set[str]:
    """The formats whose zip can hold the images too."""
    from core.formats.export import FORMATS

    return {name for name, spec in FORMATS.items() if spec.images is not None}


def start_export(
    project: Project,
    fmt: str,
    include: str,
    user: str,
    with_images: bool = False,
    approved_only: bool = False,
) -> Job:
    params: dict[str, object] = {"format": fmt, "include": include}
    if with_images:
        params["with_images"] = True
    if approved_only:
        params["approved_only"] = True
    by = session.require_user()
    return resources.runner().submit("export", params, project_id=project.id, created_by=user, by=by)


def export_form(
    project: Project, formats: dict[str, str], user: str, labeled: int, total: int, approved: int = 0
) -> None:
    with st.container(border=True):
        fmt = st.segmented_control(
            "Format",
            list(formats),
            format_func=formats.get,
            default="coco",
            key=f"export_format_{project.id}",  # each project keeps its own choice
            required=True,
        )
        st.caption(FORMAT_NOTES.get(fmt or "", ""))
        # fixed option labels: labels that change (counts, another project) make Streamlit drop the choice
        include = st.radio(
            "Images",
            ["labeled", "all"],
            format_func=lambda v: "Labeled only" if v == "labeled" else "All images",
            horizontal=True,
            key=f"export_include_{project.id}",
        )
        approved_only = st.checkbox(
            "Approved images only",
            key=f"export_approved_{project.id}",
            help="Only the images whose newest label a reviewer approved (Review page).",
        )
        st.caption(f"{labeled:,} labeled of {total:,} images; {approved:,} approved by a reviewer.")
        with_images = False
        if fmt in _image_formats():
            with_images = st.checkbox(
                "Include the images in the zip",
                key=f"export_images_{project.id}",
                help="Copies every exported image file into the zip beside its labels (a bigger file).",
            )
        nothing = (approved if approved_only else labeled if include == "labeled" else total) == 0
        if nothing:
            st.caption(":orange[Nothing to export yet with this choice.]")
        clicked = st.button(
            "Export", type="primary", icon=":material/file_export:", key="export_go", disabled=nothing
        )
        if clicked and widgets.run_action(
            start_export, project, fmt or "coco", include, user, with_images, approved_only
        ):
            widgets.rerun_with_toast("Export started.")


def download(job: Job, key: str) -> None:
    """The file of a finished export job, or why it cannot be had."""
    result = job.result if isinstance(job.result, dict) else {}
    path = Path(result.get("path", ""))
    counts = result.get("counts", {})
    with st.container(border=True):
        info, button = st.columns([4, 1], vertical_alignment="center")
        with info:
            st.markdown(
                f"**{plain(path.name or 'export')}** · {widgets.ago(job.finished_at)} · by {plain(job.created_by or 'annota')}"
            )
            parts = [f"{counts.get('images', 0):,} images", f"{counts.get('annotations', 0):,} labels"]
            if result.get("bytes"):
                parts.append(widgets.file_size(result["bytes"]))
            if result.get("approved_only"):
                parts.append("approved images only")
            st.caption(" · ".join(parts))
            problems = counts.get("errors", 0) + counts.get("warnings", 0)
            if problems:
                with st.expander(f"{problems:,} issue(s): images left out or renamed"):
                    st.dataframe(result.get("issues", []), hide_index=True, width="stretch")
                    if result.get("issues_path"):
                        st.caption(f"Every issue is listed in `{result['issues_path']}`.")
        with button:
            if path.is_file():
                st.download_button(
                    "Download",
                    data=path.read_bytes,  # read only when clicked
                    file_name=path.name,
                    mime=MIME.get(path.suffix, "application/octet-stream"),
                    key=key,
                    icon=":material/download:",
                    type="primary",
                    on_click="ignore",
                )
            else:
                st.caption(":material/warning: the file is gone")


def main() -> None:
    user = session.require_user()
    project = session.require_project()
    widgets.project_header(
        project, resources.classes(project.id), "Export", "Take the labels out in a standard format."
    )
    if not session.can(Action.EXPORT, project.id):
        st.info("Only a reviewer, an owner or an administrator of this project can export it.")
        return
    formats = _formats(project.task_type)
    if formats is None:
        st.warning(
            "Export is not installed on this server (the `export` job is missing).", icon=":material/block:"
        )
        return
    s = resources.project_stats(project.id)
    if s.total == 0:
        widgets.empty_state(
            "Nothing to export",
            "The project has no images yet. Add some on the **Data** page.",
            ":material/inbox:",
        )
        return
    approved = count_items(resources.store(), project.id, ItemFilter(review_state="approved"))
    export_form(project, formats, user.username, s.labeled, s.total, approved)
    running = [j for j in list_jobs(resources.store(), project.id, kind="export", active_only=True)]
    if running:
        st.subheader("Running")
        widgets.jobs_panel(project.id, ("export",), key=f"export_jobs_{project.id}", limit=len(running))
    st.subheader("Exports")
    done = [j for j in list_jobs(resources.store(), project.id, kind="export", limit=20) if not j.active]
    if not done:
        st.caption("No export yet. The files you export are listed here to download again.")
    for job in done:
        if job.state == "done":
            download(job, key=f"dl_{job.id}")
        else:
            widgets.job_progress(job)
    st.caption(
        f"Files are kept on the server in `{os.path.join(str(resources.paths().exports), str(project.id))}`."
    )


with widgets.error_boundary("the export page"):
    main()
