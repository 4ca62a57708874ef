"""Fault scenario: a server killed with SIGKILL (kill -9) in the middle of two exports.

A child process opens the runtime on a fresh data directory holding a detection project of
``ANNOTA_FAULT_N`` labeled items (default 20,000; bulk inserted as in ``export_bench``), starts a YOLO
export (zip + spool folder) and a COCO export (``.part``) and is killed as soon as both are being
written (its exports slowed by 20 ms a progress report, so the kill lands inside the writing on any
machine). Then, as the next start would:

1. count what the kill left in ``exports/`` (``.part`` files, spool folders, issue lists);
2. open the runtime again: the leftovers must be gone at start (``core.formats.leftovers``), the two
   killed jobs are resumed by the job runner and must finish;
3. run one more export, which must succeed; every finished file is checked (strict JSON / a whole zip).

Prints the counts and writes ``benchmarks/results/faults_export.json``; exits 1 if a check fails.

    .venv/bin/python -m benchmarks.faults_export
    ANNOTA_FAULT_N=10000 .venv/bin/python benchmarks/faults_export.py
    python -m benchmarks.faults export           # as a scenario of the fault suite
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "results" / "faults_export.json"


def _leftovers(exports: Path) -> dict[str, list[str]]:
    from core.formats.leftovers import leftovers

    found: dict[str, list[str]] = {"part": [], "spool": [], "issues": []}
    for folder in (d for d in exports.iterdir() if d.is_dir()) if exports.is_dir() else ():
        for p in leftovers(folder):
            kind = "part" if p.name.endswith(".part") else "spool" if p.name.startswith(".") else "issues"
            found[kind].append(str(p.relative_to(exports)))
    return found


def child(data_dir: str, project_id: int) -> None:
    """The server that gets killed: two exports running."""
    import core.formats.export as export
    from core.config import Paths
    from core.jobs import JobContext
    from core.runtime import open_runtime

    # a window for the kill whatever the machine's speed: a progress report every 200 images, each
    # 20 ms slower (at least 2 s an export of 10,000 images); the writing itself is the real one
    export.PROGRESS_EVERY = 200
    real = JobContext.progress

    def slow(self: JobContext, fraction: float, message: str = "", *, force: bool = False) -> None:
        time.sleep(0.02)
        real(self, fraction, message, force=force)

    JobContext.progress = slow  # type: ignore[method-assign]
    rt = open_runtime(Paths(Path(data_dir)), workers=2, watch=False, assist=False)
    for fmt in ("yolo", "coco"):
        rt.runner.submit("export", {"format": fmt}, project_id=project_id, created_by="fault")
    print("started", flush=True)
    while True:  # until killed
        time.sleep(1)


def _strict(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise ValueError(f"not strict JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def _check(path: Path) -> int:
    """Images in a finished export file (raises if it is not whole)."""
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
            if bad is not None:
                raise ValueError(f"{path.name}: {bad} is damaged")
            return len(zf.read("manifest.csv").decode().splitlines()) - 1
    return len(_strict(path.read_text())["images"])


def scenario(n: int, work: Path | None = None) -> dict[str, Any]:
    """Run the scenario in ``work`` (a temporary folder when None); returns its figures and ``pass``."""
    if work is None:
        with tempfile.TemporaryDirectory(prefix="annota-fault-export-") as tmp:
            return scenario(n, Path(tmp))
    return _scenario(n, work)


def _scenario(n: int, work: Path) -> dict[str, Any]:
    from benchmarks.export_bench import build
    from core.config import Paths
    from core.runtime import open_runtime

    paths = Paths(work / "data").ensure()
    pid = build(paths.db, n, 2)
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", str(paths.root), str(pid)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    seen: dict[str, list[str]] = {}
    while time.monotonic() < deadline and proc.poll() is None:
        seen = _leftovers(paths.exports)
        if seen["part"] and seen["spool"] and len(seen["part"]) >= 2:
            time.sleep(0.2)  # inside the writing (the child's exports take 2 s at least)
            break
        time.sleep(0.05)
    if proc.poll() is not None:
        raise SystemExit(f"the server child ended by itself:\n{proc.stderr.read() if proc.stderr else ''}")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = _leftovers(paths.exports)
    t0 = time.perf_counter()
    rt = open_runtime(paths, workers=2, watch=False, assist=False)
    start_s = time.perf_counter() - t0
    try:
        still = [p for kind in before.values() for p in kind if (paths.exports / p).exists()]
        resumed = list(rt.runner.recovered)
        ended = [rt.runner.wait(j, timeout=600) for j in resumed]
        new = rt.runner.wait(rt.runner.submit("export", {"format": "coco"}, project_id=pid).id, timeout=600)
        jobs = [*ended, new]
        files = [Path(j.result["path"]) for j in jobs if j.state == "done"]
        images = [_check(f) for f in files]
        after = _leftovers(paths.exports)
    finally:
        rt.stop()
    report = {
        "n_items": n,
        "killed_with": "SIGKILL",
        "left_by_kill": {k: len(v) for k, v in before.items()},
        "left_after_start": len(still),
        "start_s": round(start_s, 2),
        "resumed_jobs": len(resumed),
        "jobs": [
            {"id": j.id, "format": j.params.get("format"), "state": j.state, "error": j.error} for j in jobs
        ],
        "files_ok": len(files),
        "images_per_file": images,
        "leftovers_at_end": sum(len(v) for v in after.values()),
    }
    report["pass"] = (
        sum(report["left_by_kill"].values()) > 0
        and report["left_after_start"] == 0
        and all(j["state"] == "done" for j in report["jobs"])
        and report["images_per_file"] == [n] * len(report["jobs"])
        and report["leftovers_at_end"] == 0
    )
    return report


def main() -> dict[str, Any]:
    n = int(os.environ.get("ANNOTA_FAULT_N", "20000"))
    report = scenario(n)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    left = report["left_by_kill"]
    print(f"export killed with SIGKILL ({n:,} labeled items, a YOLO and a COCO export running)")
    print(
        f"  left by the kill:      {left['part']} .part, {left['spool']} spool folder(s), {left['issues']} issue list(s)"
    )
    print(f"  left after the start:  {report['left_after_start']}   (start took {report['start_s']} s)")
    print(f"  resumed jobs:          {report['resumed_jobs']}")
    for j in report["jobs"]:
        print(
            f"  job {j['id']} {j['format']}: {j['state']}{'  ' + (j['error'] or '')[:200] if j['error'] else ''}"
        )
    print(
        f"  whole files:           {report['files_ok']} of {len(report['jobs'])}, images {report['images_per_file']}"
    )
    print(f"  leftovers at the end:  {report['leftovers_at_end']}")
    print(f"  {'PASS' if report['pass'] else 'FAIL'}; results in {RESULTS.relative_to(ROOT)}")
    if not report["pass"]:
        raise SystemExit(1)
    return report


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]))
    else:
        main()
