"""Classification assistance measured through the product: a simulated labeler drives the real store,
jobs, scheduler, grid pages and queue on a temporary data directory (``benchmarks.assist_product``).

    python -m benchmarks assist_classify             # the whole sets (about an hour on 2 busy cores)
    ANNOTA_BENCH_QUICK=1 python -m benchmarks assist_classify   # 20 flowers a class, coco128 left out
    ANNOTA_BENCH_SETS=mc python -m benchmarks assist_classify    # some of mc, ml, coco (own JSON)
    ANNOTA_BENCH_FLOWS=grid ANNOTA_BENCH_SETTINGS='{"assist_audit_share": 0.4}' ...  # one flow, settings
    ANNOTA_BENCH_SEED=1 ...   # another import order (so other item ids and another audit draw); default 0

Scenarios: flowers multi-class (5 classes, 1,000 photos); flowers multi-label (the same photos, the
tool not told one class per photo); coco128 image-level tags of its 10 most frequent classes; each
with the grid (a page whenever the product makes one, else one image) and one image at a time. The
figures: hand actions against labeling every image by hand, the labels given until the first
proposal is shown, the true precision of the proposals the labeler met, and after each training the
true precision and coverage of the shown proposals on the images still unlabeled.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from benchmarks import assist_product as ap
from benchmarks.assist_figures import SURE_MIN_CLAIMS
from benchmarks.common import RESULTS, print_table, write_json
from core.domain import TaskType

TARGET = 0.95


SERIES = (  # key in a curve point, legend, colour, line width
    ("true_precision", "true precision of shown proposals", (31, 119, 180), 3),
    ("coverage", "coverage: share of the rest shown a proposal", (255, 127, 14), 2),
    ("oracle_precision_top_half", "best any threshold could do on the top half", (150, 150, 150), 1),
    ("sure_claims_precision", "multi-label: pre-ticked classes right", (44, 160, 44), 2),
    ("sure_coverage", "multi-label: share of the rest with pre-ticks", (148, 103, 189), 1),
)


def plot(path: Path, title: str, curve: list[dict[str, float]], target: float = TARGET) -> None:
    """The scenario's curves against the number of human labels, drawn with Pillow (one colour each)."""
    w, h, m = 960, 560, 70
    im = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(im)
    xmax = max((p["human_labels"] for p in curve), default=1) or 1

    def xy(x: float, v: float) -> tuple[float, float]:
        return m + (w - 2 * m) * x / xmax, h - m - v * (h - 2 * m)

    d.text((m, 15), title, fill="black")
    d.rectangle([m, m, w - m, h - m], outline="black")
    for v in (0.0, 0.25, 0.5, 0.75, 1.0):
        d.line([xy(0, v), xy(xmax, v)], fill=(230, 230, 230))
        d.text((15, xy(0, v)[1] - 6), f"{v:.2f}", fill="black")
    d.line([xy(0, target), xy(xmax, target)], fill=(214, 39, 40))
    d.text((w - m - 90, xy(0, target)[1] - 14), f"target {target:.0%}", fill=(214, 39, 40))
    for k in range(6):
        x = xmax * k / 5
        d.text((xy(x, 0)[0] - 10, h - m + 8), f"{x:.0f}", fill="black")
    d.text((w // 2 - 40, h - 30), "human labels", fill="black")
    row = 0
    for key, legend, colour, width in SERIES:
        pts = [xy(p["human_labels"], p[key]) for p in curve if key in p and np.isfinite(p[key])]
        if not pts:
            continue
        for a, b in itertools.pairwise(pts):
            d.line([a, b], fill=colour, width=width)
        for pt in pts if len(pts) < 3 else ():
            d.ellipse([pt[0] - 3, pt[1] - 3, pt[0] + 3, pt[1] + 3], fill=colour)
        d.line([m + 10, m + 14 + 16 * row, m + 40, m + 14 + 16 * row], fill=colour, width=max(2, width))
        d.text((m + 48, m + 8 + 16 * row), legend, fill="black")
        row += 1
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path)


def _quick() -> bool:
    return os.environ.get("ANNOTA_BENCH_QUICK", "") not in ("", "0") or "--quick" in sys.argv


SETS = ("mc", "ml", "coco")  # flowers multi-class, flowers multi-label, coco128 tags


def _sets() -> tuple[str, ...]:
    """``ANNOTA_BENCH_SETS=mc,ml`` runs some of the scenarios (each writes its own JSON)."""
    raw = os.environ.get("ANNOTA_BENCH_SETS", "")
    chosen = tuple(s.strip() for s in raw.split(",") if s.strip()) or SETS
    unknown = set(chosen) - set(SETS)
    if unknown:
        raise SystemExit(f"ANNOTA_BENCH_SETS: unknown {sorted(unknown)}; choose from {', '.join(SETS)}")
    return chosen


def _flows() -> tuple[str, ...]:
    """``ANNOTA_BENCH_FLOWS=grid`` runs one flow (``grid``, ``one``)."""
    raw = os.environ.get("ANNOTA_BENCH_FLOWS", "")
    chosen = tuple(s.strip() for s in raw.split(",") if s.strip()) or ap.FLOWS
    unknown = set(chosen) - set(ap.FLOWS)
    if unknown:
        raise SystemExit(f"ANNOTA_BENCH_FLOWS: unknown {sorted(unknown)}; choose from {', '.join(ap.FLOWS)}")
    return chosen


def _seed() -> int:
    """``ANNOTA_BENCH_SEED=1``: the seed of the import order and the labeler (default 0)."""
    raw = os.environ.get("ANNOTA_BENCH_SEED", "0").strip() or "0"
    if not raw.isdigit():
        raise SystemExit(f"ANNOTA_BENCH_SEED: a whole number, not {raw!r}")
    return int(raw)


def _settings() -> dict[str, Any]:
    """``ANNOTA_BENCH_SETTINGS='{"assist_audit_share": 0.4}'``: project settings set before labeling."""
    raw = os.environ.get("ANNOTA_BENCH_SETTINGS", "").strip()
    if not raw:
        return {}
    try:
        settings = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"ANNOTA_BENCH_SETTINGS: not JSON ({exc})") from exc
    if not isinstance(settings, dict):
        raise SystemExit("ANNOTA_BENCH_SETTINGS: a JSON object of project settings")
    return settings


