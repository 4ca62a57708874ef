"""Review: empty states, the grid with labels drawn on, filters, paging, hand-over; the overlay drawing."""

from __future__ import annotations

from PIL import Image

from core.domain import TaskType
from core.permissions import SYSTEM
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
        by=SYSTEM,
    )
    save_label(
        runtime.store,
        2,
        {"boxes": [{"class_id": dog.id, "xywh": [10, 5, 30, 30]}]},
        author="lena",
        base_version=0,
        by=SYSTEM,
    )
    skip_item(runtime.store, 3, author="lena", reason="blurry", by=SYSTEM)
    at = page(PAGE, admin, p.id).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert len(at.image) == 4
    at.selectbox(key=f"review_status_{p.id}").select("labeled").run()
    assert len(at.image) == 2
    at.selectbox(key=f"review_class_{p.id}").select(dog.id).run()
    assert len(at.image) == 1 and "lena" in texts(at)
    assert "1 box: 1 × dog" in texts(at)  # the card says what the label is
    at.selectbox(key=f"review_labeler_{p.id}").select("admin").run()
    assert "No image matches" in texts(at)
    at.selectbox(key=f"review_labeler_{p.id}").set_value(None).run()
    at.button(key="open_2").click().run()  # the detail view
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "Image 1 of 1" in texts(at)
    at.button(key=f"review_correct_{p.id}").click().run()  # the hand-over to the label page
    assert at.session_state["label_item_id"] == 2
    assert at.session_state["review_return_project"] == p.id


def test_paging(runtime, admin, tmp_path):
    p, _ = _setup(runtime, tmp_path, "multiclass", n=30)
    at = page(PAGE, admin, p.id).run()
    assert len(at.image) == 24 and "Page 1 of 2" in texts(at)
    at.button(key=f"review_page_{p.id}_next").click().run()
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


# -- filters kept, Previous / Next through the filtered list (issue 9) ------------------------------------


def _labeled_grid(runtime, tmp_path, n=6):  # type: ignore[no-untyped-def]
    """A multi-class project of ``n`` images, each labeled (cat, dog, cat, ...), newest label last."""
    p, (cat, dog) = _setup(runtime, tmp_path, "multiclass", n=n)
    for i in range(1, n + 1):
        save_label(
            runtime.store,
            i,
            {"class_id": (cat if i % 2 else dog).id},
            author="admin",
            base_version=0,
            by=SYSTEM,
        )
    return p, cat, dog


def _shown_id(at) -> int:  # type: ignore[no-untyped-def]
    line = next(t.value for t in at.text if t.value.startswith("Image "))
    return int(line.split()[1])


def test_previous_and_next_step_through_the_filtered_list(runtime, admin, tmp_path):
    p, cat, _ = _labeled_grid(runtime, tmp_path)
    at = page(PAGE, admin, p.id).run()
    at.selectbox(key=f"review_class_{p.id}").select(cat.id).run()
    assert len(at.image) == 3  # cats: images 5, 3, 1 (newest label first)
    at.button(key="open_5").click().run()
    assert _shown_id(at) == 5 and "Image 1 of 3" in texts(at)
    assert at.button(key=f"review_prev_{p.id}").disabled
    seen = [5]
    while not at.button(key=f"review_next_{p.id}").disabled:
        at.button(key=f"review_next_{p.id}").click().run()
        assert not at.exception and not at.error
        seen.append(_shown_id(at))
    assert seen == [5, 3, 1] and "Image 3 of 3" in texts(at)  # only the filtered images, in grid order
    at.button(key=f"review_prev_{p.id}").click().run()
    assert _shown_id(at) == 3
    at.button(key=f"review_grid_{p.id}").click().run()
    assert len(at.image) == 3  # the grid, still filtered
    assert at.selectbox(key=f"review_class_{p.id}").value == cat.id


def test_filters_and_the_open_image_are_kept_over_a_correction_on_the_label_page(runtime, admin, tmp_path):
    """Filter, open an image, correct it on the label page (another page: Streamlit drops this page's
    widget state), come back: the filters and the image are there, and Next goes on from its place."""
    p, cat, dog = _labeled_grid(runtime, tmp_path)
    at = page(PAGE, admin, p.id).run()
    at.selectbox(key=f"review_status_{p.id}").select("labeled").run()
    at.selectbox(key=f"review_class_{p.id}").select(cat.id).run()
    at.button(key="open_3").click().run()
    at.button(key=f"review_correct_{p.id}").click().run()
    assert at.session_state["label_item_id"] == 3
    # the label page saves the correction; this page's widget state is gone when the person comes back
    save_label(runtime.store, 3, {"class_id": dog.id}, author="admin", base_version=1, by=SYSTEM)
    back = page(PAGE, admin, p.id)
    for key in (f"review_filters_{p.id}", f"review_open_{p.id}"):
        back.session_state[key] = at.session_state[key]
    back.run()
    assert not back.exception and not back.error, [e.value for e in back.error]
    assert back.selectbox(key=f"review_status_{p.id}").value == "labeled"
    assert back.selectbox(key=f"review_class_{p.id}").value == cat.id
    assert _shown_id(back) == 3 and "no longer matches the filters" in texts(back)
    back.button(key=f"review_next_{p.id}").click().run()
    assert _shown_id(back) == 1  # the cat after image 3, not the top of the list
    back.button(key=f"review_grid_{p.id}").click().run()
    assert len(back.image) == 2  # cats 5 and 1: image 3 is a dog now


def test_review_state_belongs_to_the_shown_project(runtime, admin, tmp_path):
    p, cat, _ = _labeled_grid(runtime, tmp_path)
    other = make_project(runtime, "multiclass", "Other")
    at = page(PAGE, admin, p.id).run()
    at.selectbox(key=f"review_class_{p.id}").select(cat.id).run()
    at.button(key="open_5").click().run()
    at.session_state["project_id"] = other.id
    at.run()
    assert not at.exception and not at.error
    assert "No images yet" in texts(at)  # B's empty grid: neither A's filters nor A's open image
    assert at.selectbox(key=f"review_class_{other.id}").value is None


def test_the_label_page_offers_the_way_back_to_review(runtime, admin, tmp_path):
    p, _, _ = _labeled_grid(runtime, tmp_path, n=2)
    at = page("pages/label.py", admin, p.id, label_item_id=1).run()
    assert not at.exception
    assert "Back to review" not in texts(at)  # not sent from Review
    at = page("pages/label.py", admin, p.id, label_item_id=1, review_return_project=p.id).run()
    assert not at.exception
    assert "Back to review" in texts(at)
