"""Saving many labels at once (imports): save_label's rules in one transaction."""

from __future__ import annotations

from core.domain import Source, TaskType
from core.permissions import SYSTEM
from core.store.items import NewItem, add_items
from core.store.label_batch import LabelWrite, save_labels
from core.store.labels import current_annotation, history, save_label
from core.store.projects import create_project, list_classes


def _project(store, n=4):
    p = create_project(store, "Batch", TaskType.BOXES, ["cat", "dog"], by=SYSTEM)
    add_items(store, p.id, [NewItem(f"/x/{k}.jpg", 100, 80, f"h{k}") for k in range(n)])
    ids = [r[0] for r in store.query("SELECT id FROM items WHERE project_id = ? ORDER BY id", [p.id])]
    return p, [c.id for c in list_classes(store, p.id)], ids


def test_saves_new_versions_with_source_and_origin_refuses_bad_and_leaves_stale(store) -> None:
    p, (cat, dog), ids = _project(store)
    save_label(
        store,
        ids[2],
        {"boxes": [{"class_id": dog, "xywh": [1, 1, 5, 5]}]},
        author="ann",
        base_version=0,
        by=SYSTEM,
    )
    writes = [
        LabelWrite(
            ids[0], {"boxes": [{"class_id": cat, "xywh": [10, 10, 20, 20], "score": 0.5}]}, 0, "a.json"
        ),
        LabelWrite(ids[1], {"boxes": [{"class_id": cat, "xywh": [90, 10, 20, 20]}]}, 0, "a.json"),  # outside
        LabelWrite(ids[2], {"boxes": []}, 0, "a.json"),  # stale: ann saved version 1
        LabelWrite(ids[3], {"boxes": [{"class_id": dog, "xywh": [0, 0, 100, 80]}]}, 0, "b.json"),
        LabelWrite(999999, {"boxes": []}, 0, "a.json"),
    ]
    out = save_labels(store, p.id, writes, author="importer", by=SYSTEM)
    assert out.saved == {ids[0]: 1, ids[3]: 1}
    assert "outside the image" in out.refused[ids[1]]
    assert "not in this project" in out.refused[999999]
    assert out.stale == [ids[2]]
    ann = current_annotation(store, ids[0])
    assert ann is not None and ann.source is Source.IMPORT and ann.author == "importer"
    assert ann.payload == {"boxes": [{"class_id": cat, "xywh": [10.0, 10.0, 20.0, 20.0], "score": 0.5}]}
    assert store.scalar("SELECT origin FROM annotations WHERE id = ?", [ann.id]) == "a.json"
    # the stale item keeps its label; the refused one has none
    assert current_annotation(store, ids[2]).author == "ann"
    assert current_annotation(store, ids[1]) is None
    # a second import makes version 2 naming version 1 as parent
    out2 = save_labels(
        store, p.id, [LabelWrite(ids[0], {"boxes": []}, 1, "c.json")], author="importer", by=SYSTEM
    )
    assert out2.saved == {ids[0]: 2}
    versions = history(store, ids[0])
    assert [a.version for a in versions] == [2, 1] and versions[0].parent_id == versions[1].id
    assert store.scalar("SELECT status FROM items WHERE id = ?", [ids[0]]) == "labeled"