def sure_class_check(curve: list[dict[str, Any]]) -> dict[str, Any]:
    """Multi-label: the pooled pre-tick claims checked class by class over a run: at each training, each
    class with at least ``SURE_MIN_CLAIMS`` pre-ticks on the rest; how many such (training, class) pairs
    were under the target, and the worst one."""
    pairs = [
        (int(p["human_labels"]), cid, r, t)
        for p in curve
        for cid, (r, t) in (p.get("sure_claims_by_class") or {}).items()
        if t >= SURE_MIN_CLAIMS
    ]
    under = [q for q in pairs if q[2] / q[3] < TARGET]
    worst = min(pairs, key=lambda q: q[2] / q[3], default=None)
    words = (
        "no class had pre-ticks"
        if worst is None
        else f"{len(under)} of {len(pairs)} (training, class) pairs under {TARGET:.0%}; worst: class"
        f" {worst[1]} at {worst[0]} labels, {worst[2]}/{worst[3]} right"
    )
    return {"pairs": len(pairs), "under_target": len(under), "worst": worst, "words": words}


def datasets(quick: bool, sets: tuple[str, ...] = SETS) -> list[ap.Dataset]:
    per_class = 20 if quick else None
    out = []
    if "mc" in sets:
        out.append(ap.flowers(TaskType.MULTICLASS, per_class))
    if "ml" in sets:
        out.append(ap.flowers(TaskType.MULTILABEL, per_class))
    if "coco" in sets and not quick:
        try:
            out.append(ap.coco_tags())
        except FileNotFoundError as exc:
            print(f"coco128 scenario skipped: {exc}")
    return out


