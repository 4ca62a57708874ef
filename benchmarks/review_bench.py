"""The review queue at 500,000 items: its count and first grid page under each filter, a Next step in the
detail view, a labeler's rejected-first look-up, and one verdict.

python -m benchmarks review               (ANNOTA_BENCH_N to change the item count)

Synthetic rows written with SQL (``benchmarks.seed_items``): half the items labeled by 8 labelers over 30
days; a stored prediction for every labeled item (a second, older one for a fifth; the newest names
another class for a tenth); a tenth of the labeled items approved, 1 % rejected, 1 % fixed; consensus
agreement on 2 % of them.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from benchmarks.common import median, print_table, write_json
from benchmarks.seed_items import insert_half_labeled
from core import auth
from core.domain import Role
from core.permissions import SYSTEM, ProjectRole
from core.quality import review
from core.store import Store, projects, queue
from core.store.items import ItemFilter, count_items, list_items
from core.store.review_nav import cursor_for, step

RUNS = 5


def build(store: Store, n: int) -> tuple[int, int]:
    p = projects.create_project(store, "bench", "multiclass", ["a", "b", "c", "d", "e"], by=SYSTEM)
    c0 = projects.list_classes(store, p.id)[0].id
    half = n // 2

    def tx(cur: Any) -> None:
        insert_half_labeled(cur, p.id, c0, n)
        cur.execute(
            "UPDATE items SET review_state = CASE WHEN id % 10 = 0 THEN 'approved' WHEN id % 100 = 1 THEN"
            " 'rejected' WHEN id % 100 = 3 THEN 'fixed' END WHERE id <= ?",
            [half],
        )
        cur.execute(
            "INSERT INTO predictions (item_id, project_id, payload, confidence, class_ids, created_at)"
            " SELECT i + 1, ?, '{}', 0.9, [? + (i + CASE WHEN i % 10 = 0 THEN 1 ELSE 0 END) % 5],"
            " TIMESTAMP '2026-02-01' FROM range(?) t(i)"
            " UNION ALL SELECT i + 1, ?, '{}', 0.8, [? + (i + 2) % 5], TIMESTAMP '2026-01-01'"
            " FROM range(0, ?, 5) t(i)",
            [p.id, c0, half, p.id, c0, half],
        )
        cur.execute(
            "INSERT INTO consensus_items (item_id, project_id, k, state, agreement)"
            " SELECT i + 1, ?, 3, 'merged', (i % 7) / 7.0 FROM range(0, ?, 50) t(i)",
            [p.id, half],
        )
        cur.execute(
            "INSERT INTO reviews (project_id, item_id, version, reviewer, verdict, reason)"
            " SELECT ?, id, 1, 'rita', 'rejected', 'why' FROM items WHERE project_id = ? AND review_state = 'rejected'",
            [p.id, p.id],
        )
        for seq in ("seq_items", "seq_annotations"):  # past the ids written here
            cur.execute(f"SELECT setval('{seq}', ?)", [n + 1])

    store.write(tx)
    return p.id, c0


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(RUNS):
        t0 = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return median(times), out


def main() -> None:
    n = int(os.environ.get("ANNOTA_BENCH_N", "500000"))
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "annota.duckdb")
        t0 = time.perf_counter()
        pid, c0 = build(store, n)
        rita = auth.create_user(store, "rita", "secret-123", Role.LABELER, "Rita", by=SYSTEM)
        projects.add_member(store, pid, rita.id, role=ProjectRole.REVIEWER, by=SYSTEM)
        build_s = time.perf_counter() - t0
        today = date.today()
        filters = {
            "awaiting review": review.queue_filter(),
            "+ labeler": review.queue_filter(ItemFilter(labeled_by="labeler3")),
            "+ class": review.queue_filter(ItemFilter(class_id=c0 + 2)),
            "+ model disagrees": review.queue_filter(ItemFilter(disagrees=True)),
            "+ agreement < 0.5": review.queue_filter(ItemFilter(agreement_below=0.5)),
            "+ labeled last 7 days": review.queue_filter(ItemFilter(labeled_from=today - timedelta(days=7))),
            "rejected": ItemFilter(review_state="rejected"),
        }
        rows = []
        for name, f in filters.items():
            count_ms, total = timed(lambda f=f: count_items(store, pid, f))
            page_ms, items = timed(lambda f=f: list_items(store, pid, f, limit=24))
            if items:
                cur = cursor_for(store, items[0].id)
                step_ms, _ = timed(lambda f=f, cur=cur: step(store, pid, f, cur, +1))
            else:
                step_ms = float("nan")
            rows.append([name, total, round(count_ms, 1), round(page_ms, 1), round(step_ms, 1)])
        rejected_ms, got = timed(lambda: queue.rejected_item_id(store, pid, "labeler0"))
        none_ms, _ = timed(lambda: queue.rejected_item_id(store, pid, "newcomer"))  # the usual case
        states_ms, _ = timed(lambda: review.review_states(store, list(range(1, 25))))
        target = store.scalar(
            "SELECT min(id) FROM items WHERE project_id = ? AND review_state IS NULL AND status = 'labeled'",
            [pid],
        )
        t1 = time.perf_counter()
        review.approve(store, int(target), version=1, by=rita)
        approve_ms = (time.perf_counter() - t1) * 1000
        store.close()
    print_table(
        f"Review queue at {n:,} items (median of {RUNS}, ms; build {build_s:.1f} s)",
        rows,
        ["filter", "images", "count ms", "first page ms", "Next step ms"],
    )
    other = [
        ["labeler's rejected-first look-up", round(rejected_ms, 2), got is not None],
        ["the same, nothing rejected", round(none_ms, 2), False],
        ["review states of a grid page (24)", round(states_ms, 2), True],
        ["one approve (a transaction)", round(approve_ms, 2), True],
    ]
    print_table("Other", other, ["what", "ms", "found"])
    path = write_json(
        "review",
        {
            "items": n,
            "runs": RUNS,
            "build_s": round(build_s, 2),
            "filters": [
                {
                    "filter": r[0],
                    "images": r[1],
                    "count_ms": r[2],
                    "first_page_ms": r[3],
                    "next_step_ms": r[4],
                }
                for r in rows
            ],
            "rejected_first_ms": round(rejected_ms, 2),
            "rejected_first_none_ms": round(none_ms, 2),
            "review_states_page_ms": round(states_ms, 2),
            "approve_ms": round(approve_ms, 2),
        },
    )
    print(f"\nwritten {path}")


if __name__ == "__main__":
    main()
