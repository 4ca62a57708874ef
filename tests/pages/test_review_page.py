"""Review: empty states, the grid with labels drawn on, filters, paging, hand-over; the overlay drawing."""

from __future__ import annotations

from PIL import Image

from core.domain import TaskType
from core.store import projects
from core.store.items import NewItem, add_items
from core.store.labels import save_label, skip_item
from tests.pages.helpers import make_project, page, texts, write_pngs
from ui.thumbs import draw_labels

PAGE = "pages/review.py"


def _setup(runtime, tmp_path, task="boxes", n=4):
    p = make_project(runtime, task)
    files = write_pngs(tmp_path / "imgs", n, size=(64, 48))
    add_items(runtime.store, p.id, [NewItem(str(f), 64, 48, f"sha{i}") for i, f in enumerate(files)])
    return p, projects.list_classes(runtime.store, p.id)


def test_empty_project(runtime, admin, project):
    at = page(PAGE, admin, project.id).run()
    assert not at.exception and not at.error
    assert "No images yet" in texts(at)


def test_grid_filters_and_hand_over(runtime, admin, labeler, tmp_path):
    p, (cat, dog) = _setup(runtime, tmp_path)
    save_label(
        runtime.store,
        1,
        {"boxes": [{"class_id": cat.id, "xywh": [4, 4, 20, 20]}]},
        author="admin",
        base_version=0,
    )
    save_label(
        runtime.store,
        2,
        {"boxes": [{"class_id": dog.id, "xywh": [10, 5, 30, 30]}]},
        author="lena",
        base_version=0,
    )
    skip_item(runtime.store, 3, author="lena", reason="blurry")
    at = page(PAGE, admin, p.id).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert len(at.image) == 4
    at.selectbox(key="review_status").select("labeled").run()
    assert len(at.image) == 2
    at.selectbox(key="review_class").select(dog.id).run()
    assert len(at.image) == 1 and "lena" in texts(at)
    assert "1 box: 1 × dog" in texts(at)  # the card says what the label is
    at.selectbox(key="review_labeler").select("admin").run()
    assert "No image matches" in texts(at)
    at.selectbox(key="review_labeler").set_value(None).run()
    at.button(key="open_2").click().run()
    assert at.session_state["label_item_id"] == 2


def test_paging(runtime, admin, tmp_path):
    p, _ = _setup(runtime, tmp_path, "multiclass", n=30)
    at = page(PAGE, admin, p.id).run()
    assert len(at.image) == 24 and "Page 1 of 2" in texts(at)
    at.button(key="review_page_next").click().run()
    assert len(at.image) == 6


def test_boxes_and_polygons_are_drawn_in_class_colours():
    img = Image.new("RGB", (100, 100), "white")
    look = ((1, "cat", "#ff0000"), (2, "dog", "#0000ff"))
    boxed = draw_labels(
        img, TaskType.BOXES, {"boxes": [{"class_id": 1, "xywh": [100, 100, 80, 80]}]}, 0.5, look
    )
    assert boxed.getpixel((50, 70)) == (255, 0, 0)  # left edge of the box at x = 100 * 0.5
    assert boxed.getpixel((5, 95)) == (255, 255, 255)  # outside stays untouched
    poly = {"polygons": [{"class_id": 2, "points": [[20, 20], [180, 20], [180, 180], [20, 180]]}]}
    shaded = draw_labels(img, TaskType.POLYGONS, poly, 0.5, look)
    r, g, b = shaded.getpixel((50, 60))
    assert b > r and b > g  # filled with a blue tint
    tagged = draw_labels(img, TaskType.MULTICLASS, {"class_id": 2}, 1.0, look)
    assert tagged.getpixel((5, 5)) == (0, 0, 255)  # the name tag in the class colour
    assert draw_labels(img, TaskType.BOXES, None, 1.0, look).getpixel((50, 50)) == (255, 255, 255)


def test_long_file_names_stay_on_one_line_with_an_ellipsis(runtime, admin, tmp_path):
    p = make_project(runtime, "multiclass")
    long = "a-very-long-file-name-from-a-camera-roll-2025-06-01-123456789.png"
    (f,) = write_pngs(tmp_path / "imgs", 1, size=(64, 48))
    f = f.rename(f.with_name(long))
    add_items(runtime.store, p.id, [NewItem(str(f), 64, 48, "sha-long")])
    at = page(PAGE, admin, p.id).run()
    assert not at.exception and not at.error
    (name,) = [m.value for m in at.markdown if long in m.value]
    assert (
        "white-space:nowrap" in name and "text-overflow:ellipsis" in name
    )  # cut by the browser, not mid-word
