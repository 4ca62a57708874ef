"""The Assist page: empty project, settings saved to the store, stage text, runs table and charts from a real
small training on flower photos."""

from __future__ import annotations

import sys

import pytest

from core.assist import classify_jobs as cj
from core.assist import status
from core.assist.backbone import Backbone
from core.config import PROJECT_ROOT, shared_datasets
from core.images.probe import probe_file
from core.permissions import SYSTEM
from core.store import projects
from core.store.items import NewItem, add_items
from core.store.labels import save_label
from core.store.projects import ClassSpec
from tests.pages.helpers import make_project, page, texts

PAGE = "pages/assist.py"
FLOWERS = ["daisy", "dandelion", "rose", "sunflower", "tulip"]


def test_empty_project(runtime, admin):
    p = make_project(runtime, "multiclass")
    at = page(PAGE, admin, p.id).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    body = texts(at)
    assert "No runs yet" in body and "first training after 10 labels" in body
    assert "Clustering starts when 90% of the images are featurised (0 of 0 done)." in body
    assert at.toggle(key=f"assist_enabled_{p.id}").value is True  # on by default for classification
    assert "Next training in 10 labels." in body
    assert "No model job yet." in body
    assert "runs without the assist scheduler" in body  # the test suite's runtime starts none


def test_boxes_start_off_and_say_when_assistance_is_missing(runtime, admin, project, monkeypatch):
    at = page(PAGE, admin, project.id).run()
    assert not at.exception and not at.error
    if status.availability("boxes").available:
        assert at.toggle(key=f"assist_enabled_{project.id}").value is False  # detection is opt-in (CPU cost)
        assert "ML assistance is off for this project." in texts(at)
    monkeypatch.setattr(status, "DETECT_JOBS", "core.assist.not_installed")
    at = page(PAGE, admin, project.id).run()
    assert "not available in this installation" in texts(at)
    assert "ML assistance is off" in texts(at)


def test_settings_save_to_the_store(runtime, admin):
    p = make_project(runtime, "multiclass")
    add_items(runtime.store, p.id, [NewItem(f"/x/{i}.jpg", 10, 10, f"h{i}") for i in range(3)])
    runtime.store.execute("UPDATE items SET queue_rank = 10 - id WHERE project_id = ?", [p.id])
    at = page(PAGE, admin, p.id).run()
    at.slider(key=f"assist_target_{p.id}").set_value(0.9)
    at.radio(key=f"assist_order_{p.id}").set_value("in_order")
    at.number_input(key=f"assist_every_{p.id}").set_value(25)
    at.toggle(key=f"assist_auto_{p.id}").set_value(True)
    at.number_input(key=f"assist_price_{p.id}").set_value(1.5)
    at.slider(key=f"assist_audit_share_{p.id}").set_value(0.3)
    at.select_slider(key=f"assist_level_{p.id}").set_value(0.9)
    at.slider(key=f"assist_max_coverage_{p.id}").set_value(0.8)
    next(b for b in at.button if b.label == "Save settings").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    saved = projects.get_project(runtime.store, p.id)
    assert saved.target_precision == pytest.approx(0.9)
    assert (saved.prefs.audit_share, saved.prefs.confidence_level) == (pytest.approx(0.3), pytest.approx(0.9))
    assert saved.prefs.max_coverage == pytest.approx(0.8)
    s = saved.settings
    assert (s["assist_queue_order"], s["assist_in_order"], s["assist_train_every"]) == ("learn", True, 25)
    assert s["assist_auto_accept"] is True and s["assist_price_per_hour"] == pytest.approx(1.5)
    assert runtime.store.scalar("SELECT count(*) FROM items WHERE queue_rank IS NOT NULL") == 0
    assert at.radio(key=f"assist_order_{p.id}").value == "in_order"

    at.toggle(key=f"assist_enabled_{p.id}").set_value(False).run()
    assert projects.get_project(runtime.store, p.id).settings["assist_enabled"] is False
    assert "ML assistance is off for this project." in texts(at)


