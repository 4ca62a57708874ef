"""Benchmark: every export format on one detection project, each export in a fresh process.

Builds the store of ``benchmarks.export_bench`` (``ANNOTA_BENCH_N`` labeled items, default 50,000, two
boxes each, 1280 x 720), then runs ``export_project`` once per format in ``ANNOTA_BENCH_FORMATS``
(default: coco, labelstudio, cvat, imagefolder, yolo-seg, masks) in a child process and reads its wall
time and peak resident memory (``VmHWM``). Masks encode one PNG per image: ``ANNOTA_BENCH_MASKS_N``
(default 5,000) caps the items it exports (``include`` is every labeled image, so masks get a store of
their own). Writes ``benchmarks/results/export_formats.json``.

    .venv/bin/python -m benchmarks export_formats
    ANNOTA_BENCH_N=5000 ANNOTA_BENCH_FORMATS=cvat,masks .venv/bin/python benchmarks/export_formats_bench.py
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

RESULTS = ROOT / "benchmarks" / "results" / "export_formats.json"
DEFAULT = "coco,labelstudio,cvat,imagefolder,yolo-seg,masks"


def child(db: str, project_id: int, fmt: str, out: str) -> None:
    from core.formats.export import export_project
    from core.store import Store

    store = Store(db)
    t0 = time.perf_counter()
    res = export_project(store, project_id, fmt, out_path=Path(out), by=SYSTEM)
    wall = time.perf_counter() - t0
    store.close()
    with open("/proc/self/status") as fh:
        hwm = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
    print(json.dumps({"format": fmt, "export_s": round(wall, 2), "peak_rss_mb": round(hwm / 1024, 1),
                      "images": res.images, "annotations": res.annotations, "errors": res.errors,
                      "file_mb": round(res.bytes / 2**20, 1)}))  # fmt: skip


def _run(tmp: Path, n: int, formats: list[str]) -> list[dict[str, Any]]:
    from benchmarks.export_bench import build
    from core.formats.export import FORMATS

    db = tmp / f"annota-{n}.duckdb"
    pid = build(db, n, 2)
    rows = []
    for fmt in formats:
        out = tmp / f"out-{fmt}{FORMATS[fmt].suffix}"
        proc = subprocess.run([sys.executable, __file__, "--child", str(db), str(pid), fmt, str(out)],
                              capture_output=True, text=True, cwd=ROOT, check=False)  # fmt: skip
        if proc.returncode != 0:
            raise SystemExit(f"{fmt} export failed:\n{proc.stderr[-3000:]}")
        rows.append({"n_items": n, **json.loads(proc.stdout.strip().splitlines()[-1])})
        print(f"{fmt:12s} {n:>8,} items  {rows[-1]['export_s']:>7.2f} s  {rows[-1]['peak_rss_mb']:>6.1f} MB peak"
              f"  {rows[-1]['file_mb']:>6.1f} MB file", flush=True)  # fmt: skip
    return rows


def main() -> dict[str, Any]:
    n = int(os.environ.get("ANNOTA_BENCH_N", "50000"))
    n_masks = int(os.environ.get("ANNOTA_BENCH_MASKS_N", "5000"))
    formats = os.environ.get("ANNOTA_BENCH_FORMATS", DEFAULT).split(",")
    with tempfile.TemporaryDirectory(prefix="annota-export-formats-") as tmp:
        rows = _run(Path(tmp), n, [f for f in formats if f != "masks"])
        if "masks" in formats:
            rows += _run(Path(tmp), min(n, n_masks), ["masks"])
    report = {"benchmark": "export_formats", "rows": rows, "cpu_count": os.cpu_count(),
              "load_average": os.getloadavg(), "python": sys.version.split()[0]}  # fmt: skip
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return report


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
    else:
        main()
