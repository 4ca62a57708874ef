"""Dashboard, Team section (ui.team_view): who sees whose figures, the table, the charts, the empty states.

Labels, reviews and gold answers are written with SQL as fixtures of the schema (migration 8), as the
review and gold code would leave them.
"""

from __future__ import annotations

from datetime import datetime

from core import auth
from core.domain import Role
from core.permissions import SYSTEM
from core.store import projects
from core.store.items import NewItem, add_items
from tests.pages.helpers import make_project, page, texts

PAGE = "pages/dashboard.py"


def _team_table(at):  # type: ignore[no-untyped-def]
    tables = [d.value for d in at.dataframe if "labeler" in d.value.columns]
    assert len(tables) == 1, [list(d.value.columns) for d in at.dataframe]
    return tables[0]


def _project_with_work(runtime, lena):  # type: ignore[no-untyped-def]
    """Lena: 3 labels (10 s, 20 s, 30 s open), one reviewed and rejected, one gold answer scored 0.5;
    Bob: 1 label (40 s), approved. Items 1, 2 (Lena) and 4 (Bob) await review, item 3 was rejected."""
    store = runtime.store
    p = make_project(runtime, "multiclass")
    projects.add_member(store, p.id, lena.id, "labeler", by=SYSTEM)
    auth.create_user(store, "bob", "secret-123", Role.LABELER, "Bob Builder", by=SYSTEM)
    add_items(store, p.id, [NewItem(f"/x/{i}.jpg", 10, 10, f"h{i}") for i in range(6)])
    work = [(1, "lena", 10_000, "10:00:00"), (2, "lena", 20_000, "10:00:20"), (3, "lena", 30_000, "10:00:50")]
    work.append((4, "bob", 40_000, "11:00:00"))
    for n, (item, who, ms, at) in enumerate(work, start=1):
        store.execute(
            "INSERT INTO annotations (id, project_id, item_id, version, author, source, payload, duration_ms,"
            " created_at) VALUES (?, ?, ?, 1, ?, 'human', '{}', ?, ?)",
            [n, p.id, item, who, ms, datetime.fromisoformat(f"2026-01-05 {at}")],
        )
        store.execute(
            "UPDATE items SET status = 'labeled', version = 1, annotation_id = ?, labeled_by = ? WHERE id = ?",
            [n, who, item],
        )
    store.execute(
        "INSERT INTO reviews (project_id, item_id, version, reviewer, verdict) VALUES (?, 3, 1, 'admin', 'rejected'),"
        " (?, 4, 1, 'admin', 'approved')",
        [p.id, p.id],
    )
    store.execute("UPDATE items SET review_state = 'rejected' WHERE id = 3")
    store.execute(
        "INSERT INTO blind_answers (project_id, item_id, author, kind, payload, score) VALUES (?, 5, 'lena', 'gold',"
        " '{}', 0.5)",
        [p.id],
    )
    return p


def test_admin_sees_every_labeler(runtime, admin, labeler):  # type: ignore[no-untyped-def]
    p = _project_with_work(runtime, labeler)
    at = page(PAGE, admin, p.id).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    table = _team_table(at)
    assert list(table["labeler"]) == ["Lena", "Bob Builder"]  # most labels first, display names
    lena = table.iloc[0]
    assert lena["labels"] == "3" and lena["median s"] == "20.0" and lena["rejected"] == "100%"
    assert lena["gold"] == "50%" and lena["agreement"] == "—" and lena["awaiting review"] == "2"
    assert lena["per hour"] == f"{3 * 3600 / 60:.1f}"  # 60 s active
    bob = table.iloc[1]
    assert bob["rejected"] == "0%" and bob["gold"] == "—" and bob["awaiting review"] == "1"
    values = {m.label: m.value for m in at.metric}
    assert values["Awaiting review"] == "3" and values["Labelers"] == "2"
    assert "No consensus answers yet" in texts(at)
    assert "No reviews yet" not in texts(at)
    assert "Your own figures" not in texts(at)
    assert any("Bob Builder" in c.proto.spec for c in at.get("plotly_chart"))
    specs = [c.proto.spec for c in at.get("plotly_chart")]
    assert any("Labels per day" in s for s in specs) and any("Labels per hour" in s for s in specs)


def test_a_labeler_sees_only_themselves(runtime, labeler):  # type: ignore[no-untyped-def]
    p = _project_with_work(runtime, labeler)
    at = page(PAGE, labeler, p.id).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    table = _team_table(at)
    assert list(table["labeler"]) == ["Lena"]
    body = texts(at)
    assert "Your own figures" in body and "Bob Builder" not in str(table)
    values = {m.label: m.value for m in at.metric}
    assert values["Yours awaiting review"] == "2" and values["Awaiting review"] == "3"
    assert "Labelers" not in values
    specs = [c.proto.spec for c in at.get("plotly_chart")]
    assert any("Lena" in s for s in specs) and not any("Bob Builder" in s for s in specs)  # the bars too


def test_a_reviewer_sees_everyone(runtime, labeler):  # type: ignore[no-untyped-def]
    p = _project_with_work(runtime, labeler)
    rita = auth.create_user(runtime.store, "rita", "secret-123", Role.LABELER, "Rita", by=SYSTEM)
    projects.add_member(runtime.store, p.id, rita.id, "reviewer", by=SYSTEM)
    at = page(PAGE, rita, p.id).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert list(_team_table(at)["labeler"]) == ["Lena", "Bob Builder"]


def test_the_chart_over_time_follows_the_chosen_figure(runtime, admin, labeler):  # type: ignore[no-untyped-def]
    p = _project_with_work(runtime, labeler)
    at = page(PAGE, admin, p.id).run()
    before = len(at.get("plotly_chart"))
    choose = at.selectbox(key="team_measure")
    choose.select_index(2).run()  # rejection rate
    assert not at.exception and not at.error
    assert len(at.get("plotly_chart")) == before
    at.selectbox(key="team_measure").select_index(3).run()  # agreement: nobody answered consensus items
    assert not at.exception and "No day has a figure for agreement yet." in texts(at)
    assert len(at.get("plotly_chart")) == before - 1


def test_empty_states(runtime, admin, labeler):  # type: ignore[no-untyped-def]
    p = make_project(runtime, "multiclass")
    projects.add_member(runtime.store, p.id, labeler.id, "labeler", by=SYSTEM)
    add_items(runtime.store, p.id, [NewItem(f"/x/{i}.jpg", 10, 10, f"h{i}") for i in range(3)])
    at = page(PAGE, admin, p.id).run()
    assert not at.exception and not at.error
    assert "No labels by people yet" in texts(at)
    assert {m.label: m.value for m in at.metric}["Awaiting review"] == "0"
    assert not [d for d in at.dataframe if "labeler" in d.value.columns]
    at = page(PAGE, labeler, p.id).run()
    assert not at.exception and not at.error
    assert "No labels of yours yet" in texts(at)


def test_no_reviews_yet(runtime, admin):  # type: ignore[no-untyped-def]
    p = make_project(runtime, "multiclass")
    add_items(runtime.store, p.id, [NewItem("/x/1.jpg", 10, 10, "h1")])
    runtime.store.execute(
        "INSERT INTO annotations (id, project_id, item_id, version, author, source, payload, duration_ms)"
        " VALUES (1, ?, 1, 1, 'admin', 'human', '{}', 5000)",
        [p.id],
    )
    at = page(PAGE, admin, p.id).run()
    assert not at.exception and not at.error
    body = texts(at)
    assert "No reviews yet" in body and "No gold answers yet" in body
    assert _team_table(at).iloc[0]["rejected"] == "—"