def test_labelers_see_but_cannot_change(runtime, labeler):
    p = make_project(runtime, "multiclass")
    projects.add_member(runtime.store, p.id, labeler.id, by=SYSTEM)
    at = page(PAGE, labeler, p.id).run()
    assert not at.exception and not at.error
    assert "only an administrator can change them" in texts(at)
    assert (
        at.toggle(key=f"assist_enabled_{p.id}").disabled and at.slider(key=f"assist_target_{p.id}").disabled
    )
    assert at.button(key="assist_train_now").disabled


@pytest.fixture(scope="module")
def backbone() -> Backbone:
    bb = Backbone.load(cache_dir=PROJECT_ROOT / "data" / "models")  # the ONNX export is cached there
    cj.set_backbone(bb)
    return bb


def _run(runtime, kind: str, project_id: int):  # type: ignore[no-untyped-def]
    """Through the runtime's own job runner, as the app runs it."""
    job = runtime.runner.wait(runtime.runner.submit(kind, {}, project_id=project_id).id, timeout=120)
    assert job.state == "done", job.error
    return job.result


def test_runs_table_and_charts_after_a_real_training(runtime, admin, backbone):
    root = shared_datasets() / "flowers"
    if not root.is_dir():
        print(f"SKIP REASON: shared flowers dataset absent at {root}", file=sys.stderr)
        pytest.skip(f"shared flowers dataset absent at {root}")
    s = runtime.store
    p = projects.create_project(s, "Flowers", "multiclass", [ClassSpec(n) for n in FLOWERS], by=SYSTEM)
    files = {n: sorted((root / n).glob("*.jpg"))[7::13][:6] for n in FLOWERS}
    news = []
    for n in FLOWERS:
        for f in files[n]:
            pr = probe_file(f)
            news.append(NewItem(str(f), pr.width, pr.height, pr.sha1, pr.bytes, pr.orientation))
    add_items(s, p.id, news)
    _run(runtime, cj.FEATURIZE, p.id)
    cls = {c.name: c.id for c in projects.list_classes(s, p.id)}
    ids = {str(r[1]): int(r[0]) for r in s.query("SELECT id, path FROM items WHERE project_id = ?", [p.id])}
    for n in FLOWERS:
        for f in files[n][:3]:
            save_label(s, ids[str(f)], {"class_id": cls[n]}, author="admin", base_version=0, by=SYSTEM)
    result = _run(runtime, cj.TRAIN, p.id)
    assert result["trained"]

    at = page(PAGE, admin, p.id).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    body = texts(at)
    assert "Latest training" in body and "15 labels" in body
    assert "Next training in 10 labels." in body
    assert "Clustering: pages the model groups by the class it guesses" in body or "Pre-labeling:" in body
    values = {m.label: m.value for m in at.metric}
    assert values["Runs"] == "3" and values["Images"] == "30" and values["Featurised"] == "30 · 100%"
    assert values["Labels for training"] == "15"
    frames = [d.value for d in at.dataframe]
    table = next(f for f in frames if "kind" in f.columns)
    assert list(table["kind"]) == ["Inference", "Training", "Featurisation"]
    assert list(table["state"]) == ["done"] * 3
    assert "30 images" in table["metrics"][2] and "threshold" in table["metrics"][1]
    # counts a run does not have are empty cells, never "None"; a training says how many labels it tested on
    assert list(table["labels"]) == ["", "15", ""] and list(table["images"]) == ["15", "30", "30"]
    assert "held-out accuracy" in table["metrics"][1] and "on 15 labels" in table["metrics"][1]
    assert "Held-out accuracy" in body and "on 15 labels: the labels given one image at a time" in body
    per_class = next(f for f in frames if "class" in f.columns)
    assert sorted(per_class["class"]) == sorted(FLOWERS) and list(per_class["labels"]) == [3] * 5
    charts = at.get("plotly_chart")
    assert len(charts) == 2


def _finished_training(runtime, project_id: int, metrics: dict) -> None:  # type: ignore[no-untyped-def]
    """A finished training of 250 labels with these metrics, as the train job records it."""
    import json

    runtime.store.execute(
        "INSERT INTO model_runs (project_id, kind, model, state, n_labels, metrics)"
        " VALUES (?, 'train', 'linear-head/x', 'done', 250, ?)",
        [project_id, json.dumps(metrics)],
    )


