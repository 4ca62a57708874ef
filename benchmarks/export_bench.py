"""Benchmark: COCO export of a large detection project (default 500,000 labeled items).

Builds a DuckDB store in a temporary data directory with ``ANNOTA_BENCH_N`` labeled items (default
500,000), each with one annotation version of ``ANNOTA_BENCH_BOXES`` boxes (default 2), inserted in
bulk with SQL in the store's table shapes (``items.annotation_id -> annotations.id``, JSON payload,
``class_ids``). Then runs ``core.formats.export.export_project(..., "coco")`` in a child process and
reads the child's own peak resident memory (``VmHWM``) and wall time.

Targets: <= 60 s and <= 500 MB peak RSS. Prints a table and writes ``benchmarks/results/export.json``.

    .venv/bin/python benchmarks/export_bench.py            # 500k
    ANNOTA_BENCH_N=50000 .venv/bin/python benchmarks/export_bench.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.permissions import SYSTEM  # noqa: E402 (after the path)

TARGET_S = 60.0
TARGET_MB = 500.0
RESULTS = ROOT / "benchmarks" / "results" / "export.json"


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def build(db: Path, n: int, boxes: int) -> int:
    """A store with one detection project of ``n`` labeled items; returns the project id."""
    from core.store import Store
    from core.store.projects import create_project, list_classes

    store = Store(db)
    pid = create_project(store, "bench", "boxes", ["car", "person", "bike", "dog"], by=SYSTEM).id
    cids = [c.id for c in list_classes(store, pid)]
    cls = f"list_value({', '.join(map(str, cids))})"
    box = (
        "'{{\"class_id\":' || {cls}[1 + (i + {k}) % 4] || ',\"xywh\":[' || ((i * 7 + {k} * 131) % 1000)::VARCHAR ||"
        " '.5,' || ((i * 13 + {k} * 71) % 600)::VARCHAR || ',' || (20 + (i + {k}) % 200)::VARCHAR || ',' ||"
        " (10 + (i * 3 + {k}) % 100)::VARCHAR || '.25]}}'"
    )
    payload = " || ',' || ".join(box.format(cls=cls, k=k) for k in range(boxes))
    class_ids = ", ".join(f"{cls}[1 + (i + {k}) % 4]" for k in range(boxes))
    with store.transaction() as cur:
        cur.execute(
            f"""INSERT INTO annotations (id, project_id, item_id, version, author, source, payload, class_ids)
            SELECT i, ?, i, 1, 'bench', 'human', '{{"boxes":[' || {payload} || ']}}', [{class_ids}]
            FROM range(1, ? + 1) t(i)""",
            [pid, n],
        )
        cur.execute(
            f"""INSERT INTO items (id, project_id, path, width, height, sha1, bytes, status, version, annotation_id,
                class_ids, labeled_by, labeled_at)
            SELECT i, ?, '/bench/photos/' || (i % 100)::VARCHAR || '/img_' || lpad(i::VARCHAR, 8, '0') || '.jpg',
                1280, 720, md5(i::VARCHAR), 100000, 'labeled', 1, i, [{class_ids}], 'bench', now()
            FROM range(1, ? + 1) t(i)""",
            [pid, n],
        )
    store.close()
    return pid


def child(db: str, project_id: int, out: str) -> None:
    """Run the export in this (fresh) process and print its measurements as JSON."""
    from core.formats.export import export_project
    from core.store import Store

    store = Store(db)
    rss_before = _status_kb("VmRSS")
    t0 = time.perf_counter()
    res = export_project(store, project_id, "coco", out_path=Path(out), by=SYSTEM)
    wall = time.perf_counter() - t0
    store.close()
    print(json.dumps({"wall_s": wall, "peak_rss_mb": _status_kb("VmHWM") / 1024, "rss_before_mb": rss_before / 1024,
                      "result": res.as_dict()}))  # fmt: skip


def main() -> dict[str, Any]:
    n = int(os.environ.get("ANNOTA_BENCH_N", "500000"))
    boxes = int(os.environ.get("ANNOTA_BENCH_BOXES", "2"))
    with tempfile.TemporaryDirectory(prefix="annota-export-bench-") as tmp:
        db = Path(tmp) / "annota.duckdb"
        t0 = time.perf_counter()
        pid = build(db, n, boxes)
        setup_s = time.perf_counter() - t0
        out = Path(tmp) / "exports" / "bench.json"
        proc = subprocess.run(
            [sys.executable, __file__, "--child", str(db), str(pid), str(out)],
            capture_output=True, text=True, cwd=ROOT, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise SystemExit(f"export child failed:\n{proc.stderr}")
        m = json.loads(proc.stdout.strip().splitlines()[-1])
        # a light check that the file is whole JSON with the counts claimed (streamed, not loaded)
        with open(out, "rb") as fh:
            fh.seek(-8, os.SEEK_END)
            tail = fh.read().decode()
        assert tail.rstrip().endswith("]}"), tail
    counts = m["result"]["counts"]
    report = {
        "benchmark": "export_coco",
        "n_items": n,
        "boxes_per_item": boxes,
        "images": counts["images"],
        "coco_annotations": counts["annotations"],
        "errors": counts["errors"],
        "file_mb": round(m["result"]["bytes"] / 2**20, 1),
        "setup_s": round(setup_s, 1),
        "export_s": round(m["wall_s"], 2),
        "peak_rss_mb": round(m["peak_rss_mb"], 1),
        "rss_before_export_mb": round(m["rss_before_mb"], 1),
        "target_s": TARGET_S,
        "target_mb": TARGET_MB,
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
    }
    report["pass"] = report["export_s"] <= TARGET_S and report["peak_rss_mb"] <= TARGET_MB
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    rows = [
        ("items (annotation versions)", f"{n:,}"),
        ("COCO annotations (boxes)", f"{counts['annotations']:,}"),
        ("file size", f"{report['file_mb']} MB"),
        ("setup (bulk SQL insert)", f"{report['setup_s']} s"),
        ("export wall time", f"{report['export_s']} s   (target <= {TARGET_S:.0f} s)"),
        ("peak RSS of export process", f"{report['peak_rss_mb']} MB   (target <= {TARGET_MB:.0f} MB)"),
        ("RSS before export (imports)", f"{report['rss_before_export_mb']} MB"),
        ("result", "PASS" if report["pass"] else "FAIL"),
    ]
    width = max(len(k) for k, _ in rows)
    print("COCO export benchmark")
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")
    print(f"  written to {RESULTS.relative_to(ROOT)}")
    return report


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        main()
