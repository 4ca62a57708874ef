"""Store at scale: next-item and save latency with 8 labelers at once, and dashboard counts, at 500,000 items.

python -m benchmarks.store_bench          (ANNOTA_BENCH_N to change the item count)
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.common import median, percentile, print_table, write_json
from benchmarks.seed_items import insert_half_labeled
from core.permissions import SYSTEM
from core.store import Store, labels, projects, queue, stats

THREADS = 8
OPS_PER_THREAD = 150


def build(store: Store, n: int) -> tuple[int, list[int]]:
    """A multi-class project with ``n`` items, half of them labeled (with one annotation version each)."""
    p = projects.create_project(store, "bench", "multiclass", ["a", "b", "c", "d", "e"], by=SYSTEM)
    cls = [c.id for c in projects.list_classes(store, p.id)]
    half = n // 2
    cur = store.cursor()
    insert_half_labeled(cur, p.id, cls[0], n)
    cur.execute(f"SELECT setval('seq_items', {n + 1})")
    cur.execute(f"SELECT setval('seq_annotations', {half + 1})")
    cur.execute("CHECKPOINT")
    return p.id, cls


def run(n: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.duckdb")
        t0 = time.perf_counter()
        pid, cls = build(store, n)
        build_s = time.perf_counter() - t0

        dash = []
        for _ in range(7):
            t = time.perf_counter()
            s = stats.project_stats(store, pid)
            dash.append(time.perf_counter() - t)
        assert s.total == n

        next_ms: list[float] = []
        save_ms: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()
        handed: list[int] = []

        def labeler(k: int) -> None:
            user = f"bench{k}"
            mine_next, mine_save, mine_ids = [], [], []
            try:
                for i in range(OPS_PER_THREAD):
                    t = time.perf_counter()
                    item_id = queue.next_item_id(store, pid, user)
                    mine_next.append((time.perf_counter() - t) * 1000)
                    assert item_id is not None
                    mine_ids.append(item_id)
                    t = time.perf_counter()
                    labels.save_label(
                        store, item_id, {"class_id": cls[i % 5]}, author=user, base_version=0, by=SYSTEM
                    )
                    mine_save.append((time.perf_counter() - t) * 1000)
            except Exception as exc:  # reported, not hidden
                errors.append(f"{type(exc).__name__}: {exc}")
            with lock:
                next_ms.extend(mine_next)
                save_ms.extend(mine_save)
                handed.extend(mine_ids)

        threads = [threading.Thread(target=labeler, args=(k,)) for k in range(THREADS)]
        t = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        wall = time.perf_counter() - t
        store.close()
    return {
        "items": n,
        "build_s": build_s,
        "threads": THREADS,
        "ops": len(save_ms),
        "duplicates_handed_out": len(handed) - len(set(handed)),
        "errors": errors,
        "next_ms_p50": percentile(next_ms, 0.5),
        "next_ms_p99": percentile(next_ms, 0.99),
        "save_ms_p50": percentile(save_ms, 0.5),
        "save_ms_p99": percentile(save_ms, 0.99),
        "labels_per_s": len(save_ms) / wall if wall else 0.0,
        "dashboard_ms_median": median(dash) * 1000,
        "dashboard_ms_max": max(dash) * 1000,
    }


def main() -> dict:
    n = int(os.environ.get("ANNOTA_BENCH_N", 500_000))
    r = run(n)
    print_table(
        f"Store at {n:,} items, {THREADS} labelers at once (targets: p99 <= 50 ms, dashboard <= 200 ms)",
        [
            ["next item (lease)", r["next_ms_p50"], r["next_ms_p99"], "ms"],
            ["save label (version)", r["save_ms_p50"], r["save_ms_p99"], "ms"],
            ["dashboard counts", r["dashboard_ms_median"], r["dashboard_ms_max"], "ms (median, max)"],
        ],
        ["operation", "p50", "p99", "unit"],
    )
    print(
        f"  {r['ops']:,} saves, {r['labels_per_s']:.0f} labels/s in all, {r['duplicates_handed_out']} items handed out twice, errors: {r['errors'] or 'none'}"
    )
    print(f"  -> {write_json('store', r)}")
    return r


if __name__ == "__main__":
    main()
