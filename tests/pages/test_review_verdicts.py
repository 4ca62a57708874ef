"""Review verdicts through the pages: a reviewer approves and rejects on Review (chips, queue count, the review
filter), a labeler sees no verdict buttons, the label page shows the rejection above the image and a save
makes it fixed, and the Export page's "Approved images only" starts an approved-only export."""

from __future__ import annotations

import json
from pathlib import Path

from core import auth
from core.domain import Role
from core.jobs import list_jobs
from core.permissions import SYSTEM, ProjectRole
from core.quality import review
from core.store import projects
from core.store.items import NewItem, add_items
from core.store.labels import save_label
from tests.pages.helpers import make_project, page, texts, write_pngs


def _setup(runtime, tmp_path, n=3):
    p = make_project(runtime, "multiclass")
    files = write_pngs(tmp_path / "imgs", n, size=(64, 48))
    add_items(runtime.store, p.id, [NewItem(str(f), 64, 48, f"sha{i}") for i, f in enumerate(files)])
    cat, dog = projects.list_classes(runtime.store, p.id)
    lena = auth.create_user(runtime.store, "lena", "secret-123", Role.LABELER, "Lena", by=SYSTEM)
    rita = auth.create_user(runtime.store, "rita", "secret-123", Role.LABELER, "Rita", by=SYSTEM)
    projects.add_member(runtime.store, p.id, lena.id, role=ProjectRole.LABELER, by=SYSTEM)
    projects.add_member(runtime.store, p.id, rita.id, role=ProjectRole.REVIEWER, by=SYSTEM)
    for item_id in (1, 2):
        save_label(runtime.store, item_id, {"class_id": cat.id}, author="lena", base_version=0, by=SYSTEM)
    return p, (cat, dog), lena, rita


def test_a_reviewer_rejects_with_a_reason_and_approves(runtime, tmp_path):
    p, (cat, dog), lena, rita = _setup(runtime, tmp_path)
    at = page("pages/review.py", rita, p.id).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "Review queue:** 2 images awaiting review" in texts(at)
    assert texts(at).count("Awaiting review") >= 2  # a chip on each labeled tile
    at.button(key="open_1").click().run()
    at.button(key=f"review_reject_{p.id}").click().run()  # no reason typed: refused in words
    assert "Say why the label is rejected" in texts(at)
    assert review.review_state(runtime.store, 1) == review.AWAITING
    at.text_input(key=f"review_reason_{p.id}_1").input("it is a dog")
    at.button(key=f"review_reject_{p.id}").click().run()
    assert not at.exception, at.exception
    assert review.rejection(runtime.store, 1).reason == "it is a dog"  # type: ignore[union-attr]
    assert "Rejected image 1" in texts(at)
    assert "Review queue:** 1 image awaiting review" in texts(at)
    at.button(key=f"review_grid_{p.id}").click().run()
    at.selectbox(key=f"review_review_{p.id}").select("rejected").run()  # the review-state filter
    assert len(at.image) == 1 and "Rejected" in texts(at)
    at.selectbox(key=f"review_review_{p.id}").select("awaiting").run()
    assert len(at.image) == 1
    at.button(key="open_2").click().run()
    at.button(key=f"review_approve_{p.id}").click().run()
    assert review.review_state(runtime.store, 2) == review.APPROVED
    assert "Review queue:** 0 images awaiting review" in texts(at)


def test_a_stale_verdict_is_refused_on_the_page(runtime, tmp_path):
    p, (cat, dog), lena, rita = _setup(runtime, tmp_path)
    at = page("pages/review.py", rita, p.id).run()
    at.button(key="open_1").click().run()
    save_label(runtime.store, 1, {"class_id": dog.id}, author="lena", base_version=1, by=SYSTEM)  # meanwhile
    at.button(key=f"review_approve_{p.id}").click().run()
    assert "Not recorded" in texts(at) and "changed since you looked at it" in texts(at)
    assert review.review_state(runtime.store, 1) == review.AWAITING


def test_a_labeler_sees_no_verdict_buttons(runtime, tmp_path):
    p, (cat, dog), lena, rita = _setup(runtime, tmp_path)
    at = page("pages/review.py", lena, p.id).run()
    at.button(key="open_1").click().run()
    assert not at.exception and not at.error
    keys = {b.key for b in at.button}
    assert f"review_approve_{p.id}" not in keys and f"review_reject_{p.id}" not in keys
    assert f"review_next_{p.id}" in keys  # the detail view is there


def test_the_label_page_shows_the_rejection_and_a_save_makes_it_fixed(runtime, tmp_path):
    p, (cat, dog), lena, rita = _setup(runtime, tmp_path)
    review.reject(runtime.store, 2, version=1, reason="**a dog**, see the ears", by=rita)
    at = page("pages/label.py", lena, p.id).run()
    assert not at.exception, at.exception
    shown = [str(e.value) for e in at.error]
    assert any("Rejected by rita:" in s and "a dog" in s for s in shown), shown
    assert any("\\*\\*a dog\\*\\*" in s for s in shown), shown  # the reason as typed, not as markdown
    assert at.session_state["label_item_id"] == 2  # the rejected item first, before item 3 (new)
    dog_button = at.button(key=f"label_cls_{dog.id}__i2")
    dog_button.click().run()
    assert not at.exception, at.exception
    assert review.review_state(runtime.store, 2) == review.FIXED
    assert runtime.store.scalar("SELECT version FROM items WHERE id = 2") == 2
    assert at.session_state["label_item_id"] == 3  # then the queue
    assert not any("Rejected by" in str(e.value) for e in at.error)


