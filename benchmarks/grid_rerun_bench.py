"""The server side of a grid submit at 500,000 items: the label page's rerun after Submit, through AppTest.

    python -m benchmarks grid_rerun          (ANNOTA_BENCH_N to change the item count; RERUNS, default 12)

The project is ``ui_bench``'s (half labeled, a prediction per unlabeled item, a head's page threshold), so
pages are grouped by the model as in a live project. Each round picks a page class and submits; the rerun
that follows saves the page and shows the next one. Measured per rerun: the label screen's script
(``ui.labeling.screen.render``: the next page chosen, leased and drawn) in wall and in CPU seconds of the
whole process (less sensitive to a loaded machine than wall time, though threads working meanwhile, such as
the next page chosen ahead, count too), and the CPU of the whole rerun including the Submit callback. The
browser's side (fetching and decoding the tiles) is ``python -m benchmarks ui``'s.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import median, percentile, print_table, write_json
from core.config import shared_datasets

ROOT = Path(__file__).resolve().parents[1]
WARM = 2  # the first reruns warm caches and are not counted


def measure(data: Path, reruns: int) -> dict[str, Any]:
    os.environ["ANNOTA_DATA_DIR"] = str(data)
    os.environ.setdefault("ANNOTA_ADMIN_PASSWORD", "bench-secret-pw")
    from streamlit.testing.v1 import AppTest

    from core import auth
    from ui import resources

    rt = resources.runtime()
    try:
        user = auth.get_user(rt.store, "admin")
        at = AppTest.from_file(str(ROOT / "pages" / "label.py"), default_timeout=300)
        at.session_state["user"] = user
        at.session_state["project_id"] = 1
        at.session_state["label_mode"] = "Grid"
        at.run()
        if at.exception:
            raise RuntimeError(f"the label page failed: {at.exception}")
        screen = sys.modules["ui.labeling.screen"]
        real = screen.render
        last: dict[str, float] = {}

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                return real(*args, **kwargs)
            finally:
                last["wall"] = (time.perf_counter() - t0) * 1000
                last["cpu"] = (time.process_time() - c0) * 1000

        screen.render = timed
        wall, cpu, whole = [], [], []
        for k in range(reruns + WARM):
            classes = [b for b in at.button if b.key and b.key.startswith("label_grid_cls_")]
            classes[k % len(classes)].click().run()
            (submit,) = [b for b in at.button if b.key and b.key.startswith("label_grid_submit")]
            submit.click()
            c0 = time.process_time()
            at.run()
            rerun_cpu = (time.process_time() - c0) * 1000
            if at.exception or not any("labeled" in str(s.value) for s in at.success):
                raise RuntimeError(
                    f"the page was not saved: {at.exception or [str(e.value) for e in at.warning]}"
                )
            if k >= WARM:
                wall.append(last["wall"])
                cpu.append(last["cpu"])
                whole.append(rerun_cpu)
        screen.render = real
    finally:
        rt.stop()
    return {
        "render_wall_ms_median": median(wall),
        "render_wall_ms_p90": percentile(wall, 0.9),
        "render_cpu_ms_median": median(cpu),
        "rerun_cpu_ms_median": median(whole),
        "render_wall_ms_all": [round(x) for x in wall],
        "render_cpu_ms_all": [round(x) for x in cpu],
        "loadavg_1m": os.getloadavg()[0],
    }


def main() -> dict[str, Any]:
    from benchmarks.ui_bench import build

    n = int(os.environ.get("ANNOTA_BENCH_N", 500_000))
    reruns = int(os.environ.get("RERUNS", 12))
    flowers = shared_datasets() / "flowers"
    if not flowers.is_dir():
        print(f"grid_rerun bench skipped: needs {flowers}")
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        build(data, n, sorted(flowers.rglob("*.jpg")))
        r = {"items": n, "reruns": reruns, **measure(data, reruns)}
    print_table(
        f"Grid submit -> next page, server side, at {n:,} items (AppTest; load {r['loadavg_1m']:.1f})",
        [
            ["label screen script after Submit (next page chosen, leased, drawn)", r["render_wall_ms_median"], "ms median"],
            ["  same, p90", r["render_wall_ms_p90"], "ms"],
            ["  same, CPU of the process", r["render_cpu_ms_median"], "ms median"],
            ["whole rerun (Submit's save too), CPU of the process", r["rerun_cpu_ms_median"], "ms median"],
        ],
        ["measure", "value", "unit"],
    )  # fmt: skip
    print(f"  -> {write_json('grid_rerun', r)}")
    return r


if __name__ == "__main__":
    main()