def test_a_training_calibrated_on_the_audit_says_so(runtime, admin):
    """The latest training's caption names what it was tested on: the audit's random images, and the two
    bounds, not "the labels given one image at a time"."""
    p = make_project(runtime, "multiclass")
    metrics = {
        "head_path": "/nowhere.npz", "threshold": None, "precision_lower_bound": 0.93,
        "heldout_accuracy": 0.9, "heldout_labels": 64, "calibration_source": "audit", "audit_labels": 64,
    }  # fmt: skip
    _finished_training(runtime, p.id, metrics)
    at = page(PAGE, admin, p.id).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    body = texts(at)
    assert "on 64 labels: the audit, images drawn at random" in body
    assert "the labels given one image at a time" not in body
    assert "No confidence threshold reaches the 95% target yet (lower bound 93.0%)" in body


def test_a_stored_audit_share_above_the_forms_range_still_shows_the_form(runtime, admin):
    """A share set outside the form (the settings JSON clips only to 0..1) shows at the form's most, no error."""
    p = make_project(runtime, "multiclass")
    runtime.store.execute(
        "UPDATE projects SET settings = ? WHERE id = ?", ['{"assist_audit_share": 0.9}', p.id]
    )
    at = page(PAGE, admin, p.id).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.slider(key=f"assist_audit_share_{p.id}").value == pytest.approx(0.6)


def test_a_grid_shaped_training_says_why_nothing_comes_pre_ticked(runtime, admin):
    """Multi-label: a training that withheld the pre-ticks (grid pages shaped the labels) is told in words."""
    from core.assist.job_support import insert_embeddings
    from core.store.labels import utcnow

    p = make_project(runtime, "multilabel")
    add_items(runtime.store, p.id, [NewItem(f"/x/{i}.jpg", 10, 10, f"m{i}") for i in range(4)])
    ids = [int(r[0]) for r in runtime.store.query("SELECT id FROM items WHERE project_id = ?", [p.id])]
    insert_embeddings(runtime.store, [(i, p.id, "m", b"\x00" * 8, utcnow()) for i in ids])
    metrics = {
        "head_path": "/nowhere.npz",
        "threshold": None,
        "claim_threshold": None,
        "pre_ticks_withheld": True,
    }
    _finished_training(runtime, p.id, metrics)
    at = page(PAGE, admin, p.id).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "No classes come pre-ticked: grid pages gave many of the labels" in texts(at)


def test_proposals_the_audit_withdrew_are_explained_on_the_page(runtime, admin):
    """A training showed proposals, the next one's audit certified nothing (one of its surest answers was
    labeled otherwise): the page says the proposals are withdrawn and why."""
    from core.assist.job_support import insert_embeddings
    from core.store.labels import utcnow

    p = make_project(runtime, "multiclass")
    add_items(runtime.store, p.id, [NewItem(f"/x/{i}.jpg", 10, 10, f"w{i}") for i in range(4)])
    ids = [int(r[0]) for r in runtime.store.query("SELECT id FROM items WHERE project_id = ?", [p.id])]
    insert_embeddings(runtime.store, [(i, p.id, "m", b"\x00" * 8, utcnow()) for i in ids])
    for item, cls in zip(
        ids, projects.list_classes(runtime.store, p.id), strict=False
    ):  # two classes labeled
        save_label(runtime.store, item, {"class_id": cls.id}, author="admin", base_version=0, by=SYSTEM)
    _finished_training(runtime, p.id, {"head_path": "/nowhere.npz", "threshold": 0.9})
    held = {"head_path": "/nowhere.npz", "threshold": None, "precision_lower_bound": 0.0,
            "calibration_source": "audit", "audit_labels": 108, "audit_most_sure": [32, 30]}  # fmt: skip
    _finished_training(runtime, p.id, held)
    at = page(PAGE, admin, p.id).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    shown = texts(at)
    assert "Proposals from the model before are withdrawn" in shown
    assert "Of the 32 audit images the model is most sure of, 2 were labeled otherwise" in shown