def test_the_export_page_starts_an_approved_only_export(runtime, admin, tmp_path):
    p, (cat, dog), lena, rita = _setup(runtime, tmp_path)
    review.approve(runtime.store, 2, version=1, by=rita)
    at = page("pages/export.py", admin, p.id).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "1 approved by a reviewer" in texts(at)
    at.segmented_control(key=f"export_format_{p.id}").set_value("jsonl")
    at.checkbox(key=f"export_approved_{p.id}").check().run()
    at.button(key="export_go").click().run()
    (job,) = list_jobs(runtime.store, p.id, kind="export")
    assert job.params == {"format": "jsonl", "include": "labeled", "approved_only": True}
    job = runtime.runner.wait(job.id, timeout=60)
    assert job.state == "done", job.error
    rows = [json.loads(line) for line in Path(job.result["path"]).read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["path"].endswith("img_001.png"), rows
    at.run()
    assert "approved images only" in texts(at)


def test_the_review_filters_are_kept_and_previous_next_follow_them(runtime, tmp_path):
    """Review state and labeled dates filter the grid and the detail view's steps, and come back after another
    page was shown (Streamlit drops the widgets' state then)."""
    from datetime import date, timedelta

    month_ago, long_ago = date.today() - timedelta(days=30), date.today() - timedelta(days=400)

    p, (cat, dog), lena, rita = _setup(runtime, tmp_path, n=4)
    save_label(runtime.store, 3, {"class_id": dog.id}, author="lena", base_version=0, by=SYSTEM)
    review.approve(runtime.store, 2, version=1, by=rita)  # awaiting: 1 and 3
    at = page("pages/review.py", rita, p.id).run()
    at.selectbox(key=f"review_review_{p.id}").select("awaiting").run()
    assert len(at.image) == 2
    at.date_input(key=f"review_from_{p.id}").set_value(month_ago).run()
    assert len(at.image) == 2  # labeled today: still both
    at.button(key="open_3").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "Image 1 of 2" in texts(at)
    at.button(key=f"review_next_{p.id}").click().run()
    assert (
        "Image 2 of 2" in texts(at) and at.button(key=f"review_next_{p.id}").disabled
    )  # image 2 is left out
    back = page("pages/review.py", rita, p.id)
    back.session_state[f"review_filters_{p.id}"] = at.session_state[f"review_filters_{p.id}"]
    back.run()
    assert back.selectbox(key=f"review_review_{p.id}").value == "awaiting"
    assert back.date_input(key=f"review_from_{p.id}").value == month_ago
    assert len(back.image) == 2
    back.date_input(key=f"review_to_{p.id}").set_value(long_ago).run()
    assert "No image matches" in texts(back)


def test_review_the_queue_opens_its_first_image_and_a_verdict_steps_on(runtime, tmp_path):
    p, (cat, dog), lena, rita = _setup(runtime, tmp_path, n=4)
    save_label(runtime.store, 3, {"class_id": dog.id}, author="lena", base_version=0, by=SYSTEM)
    review.approve(runtime.store, 1, version=1, by=rita)  # awaiting: 3 (newest), then 2
    at = page("pages/review.py", rita, p.id).run()
    at.button(key=f"review_queue_{p.id}").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.selectbox(key=f"review_review_{p.id}").value == "awaiting"
    assert any(t.value.startswith("Image 3 · ") for t in at.text) and "Image 1 of 2" in texts(at)
    at.button(key=f"review_approve_{p.id}").click().run()
    assert review.review_state(runtime.store, 3) == review.APPROVED
    assert any(t.value.startswith("Image 2 · ") for t in at.text)  # stepped on to the next in the queue
    at.button(key=f"review_approve_{p.id}").click().run()
    assert review.review_state(runtime.store, 2) == review.APPROVED
    assert "Review queue:** 0 images awaiting review" in texts(at)
    assert f"review_queue_{p.id}" not in {b.key for b in at.button}  # nothing left to open


def test_a_reviewer_marks_an_approved_image_as_gold_and_back(runtime, tmp_path):
    p, _, lena, rita = _setup(runtime, tmp_path)
    review.approve(runtime.store, 2, version=1, by=rita)
    at = page("pages/review.py", rita, p.id).run()
    at.button(key="open_1").click().run()  # awaiting review: no gold toggle
    assert f"review_gold_{p.id}_1" not in {t.key for t in at.toggle}
    at = page("pages/review.py", rita, p.id).run()
    at.button(key="open_2").click().run()
    at.toggle(key=f"review_gold_{p.id}_2").set_value(True).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert runtime.store.scalar("SELECT gold FROM items WHERE id = 2") is True
    assert "Image 2 is now a gold image." in texts(at)
    at.toggle(key=f"review_gold_{p.id}_2").set_value(False).run()
    assert runtime.store.scalar("SELECT gold FROM items WHERE id = 2") is False
    labeler = page("pages/review.py", lena, p.id).run()
    labeler.button(key="open_2").click().run()
    assert f"review_gold_{p.id}_2" not in {t.key for t in labeler.toggle}
