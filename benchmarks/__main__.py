"""Run every benchmark, each in its own process, and print where the JSON went.

python -m benchmarks                 # all
python -m benchmarks store export    # some
"""

from __future__ import annotations

import subprocess
import sys
import time

ALL = [
    "store",
    "import",
    "export",
    "export_formats",
    "ui",
    "assist_classify",
    "assist_detect",
    "assist_segment",
    "assist_segment_clicks",
    "backbone",
    "grid",
    "grid_rerun",
    "label_import",
    "faults",
    "sign_in",
    "heldout",
    "label_errors",
    "team",
    "review",
    "consensus",
    "permissions",
]
MODULES = {
    "store": "benchmarks.store_bench",
    "import": "benchmarks.import_bench",
    "export": "benchmarks.export_bench",
    "export_formats": "benchmarks.export_formats_bench",
    "ui": "benchmarks.ui_bench",
    "assist_classify": "benchmarks.assist_classify",
    "assist_detect": "benchmarks.assist_detect",
    "assist_segment": "benchmarks.assist_segment",
    "assist_segment_clicks": "benchmarks.assist_segment_clicks",
    "backbone": "benchmarks.backbone_speed",
    "grid": "benchmarks.grid_bench",
    "grid_rerun": "benchmarks.grid_rerun_bench",
    "label_import": "benchmarks.label_import_bench",
    "faults": "benchmarks.faults",
    "sign_in": "benchmarks.sign_in_bench",
    "heldout": "benchmarks.heldout_accuracy",
    "label_errors": "benchmarks.label_errors",
    "team": "benchmarks.team_stats_bench",
    "consensus": "benchmarks.consensus_bench",
    "review": "benchmarks.review_bench",
    "permissions": "benchmarks.permissions_bench",
}


def main(argv: list[str]) -> int:
    names = argv or ALL
    failed = []
    for name in names:
        module = MODULES.get(name)
        if module is None:
            print(f"unknown benchmark {name!r}; choose from {', '.join(ALL)}")
            return 2
        print(f"\n=== {name} ({module}) ===", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, "-c", f"import {module} as m; m.main()"])
        print(
            f"=== {name}: {'ok' if rc == 0 else f'FAILED (exit {rc})'} in {time.perf_counter() - t0:.0f} s",
            flush=True,
        )
        if rc:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
