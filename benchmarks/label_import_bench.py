"""Benchmark: importing 100,000 COCO annotations into a project (labels, then as proposals).

Builds a store in a temporary folder with ``ANNOTA_BENCH_IMAGES`` items (default 10,000, 640 x 480,
added in bulk: the import reads the store, not the image files) and a COCO file with
``ANNOTA_BENCH_ANNS`` boxes (default 100,000, spread evenly, 3 classes, 1 in 200 boxes reaching
outside its image so the refusal path is timed too). Times ``preview_import`` (read, match, check
geometry) and ``apply_import`` (create nothing, save every image's new version through
``core.store.label_batch``), then the same file as proposals into a second project.

Target: preview + apply <= 30 s. Prints a table and writes ``benchmarks/results/label_import.json``.

    .venv/bin/python -m benchmarks label_import
    ANNOTA_BENCH_ANNS=20000 .venv/bin/python benchmarks/label_import_bench.py
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.permissions import SYSTEM  # noqa: E402 (after the path)

TARGET_S = 30.0


def build(folder: Path, n_images: int, n_anns: int) -> tuple[Any, int, int, Path]:
    from core.domain import TaskType
    from core.store import Store
    from core.store.items import NewItem, add_items
    from core.store.projects import create_project

    store = Store(folder / "annota.duckdb")
    pids = []
    for name in ("Labels", "Proposals"):
        p = create_project(store, name, TaskType.BOXES, ["cat", "dog", "bird"], by=SYSTEM)
        add_items(
            store, p.id, [NewItem(f"/bench/img_{k:06d}.jpg", 640, 480, f"{name}{k}") for k in range(n_images)]
        )
        pids.append(p.id)
    images = [
        {"id": k + 1, "file_name": f"img_{k:06d}.jpg", "width": 640, "height": 480} for k in range(n_images)
    ]
    anns = []
    for a in range(n_anns):
        x = 600.0 if a % 200 == 0 else float(a % 500)
        anns.append({"id": a + 1, "image_id": a % n_images + 1, "category_id": a % 3 + 1,
                     "bbox": [x, float(a % 400), 60.0, 40.0], "iscrowd": 0, "score": 0.5 + (a % 50) / 100})  # fmt: skip
    cats = [{"id": k + 1, "name": n} for k, n in enumerate(["cat", "dog", "bird"])]
    path = folder / "instances.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return store, pids[0], pids[1], path


def main() -> None:
    from benchmarks.common import machine
    from core.formats.label_import import ImportOptions, apply_import, preview_import

    n_images = int(os.environ.get("ANNOTA_BENCH_IMAGES", "10000"))
    n_anns = int(os.environ.get("ANNOTA_BENCH_ANNS", "100000"))
    with tempfile.TemporaryDirectory(prefix="annota-label-import-") as tmp:
        t0 = time.perf_counter()
        store, labels_pid, proposals_pid, path = build(Path(tmp), n_images, n_anns)
        build_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        pv = preview_import(store, labels_pid, path)
        preview_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = apply_import(store, labels_pid, pv, author="bench", by=SYSTEM)
        apply_s = time.perf_counter() - t0
        saved_objects = store.scalar(
            "SELECT sum(len(class_ids)) FROM items WHERE project_id = ? AND annotation_id IS NOT NULL",
            [labels_pid],
        )

        t0 = time.perf_counter()
        pv2 = preview_import(store, proposals_pid, path)
        result2 = apply_import(
            store, proposals_pid, pv2, author="bench", options=ImportOptions(as_proposals=True), by=SYSTEM
        )
        proposals_s = time.perf_counter() - t0
        store.close()
    total = preview_s + apply_s
    out = {
        "machine": machine(), "images": n_images, "annotations": n_anns, "file_mb": None,
        "build_s": round(build_s, 2), "preview_s": round(preview_s, 2), "apply_s": round(apply_s, 2),
        "preview_plus_apply_s": round(total, 2), "target_s": TARGET_S, "met": total <= TARGET_S,
        "saved_images": result.saved, "saved_objects": int(saved_objects or 0), "refused_objects": len(pv.refused),
        "proposals_images": result2.proposals, "proposals_preview_plus_apply_s": round(proposals_s, 2),
        "load_avg": os.getloadavg()[0],
    }  # fmt: skip
    print(f"label import: {n_anns:,} COCO boxes on {n_images:,} images (load average {out['load_avg']:.1f})")
    print(f"  preview (read, match, check) {preview_s:7.2f} s")
    print(f"  apply (save {result.saved:,} versions) {apply_s:7.2f} s")
    print(
        f"  total                        {total:7.2f} s   target <= {TARGET_S:.0f} s: {'met' if out['met'] else 'NOT met'}"
    )
    print(f"  objects saved {out['saved_objects']:,}, refused {len(pv.refused):,}")
    print(f"  as proposals (preview + apply) {proposals_s:7.2f} s for {result2.proposals:,} images")
    results = ROOT / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "label_import.json").write_text(json.dumps(out, indent=1))
    print(f"wrote {results / 'label_import.json'}")


if __name__ == "__main__":
    main()
