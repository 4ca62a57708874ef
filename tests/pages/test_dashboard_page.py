"""Dashboard: empty state, metrics and charts, running jobs, ML runs, speed at 500,000 items."""

from __future__ import annotations

import time

import pyarrow as pa

from core.jobs import submit
from core.permissions import SYSTEM
from core.store import projects
from core.store.items import NewItem, add_items
from core.store.labels import save_label, skip_item
from tests.pages.helpers import make_project, page, texts

PAGE = "pages/dashboard.py"


def test_empty_state(runtime, admin, project):
    at = page(PAGE, admin, project.id).run()
    assert not at.exception and not at.error
    body = texts(at)
    assert "No images yet" in body
    assert "No imports, exports or model jobs yet." in body
    assert "No model has run for this project yet" in body


def test_metrics_and_charts(runtime, admin):
    p = make_project(runtime, "multiclass")
    cat, dog = projects.list_classes(runtime.store, p.id)
    add_items(runtime.store, p.id, [NewItem(f"/x/{i}.jpg", 10, 10, f"h{i}") for i in range(5)])
    save_label(runtime.store, 1, {"class_id": cat.id}, author="admin", base_version=0, by=SYSTEM)
    save_label(runtime.store, 2, {"class_id": dog.id}, author="admin", base_version=0, by=SYSTEM)
    skip_item(runtime.store, 3, author="admin", reason="blurry", by=SYSTEM)
    at = page(PAGE, admin, p.id).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    values = {m.label: m.value for m in at.metric}
    assert values["Labeled"] == "2" and values["Skipped"] == "1" and values["Remaining"] == "2"
    charts = at.get("plotly_chart")
    assert len(charts) == 6  # the project's 4 and the Team section's 2 (ui.team_view)
    assert "40.0% of 5 images labeled" in at.get("progress")[0].proto.text


def test_running_job_shows_progress(runtime, admin, project):
    # a job of a kind no worker handles stays queued: the panel shows it waiting
    submit(runtime.store, "featurize_later", {}, project_id=project.id, created_by="admin")
    at = page(PAGE, admin, project.id).run()
    assert not at.exception
    assert "Waiting for a free worker" in at.get("progress")[0].proto.text


def test_ml_runs_table(runtime, admin, project):
    runtime.store.execute(
        "INSERT INTO model_runs (project_id, kind, model, device, state, duration_s, compute_s, cost, n_labels,"
        " metrics) VALUES (?, 'train', 'effnet-lite0+logreg', 'cpu', 'done', 12.5, 30.0, 0.0033, 40, ?)",
        [project.id, '{"precision": 0.93, "recall": 0.8}'],
    )
    at = page(PAGE, admin, project.id).run()
    assert not at.exception and not at.error
    values = {m.label: m.value for m in at.metric}
    assert values["Runs"] == "1" and values["Compute"] == "30.0 s"
    table = at.dataframe[0].value
    assert table["kind"][0] == "Training" and "precision 0.930" in table["metrics"][0]


def test_fast_at_500k_items(runtime, admin):
    p = make_project(runtime, "multiclass", "Big")
    cat, dog = projects.list_classes(runtime.store, p.id)
    n = 500_000
    # synthetic rows straight in SQL (add_items from Python takes ~20 s for this many), 60 % of them labeled in
    # the columns save_label maintains; then 100 saves a day for 30 days
    runtime.store.execute(
        "INSERT INTO items (id, project_id, path, width, height, sha1, status, class_ids, labeled_by, labeled_at)"
        " SELECT nextval('seq_items'), ?, '/big/' || i || '.jpg', 640, 480, md5(i::VARCHAR),"
        " CASE WHEN i % 5 < 3 THEN 'labeled' ELSE 'new' END,"
        " CASE WHEN i % 5 >= 3 THEN NULL WHEN i % 3 = 0 THEN [?] ELSE [?] END,"
        " CASE WHEN i % 5 >= 3 THEN NULL WHEN i % 2 = 0 THEN 'ann' ELSE 'bob' END,"
        " CASE WHEN i % 5 < 3 THEN now() END FROM range(?) t(i)",
        [p.id, cat.id, dog.id, n],
    )
    days = pa.table({"d": pa.array(range(30), pa.int32())})
    cur = runtime.store.cursor()
    cur.register("days", days)
    cur.execute(
        "INSERT INTO annotations (id, project_id, item_id, version, parent_id, author, source, payload, class_ids,"
        " duration_ms, created_at) SELECT nextval('seq_annotations'), ?, 1, 1, NULL, 'ann', 'human', '{}', [?],"
        " NULL, TIMESTAMP '2026-01-01' + INTERVAL (d) DAY FROM days, range(100)",
        [p.id, cat.id],
    )
    cur.unregister("days")
    at = page(PAGE, admin, p.id)
    t0 = time.perf_counter()
    at.run()
    seconds = time.perf_counter() - t0
    assert not at.exception and not at.error
    assert {m.label: m.value for m in at.metric}["Labeled"] == "300,000"
    print(f"dashboard at {n:,} items rendered in {seconds:.2f} s")
    assert seconds < 5.0


def test_store_failure_shows_words_not_a_traceback(runtime, admin, project, monkeypatch):
    import duckdb

    def broken(*_a, **_k):
        raise duckdb.IOException("disk went away")

    monkeypatch.setattr("core.store.stats.project_stats", broken)
    at = page(PAGE, admin, project.id).run()
    assert not at.exception
    (err,) = at.error
    assert "Could not show the dashboard" in err.value and "database could not answer" in err.value
