"""What the label screen offers: a model's proposal, or an imported one (named so, with its file)."""

from __future__ import annotations

import json
from pathlib import Path

from core.domain import TaskType
from core.formats.label_import import ImportOptions, apply_import, preview_import
from core.permissions import SYSTEM
from core.store.items import NewItem, add_items
from core.store.projects import create_project
from ui.labeling.proposals import model_help


def test_an_imported_proposal_is_named_as_such(store, tmp_path: Path) -> None:
    p = create_project(store, "P", TaskType.BOXES, ["cat", "dog"], by=SYSTEM)
    add_items(store, p.id, [NewItem("/x/a.jpg", 100, 80, "h1")])
    item = int(store.scalar("SELECT id FROM items"))
    assert model_help(store, item) == (None, [])
    coco = tmp_path / "detector.json"
    coco.write_text(json.dumps({"images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 80}],
                                "categories": [{"id": 3, "name": "dog"}],
                                "annotations": [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [1, 2, 30, 20],
                                                 "score": 0.7}]}))  # fmt: skip
    apply_import(
        store,
        p.id,
        preview_import(store, p.id, coco),
        author="i",
        options=ImportOptions(as_proposals=True),
        by=SYSTEM,
    )
    proposal, ticks = model_help(store, item)
    assert proposal is not None and not ticks
    assert proposal.title == "Imported proposal" and proposal.imported_from == "detector.json"
    assert proposal.confidence == 0.7 and proposal.payload["boxes"][0]["score"] == 0.7