def main() -> None:
    quick = _quick()
    chosen, flows, settings, seed = _sets(), _flows(), _settings(), _seed()
    json_name = (
        "assist_classify" + ("_quick" if quick else "") + ("" if chosen == SETS else "_" + "_".join(chosen))
    )
    json_name += "" if flows == ap.FLOWS else "_" + "_".join(flows)
    json_name += "".join(f"_{k}-{v}" for k, v in settings.items()) + (f"_seed-{seed}" if seed else "")
    try:
        sets = datasets(quick, chosen)
    except FileNotFoundError as exc:
        print(f"assist_classify: skipped, {exc}")
        return
    results: dict[str, Any] = {
        "quick": quick, "target": TARGET, "settings": settings, "seed": seed, "scenarios": {}, "prepare": {}
    }  # fmt: skip
    rows = []
    with tempfile.TemporaryDirectory(prefix="annota-bench-") as tmp:
        for n, ds in enumerate(sets):
            folder = Path(tmp) / f"d{n}"
            prep = ap.prepare(ds, folder, seed=seed)
            results["prepare"][ds.name] = prep
            print(
                f"{ds.name}: {prep['imported']} imported, featurised at {prep['featurise_images_per_s']:.0f}"
                f" images/s on {prep['device']}",
                flush=True,
            )
            for flow in flows:
                out = ap.run_flow(ds, flow, seed=seed, prepared=folder, settings=settings or None)
                name = f"{ds.name}, {'grid' if flow == 'grid' else 'one at a time'}"
                results["scenarios"][name] = out
                at50 = out["at_50_labels"]
                first = out["first_proposal_point"] or {}
                print(
                    f"  {name}: {out['actions']} actions vs {out['hand_actions']} by hand ({out['ratio']:.2f});"
                    f" first proposals after {out['labels_to_first_proposal']} labels;"
                    f" met proposals {out['met_proposals']} at precision {out['met_precision']:.3f};"
                    f" {out['seconds']:.0f} s",
                    flush=True,
                )
                if ds.task is TaskType.MULTILABEL:
                    out["sure_class_check"] = sure_class_check(out["curve"])
                    print(
                        f"  {name}: pre-ticks class by class: {out['sure_class_check']['words']}", flush=True
                    )
                write_json(json_name, results)  # what is done so far survives a failure later
                rows.append(
                    [
                        name,
                        out["images"],
                        out["actions"],
                        out["hand_actions"],
                        out["ratio"],
                        out["labels_to_first_proposal"],
                        first.get("true_precision", float("nan")),
                        first.get("coverage", float("nan")),
                        out["met_proposals"],
                        out["met_precision"],
                        at50["true_precision"],
                        at50["coverage"],
                        at50.get("oracle_precision_top_half", float("nan")),
                        out["labels_to_95p_50c"],
                    ]
                )
    print_table(
        "Classification assistance through the product (simulated labeler, ground-truth answers)",
        rows,
        [
            "scenario",
            "images",
            "actions",
            "by hand",
            "ratio",
            "labels to 1st proposal",
            "its true prec",
            "its coverage",
            "proposals met",
            "their true prec",
            "prec <=50 labels",
            "cov <=50",
            "best prec top 50% <=50",
            "labels to 95%/50%",
        ],
    )
    for name, sc in results["scenarios"].items() if not quick else ():
        plot(RESULTS / f"assist_classify_{name.replace(' ', '_').replace(',', '')}.png", name, sc["curve"])
    path = write_json(json_name, results)
    print(f"\nJSON: {path}; plots: {RESULTS}/assist_classify_*.png")
    print(
        "targets: flowers multi-class 95% precision on >= 50% of the rest after <= 50 labels; ratio <= 0.40"
    )


if __name__ == "__main__":
    main()
