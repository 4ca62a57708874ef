"""The Assist page's held-out accuracy as labels grow (issue 9), with the real featurise and train jobs.

200 flower photos (40 a class), labels given in a random order, every fifth one image at a time (the
rest as grid pages), a training at 91, 103, 115, 127 and 139 labels, for three orders. For each
training: the shown figure, its number of held-out labels, and the accuracy recomputed from the stored
labels and the run's stored held-out predictions (they must agree). Before the fix the same course gave
7-46 % (docs/assist.md).

python -m benchmarks heldout
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import print_table, write_json
from core import jobs
from core.assist import classify_jobs as cj
from core.assist import trained
from core.assist.backbone import Backbone
from core.config import default_paths, shared_datasets
from core.images import probe_file
from core.permissions import SYSTEM
from core.store.db import Store
from core.store.items import NewItem, add_items
from core.store.labels import save_label
from core.store.projects import create_project, list_classes

CLASSES = ["daisy", "dandelion", "rose", "sunflower", "tulip"]
STEPS = (91, 103, 115, 127, 139)


def _run(store: Store, kind: str, project_id: int) -> Any:
    job = jobs.submit(store, kind, {}, project_id=project_id)
    return jobs.handlers()[kind](jobs.JobContext(store, job, jobs.JobRunner(store)))


def _recomputed(store: Store, metrics: dict[str, Any], truth: dict[int, int]) -> tuple[float, int]:
    with np.load(metrics["heldout_path"]) as f:
        ids, predicted = f["item_ids"].tolist(), f["predicted"].tolist()
    right = [p == truth[i] for i, p in zip(ids, predicted, strict=True)]
    return sum(right) / len(right), len(right)


def course(root: Path, seed: int, tmp: Path) -> list[dict[str, Any]]:
    store = Store(tmp / f"s{seed}.duckdb")
    p = create_project(store, "flowers", "multiclass", CLASSES, by=SYSTEM)
    files = [f for n in CLASSES for f in sorted((root / n).glob("*.jpg"))[2::5][:40]]
    news = []
    for f in files:
        pr = probe_file(f)
        news.append(NewItem(str(f), pr.width, pr.height, pr.sha1, pr.bytes, pr.orientation))
    add_items(store, p.id, news)
    _run(store, cj.FEATURIZE, p.id)
    cid = {c.name: c.id for c in list_classes(store, p.id)}
    rows = store.query("SELECT id, path FROM items WHERE project_id = ? ORDER BY id", [p.id])
    order = np.random.default_rng(seed).permutation(len(rows))
    truth: dict[int, int] = {}
    out, done = [], 0
    for step in STEPS:
        while done < min(step, len(rows)):
            item_id, path = rows[int(order[done])]
            c = cid[Path(path).parent.name]
            via = "item" if done % 5 == 0 else "page"
            save_label(
                store, int(item_id), {"class_id": c}, author="bench", base_version=0, via=via, by=SYSTEM
            )
            if via == "item":
                truth[int(item_id)] = c
            done += 1
        _run(store, cj.TRAIN, p.id)
        last = trained.last_training(store, p.id)
        m = last.metrics if last else {}
        acc, n = _recomputed(store, m, {i: c for i, c in truth.items()})
        out.append({"seed": seed, "labels": done, "shown": m["heldout_accuracy"], "heldout_labels":
                    m["heldout_labels"], "recomputed": acc, "recomputed_n": n})  # fmt: skip
    store.close()
    return out


def main() -> None:
    root = shared_datasets() / "flowers"
    if not root.is_dir():
        print(f"heldout: skipped, shared datasets absent at {root}")
        return
    cj.set_backbone(Backbone.load(cache_dir=default_paths().models))
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="annota-heldout-") as tmp:
        for seed in (0, 1, 2):
            rows += course(root, seed, Path(tmp))
    print_table(
        "Held-out accuracy as labels grow (flowers, every fifth label one at a time)",
        [
            (r["seed"], r["labels"], f"{r['shown']:.0%}", r["heldout_labels"], f"{r['recomputed']:.0%}")
            for r in rows
        ],
        ["order", "labels", "shown", "held-out labels", "recomputed"],
    )
    agree = all(
        abs(r["shown"] - r["recomputed"]) < 1e-9 and r["heldout_labels"] == r["recomputed_n"] for r in rows
    )
    print(f"shown = recomputed for every training: {agree}")
    print(f"results: {write_json('heldout_accuracy', {'trainings': rows, 'agree': agree})}")
