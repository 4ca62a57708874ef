"""What the permission rule costs, and how long administration takes on a large project.

* ``permissions.can`` for a labeler (a role lookup, the archived flag, the active flag);
* the whole check of one save (``labels.check_may_label``) and ``save_label`` as a labeler;
* ``admin.remove_images`` of 1,000 images and ``admin.delete_project`` of the whole project
  (``ANNOTA_BENCH_N`` items, default 100,000, half of them labeled).

Prints a table and writes ``benchmarks/results/permissions.json``. Nothing is asserted.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import print_table, write_json  # noqa: E402

N = int(os.environ.get("ANNOTA_BENCH_N", "100000"))
REPEAT = 300


def _ms(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[int(0.95 * (len(ordered) - 1))] * 1000


def main() -> None:
    from core import auth
    from core.domain import Role
    from core.permissions import SYSTEM, Action, ProjectRole, can
    from core.store import Store, admin, labels, projects
    from core.store.items import NewItem, add_items

    work = Path(tempfile.mkdtemp(prefix="annota-perm-"))
    store = Store(work / "annota.duckdb")
    p = projects.create_project(store, "bench", "multiclass", ["a", "b", "c"], by=SYSTEM)
    add_items(store, p.id, [NewItem(f"/bench/{i}.jpg", 64, 48, f"sha{i}") for i in range(N)])
    lena = auth.create_user(store, "lena", "secret-123", Role.LABELER, "Lena", by=SYSTEM)
    projects.add_member(store, p.id, lena.id, ProjectRole.LABELER, by=SYSTEM)
    cid = projects.list_classes(store, p.id)[0].id
    ids = [r[0] for r in store.query("SELECT id FROM items WHERE project_id = ? ORDER BY id", [p.id])]
    half = ids[: N // 2]
    store.execute(  # half labeled, in bulk: the rows delete_project has to remove
        "INSERT INTO annotations (id, project_id, item_id, version, author, source, payload, class_ids, created_at)"
        " SELECT nextval('seq_annotations'), ?, id, 1, 'kim', 'human', '{\"class_id\": ' || ? || '}', [?], now()"
        " FROM items WHERE project_id = ? AND id <= ?",
        [p.id, cid, cid, p.id, half[-1]],
    )
    rows: list[list[Any]] = []
    t = []
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        can(store, lena, Action.LABEL, p.id)
        t.append(time.perf_counter() - t0)
    rows.append(["permissions.can (labeler)", *_ms(t), REPEAT])
    free = ids[N // 2 :]
    t = []
    for i in free[:REPEAT]:
        t0 = time.perf_counter()
        labels.check_may_label(store, i, lena, "lena", 0)
        t.append(time.perf_counter() - t0)
    rows.append(["the check of one save", *_ms(t), REPEAT])
    t = []
    for i in free[REPEAT : 2 * REPEAT]:
        t0 = time.perf_counter()
        labels.save_label(store, i, {"class_id": cid}, by=lena, base_version=0)
        t.append(time.perf_counter() - t0)
    rows.append(["save_label as a labeler (check included)", *_ms(t), REPEAT])
    t0 = time.perf_counter()
    admin.remove_images(store, p.id, free[2 * REPEAT : 2 * REPEAT + 1000], by=SYSTEM)
    removed_s = time.perf_counter() - t0
    rows.append(["remove_images, 1,000 images", removed_s * 1000, removed_s * 1000, 1])
    t0 = time.perf_counter()
    done = admin.delete_project(store, p.id, confirm_name="bench", by=SYSTEM)
    deleted_s = time.perf_counter() - t0
    rows.append([f"delete_project, {N:,} items", deleted_s * 1000, deleted_s * 1000, 1])
    store.close()
    print_table(
        f"Permissions and administration ({N:,} items, {N // 2:,} labeled)",
        rows,
        ["what", "median ms", "p95 ms", "runs"],
    )
    path = write_json(
        "permissions",
        {
            "items": N,
            "rows": [dict(zip(["what", "median_ms", "p95_ms", "runs"], r, strict=True)) for r in rows],
            "deleted_rows": done.rows,
        },
    )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
