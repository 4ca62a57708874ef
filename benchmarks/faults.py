"""Fault suite: a real server process is killed with SIGKILL in the middle of its work; what it had
acknowledged must be found after a restart, and interrupted work must be finished.

python -m benchmarks faults                  # every scenario (about a minute on 2 cores)
python -m benchmarks.faults saves import     # some

Each scenario is one function ``scenario_NAME(work: Path) -> dict`` listed in ``SCENARIOS``: it starts a
child process (``python -c ...`` on a fresh data directory), kills it with ``kill -9`` once it has
acknowledged some writes, reopens the store in this process and counts. A scenario returns its figures
and ``ok``; the suite prints a table and writes ``benchmarks/results/faults.json``. To add one, write the
function and add it to ``SCENARIOS``.

Environment: ``ANNOTA_FAULT_ROUNDS`` (kills per scenario, default 3), ``ANNOTA_FAULT_IMAGES`` (images
in the import scenarios, default 1,500), ``ANNOTA_FAULT_EXPORT_ITEMS`` (labeled items in the export
scenario, default 10,000).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import print_table, write_json
from benchmarks.import_bench import tiny_png
from core.permissions import SYSTEM

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = int(os.environ.get("ANNOTA_FAULT_ROUNDS", "3"))
IMAGES = int(os.environ.get("ANNOTA_FAULT_IMAGES", "1500"))
CHILD_TIMEOUT_S = 180.0


# -- a child process killed when it has said enough ------------------------------------------------
def run_and_kill(code: str, *, kill_after: Callable[[list[str]], bool]) -> list[str]:
    """Run ``code`` in a child Python; read its stdout lines until ``kill_after(lines)``, then SIGKILL it.
    Returns the lines read (what the child acknowledged before it died)."""
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "ANNOTA_TEST": "1"},
    )
    lines: list[str] = []
    deadline = time.monotonic() + CHILD_TIMEOUT_S
    assert child.stdout is not None
    try:
        for line in child.stdout:
            lines.append(line.strip())
            if kill_after(lines) or time.monotonic() > deadline:
                break
    finally:
        os.kill(child.pid, signal.SIGKILL)
        _, err = child.communicate(timeout=60)
    if not lines:
        raise RuntimeError(f"the child said nothing before it was killed:\n{err[-2000:]}")
    return lines


# -- scenario: label saves ------------------------------------------------------------------------------
def _labeled(db: Path) -> set[int]:
    from core.store import Store

    store = Store(db)
    try:
        return {row[0] for row in store.query("SELECT id FROM items WHERE annotation_id IS NOT NULL")}
    finally:
        store.close()


def scenario_saves(work: Path) -> dict[str, Any]:
    """Saves acknowledged (``save_label`` returned) before a kill -9 are all found after a restart (found
    may exceed acknowledged by the save in flight: committed, killed before it could say so)."""
    from core.store import Store, labels
    from core.store.items import NewItem, add_items
    from core.store.projects import create_project, list_classes

    db = work / "saves.duckdb"
    store = Store(db)
    p = create_project(store, "faults", "multiclass", ["a", "b"], by=SYSTEM)
    add_items(store, p.id, [NewItem(f"/faults/{i}.jpg", 64, 48, f"sha{i}") for i in range(5000)])
    class_id = list_classes(store, p.id)[0].id
    store.close()
    acked_total = found_total = lost_total = 0
    rounds = []
    for r in range(ROUNDS):
        code = f"""
            import random
            from core.permissions import SYSTEM
            from core.store import Store, labels
            store = Store({str(db)!r})
            todo = [row[0] for row in store.query(
                "SELECT id FROM items WHERE annotation_id IS NULL ORDER BY id")]
            for item_id in todo:
                labels.save_label(store, item_id, {{"class_id": {class_id}}}, author="fault", base_version=0, by=SYSTEM)
                print("ACK", item_id, flush=True)
        """
        before = _labeled(db)
        stop_at = 150 + 120 * r
        lines = run_and_kill(code, kill_after=lambda ls, n=stop_at: len(ls) >= n)
        acked = {int(x.split()[1]) for x in lines if x.startswith("ACK")}
        store = Store(db)
        try:
            found = {
                row[0] for row in store.query("SELECT id FROM items WHERE annotation_id IS NOT NULL")
            } - before
            for item_id in list(acked)[:20]:  # a found label is whole: its version reads back
                assert labels.history(store, item_id)[0].payload == {"class_id": class_id}
        finally:
            store.close()
        lost = len(acked - found)
        acked_total += len(acked)
        found_total += len(found)
        lost_total += lost
        rounds.append({"acknowledged": len(acked), "found_in_store": len(found), "lost": lost})
    return {
        "rounds": rounds,
        "acknowledged": acked_total,
        "found": found_total,
        "lost": lost_total,
        "ok": lost_total == 0,
    }


# -- scenario: a folder import --------------------------------------------------------------------------
def _image_folder(work: Path, n: int) -> Path:
    folder = work / "photos"
    if not folder.is_dir():
        for i in range(n):
            sub = folder / f"{i // 500:03d}"
            sub.mkdir(parents=True, exist_ok=True)
            (sub / f"{i:06d}.png").write_bytes(tiny_png(i))
    return folder


_IMPORT_CHILD = """
    import time
    from core import jobs
    from core.images import sources
    from core.store import Store
    from core.store.items import count_items
    from core.store.projects import create_project
    from core.permissions import SYSTEM
    store = Store({db!r})
    pid = create_project(store, "faults", "multiclass", ["a", "b"], by=SYSTEM).id
    src = sources.add_folder(store, pid, {folder!r}, watch={watch}, by=SYSTEM)
    import core.images.importer as imp

    def paced(*args, **kwargs):
        # many small commits with a pause after each, so that the kill surely lands mid-import
        report = kwargs.get("progress")

        def progress(fraction, message):
            if report:
                report(fraction, message)
            time.sleep(0.2)

        return imp.import_paths(*args, **{{**kwargs, "batch_size": 100, "progress": progress}})

    sources.import_paths = paced
    runner = jobs.JobRunner(store, workers=1, poll_s=0.05).start()
    job = runner.submit("import_folder", {{"source_id": src.id}}, project_id=pid)
    print("JOB", job.id, src.id, pid, flush=True)
    while True:
        print("COUNT", count_items(store, pid), flush=True)
        time.sleep(0.05)
