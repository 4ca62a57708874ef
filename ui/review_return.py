"""The way back from the label page to the Review page, after an image opened from Review was corrected.

Review marks the project (``mark``) when it hands an image to the label page; the label page then shows
"Back to review" (``back_link``). The Review page keeps its filters and the image it showed per project,
so the way back lands where the person left, ready for Previous / Next.
"""

from __future__ import annotations

import streamlit as st

KEY = "review_return_project"
REVIEW_PAGE = "pages/review.py"


def mark(project_id: int) -> None:
    st.session_state[KEY] = int(project_id)


def back_link(project_id: int) -> None:
    """A link back to Review on the label page, when Review sent an image of this project there."""
    if st.session_state.get(KEY) != project_id:
        return
    try:
        st.page_link(REVIEW_PAGE, label="Back to review (filters kept)", icon=":material/arrow_back:")
    except Exception:  # the page is not part of this run's navigation (a page run alone, in tests)
        st.caption(
            ":material/arrow_back: Back to review: open **Review** in the sidebar; its filters are kept."
        )
