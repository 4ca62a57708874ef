"""The Team section's table rows and figures (ui.team_charts) from hand-made figures."""

from __future__ import annotations

from datetime import date

from core.quality.labeler_stats import Figures, LabelerStats
from ui import team_charts

D1, D2 = date(2026, 1, 5), date(2026, 1, 6)


def _stats() -> LabelerStats:
    ann = Figures(
        "ann", None, saves=30, active_s=1800, median_s=50.0, reviewed=10, rejected=1, gold_answers=0
    )
    bob = Figures("bob", None, saves=10, active_s=0, reviewed=0, agreement=0.75, agreement_pairs=4)
    per_day = [
        Figures("ann", D1, saves=20, active_s=1200, reviewed=10, rejected=1),
        Figures("ann", D2, saves=10, active_s=600),
        Figures("bob", D2, saves=10, active_s=0),
    ]
    return LabelerStats(
        labelers=[ann, bob],
        per_day=per_day,
        team=Figures(None, None, saves=40, active_s=1800),
        team_per_day=[],
        awaiting_review={"ann": 3},
    )


def test_table_rows_in_words_with_dashes_for_what_is_missing():
    rows = team_charts.table_rows(_stats(), {"ann": "Ann <b>A</b>"})
    assert [r["labeler"] for r in rows] == ["Ann <b>A</b>", "bob"]  # a dataframe cell shows text as typed
    ann, bob = rows
    assert ann["per hour"] == "60.0" and ann["median s"] == "50.0" and ann["active"] == "30 min"
    assert ann["rejected"] == "10%" and ann["agreement"] == "—" and ann["awaiting review"] == "3"
    assert bob["per hour"] == "—" and bob["rejected"] == "—" and bob["agreement"] == "75%"
    assert bob["awaiting review"] == "0" and bob["active"] == "—"
    short = LabelerStats([Figures("cy", None, saves=1, active_s=12)], [], Figures(None, None), [])
    assert team_charts.table_rows(short, {})[0]["active"] == "12 s"


def test_labels_per_day_stacks_one_bar_series_per_labeler_with_names_escaped():
    fig = team_charts.labels_per_day(_stats(), {"ann": "Ann <b>A</b>"})
    assert [t.name for t in fig.data] == ["Ann &lt;b&gt;A&lt;/b&gt;", "bob"]
    assert list(fig.data[0].y) == [20, 10] and list(fig.data[1].y) == [0, 10]
    assert fig.layout.barmode == "stack"


def test_over_time_leaves_out_days_without_a_value():
    per_hour = team_charts.MEASURES[0]
    fig = team_charts.over_time(_stats(), {}, per_hour)
    assert [t.name for t in fig.data] == ["ann"]  # bob has no active time: no throughput on any day
    assert list(fig.data[0].y) == [60.0, 60.0]
    rejection = next(m for m in team_charts.MEASURES if m.title == "Rejection rate")
    fig = team_charts.over_time(_stats(), {}, rejection)
    assert [list(t.x) for t in fig.data] == [[D1]] and fig.layout.yaxis.tickformat == ".0%"
    agreement = next(m for m in team_charts.MEASURES if m.title == "Agreement")
    assert not team_charts.has_values(_stats(), agreement)  # per day: nobody answered consensus items
