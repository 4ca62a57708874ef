"""The Review page's "Likely errors" view: the project's labels ranked by how likely they are wrong
(classification: ``core.assist.label_errors``; boxes and polygons: ``core.assist.box_label_errors``),
most suspect first, each with the model's suggestion and a way to the label page. The ranking is
computed on demand and kept per project in the session until a label, an embedding or a training changes.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.assist.box_label_errors import BoxErrorReport, BoxImageErrors, BoxIssue, find_box_label_errors
from core.assist.label_errors import (
    LabelError,
    LabelErrorReport,
    find_label_errors,
    keep_matching,
    labels_signature,
)
from core.domain import LabelClass, NotFound, Project, TaskType
from core.store.items import ItemFilter, get_item
from ui import resources, review_return, session, thumbs, widgets

PAGE_SIZE = 24
COLUMNS = 4


def cache_key(pid: int) -> str:
    """Plain session key: ``(signature, LabelErrorReport)`` of project ``pid``."""
    return f"review_error_ranking_{pid}"


def page_key(pid: int) -> str:
    return f"review_error_ranking_page_{pid}"


def ranking(project: Project) -> LabelErrorReport | BoxErrorReport:
    store = resources.store()
    pid = project.id
    sig = labels_signature(store, pid)
    held: Any = st.session_state.get(cache_key(pid))
    if isinstance(held, tuple) and held[0] == sig:
        return held[1]
    report: LabelErrorReport | BoxErrorReport
    if project.task_type in (TaskType.BOXES, TaskType.POLYGONS):
        with st.spinner("Comparing every labeled image with the trained detector..."):
            report = find_box_label_errors(store, pid)
    else:
        with st.spinner("Ranking the labels by how likely they are wrong (cross-validating the model)..."):
            report = find_label_errors(store, pid)
    st.session_state[cache_key(pid)] = (sig, report)
    return report


def _correct(pid: int, item_id: int) -> None:
    review_return.mark(pid)
    session.open_item_for_labeling(item_id)


def _names(ids: list[int], names: dict[int, str]) -> str:
    return ", ".join(names.get(c, str(c)) for c in ids) or "(none)"


def _issue_line(issue: BoxIssue, names: dict[int, str]) -> str:
    def n(c: int | None) -> str:
        return "?" if c is None else names.get(c, str(c))

    what = {
        "missing": f"missing box: the detector sees a {n(issue.suggested)}",
        "shifted": f"{n(issue.label)} box off its object",
        "class": f"{n(issue.label)} box: the detector sees a {n(issue.suggested)}",
        "extra": f"{n(issue.label)} box the detector does not see",
    }[issue.kind]
    return f"{what} ({issue.score:.2f})"


def card(error: LabelError | BoxImageErrors, project: Project, classes: list[LabelClass], rank: int) -> None:
    names = {c.id: c.name for c in classes}
    with st.container(border=True):
        try:
            item = get_item(resources.store(), error.item_id)
        except NotFound:
            st.caption("This image is no longer in the project.")
            return
        data = thumbs.labeled_thumbnail(item, project.task_type, classes)
        if data:
            st.image(data, width="stretch")
        else:
            st.caption(":material/broken_image: image unavailable")
        st.markdown(widgets.one_line_name(item.path), unsafe_allow_html=True)
        if isinstance(error, BoxImageErrors):
            st.text(f"#{rank} · score {error.score:.2f}")  # plain text
            for issue in error.issues[:3]:
                st.text(_issue_line(issue, names))
            if len(error.issues) > 3:
                st.caption(f"and {len(error.issues) - 3} more")
        else:
            st.text(f"#{rank} · score {error.score:.2f}{' · flagged' if error.flagged else ''}")  # plain text
            st.text(f"Labeled: {_names(error.label, names)}")
            st.text(f"Model suggests: {_names(error.suggested, names)}")
        if st.button(
            "Correct on the label page",
            key=f"review_err_fix_{error.item_id}",
            icon=":material/edit:",
            width="stretch",
        ):
            _correct(project.id, error.item_id)


def grid(project: Project, classes: list[LabelClass], chosen: ItemFilter) -> None:
    pid = project.id
    report = ranking(project)
    if report.reason is not None:
        widgets.empty_state(
            "No ranking yet", report.reason[:1].upper() + report.reason[1:] + ".", ":material/rule:"
        )
        return
    errors: list[Any] = keep_matching(resources.store(), pid, list(report.errors), chosen)
    if isinstance(report, BoxErrorReport):
        st.caption(
            f"{len(errors):,} of {report.n_labels:,} labeled images disagree with the trained detector, worst first."
            " The detector was trained on these labels too, so a slip it learned is not shown."
        )
    else:
        flagged = sum(1 for e in errors if e.flagged)
        st.caption(
            f"{len(errors):,} label{'' if len(errors) == 1 else 's'} ranked, most likely wrong first; {flagged:,}"
            " flagged (the model, trained without them, is confident of another class). Each label was scored"
            " by a model that did not see it."
        )
    if not errors:
        widgets.empty_state("No label matches", "Loosen a filter to see more.", ":material/filter_alt_off:")
        return
    offset = widgets.pager(len(errors), PAGE_SIZE, page_key(pid))
    shown = errors[offset : offset + PAGE_SIZE]
    for row in range(0, len(shown), COLUMNS):
        cols = st.columns(COLUMNS)
        for k, (col, error) in enumerate(zip(cols, shown[row : row + COLUMNS], strict=False)):
            with col:
                card(error, project, classes, offset + row + k + 1)
