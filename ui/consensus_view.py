"""A consensus or gold item's blind answers and agreement, in the Review page's item view.

Only people who may review the project see them (a labeler never sees another's blind answer). The
figures come from ``core.quality.consensus``; user text goes out as plain text.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from core.domain import Item, LabelClass, Project, User
from core.permissions import Action, can
from core.quality import consensus
from core.quality.consensus_reads import ConsensusState
from ui.labeling.payloads import describe
from ui.resources import store

STATE_WORDS = {
    "open": "waiting for answers",
    "merged": "agreed: the merged answer is the label",
    "review": "below the agreement threshold: waits for a reviewer's label",
}


def agreement_line(state: ConsensusState) -> str:
    """``Consensus: 2 of 2 answers · agreement 100% · agreed: ...`` (no agreement before k answers)."""
    bits = [f"Consensus: {state.answers} of {state.k} answers"]
    if state.agreement is not None:
        bits.append(f"agreement {state.agreement:.0%}")
    bits.append(STATE_WORDS.get(state.state, state.state))
    return " · ".join(bits)


def item_answers(project: Project, item: Item, classes: Sequence[LabelClass], user: User) -> None:
    """The item's consensus state and every blind answer (nothing for items without any)."""
    s = store()
    if not can(s, user, Action.REVIEW, project.id):
        return
    state = consensus.state_of(s, item.id)
    answers = consensus.answers_of(s, item.id)
    if state is None and not answers:
        return
    with st.container(border=True, key=f"consensus_answers_{item.id}"):
        if state is not None:
            st.text(agreement_line(state))
        for a in answers:
            score = f" · gold score {a.score:.0%}" if a.kind == consensus.GOLD and a.score is not None else ""
            st.text(f"{a.author} ({a.kind}): {describe(project.task_type, a.payload, classes)}{score}")