"""


def _import_killed(work: Path, name: str, *, watch: bool) -> tuple[Path, Path, int, int, int, int]:
    folder = _image_folder(work, IMAGES)
    db = work / f"{name}.duckdb"
    code = _IMPORT_CHILD.format(db=str(db), folder=str(folder), watch=watch)
    lines = run_and_kill(
        code,
        kill_after=lambda ls: any(x.startswith("COUNT") and int(x.split()[1]) >= IMAGES // 3 for x in ls),
    )
    job_id, source_id, project_id = (
        int(v) for v in next(x for x in lines if x.startswith("JOB")).split()[1:]
    )
    acked = max(int(x.split()[1]) for x in lines if x.startswith("COUNT"))
    return folder, db, job_id, source_id, project_id, acked


def _count_and_duplicates(store: Any, project_id: int) -> tuple[int, int]:
    n = int(store.scalar("SELECT count(*) FROM items WHERE project_id = ?", [project_id]))
    distinct = int(store.scalar("SELECT count(DISTINCT path) FROM items WHERE project_id = ?", [project_id]))
    return n, n - distinct


def _import_report(
    acked: int, found_after_kill: int, state: str, finished: bool, **after: Any
) -> dict[str, Any]:
    """A killed import's outcome: what was acknowledged and found after the kill, the job's state after the
    restart, the scenario's own figures (``after``); ok when the kill landed mid-import (nothing
    acknowledged lost) and the scenario ``finished`` the import (every image once)."""
    return {
        "images": IMAGES,
        "acknowledged": acked,
        "found_after_kill": found_after_kill,
        "job_state_after_restart": state,
        **after,
        "interrupted": found_after_kill < IMAGES,  # the kill landed mid-import
        "ok": acked <= found_after_kill < IMAGES and finished,
    }


def scenario_import_restart(work: Path) -> dict[str, Any]:
    """kill -9 during a folder import; the restart's job runner resumes the job and finishes it."""
    import core.images  # noqa: F401 (registers the job kind)
    from core import jobs
    from core.store import Store

    _, db, job_id, _, project_id, acked = _import_killed(work, "import-restart", watch=False)
    store = Store(db)
    try:
        found_after_kill, _ = _count_and_duplicates(store, project_id)
        runner = jobs.JobRunner(store, workers=1, poll_s=0.05).start()
        t0 = time.perf_counter()
        done = runner.wait(job_id, timeout=600)
        resumed_s = time.perf_counter() - t0
        runner.stop()
        final, duplicates = _count_and_duplicates(store, project_id)
    finally:
        store.close()
    return _import_report(
        acked, found_after_kill, done.state, done.state == "done" and final == IMAGES and not duplicates,
        found_after_restart=final, duplicate_paths=duplicates, resume_s=round(resumed_s, 2),
    )  # fmt: skip


