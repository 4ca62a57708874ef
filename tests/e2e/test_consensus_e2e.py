"""Consensus in real Chromium: a project where every image is a consensus image answered by k = 2 labelers.
Two labelers in two browser contexts get the same image, neither sees the other's answer (no label, no
version on the screen), both answer "cat"; the merged label is saved by "consensus" and the Review item
view shows the agreement to the admin.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image

from core import auth
from core.domain import Role, TaskType
from core.permissions import SYSTEM, ProjectRole
from core.store import Store, items, projects
from tests.e2e.helpers import (
    ADMIN_PASSWORD,
    go,
    image_caption,
    image_id,
    main,
    new_items,
    open_label,
    open_project,
    settle,
    sign_in,
    wait_idle,
)

pytestmark = pytest.mark.e2e

LABELERS = {"ann": "ann-secret-1", "bob": "bob-secret-1"}


def seed(data: Path) -> int:
    store = Store(data / "annota.duckdb")
    auth.create_user(store, "admin", ADMIN_PASSWORD, Role.ADMIN, "Administrator", by=SYSTEM)
    p = projects.create_project(
        store,
        "Agree",
        TaskType.MULTICLASS,
        ["cat", "dog"],
        by=SYSTEM,
        settings={"consensus_share": 1.0, "consensus_k": 2, "gold_share": 0},
    )
    for name, password in LABELERS.items():
        u = auth.create_user(store, name, password, Role.LABELER, name.title(), by=SYSTEM)
        projects.add_member(store, p.id, u.id, role=ProjectRole.LABELER, by=SYSTEM)
    folder = data.parent / "photos"
    folder.mkdir()
    Image.new("RGB", (96, 64), (200, 120, 40)).save(folder / "kitten.png")
    items.add_items(store, p.id, new_items([folder / "kitten.png"]))
    store.close()
    return p.id


def answer_cat(context, url: str, name: str) -> int:  # type: ignore[no-untyped-def]
    page = context.new_page()
    page.set_default_timeout(60_000)
    sign_in(page, password=LABELERS[name], username=name, url=url)
    open_label(page, "Agree", "one class per image")
    shown = image_id(page)
    caption = image_caption(page)
    assert "version" not in caption and "new" in caption, caption  # no one's answer on the screen
    main(page).get_by_role("button", name=re.compile(r"^cat\b")).click()  # "cat" and its key
    main(page).get_by_text(f"Saved image {shown}.").wait_for()
    main(page).get_by_text("All done for now").wait_for()  # answered once: never handed it again
    page.close()
    return shown


def test_two_labelers_answer_blind_and_review_shows_the_agreement(serve, browser, tmp_path: Path):  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    data.mkdir()
    pid = seed(data)
    server = serve(data)
    ann_ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    bob_ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    first = answer_cat(ann_ctx, server.url, "ann")
    second = answer_cat(bob_ctx, server.url, "bob")
    assert first == second  # the same image, to two labelers

    admin = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    admin.set_default_timeout(60_000)
    sign_in(admin, url=server.url)
    open_project(admin, "Agree")
    go(admin, "Review")
    main(admin).locator(f".st-key-open_{first} button").click()
    settle(admin)
    main(admin).get_by_text("Consensus: 2 of 2 answers · agreement 100%").wait_for()
    main(admin).get_by_text("ann (consensus): cat").wait_for()
    main(admin).get_by_text("bob (consensus): cat").wait_for()
    wait_idle(admin)
    server.stop()
    store = Store(data / "annota.duckdb")
    try:
        assert store.query("SELECT state, agreement FROM consensus_items WHERE item_id = ?", [first]) == [
            ("merged", 1.0)
        ]
        assert (
            store.scalar(
                "SELECT a.author FROM items i JOIN annotations a ON a.id = i.annotation_id WHERE i.id = ?",
                [first],
            )
            == "consensus"
        )
        assert store.scalar("SELECT count(*) FROM blind_answers WHERE project_id = ?", [pid]) == 2
    finally:
        store.close()
