"""Chromium, two browsers at once: a reviewer rejects a label with a reason on Review; the labeler's next image
is that one with "Rejected by rita: REASON" shown above it; the labeler fixes it (a new version); the reviewer
finds it under "Fixed" and approves it with the A key; an admin's "Approved images only" export holds it and
no other image.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from PIL import Image

from core import auth
from core.domain import Role, TaskType
from core.images import import_folder
from core.permissions import SYSTEM, ProjectRole
from core.store import Store, labels, projects
from core.store.projects import ClassSpec
from tests.e2e.helpers import (
    ADMIN_PASSWORD,
    choose,
    go,
    image_id,
    main,
    no_error_shown,
    open_label,
    open_project,
    press,
    settle,
    shot,
    sign_in,
    unfocus,
    wait_idle,
)

pytestmark = pytest.mark.e2e

REASON = "This is a dog: look at the ears"
TASK_WORDS = "Image classification: one class per image"


def seed(data: Path) -> tuple[int, int, int, int]:
    """Admin, labeler lena and reviewer rita; a multiclass project "Pets" with 3 photos, two labeled cat by lena.
    Returns (project id, cat id, dog id, the id of the image the reviewer will reject)."""
    store = Store(data / "annota.duckdb")
    auth.create_user(store, "admin", ADMIN_PASSWORD, Role.ADMIN, "Administrator", by=SYSTEM)
    lena = auth.create_user(store, "lena", "lena-secret-1", Role.LABELER, "Lena", by=SYSTEM)
    rita = auth.create_user(store, "rita", "rita-secret-1", Role.LABELER, "Rita", by=SYSTEM)
    p = projects.create_project(
        store,
        "Pets",
        TaskType.MULTICLASS,
        [ClassSpec("cat", hotkey="1"), ClassSpec("dog", hotkey="2")],
        by=SYSTEM,
    )
    projects.add_member(store, p.id, lena.id, role=ProjectRole.LABELER, by=SYSTEM)
    projects.add_member(store, p.id, rita.id, role=ProjectRole.REVIEWER, by=SYSTEM)
    folder = data.parent / "photos"
    folder.mkdir()
    for i in range(3):
        Image.new("RGB", (96, 64), (60 * i, 120, 200 - 50 * i)).save(folder / f"pet_{i}.png")
    import_folder(store, p.id, folder, watch=False, by=SYSTEM)
    cat, dog = (c.id for c in projects.list_classes(store, p.id))
    ids = [r[0] for r in store.query("SELECT id FROM items WHERE project_id = ? ORDER BY path", [p.id])]
    for iid in ids[:2]:
        labels.save_label(store, iid, {"class_id": cat}, base_version=0, by=lena)
    store.close()
    return p.id, cat, dog, ids[1]


def new_page(browser):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    return context, pg


def open_on_review(page, item_id: int) -> None:  # type: ignore[no-untyped-def]
    """Open image ``item_id`` from the Review grid (its tile's Open button)."""
    page.locator(f".st-key-review_card_{item_id}").get_by_role("button", name="Open").click()
    main(page).get_by_text(re.compile(rf"^Image {item_id} · ")).wait_for()
    wait_idle(page)


def test_reject_fix_approve_export(serve, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    data.mkdir()
    pid, cat, dog, target = seed(data)
    server = serve(data)
    rev_ctx, reviewer = new_page(browser)
    lab_ctx, labeler = new_page(browser)
    try:
        # the reviewer rejects the label with a reason
        sign_in(reviewer, username="rita", password="rita-secret-1", url=server.url)
        open_project(reviewer, "Pets")
        go(reviewer, "Review")
        rm = main(reviewer)
        rm.get_by_text("2 images awaiting review").wait_for()
        open_on_review(reviewer, target)
        rm.get_by_role("button", name="Reject").wait_for()
        rm.get_by_label("Reason for rejecting").fill(REASON)
        rm.get_by_label("Reason for rejecting").press("Enter")
        settle(reviewer)
        rm.get_by_role("button", name="Reject").click()
        rm.get_by_text(f"Rejected image {target}").wait_for()
        rm.get_by_text("1 image awaiting review").wait_for()
        wait_idle(reviewer)
        no_error_shown(reviewer)
        assert (
            rm.get_by_label("Reason for rejecting").input_value() == ""
        )  # the next image: no reason carried over
        shot(reviewer, "review-rejected")

        # the labeler's next image is the rejected one, with the reason; a fix saves a new version
        sign_in(labeler, username="lena", password="lena-secret-1", url=server.url)
        open_label(labeler, "Pets", TASK_WORDS)
        lm = main(labeler)
        lm.get_by_text(f"Rejected by rita: {REASON}").wait_for()
        assert image_id(labeler) == target
        shot(labeler, "review-label-rejected")
        labeler.locator(f".st-key-label_cls_{dog}__i{target} button").click()
        lm.get_by_text(f"Saved image {target}.").wait_for()
        labeler.locator(f".st-key-label_shown_{target}").wait_for(state="detached")  # the next image is drawn
        wait_idle(labeler)
        assert image_id(labeler) != target  # then the queue's next image
        assert lm.get_by_text("Rejected by rita").count() == 0
        no_error_shown(labeler)

        # the reviewer finds it under "Fixed" and approves it with the A key
        rm.get_by_role("button", name="Back to the grid").click()
        wait_idle(reviewer)
        choose(reviewer, "Review", "Fixed")
        tile = reviewer.locator(f".st-key-review_card_{target}")
        tile.get_by_text("Fixed", exact=True).wait_for()
        # the grid before the filter may still be on screen while the filtered one is drawn: wait until
        # only the fixed image's tile is left (a second tile staying would time out here)
        reviewer.wait_for_function(
            "() => document.querySelectorAll(\"[class*='st-key-review_card_']\").length === 1"
        )
        wait_idle(reviewer)
        assert reviewer.locator("[class*='st-key-review_card_']").count() == 1
        open_on_review(reviewer, target)
        rm.get_by_text("Version 2 by lena").wait_for()
        rm.get_by_text("2 images awaiting review").wait_for()  # the fix is back in the queue
        unfocus(reviewer)
        press(reviewer, "a")
        rm.get_by_text(f"Approved image {target} (version 2).").wait_for()
        rm.get_by_text("1 image awaiting review").wait_for()  # the other labeled image
        wait_idle(reviewer)
        no_error_shown(reviewer)
        assert reviewer.locator(".stMain").get_by_text("Approved", exact=True).count() == 1  # its state chip
        shot(reviewer, "review-approved")
    finally:
        rev_ctx.close()
        lab_ctx.close()

    # an approved-only export holds it, and only it
    adm_ctx, admin = new_page(browser)
    try:
        sign_in(admin, url=server.url)
        open_project(admin, "Pets")
        go(admin, "Export")
        am = main(admin)
        am.get_by_text("1 approved by a reviewer").wait_for()
        am.get_by_text("JSON lines", exact=True).click()
        wait_idle(admin)
        am.get_by_text("Approved images only").click()
        wait_idle(admin)
        am.get_by_role("button", name="Export", exact=True).click()
        button = am.get_by_role("button", name="Download").first
        button.wait_for(timeout=90_000)
        am.get_by_text(re.compile(r"^1 images · .* · approved images only$")).wait_for()
        wait_idle(admin)
        with admin.expect_download(timeout=60_000) as info:
            button.click()
        saved = tmp_path / "downloads" / info.value.suggested_filename
        saved.parent.mkdir()
        info.value.save_as(str(saved))
        no_error_shown(admin)
    finally:
        adm_ctx.close()
    rows = [json.loads(line) for line in saved.read_text().splitlines()]
    assert [r["item_id"] for r in rows] == [target], rows
    assert rows[0]["path"].endswith("pet_1.png") and rows[0]["author"] == "lena"
    server.stop()
    store = Store(data / "annota.duckdb")
    try:
        assert store.query("SELECT verdict, version, reviewer, reason FROM reviews ORDER BY id") == [
            ("rejected", 1, "rita", REASON),
            ("approved", 2, "rita", ""),
        ]
        assert store.scalar("SELECT review_state FROM items WHERE id = ?", [target]) == "approved"
    finally:
        store.close()
