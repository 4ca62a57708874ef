"""What the labeling screen shows is what it saves, in real Chromium against ``streamlit run app.py``.

* A landscape (650x417) and a portrait (417x650) photo are fully visible at zoom 1 in all four task types
  (the picture inside its column, its aspect ratio kept).
* A box drawn at three window widths is saved where it was drawn, in image pixels.
* A box deleted on the canvas (its toolbar's delete, or the Delete key) leaves the object list, is not
  saved and not exported.

The photos are made with Pillow in the test's folder. Screenshots go to artifacts/screens/canvas-*.png.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import expect

from core.domain import TaskType
from core.formats import export
from core.permissions import SYSTEM
from core.store import Store, items, labels, projects
from tests.e2e.helpers import main, new_items, open_label, press, shot, sign_in, unfocus, wait_quiet

pytestmark = pytest.mark.e2e

SIZES = {"landscape": (650, 417), "portrait": (417, 650)}
TASKS = {
    "Fit one": (TaskType.MULTICLASS, "one class per image"),
    "Fit many": (TaskType.MULTILABEL, "any number of classes"),
    "Fit boxes": (TaskType.BOXES, "a box around each object"),
    "Fit shapes": (TaskType.POLYGONS, "a polygon around each object"),
}
WIDTHS = (1500, 1150, 860)  # px: the window widths a box is drawn at
DRAG = ((0.25, 0.25), (0.75, 0.6))  # the box drawn, as fractions of the canvas


@pytest.fixture
def viewport() -> dict[str, int]:
    return {"width": 1280, "height": 900}


@pytest.fixture
def page_timeout_ms() -> int:
    return 60_000  # waits on conditions: generous, since CI may run on a busy machine


def photo(folder: Path, name: str, size: tuple[int, int], color: str) -> Path:
    """A photo with a frame at its very edges (a cut-off side would be seen on the screenshots)."""
    folder.mkdir(parents=True, exist_ok=True)
    im = Image.new("RGB", size, color)
    d = ImageDraw.Draw(im)
    d.rectangle([0, 0, size[0] - 1, size[1] - 1], outline="#ff00ff", width=6)
    d.line([0, 0, size[0], size[1]], fill="#ffffff", width=3)
    path = folder / f"{name}.jpg"
    im.save(path, quality=90)
    return path


@pytest.fixture
def server(serve, tmp_path: Path):  # type: ignore[no-untyped-def]
    pics = tmp_path / "pics"
    data = tmp_path / "data"
    data.mkdir()
    store = Store(data / "annota.duckdb")
    made = {}
    for name, (task, _) in TASKS.items():
        p = projects.create_project(store, name, task, ["flower", "leaf"], by=SYSTEM)
        files = [photo(pics / name, kind, size, "#3a6") for kind, size in SIZES.items()]
        items.add_items(store, p.id, new_items(files))
        made[name] = p
    sizes = projects.create_project(store, "Box sizes", TaskType.BOXES, ["flower", "leaf"], by=SYSTEM)
    items.add_items(
        store,
        sizes.id,
        new_items(
            [
                photo(pics / "sizes", f"s{k}", SIZES["landscape"], c)
                for k, c in enumerate(["#357", "#753", "#537"])
            ]
        ),
    )
    gone = projects.create_project(store, "Box gone", TaskType.BOXES, ["flower", "leaf"], by=SYSTEM)
    items.add_items(store, gone.id, new_items([photo(pics / "gone", "g", SIZES["landscape"], "#555")]))
    dims = {int(r[0]): (int(r[1]), int(r[2])) for r in store.query("SELECT id, width, height FROM items")}
    store.close()
    app = serve(data)
    return {"url": app.url, "data": data, "dims": dims, "sizes": sizes, "gone": gone, "stop": app.stop}


def open_store(data: Path) -> Store:
    for _ in range(40):  # the server has stopped; give the file lock a moment
        try:
            return Store(data / "annota.duckdb", read_only=True)
        except Exception:
            time.sleep(0.5)
    pytest.fail("the store stayed locked after the server stopped")


def shown_id(page) -> int:  # type: ignore[no-untyped-def]
    """The item id of the image block on screen (``label_shown_<id>``), once only one is there."""
    page.wait_for_function("() => document.querySelectorAll('[class*=\"st-key-label_shown_\"]').length === 1")
    cls = page.locator("[class*='st-key-label_shown_']").first.get_attribute("class") or ""
    return int(next(c for c in cls.split() if c.startswith("st-key-label_shown_")).rsplit("_", 1)[1])


def picture(page, task: TaskType):  # type: ignore[no-untyped-def]
    block = page.locator("[class*='st-key-label_shown_']").first
    if task is TaskType.BOXES:
        return block.locator("canvas.upper-canvas").first
    if task is TaskType.POLYGONS:
        return block.locator("svg.pe-svg").first
    return block.locator("[data-testid=stImage] img").first


def canvas_settled(page, task: TaskType) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """The picture's box once it stopped changing (the canvas is resized after the column's width comes)."""
    pic = picture(page, task)
    pic.wait_for()
    last = None
    for _ in range(60):
        wait_quiet(page)
        box = pic.bounding_box()
        if box is not None and box == last:
            return box
        last = box
        page.wait_for_timeout(300)
    pytest.fail(f"the picture never settled: {last}")


def select_on_canvas(page, b: dict[str, float], fx: float, fy: float) -> None:  # type: ignore[no-untyped-def]
    """Turn on the canvas's edit mode and select the box under (fx, fy). A rerun may redraw the toolbar in
    drawing mode between the toggle and the click (seen on a loaded machine), so both are checked by what
    the toolbar shows (Edit pressed, Delete selected enabled) and retried."""
    edit = page.locator('[aria-label="Edit"]').first
    delete = page.locator('[aria-label="Delete selected"]').first
    for _ in range(5):
        wait_quiet(page)
        if edit.get_attribute("aria-pressed") != "true":
            edit.click()
        page.mouse.click(b["x"] + b["width"] * fx, b["y"] + b["height"] * fy)
        try:
            expect(delete).to_be_enabled(timeout=3000)
            return
        except AssertionError:  # not selected: the toolbar was redrawn meanwhile; try again
            continue
    pytest.fail("no box could be selected on the canvas in five tries")


def test_landscape_and_portrait_photos_fit_at_1x_in_every_task(server, page):  # type: ignore[no-untyped-def]
    sign_in(page, url=server["url"])
    for name, (task, words) in TASKS.items():
        open_label(page, name, words)
        for k in range(len(SIZES)):
            iid = shown_id(page)
            box = canvas_settled(page, task)
            column = page.locator("[class*='st-key-label_shown_']").first.bounding_box()
            main_box = main(page).bounding_box()
            slug = f"canvas-fit-{task.value}-{k}"
            shot(page, slug, full_page=False)
            # inside its column and the window, horizontally: nothing cut off at the right
            assert (
                box["x"] >= column["x"] - 1 and box["x"] + box["width"] <= column["x"] + column["width"] + 1
            ), (
                slug,
                box,
                column,
            )
            assert box["x"] + box["width"] <= min(main_box["x"] + main_box["width"], 1280), (slug, box)
            if task is not TaskType.POLYGONS:  # the SVG editor letterboxes the photo in its own box
                w, h = server["dims"][iid]
                assert box["width"] / box["height"] == pytest.approx(w / h, rel=0.03), (slug, box)
            else:
                fit = page.evaluate(
                    """() => { const svg = document.querySelector('[class*=st-key-label_shown_] svg.pe-svg')
                       || [...document.querySelectorAll('*')].map(e => e.shadowRoot && e.shadowRoot.querySelector('svg.pe-svg')).find(Boolean);
                       const img = svg.querySelector('image'); const r = img.getBoundingClientRect();
                       const s = svg.getBoundingClientRect();
                       return {l: r.left - s.left, r: s.right - r.right, t: r.top - s.top, b: s.bottom - r.bottom}; }"""
                )
                assert min(fit.values()) >= -1, (slug, fit)  # the whole photo inside the editor's box
            if k + 1 < len(SIZES):
                unfocus(page)
                press(page, "n")
                page.wait_for_function(
                    "(id) => !document.querySelector('.st-key-label_shown_' + id)", arg=iid
                )


def drag_box(page, canvas, frac=DRAG) -> None:  # type: ignore[no-untyped-def]
    b = canvas.bounding_box()
    (fx0, fy0), (fx1, fy1) = frac
    x0, y0 = b["x"] + b["width"] * fx0, b["y"] + b["height"] * fy0
    x1, y1 = b["x"] + b["width"] * fx1, b["y"] + b["height"] * fy1
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=6)
    page.mouse.move(x1, y1, steps=6)
    page.mouse.up()


def test_boxes_are_saved_where_drawn_at_three_sizes_and_deleted_ones_are_not(server, page, tmp_path):  # type: ignore[no-untyped-def]
    sign_in(page, url=server["url"])
    drawn_at = {}
    open_label(page, "Box sizes", "a box around each object")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        iid = shown_id(page)
        box = canvas_settled(page, TaskType.BOXES)
        drawn_at[iid] = (width, box["width"])
        drag_box(page, picture(page, TaskType.BOXES))
        main(page).get_by_text("Boxes: 1").wait_for()
        shot(page, f"canvas-size-{width}", full_page=False)
        unfocus(page)
        press(page, "Enter")
        page.wait_for_function("(id) => !document.querySelector('.st-key-label_shown_' + id)", arg=iid)
    print(f"\ncanvas width per window width: {drawn_at}")
    assert len({w for _, w in drawn_at.values()}) >= 2, "the canvas did not follow the column's width"

    # deleted on the canvas: by the Delete key, then by the toolbar's delete
    page.set_viewport_size({"width": 1280, "height": 900})
    open_label(page, "Box gone", "a box around each object")
    canvas = picture(page, TaskType.BOXES)
    canvas_settled(page, TaskType.BOXES)
    drag_box(page, canvas)
    main(page).get_by_text("Boxes: 1").wait_for()
    wait_quiet(page)
    b = canvas.bounding_box()
    select_on_canvas(page, b, 0.5, 0.42)
    page.keyboard.press("Delete")
    main(page).get_by_text("Boxes: 0").wait_for()
    shot(page, "canvas-deleted-by-key", full_page=False)
    # a second box on the same image, selected and deleted with the canvas toolbar's delete
    edit = page.locator('[aria-label="Edit"]').first
    if edit.get_attribute("aria-pressed") == "true":
        edit.click()  # back to drawing
    drag_box(page, canvas, ((0.15, 0.2), (0.5, 0.7)))
    main(page).get_by_text("Boxes: 1").wait_for()
    wait_quiet(page)
    select_on_canvas(page, canvas.bounding_box(), 0.3, 0.45)
    page.locator('[aria-label="Delete selected"]').first.click()
    main(page).get_by_text("Boxes: 0").wait_for()
    shot(page, "canvas-deleted-by-toolbar", full_page=False)
    unfocus(page)
    press(page, "Enter")
    main(page).get_by_text("Saved image").first.wait_for()
    server["stop"]()

    store = open_store(server["data"])
    try:
        for iid in drawn_at:
            it = items.get_item(store, iid)
            (saved,) = labels.current_annotation(store, iid).payload["boxes"]
            (fx0, fy0), (fx1, fy1) = DRAG
            want = [fx0 * it.width, fy0 * it.height, (fx1 - fx0) * it.width, (fy1 - fy0) * it.height]
            for got, exp in zip(saved["xywh"], want, strict=True):
                assert got == pytest.approx(exp, abs=0.03 * it.width), (drawn_at[iid], saved, want)
        (gone_id,) = store.query("SELECT id FROM items WHERE project_id = ?", [server["gone"].id])[0]
        assert labels.current_annotation(store, gone_id).payload == {"boxes": []}
        result = export.export_project(
            store, server["gone"].id, "coco", out_path=tmp_path / "gone.json", by=SYSTEM
        )
        coco = json.loads(Path(result.path).read_text())
        assert len(coco["images"]) == 1 and coco["annotations"] == []
    finally:
        store.close()


def test_a_polygon_deleted_by_its_key_is_not_saved(server, page):  # type: ignore[no-untyped-def]
    sign_in(page, url=server["url"])
    open_label(page, "Fit shapes", "a polygon around each object")
    iid = shown_id(page)
    svg = picture(page, TaskType.POLYGONS)
    s = canvas_settled(page, TaskType.POLYGONS)
    corners = [(0.3, 0.3), (0.6, 0.3), (0.6, 0.6), (0.3, 0.6), (0.3, 0.3)]  # the last click closes it
    for fx, fy in corners:
        page.mouse.click(s["x"] + s["width"] * fx, s["y"] + s["height"] * fy)
    main(page).get_by_text("Polygons: 1").wait_for()
    wait_quiet(page)
    page.locator("div.pe-bar button", has_text="Edit").first.click()
    page.mouse.click(s["x"] + s["width"] * 0.45, s["y"] + s["height"] * 0.45)  # select it
    page.keyboard.press("Delete")
    main(page).get_by_text("Polygons: 0").wait_for()
    assert svg.locator("polygon.pe-poly").count() == 0
    shot(page, "canvas-polygon-deleted-by-key", full_page=False)
    unfocus(page)
    press(page, "Enter")
    page.wait_for_function("(id) => !document.querySelector('.st-key-label_shown_' + id)", arg=iid)
    server["stop"]()
    store = open_store(server["data"])
    try:
        assert labels.current_annotation(store, iid).payload == {"polygons": []}
    finally:
        store.close()


def test_a_box_drawn_just_before_the_window_narrows_is_saved_where_drawn_or_not_at_all(server, page):  # type: ignore[no-untyped-def]
    """The window narrows right after a box is drawn (before the canvas sent it): the canvas takes the new
    width. The box is then either saved where it was drawn on the image or gone from both the canvas and
    the object list; never saved at the other width's scale (seen once in five runs on a loaded machine)."""
    sign_in(page, url=server["url"])
    page.set_viewport_size({"width": 1500, "height": 900})
    open_label(page, "Box sizes", "a box around each object")
    outcome = {}
    for narrow in (1150, 860):
        iid = shown_id(page)
        canvas_settled(page, TaskType.BOXES)
        drag_box(page, picture(page, TaskType.BOXES))
        page.set_viewport_size({"width": narrow, "height": 900})  # at once: the drawing is not sent yet
        canvas_settled(page, TaskType.BOXES)
        time.sleep(0.5)
        wait_quiet(page)
        listed = int(main(page).get_by_text(re.compile(r"^Boxes: \d+$")).first.inner_text().split()[-1])
        outcome[iid] = listed
        shot(page, f"canvas-narrowed-{narrow}", full_page=False)
        unfocus(page)
        press(page, "Enter")
        page.wait_for_function("(id) => !document.querySelector('.st-key-label_shown_' + id)", arg=iid)
        page.set_viewport_size({"width": 1500, "height": 900})
    print(f"\nboxes listed after narrowing, per image: {outcome}")
    server["stop"]()
    store = open_store(server["data"])
    try:
        for iid, listed in outcome.items():
            it = items.get_item(store, iid)
            saved = labels.current_annotation(store, iid).payload["boxes"]
            assert len(saved) == listed  # what the list said is what was saved
            (fx0, fy0), (fx1, fy1) = DRAG
            want = [fx0 * it.width, fy0 * it.height, (fx1 - fx0) * it.width, (fy1 - fy0) * it.height]
            for box in saved:
                for got, exp in zip(box["xywh"], want, strict=True):
                    assert got == pytest.approx(exp, abs=0.03 * it.width), (iid, box, want)
    finally:
        store.close()
