"""Review's "Likely errors" toggle: the labels ranked by the project's cross-validated model, flipped
labels first with the model's suggestion; the other filters still apply; the hand-over to the label page;
a project with nothing featurised says why there is no ranking."""

from __future__ import annotations

import numpy as np

from core.assist.embeddings import normalize, to_blob
from core.assist.job_support import insert_embeddings
from core.permissions import SYSTEM
from core.store import projects
from core.store.items import NewItem, add_items
from core.store.labels import save_label, utcnow
from tests.pages.helpers import make_project, page, texts, write_pngs

PAGE = "pages/review.py"
FLIPPED = (3, 16)  # rows given the other class: a dog labeled cat, a cat labeled dog


def _setup(runtime, tmp_path, n: int = 24):
    p = make_project(runtime, "multiclass")
    cat, dog = projects.list_classes(runtime.store, p.id)
    files = write_pngs(tmp_path / "imgs", n)
    add_items(runtime.store, p.id, [NewItem(str(f), 64, 48, f"sha{i}") for i, f in enumerate(files)])
    ids = [
        int(r[0])
        for r in runtime.store.query("SELECT id FROM items WHERE project_id = ? ORDER BY path", [p.id])
    ]
    rng = np.random.default_rng(0)
    centres = normalize(rng.normal(size=(2, 1280)))
    truth = np.arange(n) % 2  # even rows cat, odd rows dog
    x = normalize(centres[truth] + 0.5 * rng.normal(size=(n, 1280)) / np.sqrt(1280))
    insert_embeddings(
        runtime.store, [(i, p.id, "test@0", to_blob(v), utcnow()) for i, v in zip(ids, x, strict=True)]
    )
    for k, i in enumerate(ids):
        given = 1 - truth[k] if k in FLIPPED else truth[k]
        author = "lena" if k == FLIPPED[1] else "admin"
        save_label(
            runtime.store, i, {"class_id": (cat, dog)[given].id}, author=author, base_version=0, by=SYSTEM
        )
    return p, [ids[k] for k in FLIPPED]


def test_likely_errors_rank_flipped_labels_first(runtime, admin, tmp_path):
    p, flipped = _setup(runtime, tmp_path)
    at = page(PAGE, admin, p.id).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    at.toggle(key=f"review_errors_{p.id}").set_value(True).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    shown = [str(t.value) for t in at.text]
    assert shown[0].startswith("#1 · score") and shown[3].startswith("#2 · score")
    # both flipped labels lead, each with the other class suggested
    firsts = {(shown[1], shown[2]), (shown[4], shown[5])}
    assert firsts == {("Labeled: cat", "Model suggests: dog"), ("Labeled: dog", "Model suggests: cat")}
    assert "24 labels ranked" in texts(at)
    assert len(at.image) == 24
    at.selectbox(key=f"review_labeler_{p.id}").select("lena").run()  # the other filters still apply
    assert len(at.image) == 1 and "1 label ranked" in texts(at)
    at.button(key=f"review_err_fix_{flipped[1]}").click().run()
    assert at.session_state["label_item_id"] == flipped[1]
    assert at.session_state["review_return_project"] == p.id
    assert at.session_state[f"review_filters_{p.id}"]["errors"] is True  # kept for the way back


def test_likely_errors_without_embeddings_say_why(runtime, admin, tmp_path):
    p = make_project(runtime, "multiclass")
    add_items(
        runtime.store, p.id, [NewItem(str(f), 64, 48, f"s{i}") for i, f in enumerate(write_pngs(tmp_path, 2))]
    )
    at = page(PAGE, admin, p.id, **{f"review_filters_{p.id}": {"errors": True}}).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.toggle(key=f"review_errors_{p.id}").value is True  # restored from the remembered filters
    assert "No ranking yet" in texts(at) and "featurised" in texts(at)


def test_likely_errors_for_boxes(runtime, admin, tmp_path, monkeypatch):
    import ui.review_errors as view
    from core.assist.box_label_errors import find_box_label_errors
    from core.assist.box_metrics import Detections

    p = make_project(runtime, "boxes")
    cat, dog = projects.list_classes(runtime.store, p.id)
    files = write_pngs(tmp_path / "imgs", 3)
    add_items(runtime.store, p.id, [NewItem(str(f), 64, 48, f"b{i}") for i, f in enumerate(files)])
    ids = {
        str(r[1]): int(r[0])
        for r in runtime.store.query("SELECT id, path FROM items WHERE project_id = ?", [p.id])
    }
    for f in files:
        save_label(
            runtime.store,
            ids[str(f)],
            {"boxes": [{"class_id": cat.id, "xywh": [4, 4, 20, 20]}]},
            author="admin",
            base_version=0,
            by=SYSTEM,
        )
    at = page(PAGE, admin, p.id, **{f"review_filters_{p.id}": {"errors": True}}).run()
    assert "No ranking yet" in texts(at) and "No trained detector yet (the Assist page trains one)." in texts(
        at
    )

    def seen(path: str) -> Detections:  # the detector: agrees on the first image, sees a dog on the second
        cls = dog.id if path == str(files[1]) else cat.id
        return Detections(
            np.array([[4, 4, 24, 24]], np.float32), np.array([cls]), np.array([0.9], np.float32)
        )

    monkeypatch.setattr(
        view, "find_box_label_errors", lambda store, pid: find_box_label_errors(store, pid, seen, 0.5)
    )
    at.session_state[view.cache_key(p.id)] = (
        None  # nothing changed in the store: the held ranking dropped by hand
    )
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "1 of 3 labeled images disagree" in texts(at)
    assert [str(t.value) for t in at.text][:2] == [
        "#1 · score 0.90",
        "cat box: the detector sees a dog (0.90)",
    ]
    at.button(key=f"review_err_fix_{ids[str(files[1])]}").click().run()
    assert at.session_state["label_item_id"] == ids[str(files[1])]
