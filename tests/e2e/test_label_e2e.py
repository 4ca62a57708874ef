"""The labeling screen in real Chromium against a real ``streamlit run app.py``.

Signs in, labels with a class hotkey, toggles multi-label classes, draws and resizes a box, draws a
polygon and moves one of its vertices, skips and comes back, and measures submit -> next image for
multi-class (printed and written to artifacts/perf/label_latency.json; no time is asserted).
Screenshots go to artifacts/screens/.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import pytest

from core.domain import TaskType
from core.permissions import SYSTEM
from core.store import Store, items, labels, projects
from tests.e2e.helpers import (
    IMG_READY_JS,
    KEY_SETTLE_MS,
    PERF,
    dataset_or_skip,
    image_caption,
    new_items,
    open_label,
    press,
    shot,
    sign_in,
    unfocus,
    wait_quiet,
)

pytestmark = pytest.mark.e2e

N_LATENCY = 20


@pytest.fixture
def viewport() -> dict[str, int]:
    return {"width": 1500, "height": 1000}


@pytest.fixture
def server(serve, tmp_path: Path):  # type: ignore[no-untyped-def]
    flowers = dataset_or_skip("flowers")
    data = tmp_path / "data"
    data.mkdir()
    daisies = sorted((flowers / "daisy").glob("*.jpg"))
    roses = sorted((flowers / "rose").glob("*.jpg"))
    store = Store(data / "annota.duckdb")
    names = ["daisy", "dandelion", "rose", "sunflower", "tulip"]
    mc = projects.create_project(
        store, "Flowers one", TaskType.MULTICLASS, names, instructions="Pick **the flower**.", by=SYSTEM
    )
    ml = projects.create_project(store, "Flowers many", TaskType.MULTILABEL, names, by=SYSTEM)
    bx = projects.create_project(store, "Flower boxes", TaskType.BOXES, ["flower", "leaf"], by=SYSTEM)
    pg = projects.create_project(store, "Flower shapes", TaskType.POLYGONS, ["flower", "leaf"], by=SYSTEM)
    items.add_items(store, mc.id, new_items(daisies[: N_LATENCY + 8]))
    items.add_items(store, ml.id, new_items(roses[:3]))
    items.add_items(store, bx.id, new_items(roses[3:5]))
    items.add_items(store, pg.id, new_items(roses[5:7]))
    many_b = projects.create_project(store, "Many boxes", TaskType.BOXES, ["flower", "leaf"], by=SYSTEM)
    many_p = projects.create_project(store, "Many shapes", TaskType.POLYGONS, ["flower", "leaf"], by=SYSTEM)
    for proj, key in ((many_b, "boxes"), (many_p, "polygons")):
        items.add_items(store, proj.id, new_items(roses[7:8]))
        (iid,) = store.query("SELECT id FROM items WHERE project_id = ?", [proj.id])[0]
        cids = [c.id for c in projects.list_classes(store, proj.id)]
        objs = [
            {"class_id": cids[i % 2], "xywh": [float(i % 20) * 10, float(i // 20) * 10, 8.0, 8.0]}
            if key == "boxes"
            else {
                "class_id": cids[i % 2],
                "points": [
                    [(i % 20) * 10, (i // 20) * 10],
                    [(i % 20) * 10 + 8, (i // 20) * 10],
                    [(i % 20) * 10 + 4, (i // 20) * 10 + 8],
                ],
            }
            for i in range(300)
        ]
        labels.save_label(store, iid, {key: objs}, author="seed", base_version=0, by=SYSTEM)
        store.execute(
            "UPDATE items SET status = 'new' WHERE id = ?", [iid]
        )  # back in the queue, with its label
    store.close()
    app = serve(data)
    return {"url": app.url, "data": data, "projects": (mc, ml, bx, pg), "stop": app.stop}


def snap(page, name: str) -> None:  # type: ignore[no-untyped-def]
    shot(page, f"label-{name}", full_page=False)


def test_label_screen_in_chromium(server, page):  # type: ignore[no-untyped-def]
    sign_in(page, url=server["url"])

    # -- multi-class: a class hotkey labels and moves on; then the latency of submit -> next image
    open_label(page, "Flowers one", "one class per image")
    page.get_by_text("Pick the flower").wait_for()
    first = image_caption(page)
    page.wait_for_function(IMG_READY_JS)
    snap(page, "multiclass")
    unfocus(page)
    press(page, "1")
    page.wait_for_function(
        "(prev) => [...document.querySelectorAll('[data-testid=stCaptionContainer]')]"
        ".some(e => e.innerText.includes('Image') && !e.innerText.includes(prev))",
        arg=first.split("·")[0].strip(),
    )
    page.get_by_text("Saved image").first.wait_for()
    page.wait_for_function(  # the old image's caption is gone too (a rerun keeps stale elements a while)
        "(prev) => { const c = [...document.querySelectorAll('[data-testid=stCaptionContainer]')]"
        ".filter(e => /^Image \\d+ ·/.test(e.innerText)); return c.length === 1 && !c[0].innerText.startsWith(prev + ' ·'); }",
        arg=first.split("·")[0].strip(),
    )
    wait_quiet(page)

    # skip with a reason, then Back brings the skipped image again
    skipped = image_caption(page).split("·")[0].strip()
    reason = page.get_by_role("textbox", name="Skip reason (optional)")
    page.wait_for_function(  # the previous image's controls are gone once the rerun has finished
        "() => document.querySelectorAll('input[aria-label=\"Skip reason (optional)\"]').length === 1"
    )
    reason.fill("blurry")
    unfocus(page)
    press(page, "s")
    page.get_by_text("Skipped image").first.wait_for()
    page.wait_for_function(  # the next image is on screen and the rerun is over: "b" goes to its Back
        "(s) => [...document.querySelectorAll('[data-testid=stCaptionContainer]')]"
        ".some(e => /^Image \\d+ ·/.test(e.innerText) && !e.innerText.startsWith(s + ' ·'))",
        arg=skipped,
    )
    wait_quiet(page)
    snap(page, "after-skip")
    back_shown = (
        "(s) => [...document.querySelectorAll('[data-testid=stCaptionContainer]')]"
        ".some(e => e.innerText.startsWith(s + ' ·'))"
    )
    # Back by its key (B). The key once seemed lost right after a skip; the cause was this test reading a
    # stale caption for the skipped image (fixed above), and B held in 7 of 7 runs, 3 of them under load.
    press(page, "b")
    page.wait_for_function(back_shown, arg=skipped)
    snap(page, "back-to-skipped")
    press(page, "2")  # label the skipped image: it leaves the skipped list
    wait_quiet(page)

    latencies = []
    src_js = (
        "() => { const i = document.querySelector('[data-testid=stImage] img'); return i ? i.src : null; }"
    )
    for _ in range(N_LATENCY):
        page.wait_for_function(f"() => ({src_js})() !== null")
        wait_quiet(page)
        prev = page.evaluate(src_js)
        page.wait_for_timeout(KEY_SETTLE_MS)
        t0 = time.perf_counter()
        page.keyboard.press("3")
        page.wait_for_function(
            "(prev) => { const i = document.querySelector('[data-testid=stImage] img');"
            " return i && i.src !== prev && i.complete && i.naturalWidth > 0; }",
            arg=prev,
        )
        latencies.append((time.perf_counter() - t0) * 1000)
    median = statistics.median(latencies)
    print(
        f"\nsubmit -> next image (multi-class, Chromium): median {median:.0f} ms over {len(latencies)}; "
        f"all: {[round(x) for x in latencies]}"
    )
    PERF.mkdir(parents=True, exist_ok=True)
    (PERF / "label_latency.json").write_text(
        json.dumps(
            {
                "what": "multi-class submit (class hotkey) to next image decoded in Chromium",
                "n": len(latencies),
                "median_ms": round(median, 1),
                "p90_ms": round(sorted(latencies)[int(0.9 * len(latencies)) - 1], 1),
                "all_ms": [round(x, 1) for x in latencies],
            },
            indent=2,
        )
    )
    snap(page, "multiclass-after-latency")

    # -- multi-label: toggles by key, Enter submits
    open_label(page, "Flowers many", "any number of classes")
    image_caption(page)
    unfocus(page)
    press(page, "1")
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=stBaseButton-primary]').length === 2"
    )
    wait_quiet(page)
    press(page, "3")
    # two classes on: two primary toggles besides Submit
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=stBaseButton-primary]').length === 3"
    )
    snap(page, "multilabel-toggled")
    press(page, "Enter")
    page.get_by_text("Saved image").first.wait_for()

    # -- boxes: draw by dragging, then resize with the canvas's edit toggle
    open_label(page, "Flower boxes", "a box around each object")
    canvas = page.locator("canvas.upper-canvas").first
    canvas.wait_for()
    b = None
    for _ in range(60):  # the canvas takes its column's width once that is known: wait until it settles
        wait_quiet(page)
        last, b = b, canvas.bounding_box()
        if b is not None and b == last:
            break
        page.wait_for_timeout(300)
    assert b is not None
    server["box_canvas_w"] = b["width"]  # the canvas fits the column: its scale is read from the screen
    x0, y0 = b["x"] + b["width"] * 0.2, b["y"] + b["height"] * 0.2
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x0 + 80, y0 + 60, steps=8)
    page.mouse.move(x0 + 160, y0 + 120, steps=8)
    page.mouse.up()
    page.get_by_text("Boxes: 1").wait_for()
    wait_quiet(page)
    snap(page, "box-drawn")
    # nothing above the canvas came or went with the run the box made (a "Saved image N." from the project
    # before, expiring then, moved the canvas up under the mouse, and the next click missed the box)
    assert canvas.bounding_box() == b, f"the canvas moved after the first box: {b} -> {canvas.bounding_box()}"
    page.locator('[aria-label="Edit"]').first.click()
    delete_on = page.locator('[aria-label="Delete selected"]:not([disabled])')
    for _ in range(5):  # select the box (a click landing while the canvas settles may be lost)
        wait_quiet(page)
        page.mouse.click(x0 + 80, y0 + 60)
        page.wait_for_timeout(300)
        if delete_on.count():
            break
    assert delete_on.count(), "the box could not be selected"
    page.mouse.move(x0 + 160, y0 + 120)  # its bottom-right corner handle
    page.mouse.down()
    page.mouse.move(x0 + 220, y0 + 180, steps=10)
    page.mouse.up()
    wait_quiet(page)
    time.sleep(0.5)
    wait_quiet(page)
    snap(page, "box-resized")
    unfocus(page)
    press(page, "Enter")
    page.get_by_text("Saved image").first.wait_for()

    # -- polygons: click points, close on the first, drag a vertex
    open_label(page, "Flower shapes", "a polygon around each object")
    svg = page.locator("svg.pe-svg").first
    svg.wait_for()
    wait_quiet(page)
    s = svg.bounding_box()
    pts = [(0.3, 0.3), (0.6, 0.3), (0.6, 0.6), (0.3, 0.6)]
    for fx, fy in pts:
        page.mouse.click(s["x"] + s["width"] * fx, s["y"] + s["height"] * fy)
    page.mouse.click(s["x"] + s["width"] * 0.3, s["y"] + s["height"] * 0.3)  # close
    page.get_by_text("Polygons: 1").wait_for()
    wait_quiet(page)
    snap(page, "polygon-drawn")
    vx, vy = s["x"] + s["width"] * 0.6, s["y"] + s["height"] * 0.6
    page.mouse.move(vx, vy)
    page.mouse.down()
    page.mouse.move(vx + 60, vy + 40, steps=10)
    page.mouse.up()
    wait_quiet(page)
    time.sleep(0.5)
    wait_quiet(page)
    snap(page, "polygon-vertex-moved")
    unfocus(page)
    press(page, "Enter")
    page.get_by_text("Saved image").first.wait_for()
    snap(page, "polygon-next")

    # -- 300 objects on one image stay usable
    for name, words, selector in (
        ("Many boxes", "a box around each object", "canvas.upper-canvas"),
        ("Many shapes", "a polygon around each object", "svg.pe-svg"),
    ):
        t0 = time.perf_counter()
        open_label(page, name, words)
        page.locator(selector).first.wait_for()
        page.get_by_text(": 300").first.wait_for()
        print(f"{name}: screen with 300 objects ready in {(time.perf_counter() - t0) * 1000:.0f} ms")
        snap(page, name.lower().replace(" ", "-"))
    assert page.locator("polygon.pe-poly").count() == 300

    server["stop"]()
    check_saved(server)


def check_saved(server) -> None:
    """After the server stops, read what it saved (DuckDB lets one process open the file)."""
    mc, ml, bx, pg = server["projects"]
    store = None
    for _ in range(30):  # stop() waited for the process; give the file lock a moment all the same
        try:
            store = Store(server["data"] / "annota.duckdb", read_only=True)
            break
        except Exception:
            time.sleep(0.5)
    if store is None:
        pytest.fail("the store stayed locked after the server stopped")
    try:
        classes = {p.id: {c.name: c.id for c in projects.list_classes(store, p.id)} for p in (mc, ml, bx, pg)}
        ann = {
            p.id: [
                labels.current_annotation(store, r[0])
                for r in store.query(
                    "SELECT id FROM items WHERE project_id = ? AND annotation_id IS NOT NULL ORDER BY labeled_at",
                    [p.id],
                )
            ]
            for p in (mc, ml, bx, pg)
        }
        assert ann[mc.id][0].payload == {"class_id": classes[mc.id]["daisy"]}
        assert len(ann[mc.id]) == 2 + N_LATENCY
        assert sum(1 for a in ann[mc.id] if a.payload == {"class_id": classes[mc.id]["dandelion"]}) == 1
        assert ann[ml.id][0].payload == {
            "class_ids": sorted([classes[ml.id]["daisy"], classes[ml.id]["rose"]])
        }
        (box,) = ann[bx.id][0].payload["boxes"]
        (poly,) = ann[pg.id][0].payload["polygons"]
        print("saved box", box, "saved polygon", poly)
        item = items.get_item(store, ann[bx.id][0].item_id)
        scale = server["box_canvas_w"] / item.width  # the canvas at zoom 1, as drawn
        assert box["xywh"][2] * scale == pytest.approx(220, abs=12)  # drawn 160 px wide, resized to 220
        assert box["xywh"][3] * scale == pytest.approx(180, abs=12)
        assert len(poly["points"]) == 4
        x1, x2 = poly["points"][1][0], poly["points"][2][0]
        assert x2 > x1 + 10  # the third vertex was dragged right (it was drawn straight below the second)
        skips = labels.skipped_items(store, mc.id)
        assert skips == []  # the skipped image was labeled after coming back
    finally:
        store.close()
