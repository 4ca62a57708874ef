"""Per-labeler figures (core.quality.labeler_stats) at 500,000 items: the dashboard's Team section.

python -m benchmarks team                 (ANNOTA_BENCH_N to change the item count)

Synthetic rows written with SQL: every item labeled once and a fifth of them twice, by 8 labelers who
save every 20-60 s (70 % of saves with a duration), 7.5 h a day; a tenth of the versions reviewed (a tenth
of those rejected); consensus answers (3 each) on 2 % of the items and gold answers on 1 %.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from benchmarks.common import median, print_table, write_json
from core.permissions import SYSTEM
from core.quality.labeler_stats import labeler_stats
from core.store import Store, projects

LABELERS = 8
RUNS = 5


def build(store: Store, n: int) -> int:
    p = projects.create_project(store, "bench", "multiclass", ["a", "b", "c", "d", "e"], by=SYSTEM)
    c0 = projects.list_classes(store, p.id)[0].id
    cur = store.cursor()
    cur.execute(
        "INSERT INTO items (id, project_id, path, width, height, sha1, status, version, annotation_id, class_ids,"
        " labeled_by, review_state)"
        " SELECT i + 1, ?, '/bench/' || i || '.jpg', 320, 240, md5(i::VARCHAR), 'labeled', 1, i + 1, [? + i % 5],"
        " 'labeler' || (i % ?), CASE WHEN i % 10 = 0 THEN 'approved' WHEN i % 97 = 0 THEN 'rejected' END"
        " FROM range(?) t(i)",
        [p.id, c0, LABELERS, n],
    )
    m = n + n // 5  # every item once, a fifth again (version 2)
    cur.execute(
        "INSERT INTO annotations (id, project_id, item_id, version, author, source, payload, class_ids, duration_ms,"
        " created_at)"
        " SELECT i + 1, ?, i % ? + 1, i // ? + 1, 'labeler' || (i % ?), CASE WHEN i % 9 = 0 THEN 'prelabel'"
        " ELSE 'human' END, '{}', [?], CASE WHEN i % 10 < 7 THEN 20000 + (i * 7919) % 40000 END,"
        " TIMESTAMP '2026-01-01 08:00:00' + to_days(CAST((i // ?) // 900 AS INTEGER))"
        " + to_seconds(CAST(((i // ?) % 900) * 30 + (i * 31) % 20 AS BIGINT))"
        " FROM range(?) t(i)",
        [p.id, n, n, LABELERS, c0, LABELERS, LABELERS, m],
    )
    cur.execute(
        "INSERT INTO reviews (project_id, item_id, version, reviewer, verdict)"
        " SELECT ?, i + 1, 1, 'rita', CASE WHEN i % 100 < 10 THEN 'rejected' ELSE 'approved' END"
        " FROM range(0, ?, 10) t(i)",
        [p.id, n],
    )
    cur.execute(
        "INSERT INTO blind_answers (project_id, item_id, author, kind, payload, score, created_at)"
        " SELECT ?, (i // 3) * 50 + 1, 'labeler' || ((i // 3 + i % 3) % ?), 'consensus',"
        " '{\"class_id\": ' || (? + (i * 13) % 2) || '}', NULL, TIMESTAMP '2026-01-01' + to_days(CAST(i % 60 AS INTEGER))"
        " FROM range(?) t(i)",
        [p.id, LABELERS, c0, 3 * (n // 50)],
    )
    cur.execute(
        "INSERT INTO blind_answers (project_id, item_id, author, kind, payload, score, created_at)"
        " SELECT ?, i * 100 + 7, 'labeler' || (i % ?), 'gold', '{}', (i % 5) / 4.0,"
        " TIMESTAMP '2026-01-01' + to_days(CAST(i % 60 AS INTEGER)) FROM range(?) t(i)",
        [p.id, LABELERS, n // 100],
    )
    cur.execute("CHECKPOINT")
    return p.id


def _time(fn) -> tuple[list[float], list[float]]:  # type: ignore[no-untyped-def]
    """Wall and process CPU seconds (DuckDB's threads included) per run: on a shared machine the CPU
    time is the steadier figure."""
    wall, cpu = [], []
    for _ in range(RUNS):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return wall, cpu


def run(n: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.duckdb")
        t0 = time.perf_counter()
        pid = build(store, n)
        build_s = time.perf_counter() - t0
        s = labeler_stats(store, pid)
        assert len(s.labelers) == LABELERS and s.team.saves > 0
        everyone, everyone_cpu = _time(lambda: labeler_stats(store, pid))
        one, one_cpu = _time(lambda: labeler_stats(store, pid, labeler="labeler3"))
        saves = int(store.scalar("SELECT count(*) FROM annotations"))
        store.close()
    return {
        "items": n,
        "annotations": saves,
        "labelers": LABELERS,
        "days": len(s.team_per_day),
        "build_s": build_s,
        "everyone_ms_median": median(everyone) * 1000,
        "everyone_ms_max": max(everyone) * 1000,
        "everyone_cpu_ms_median": median(everyone_cpu) * 1000,
        "one_labeler_ms_median": median(one) * 1000,
        "one_labeler_ms_max": max(one) * 1000,
        "one_labeler_cpu_ms_median": median(one_cpu) * 1000,
        "load_average": os.getloadavg()[0],
        "team_throughput_per_h": s.team.throughput,
        "team_median_s": s.team.median_s,
        "team_rejection_rate": s.team.rejection_rate,
        "review_queue": s.review_queue,
    }


def main() -> dict:
    n = int(os.environ.get("ANNOTA_BENCH_N", 500_000))
    r = run(n)
    print_table(
        f"Per-labeler figures at {n:,} items, {r['annotations']:,} saves, {LABELERS} labelers, {r['days']} days",
        [
            [
                "every labeler (reviewer's view)",
                r["everyone_ms_median"],
                r["everyone_ms_max"],
                r["everyone_cpu_ms_median"],
                "ms",
            ],
            [
                "one labeler (their own view)",
                r["one_labeler_ms_median"],
                r["one_labeler_ms_max"],
                r["one_labeler_cpu_ms_median"],
                "ms",
            ],
        ],
        ["labeler_stats", f"wall, median of {RUNS}", "wall, max", "CPU, median", "unit"],
    )
    print(
        f"  team: {r['team_throughput_per_h']:.0f} saves/h, median {r['team_median_s']:.1f} s/save,"
        f" rejection rate {r['team_rejection_rate']:.1%}, review queue {r['review_queue']:,}"
    )
    print(f"  load average {r['load_average']:.1f} on {os.cpu_count()} cores while measuring")
    print(f"  -> {write_json('team_stats', r)}")
    return r


if __name__ == "__main__":
    main()
