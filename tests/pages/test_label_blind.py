"""Blind items on the label page (AppTest, real store): a gold image shows neither its label nor a
proposal and its answer is scored without touching the label; a consensus image skipped by one labeler
stays open for the others."""

from __future__ import annotations

import hashlib
from pathlib import Path

from PIL import Image

from core import auth
from core.domain import Role
from core.permissions import SYSTEM, ProjectRole
from core.quality import consensus
from core.store import items, labels, projects
from core.store.items import NewItem
from tests.pages.helpers import make_project, page, texts

PAGE = "pages/label.py"


def _items(runtime, pid: int, folder: Path, n: int) -> list[int]:  # type: ignore[no-untyped-def]
    folder.mkdir(parents=True, exist_ok=True)
    new = []
    for i in range(n):
        p = folder / f"img{i}.png"
        Image.new("RGB", (64, 48), (40 * i, 90, 160)).save(p)
        new.append(NewItem(str(p), 64, 48, hashlib.sha1(p.read_bytes()).hexdigest()))
    items.add_items(runtime.store, pid, new)
    return [r[0] for r in runtime.store.query("SELECT id FROM items WHERE project_id = ? ORDER BY id", [pid])]


def _member(runtime, pid: int, name: str):  # type: ignore[no-untyped-def]
    u = auth.create_user(runtime.store, name, "secret-123", Role.LABELER, name.title(), by=SYSTEM)
    projects.add_member(runtime.store, pid, u.id, role=ProjectRole.LABELER, by=SYSTEM)
    return u


def _act(at, base: str):  # type: ignore[no-untyped-def]
    found = [b for b in at.button if b.key and b.key.split("__")[0] == base]
    assert len(found) == 1, (base, [b.key for b in at.button])
    return found[0]


def test_a_gold_image_is_answered_blind_and_scored(runtime, tmp_path):
    s = runtime.store
    p = make_project(runtime, "multiclass", settings={"gold_share": 1.0})
    cat, dog = projects.list_classes(s, p.id)
    ids = _items(runtime, p.id, tmp_path / "imgs", 3)
    rev, ann = _member(runtime, p.id, "rev"), _member(runtime, p.id, "ann")
    labels.save_label(s, ids[0], {"class_id": cat.id}, by=rev, base_version=0)
    s.execute("UPDATE items SET gold = true, review_state = 'approved' WHERE id = ?", [ids[0]])

    at = page(PAGE, ann, p.id).run()
    assert not at.exception, at.exception
    assert at.session_state["label_item_id"] == ids[0]  # gold_share 1: every turn is gold
    facts = [c.value for c in at.caption if str(c.value).startswith("Image **")]
    assert facts == [f"Image **{ids[0]}** · new"]  # no "version 1 by rev": the gold label is not shown
    cls_buttons = [b for b in at.button if b.key and b.key.startswith("label_cls_")]
    assert len(cls_buttons) == 2 and all(b.proto.type == "secondary" for b in cls_buttons)  # nothing chosen
    _act(at, f"label_cls_{dog.id}").click().run()
    assert not at.exception, at.exception
    answers = consensus.answers_of(s, ids[0])
    assert [(a.author, a.kind, a.payload, a.score) for a in answers] == [
        ("ann", "gold", {"class_id": dog.id}, 0.0)
    ]
    label = labels.current_annotation(s, ids[0])
    assert label is not None and label.author == "rev" and label.payload == {"class_id": cat.id}  # untouched
    assert at.session_state["label_item_id"] in ids[1:]  # the next image, never the gold one again


def test_a_skipped_consensus_image_stays_open_for_the_others(runtime, tmp_path):
    s = runtime.store
    p = make_project(
        runtime, "multiclass", settings={"consensus_share": 1.0, "consensus_k": 2, "gold_share": 0}
    )
    ids = _items(runtime, p.id, tmp_path / "imgs", 1)
    ann, bob = _member(runtime, p.id, "ann"), _member(runtime, p.id, "bob")
    at = page(PAGE, ann, p.id).run()
    assert at.session_state["label_item_id"] == ids[0]
    _act(at, "label_skip").click().run()
    assert not at.exception, at.exception
    assert s.scalar("SELECT status FROM items WHERE id = ?", [ids[0]]) == "new"  # not skipped for everyone
    assert "All done for now" in texts(at)  # Ann is not handed it again
    at_bob = page(PAGE, bob, p.id).run()
    assert at_bob.session_state["label_item_id"] == ids[0]