def scenario_import_watcher(work: Path) -> dict[str, Any]:
    """kill -9 during the first import of a watched folder whose job is then given up (as after too many
    restarts): the folder watcher finishes the import at its next poll."""
    from core import jobs
    from core.images.sources import FolderWatcher, get_source
    from core.store import Store

    _, db, job_id, source_id, project_id, acked = _import_killed(work, "import-watcher", watch=True)
    store = Store(db)
    try:
        found_after_kill, _ = _count_and_duplicates(store, project_id)
        runner = jobs.JobRunner(store, max_attempts=1)  # the restart gives up on the job
        runner.recover()
        state = jobs.get_job(store, job_id).state
        watcher = FolderWatcher(store, interval_s=60, settle_s=0.0, adopt_after_s=0.0)
        t0 = time.perf_counter()
        report = watcher.poll().get(source_id)
        finished_s = time.perf_counter() - t0
        final, duplicates = _count_and_duplicates(store, project_id)
        scanned = get_source(store, source_id).last_scan_at is not None
    finally:
        store.close()
    return _import_report(
        acked, found_after_kill, state, state == "failed" and final == IMAGES and duplicates == 0 and scanned,
        added_by_watcher=report.added if report else 0, found_after_watcher=final, duplicate_paths=duplicates,
        source_recorded_as_scanned=scanned, watcher_s=round(finished_s, 2),
    )  # fmt: skip


# -- scenario: exports --------------------------------------------------------------------------------
EXPORT_ITEMS = int(os.environ.get("ANNOTA_FAULT_EXPORT_ITEMS", "10000"))


def scenario_export(work: Path) -> dict[str, Any]:
    """kill -9 during a YOLO and a COCO export: the next start removes their ``.part`` files and spool
    folder, the restart's runner finishes both jobs and a new export succeeds, every file whole
    (``benchmarks/faults_export.py``; acknowledged = the exports running, found = whole files after,
    lost = leftovers of the kill still there after the start)."""
    from benchmarks.faults_export import scenario

    out = scenario(EXPORT_ITEMS, work / "export")
    left = out["left_by_kill"]
    print(f"export: the kill left {left['part']} .part, {left['spool']} spool folder(s); "
          f"{out['left_after_start']} after the start; {out['files_ok']} whole file(s)", flush=True)  # fmt: skip
    return {
        **out,
        "acknowledged": out["resumed_jobs"],
        "found": out["files_ok"],
        "lost": out["left_after_start"],
        "ok": out["pass"],
    }


SCENARIOS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "saves": scenario_saves,
    "import_restart": scenario_import_restart,
    "import_watcher": scenario_import_watcher,
    "export": scenario_export,
}


def main(argv: list[str] | None = None) -> int:
    names = argv if argv else list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        print(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
        return 2
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="annota-faults-") as tmp:
        work = Path(tmp)
        for name in names:
            t0 = time.perf_counter()
            out = SCENARIOS[name](work)
            out["seconds"] = round(time.perf_counter() - t0, 1)
            results[name] = out
            print(f"{name}: {'ok' if out['ok'] else 'FAILED'} {out}", flush=True)
    rows = [
        (
            n,
            r.get("acknowledged"),
            r.get("found", r.get("found_after_kill")),
            r.get("lost", 0),
            "yes" if r["ok"] else "NO",
            r["seconds"],
        )
        for n, r in results.items()
    ]
    print_table(
        "Faults (kill -9 of a real process)", rows, ["scenario", "acknowledged", "found", "lost", "ok", "s"]
    )
    path = write_json("faults", {"rounds": ROUNDS, "images": IMAGES, "scenarios": results})
    print(f"\nwrote {path}")
    return 0 if all(r["ok"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
