"""The dashboard's Team section: per-labeler figures (core.quality.labeler_stats), a table and charts over
time. Reviewers, owners and admins see every labeler; a labeler sees only their own figures."""

from __future__ import annotations

import streamlit as st

from core import auth, permissions
from core.domain import Project, User
from core.permissions import Action
from core.quality import labeler_stats
from core.quality.labeler_stats import LabelerStats
from ui import resources, team_charts, widgets


@st.cache_data(ttl=30, show_spinner=False)
def _stats(root: str, project_id: int, labeler: str | None) -> LabelerStats:
    """Cached briefly: a few hundred ms at 500,000 items. ``root`` keeps two data directories apart."""
    return labeler_stats.labeler_stats(resources.store(), project_id, labeler=labeler)


def _metrics(s: LabelerStats, user: User, everyone: bool) -> None:
    a, b, c, d = st.columns(4)
    a.metric(
        "Awaiting review",
        f"{s.review_queue:,}",
        border=True,
        help="Labeled (or fixed after a rejection) images that no reviewer has approved or rejected yet.",
    )
    if everyone:
        b.metric("Labelers", f"{len(s.labelers):,}", border=True, help="People with labels or answers here.")
    else:
        b.metric(
            "Yours awaiting review",
            f"{s.awaiting_review.get(user.username, 0):,}",
            border=True,
            help="Images whose current label is yours and that wait for a reviewer.",
        )
    throughput = s.team.throughput
    c.metric(
        "Labels per hour",
        "—" if throughput is None else f"{throughput:.1f}",
        border=True,
        help="Labels saved per hour of active time"
        + (" (everyone together)." if everyone else " (yours).")
        + f" Active time leaves out breaks longer than {s.break_s / 60:.0f} min.",
    )
    d.metric(
        "Median per label",
        widgets.duration(s.team.median_s),
        border=True,
        help="The median time one label took: the time the image was open, or else the time since the "
        "labeler's previous save.",
    )


def _notes(s: LabelerStats) -> None:
    missing = []
    if s.team.reviewed == 0:
        missing.append(
            "**No reviews yet**: the rejection rate fills in once a reviewer approves or rejects labels."
        )
    if s.team.agreement_pairs == 0:
        missing.append(
            "**No consensus answers yet**: agreement fills in once two people answer the same image blind."
        )
    else:
        missing.append(f"Agreement: {s.agreement_measure}, with each other answer to the same image.")
    if s.team.gold_answers == 0:
        missing.append("**No gold answers yet**: gold accuracy fills in once labelers answer gold images.")
    for line in missing:
        st.caption(line)


def _charts(s: LabelerStats, names: dict[str, str]) -> None:
    left, right = st.columns(2, gap="large")
    with left:
        st.markdown("**Labels per day**")
        if s.team.saves:
            st.plotly_chart(
                team_charts.labels_per_day(s, names), key="team_per_day", config={"displayModeBar": False}
            )
        else:
            st.caption("No labels saved yet: only answers or reviews so far.")
    with right:
        titles = {m.title: m for m in team_charts.MEASURES}
        choice = st.selectbox("Over time", list(titles), key="team_measure", label_visibility="collapsed")
        measure = titles[choice or team_charts.MEASURES[0].title]
        if team_charts.has_values(s, measure):
            st.plotly_chart(
                team_charts.over_time(s, names, measure),
                key="team_over_time",
                config={"displayModeBar": False},
            )
        else:
            st.caption(f"No day has a figure for {measure.title.lower()} yet.")


def _columns(s: LabelerStats) -> dict[str, object]:
    """Figures as right-aligned text (a missing one is a dash, not a grey "None"), each with its meaning."""
    helps = {
        "labels": "Labels saved (accepted proposals included)",
        "per hour": "Labels per hour of active time",
        "median s": "Median seconds per label",
        "active": f"Active time: breaks over {s.break_s / 60:.0f} min left out",
        "rejected": "Rejected / reviewed, of this labeler's labels (each version by its latest verdict)",
        "reviewed": "Labels of theirs with a verdict",
        "agreement": f"Mean agreement ({s.agreement_measure}) with the other answers to the same consensus images",
        "gold": "Mean score of their gold answers against the gold label",
        "gold answers": "Gold answers scored",
        "awaiting review": "Images whose current label is theirs, waiting for a reviewer",
    }
    return {k: st.column_config.TextColumn(help=h, alignment="right") for k, h in helps.items()}


def sees_everyone(project: Project, user: User) -> bool:
    """Whether ``user`` sees every labeler's figures here (else only their own)."""
    return labeler_stats.sees_everyone(resources.store(), user, project.id)


def section(project: Project, user: User) -> None:
    st.subheader(":material/groups: Team")
    store = resources.store()
    permissions.require(store, user, Action.VIEW, project.id)
    everyone = labeler_stats.sees_everyone(store, user, project.id)
    s = _stats(str(resources.paths().root), project.id, None if everyone else user.username)
    _metrics(s, user, everyone)
    if not s.labelers:
        widgets.empty_state(
            "No labels by people yet" if everyone else "No labels of yours yet",
            "Each labeler's speed, rejection rate, agreement and gold accuracy show here once labels are saved.",
            ":material/groups:",
        )
        return
    if not everyone:
        st.caption("Your own figures. Reviewers and owners see everyone's.")
    names = {u.username: u.display_name for u in auth.list_users(store)}
    st.dataframe(
        team_charts.table_rows(s, names),
        hide_index=True,
        width="stretch",
        key="team_table",
        column_config=_columns(s),
    )
    _notes(s)
    _charts(s, names)
