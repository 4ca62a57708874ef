"""The Review page's "Likely errors" view: the project's labels ranked by how likely they are wrong
(``core.assist.label_errors``), most suspect first, each with the model's suggestion and a way to the
label page. The ranking is computed on demand and kept per project in the session until a label or an
embedding changes.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.assist.label_errors import (
    LabelError,
    LabelErrorReport,
    find_label_errors,
    keep_matching,
    labels_signature,
)
from core.domain import LabelClass, NotFound, Project
from core.store.items import ItemFilter, get_item
from ui import resources, review_return, session, thumbs, widgets

PAGE_SIZE = 24
COLUMNS = 4


def cache_key(pid: int) -> str:
    """Plain session key: ``(signature, LabelErrorReport)`` of project ``pid``."""
    return f"review_error_ranking_{pid}"


def page_key(pid: int) -> str:
    return f"review_error_ranking_page_{pid}"


def ranking(pid: int) -> LabelErrorReport:
    store = resources.store()
    sig = labels_signature(store, pid)
    held: Any = st.session_state.get(cache_key(pid))
    if isinstance(held, tuple) and held[0] == sig:
        return held[1]
    with st.spinner("Ranking the labels by how likely they are wrong (cross-validating the model)..."):
        report = find_label_errors(store, pid)
    st.session_state[cache_key(pid)] = (sig, report)
    return report


def _correct(pid: int, item_id: int) -> None:
    review_return.mark(pid)
    session.open_item_for_labeling(item_id)


def _names(ids: list[int], names: dict[int, str]) -> str:
    return ", ".join(names.get(c, str(c)) for c in ids) or "(none)"


def card(error: LabelError, project: Project, classes: list[LabelClass], rank: int) -> None:
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
    report = ranking(pid)
    if report.reason is not None:
        widgets.empty_state("No ranking yet", report.reason.capitalize() + ".", ":material/rule:")
        return
    errors = keep_matching(resources.store(), pid, report.errors, chosen)
    flagged = sum(1 for e in errors if e.flagged)
    st.caption(
        f"{len(errors):,} label{'' if len(errors) == 1 else 's'} ranked, most likely wrong first; {flagged:,} flagged (the model, trained "
        "without them, is confident of another class). Each label was scored by a model that did not see it."
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
