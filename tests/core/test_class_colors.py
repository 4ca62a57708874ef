"""Automatic class colours: distinct from every colour the project's classes have, until the palette runs out."""

from __future__ import annotations

from core import domain
from core.domain import PALETTE
from core.permissions import SYSTEM
from core.store import projects
from core.store.projects import ClassSpec


def test_free_colors_skip_taken_ones_and_repeat_only_past_the_palette():
    assert domain.free_colors([PALETTE[0].upper(), PALETTE[2]], 2) == [PALETTE[1], PALETTE[3]]
    every = domain.free_colors([], len(PALETTE) + 2)
    assert len(set(every[: len(PALETTE)])) == len(PALETTE)
    assert every[len(PALETTE) :] == PALETTE[:2]


def test_created_classes_never_share_an_automatic_colour(store):
    # the editor's first row kept the palette's 2nd colour; the new rows have no colour
    p = projects.create_project(
        store, "P", "multiclass", [ClassSpec("a", PALETTE[1]), ClassSpec("b"), ClassSpec("c")], by=SYSTEM
    )
    colors = [c.color for c in projects.list_classes(store, p.id)]
    assert colors[0] == PALETTE[1] and len(set(colors)) == 3


def test_added_class_after_a_delete_gets_a_colour_no_class_has(store):
    p = projects.create_project(store, "P", "multiclass", ["a", "b", "c"], by=SYSTEM)
    a, b, c = projects.list_classes(store, p.id)
    projects.delete_class(store, a.id, by=SYSTEM)
    new = projects.add_class(store, p.id, "d", by=SYSTEM)  # was PALETTE[2 % 16], the colour c already had
    assert new.color not in {b.color, c.color}
    assert len({k.color for k in projects.list_classes(store, p.id)}) == 3


def test_colours_repeat_only_once_the_palette_is_used_up(store):
    names = [f"k{i}" for i in range(len(PALETTE) + 1)]
    p = projects.create_project(store, "P", "multilabel", names, by=SYSTEM)
    colors = [c.color for c in projects.list_classes(store, p.id)]
    assert len(set(colors[: len(PALETTE)])) == len(PALETTE)
