"""What consensus and gold items cost the queue: ``queue.next_item_id`` (which asks
``core.quality.consensus.next_blind_item`` first) per call, with the quality checks off and on.

python -m benchmarks consensus            (ANNOTA_BENCH_N to change the item count; default 100,000)

Per setting, 4 labelers take turns for ``CALLS`` calls each; after each call the item is answered (a
label, or a blind answer for consensus and gold items) so the next call hands out a new one. Only the
``next_item_id`` call is timed. Settings: quality checks off (share 0, no gold items), the defaults
(gold 5 % but no gold item yet), and consensus 10 % with k = 3 plus 500 gold items at 5 %.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import median, percentile, print_table, write_json
from core import auth
from core.domain import Role
from core.permissions import SYSTEM, ProjectRole
from core.quality import consensus
from core.store import Store, labels, projects, queue

LABELERS = 4
CALLS = 60
GOLD = 500


def build(store: Store, n: int, settings: dict[str, Any], gold: int) -> tuple[int, list[Any], int]:
    p = projects.create_project(store, "bench", "multiclass", ["a", "b", "c"], by=SYSTEM, settings=settings)
    c0 = projects.list_classes(store, p.id)[0].id
    store.execute(
        "INSERT INTO items (id, project_id, path, width, height, sha1, status, version, queue_rank)"
        " SELECT i + 1, ?, '/bench/' || i || '.jpg', 320, 240, md5(i::VARCHAR), 'new', 0, (i * 7919) % ?"
        " FROM range(?) t(i)",
        [p.id, n, n],
    )
    users = []
    for k in range(LABELERS):
        u = auth.create_user(store, f"lab{k}", "secret-123", Role.LABELER, f"Lab {k}", by=SYSTEM)
        projects.add_member(store, p.id, u.id, role=ProjectRole.LABELER, by=SYSTEM)
        users.append(u)
    if gold:
        ref = auth.create_user(store, "ref", "secret-123", Role.LABELER, "Ref", by=SYSTEM)
        projects.add_member(store, p.id, ref.id, role=ProjectRole.REVIEWER, by=SYSTEM)
        for item_id in range(n - gold + 1, n + 1):  # the last ids: labeled, approved, gold
            labels.save_label(store, item_id, {"class_id": c0}, by=ref, base_version=0)
        store.execute("UPDATE items SET gold = true, review_state = 'approved' WHERE id > ?", [n - gold])
    return p.id, users, c0


def run(n: int, name: str, settings: dict[str, Any], gold: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.duckdb")
        pid, users, c0 = build(store, n, settings, gold)
        times: list[float] = []
        kinds = {"plain": 0, "consensus": 0, "gold": 0}
        for _ in range(CALLS):
            for u in users:
                t = time.perf_counter()
                got = queue.next_item_id(store, pid, u.username)
                times.append(time.perf_counter() - t)
                assert got is not None
                kind = consensus.held_kind(store, pid, got, u.username)
                kinds[kind or "plain"] += 1
                if kind:
                    consensus.save_blind_answer(store, got, {"class_id": c0}, kind=kind, by=u)
                else:
                    labels.save_label(store, got, {"class_id": c0}, by=u, base_version=0)
        store.close()
    return {
        "setting": name,
        "items": n,
        "calls": len(times),
        "next_ms_median": median(times) * 1000,
        "next_ms_p95": percentile(times, 0.95) * 1000,
        "next_ms_max": max(times) * 1000,
        **{f"served_{k}": v for k, v in kinds.items()},
        "load_average": os.getloadavg()[0],
    }


SETTINGS = [
    ("off", {"consensus_share": 0, "gold_share": 0}, 0),
    ("defaults, no gold items", {}, 0),
    ("consensus 10 % k=3, gold 5 %", {"consensus_share": 0.1, "consensus_k": 3, "gold_share": 0.05}, GOLD),
]


def main() -> dict:
    n = int(os.environ.get("ANNOTA_BENCH_N", 100_000))
    rows = [run(n, name, s, g) for name, s, g in SETTINGS]
    print_table(
        f"queue.next_item_id with consensus and gold at {n:,} items, {LABELERS} labelers x {CALLS} calls",
        [
            [
                r["setting"],
                r["next_ms_median"],
                r["next_ms_p95"],
                r["next_ms_max"],
                r["served_plain"],
                r["served_consensus"],
                r["served_gold"],
            ]
            for r in rows
        ],
        ["setting", "median ms", "p95 ms", "max ms", "plain", "consensus", "gold"],
    )
    out = {"rows": rows}
    print(f"\nwritten to {write_json('consensus_queue', out)}")
    return out


if __name__ == "__main__":
    main()
