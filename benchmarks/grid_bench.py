"""Grid pages at scale: how long a labeler waits for a page made from the model's predictions.

    python -m benchmarks grid        (ANNOTA_BENCH_N items, default 500,000)

A multi-class project with N unlabeled items and a stored prediction for each (random classes and
confidences), one trained head's page threshold, and one embedding row (grouping and proposal pages
read predictions, not embeddings). Measures ``cluster_pages.next_page`` for new labelers: grouping
pages (no proposal shown), then pages of shown proposals (every prediction shown). Then, unless
``ANNOTA_BENCH_NEIGHBOURS=0``, the cold start before any model: a second project with N embeddings
(random vectors around 500 centres, float16 as stored) and nearest-neighbour pages; the first call
also builds the project's search index (once per server process).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from benchmarks.common import median, percentile, print_table, write_json
from core.assist import cluster_pages
from core.domain import TaskType
from core.permissions import SYSTEM
from core.store import Store, items, projects
from core.store.items import NewItem
from core.store.labels import utcnow


def _seed(store: Store, n: int) -> int:
    p = projects.create_project(store, "grid", TaskType.MULTICLASS, ["a", "b", "c", "d", "e"], by=SYSTEM)
    items.add_items(store, p.id, [NewItem(f"/bench/{i}.jpg", 64, 48, f"{i:040x}") for i in range(n)])
    ids = np.array(
        [r[0] for r in store.query("SELECT id FROM items WHERE project_id = ? ORDER BY id", [p.id])]
    )
    classes = [c.id for c in projects.list_classes(store, p.id)]
    rng = np.random.default_rng(0)
    cls = rng.choice(classes, len(ids))
    conf = rng.random(len(ids))
    preds = pa.table(
        {
            "item_id": ids,
            "project_id": np.full(len(ids), p.id),
            "run_id": np.ones(len(ids), np.int64),
            "payload": [
                json.dumps({"class_id": int(c), "score": round(float(f), 4)})
                for c, f in zip(cls, conf, strict=True)
            ],
            "confidence": conf,
            "shown": np.zeros(len(ids), bool),
            "class_ids": [[int(c)] for c in cls],
        }
    )

    def insert(cur: Any) -> None:
        cur.register("preds", preds)
        cur.execute(
            "INSERT INTO predictions (item_id, project_id, run_id, payload, confidence, shown, class_ids)"
            " SELECT * FROM preds"
        )
        cur.unregister("preds")

    store.write(insert)
    store.execute(
        "INSERT INTO embeddings (item_id, project_id, model, vec, created_at) VALUES (?, ?, 'bench', ?, ?)",
        [int(ids[0]), p.id, b"\0" * 2560, utcnow()],
    )
    store.execute(
        "INSERT INTO model_runs (project_id, kind, state, metrics) VALUES (?, 'train', 'done', ?)",
        [p.id, json.dumps({"head_path": "bench", "page_threshold": 0.5})],
    )
    return p.id


def _time_pages(store: Store, project_id: int, prefix: str, runs: int = 15) -> tuple[list[float], str]:
    times, reason = [], ""
    for k in range(runs):
        t0 = time.perf_counter()
        page = cluster_pages.next_page(store, project_id, f"{prefix}{k}", TaskType.MULTICLASS, 9)
        times.append((time.perf_counter() - t0) * 1000)
        reason = page.reason if page else "none"
    return times, reason


def _seed_embeddings(store: Store, n: int) -> int:
    p = projects.create_project(store, "neighbours", TaskType.MULTICLASS, ["a", "b", "c"], by=SYSTEM)
    items.add_items(store, p.id, [NewItem(f"/bench/nb/{i}.jpg", 64, 48, f"nb{i:038x}") for i in range(n)])
    ids = np.array(
        [r[0] for r in store.query("SELECT id FROM items WHERE project_id = ? ORDER BY id", [p.id])]
    )
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(500, 1280)).astype(np.float32)
    now = utcnow()
    for s in range(0, len(ids), 50_000):
        part = ids[s : s + 50_000]
        vecs = centres[rng.integers(0, len(centres), len(part))] + 0.3 * rng.normal(size=(len(part), 1280))
        blobs = [np.asarray(v, dtype="<f2").tobytes() for v in vecs]
        chunk = pa.table(
            {
                "item_id": part,
                "project_id": np.full(len(part), p.id),
                "model": ["bench"] * len(part),
                "vec": pa.array(blobs, type=pa.binary()),
                "created_at": [now] * len(part),
            }
        )

        def insert(cur: Any, chunk: pa.Table = chunk) -> None:
            cur.register("chunk", chunk)
            cur.execute(
                "INSERT INTO embeddings (item_id, project_id, model, vec, created_at) SELECT * FROM chunk"
            )
            cur.unregister("chunk")

        store.write(insert)
    return p.id


def _neighbours(store: Store, n: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    pid = _seed_embeddings(store, n)
    seeded = time.perf_counter() - t0
    t1 = time.perf_counter()
    first = cluster_pages.next_page(store, pid, "first", TaskType.MULTICLASS, 9)
    first_ms = (time.perf_counter() - t1) * 1000
    times, reason = _time_pages(store, pid, "n", runs=7)
    return {
        "neighbour_seed_s": seeded,
        "neighbour_first_ms": first_ms,
        "neighbour_first_reason": first.reason if first else "none",
        "neighbour_ms_median": median(times),
        "neighbour_ms_p90": percentile(times, 0.9),
        "neighbour_reason": reason,
    }


def main() -> dict[str, Any]:
    n = int(os.environ.get("ANNOTA_BENCH_N", "500000"))
    with tempfile.TemporaryDirectory(prefix="annota-grid-") as tmp:
        store = Store(Path(tmp) / "annota.duckdb")
        t0 = time.perf_counter()
        pid = _seed(store, n)
        print(f"seeded {n:,} items and predictions in {time.perf_counter() - t0:.0f} s", flush=True)
        grouping, r1 = _time_pages(store, pid, "g")
        store.execute("UPDATE predictions SET shown = true WHERE project_id = ?", [pid])
        proposals, r2 = _time_pages(store, pid, "p")
        nb = _neighbours(store, n) if os.environ.get("ANNOTA_BENCH_NEIGHBOURS", "1") != "0" else {}
        store.close()
    out = {
        "items": n,
        "grouping_ms_median": median(grouping),
        "grouping_ms_p90": percentile(grouping, 0.9),
        "grouping_reason": r1,
        "proposal_pages_ms_median": median(proposals),
        "proposal_pages_ms_p90": percentile(proposals, 0.9),
        "proposal_pages_reason": r2,
        **nb,
    }
    print_table(
        f"Grid pages at {n:,} items (next_page for a new labeler, 15 runs)",
        [
            [
                "grouping page (predictions, no class shown)",
                out["grouping_ms_median"],
                out["grouping_ms_p90"],
                r1,
            ],
            ["page of shown proposals", out["proposal_pages_ms_median"], out["proposal_pages_ms_p90"], r2],
            *(
                [
                    [
                        "first neighbour page (builds the index)",
                        nb["neighbour_first_ms"],
                        "",
                        nb["neighbour_first_reason"],
                    ],
                    [
                        "neighbour page (before any model)",
                        nb["neighbour_ms_median"],
                        nb["neighbour_ms_p90"],
                        nb["neighbour_reason"],
                    ],
                ]
                if nb
                else []
            ),
        ],
        ["page", "median ms", "p90 ms", "reason"],
    )
    print(f"results: {write_json('grid', out)}")
    return out


if __name__ == "__main__":
    main()
